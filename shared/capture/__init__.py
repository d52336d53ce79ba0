"""Log capture: every line a running execution writes (logging, print, threads) attributed to that execution.

Owns the per-execution buffer and its byte cap, partial lines from `print(..., end="")`, and log levels.
"""
