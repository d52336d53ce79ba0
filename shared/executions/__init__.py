"""The execution services: submit, read, cancel, run from the queue, recover and clean up executions.

Each entry point takes a `Services` (registry, store, queue, engine) from its caller: triggers pass the process's
runtime, tests pass their own.
"""
