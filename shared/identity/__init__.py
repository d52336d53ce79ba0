"""Who is calling and what they may do: credentials resolved to a `Caller` by the `Authenticator` (the admin key, API
keys, JWT bearer tokens, Easy Auth), API keys and organizations managed (`keys`, `organizations`), and every
authorization decision in one place (`policy`) for the services and the engine to consult.
"""
