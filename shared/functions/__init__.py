"""User functions: the `@workflow` / `@data_provider` / `@param` decorators, the registry they fill, discovery of
the workspace modules that declare them, and the validation of their input against what they declare.
"""
