"""HTTP: manage forms (admins), read them, load a field's options, submit values, run the launch workflow."""

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.executions.queries import result_to_api
from shared.forms.model import Form
from shared.forms.service import FormService, FoundForm
from shared.runtime import get_runtime


class OptionsBody(BaseModel):
    """Body of `POST /api/forms/{id}/fields/{field}/options`: the form's current values."""

    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any] = Field(default_factory=dict)
    no_cache: StrictBool = False  # "yes" is no boolean


class SubmitBody(BaseModel):
    """Body of `POST /api/forms/{id}/submit`."""

    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)


class StartupBody(BaseModel):
    """Body of `POST /api/forms/{id}/startup`: parameters of the launch workflow (over its defaults)."""

    model_config = ConfigDict(extra="allow")


async def _service() -> FormService:
    runtime = await get_runtime()
    assert runtime.forms is not None, "the runtime opens the forms store at start-up"
    return FormService(runtime, runtime.forms)


def _form(found: FoundForm, status: int = 200) -> func.HttpResponse:
    return json_response(found.to_api(), status, headers={"ETag": found.stored.etag})


async def create_form(call: ApiCall) -> func.HttpResponse:
    """Create a form in the scope the admin acts in (201 with its ETag); every problem of it reported at once."""
    service = await _service()
    return _form(await service.create(call.known_caller, call.body), 201)


async def list_forms(call: ApiCall) -> func.HttpResponse:
    """The forms the caller may use: its organization's and the global ones."""
    service = await _service()
    return json_response({"items": [found.to_api() for found in await service.list(call.known_caller)]})


async def get_form(call: ApiCall) -> func.HttpResponse:
    """One form, with each field's `depends_on`, and its ETag."""
    service = await _service()
    return _form(await service.get(call.known_caller, call.path("form_id")))


async def update_form(call: ApiCall) -> func.HttpResponse:
    """Replace a form; `If-Match` must carry the ETag of the version edited (412 when it changed meanwhile)."""
    service = await _service()
    if_match = call.request.headers.get("if-match")
    return _form(await service.update(call.known_caller, call.path("form_id"), call.body, if_match))


async def delete_form(call: ApiCall) -> func.HttpResponse:
    """Delete a form (only the version `If-Match` names, when it is sent)."""
    service = await _service()
    await service.delete(call.known_caller, call.path("form_id"), call.request.headers.get("if-match"))
    return func.HttpResponse(status_code=204)


async def get_field_options(call: ApiCall) -> func.HttpResponse:
    """The options of one field's own data provider, its inputs resolved from the current values."""
    body: OptionsBody = call.body
    service = await _service()
    answer = await service.options(call.known_caller, call.path("form_id"), call.path("field"), body.values,
                                   body.no_cache)
    return json_response(answer)


async def submit_form(call: ApiCall) -> func.HttpResponse:
    """Check the values and run the linked workflow: sync 200 with the result, async 202 with a Location."""
    body: SubmitBody = call.body
    service = await _service()
    submission = await service.submit(call.known_caller, call.path("form_id"), body.values, body.idempotency_key)
    if submission.result is not None:
        return json_response(result_to_api(submission.result, call.known_caller))
    answer: dict[str, Any] = {"execution_id": submission.execution_id, "status": submission.status.value}
    if submission.duplicate:
        answer["duplicate"] = True
    location = f"/api/workflows/executions/{submission.execution_id}"
    return json_response(answer, 202, headers={"Location": location})


async def form_startup(call: ApiCall) -> func.HttpResponse:
    """Run the form's launch workflow (defaults, then this body, then allowed query parameters) for pre-filling."""
    body: StartupBody = call.body
    service = await _service()
    query = dict(call.request.params)
    return json_response(await service.startup(call.known_caller, call.path("form_id"), body.model_extra or {}, query))


routes = [
    Route("POST", "forms", create_form, access="org_admin", body=Form, status=201),
    Route("GET", "forms", list_forms),
    Route("GET", "forms/{form_id}", get_form),
    Route("PUT", "forms/{form_id}", update_form, access="org_admin", body=Form),
    Route("DELETE", "forms/{form_id}", delete_form, access="org_admin", status=204),
    Route("POST", "forms/{form_id}/fields/{field}/options", get_field_options, body=OptionsBody),
    Route("POST", "forms/{form_id}/submit", submit_form, body=SubmitBody),
    Route("POST", "forms/{form_id}/startup", form_startup, body=StartupBody),
]
