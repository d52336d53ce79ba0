"""User functions: the `@workflow` / `@data_provider` / `@param` decorators, the registry they fill, discovery of
the workspace modules that declare them, and each function's input model (`model.py`, built from `param_types.py`)
that validates every execution's input and yields its JSON Schema. Decorator arguments acted on by later
capabilities are checked here at import: `schedule.py`, `retry_policy.py`, and the timeout cap (`host_timeout.py`).
"""
