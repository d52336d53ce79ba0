"""HTTP: health, without a key — is storage reachable, what is loaded, what failed to load."""

import azure.functions as func

from shared.http import json_response, public_endpoint
from shared.runtime import get_runtime

bp = func.Blueprint()


async def health(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    """200 when storage answers, 503 when it does not; module load errors are listed either way."""
    runtime = await get_runtime()
    reachable = await runtime.store.ping()
    body = {
        "status": "ok" if reachable else "degraded",
        "storage": {"reachable": reachable},
        "workflows": runtime.registry.count("workflow"),
        "data_providers": runtime.registry.count("data_provider"),
        "load_errors": [error.to_dict() for error in runtime.report.errors],
    }
    return json_response(body, 200 if reachable else 503)


bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(public_endpoint(health))
