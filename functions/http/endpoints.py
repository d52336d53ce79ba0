"""HTTP: webhook endpoints, `/api/endpoints/{name}` for `endpoint_enabled` workflows (every method; each workflow
decides which it takes)."""

import azure.functions as func

from shared.api import endpoints
from shared.api.routes import ANY_METHOD, ApiCall, Route
from shared.runtime import get_runtime


async def call_endpoint(call: ApiCall) -> func.HttpResponse:
    """Run an endpoint workflow: sync 200 with the result, async 202 with a Location."""
    return await endpoints.answer(await get_runtime(), call)


# "public": the caller is resolved when a valid key is sent, and the endpoint's own rules decide (signature, public,
# API key) — see shared.identity.policy.check_endpoint_access.
routes = [Route(ANY_METHOD, "endpoints/{name}", call_endpoint, access="public")]
