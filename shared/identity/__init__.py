"""Who is calling and what they may do: API keys resolved to a `Caller` (`auth`), and every authorization
decision in one place (`policy`) for the services and the engine to consult.
"""
