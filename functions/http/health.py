"""HTTP: health. Without a key: up or down, and versions. With the admin key: what is loaded, what failed to load
(paths and errors), what discovery skipped (paths and reasons), storage, abandoned work and recycling.

Health is public so that load balancers and uptime checks need no secret; the details (file paths, error texts,
storage hosts) help whoever attacks a deployment as much as whoever runs it, so they need the admin key.
"""

from typing import Any

import azure.functions as func

from shared.api.http import json_response, storage_unavailable
from shared.api.routes import ApiCall, Route
from shared.engine import abandoned, recycling
from shared.identity import policy
from shared.runtime import get_runtime, load_functions
from shared.storage.outage import retry_after_seconds
from shared.version import versions


async def health(call: ApiCall) -> func.HttpResponse:
    """200 when storage answers and the host takes work; 503 (with Retry-After) when storage does not answer
    (`degraded`) or the host is recycling (`recycling`).

    `abandoned` counts user code that outlived its execution (a thread or task that would not stop) and still runs;
    past CONDUIT_MAX_ABANDONED the host recycles (`recycling`)."""
    admin = policy.sees_health_details(call.caller)
    storage: dict[str, object] = {"reachable": False}
    try:
        runtime = await get_runtime()  # the first call also discovers the functions (and logs their load errors)
        storage["reachable"] = await runtime.store.ping()
    except Exception as error:  # a health check reports what is wrong instead of failing
        # Logged once with an id; the error's text (hosts, connection errors) is shown to admins only.
        storage["error_id"] = storage_unavailable(call.request, error).details["error_id"]
        if admin:
            storage["error"] = str(error)
    accepting = recycling.accepting_work()
    status = "recycling" if not accepting else "ok" if storage["reachable"] else "degraded"
    body: dict[str, Any] = {"status": status, "versions": versions()}
    if admin:
        body |= _details(storage)
    if status == "ok":
        return json_response(body)
    return json_response(body, 503, headers={"Retry-After": str(retry_after_seconds())})


def _details(storage: dict[str, object]) -> dict[str, Any]:
    registry, report = load_functions()
    return {
        "storage": storage,
        "workflows": registry.count("workflow"),
        "data_providers": registry.count("data_provider"),
        "load_errors": [error.to_dict() for error in report.errors],
        "load_skipped": [skipped.to_dict() for skipped in report.skipped],
        "abandoned": abandoned.counts(),
        "recycling": recycling.current().status(),
    }


routes = [Route("GET", "health", health, access="public")]
