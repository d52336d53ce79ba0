"""HTTP: health, without a key — is storage reachable, what is loaded, what failed to load."""

import azure.functions as func

from shared.http import json_response, optional_caller, public_endpoint, storage_unavailable
from shared.outage import retry_after_seconds
from shared.runtime import get_runtime, load_functions

bp = func.Blueprint()


async def health(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    """200 when storage answers, 503 when it does not; module load errors are listed either way."""
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
    body = {
        "status": "ok" if storage["reachable"] else "degraded",
        "storage": storage,
        "workflows": registry.count("workflow"),
        "data_providers": registry.count("data_provider"),
        "load_errors": [error.to_dict() for error in report.errors],
    }
    if storage["reachable"]:
        return json_response(body)
    return json_response(body, 503, headers={"Retry-After": str(retry_after_seconds())})


bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(public_endpoint(health))
