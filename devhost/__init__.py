"""devhost: a local Azure Functions host for function_app.py (Python v2 model) when Core Tools is unavailable."""
