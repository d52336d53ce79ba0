"""Data providers as a service: list them, and run one for its options through the engine and its cache.

The HTTP routes (`functions/http/data_providers.py`) and forms (`shared.forms`, a field's options) both come here, so
a provider answers the same options, errors and cache behaviour whichever way it is reached.
"""
