"""The HTTP tests' fixtures (function_app's function objects on the test Azurite), for the access matrix."""

from tests.http.conftest import api, app_functions  # noqa: F401  (re-exported fixtures)
