"""HTTP: health, without a key — is storage reachable, what is loaded, what failed to load, is work piling up."""

import azure.functions as func

from shared import abandoned, recycling
from shared.http import json_response, optional_caller, public_endpoint, storage_unavailable
from shared.outage import retry_after_seconds
from shared.runtime import get_runtime, load_functions

bp = func.Blueprint()


async def health(req: func.HttpRequest, caller: None) -> func.HttpResponse:
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
        storage["error_id"] = storage_unavailable(req, error).details["error_id"]
        if optional_caller(req) is not None:
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


bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(public_endpoint(health))
