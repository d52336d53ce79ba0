"""HTTP: health, without a key — is storage reachable, what is loaded, what failed to load, is work piling up."""

import azure.functions as func

from shared.api.http import json_response, storage_unavailable
from shared.api.routes import ApiCall, Route
from shared.engine import abandoned, recycling
from shared.runtime import get_runtime, load_functions
from shared.storage.outage import retry_after_seconds


async def health(call: ApiCall) -> func.HttpResponse:
    """200 when storage answers and the host takes work; 503 when storage does not answer or the host is recycling.

    `abandoned` counts user code that outlived its execution (a thread or task that would not stop) and still runs;
    past CONDUIT_MAX_ABANDONED the host recycles (`recycling`)."""
    registry, report = load_functions()
    storage: dict[str, object] = {"reachable": False}
    try:
        runtime = await get_runtime()
        storage["reachable"] = await runtime.store.ping()
    except Exception as error:  # a health check reports what is wrong instead of failing
        # Logged once with an id; the error's text (hosts, connection errors) is shown to admins only.
        storage["error_id"] = storage_unavailable(call.request, error).details["error_id"]
        if call.caller is not None:
            storage["error"] = str(error)
    accepting = recycling.accepting_work()
    status = "recycling" if not accepting else "ok" if storage["reachable"] else "degraded"
    body = {
        "status": status,
        "storage": storage,
        "workflows": registry.count("workflow"),
        "data_providers": registry.count("data_provider"),
        "load_errors": [error.to_dict() for error in report.errors],
        "abandoned": abandoned.counts(),
        "recycling": recycling.current().status(),
    }
    if status == "ok":
        return json_response(body)
    return json_response(body, 503, headers={"Retry-After": str(retry_after_seconds())})


routes = [Route("GET", "health", health, access="public")]
