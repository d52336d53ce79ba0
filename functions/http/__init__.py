"""HTTP triggers: each module declares its routes; the table here registers them, and answers unknown paths
and wrong methods the same way under every host (shared.api.routes)."""

from functions.http import (
    config,
    dag_library,
    dags,
    data_providers,
    endpoints,
    executions,
    forms,
    health,
    keys,
    organizations,
    schedules,
    scripts,
    workflows,
)
from shared.api.routes import RouteTable

TABLE = RouteTable(
    [
        *workflows.routes,
        *dags.routes,
        *executions.routes,
        *scripts.routes,
        *data_providers.routes,
        *forms.routes,
        *dag_library.routes,
        *config.routes,
        *keys.routes,
        *organizations.routes,
        *schedules.routes,
        *health.routes,
        *endpoints.routes,
    ]
)
bp = TABLE.blueprint()
