"""HTTP: the scheduled workflows (any caller lists the ones it may run), and the admin's run-now, pause and
resume."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.runtime import get_runtime, get_schedules
from shared.schedules.service import ScheduleService


class NoBody(BaseModel):
    """The POSTs take no body: a run's input is the schedule's `schedule_inputs`, so `input_data` sent here is an
    error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


async def _service() -> ScheduleService:
    return ScheduleService(await get_runtime(), await get_schedules())


async def list_schedules(call: ApiCall) -> func.HttpResponse:
    """Each scheduled workflow: expression, time zone, next five runs, last run and its status, counts."""
    views = await (await _service()).list(call.known_caller)
    return json_response({"items": [view.to_api() for view in views]})


async def get_schedule(call: ApiCall) -> func.HttpResponse:
    """One scheduled workflow, as listed."""
    view = await (await _service()).get(call.known_caller, call.path("name"))
    return json_response(view.to_api())


async def trigger_schedule(call: ApiCall) -> func.HttpResponse:
    """Run the workflow once now (queued): 202 with its execution id and a Location."""
    execution_id, view = await (await _service()).trigger(call.known_caller, call.path("name"))
    body = {"execution_id": execution_id, "status": "Pending", "schedule": view.to_api()}
    return json_response(body, 202, headers={"Location": f"/api/workflows/executions/{execution_id}"})


async def pause_schedule(call: ApiCall) -> func.HttpResponse:
    """Stop firing the schedule, on every instance and across restarts, until it is resumed."""
    return json_response((await (await _service()).pause(call.path("name"))).to_api())


async def resume_schedule(call: ApiCall) -> func.HttpResponse:
    """Fire the schedule again from its next slot (the paused ones are not caught up)."""
    return json_response((await (await _service()).resume(call.path("name"))).to_api())


routes = [
    Route("GET", "schedules", list_schedules),
    Route("GET", "schedules/{name}", get_schedule),
    Route("POST", "schedules/{name}/trigger", trigger_schedule, access="admin", body=NoBody, status=202),
    Route("POST", "schedules/{name}/pause", pause_schedule, access="admin", body=NoBody),
    Route("POST", "schedules/{name}/resume", resume_schedule, access="admin", body=NoBody),
]
