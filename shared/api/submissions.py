"""How a submitted execution is answered over HTTP, the same for POST /api/workflows/{name}/execute and webhook
endpoints: finished -> 200 with the result (a failed workflow is still 200, its status says Failed); queued, paused
(Waiting: a DAG waiting for an event or a delay), or still running past the sync wait -> 202 with the execution id
and a Location to poll."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.api.http import json_response
from shared.executions.queries import result_to_api
from shared.executions.service import Submission
from shared.models import Caller, ExecutionStatus


def submission_response(
    submission: Submission, caller: Caller | None, *, duplicate_outcome: bool = True
) -> func.HttpResponse:
    """The answer to a submit. A repeat (same idempotency key or delivery id) of a finished run gets that run's
    outcome, unless `duplicate_outcome` is False: then only its id and status (202 with a Location), for callers
    who cannot prove they sent the first request (anyone may repeat a key on a public endpoint). DEBUG lines and
    variables of a finished run are shown to admins only (`caller`)."""
    result = submission.result
    if result is not None and result.status is ExecutionStatus.WAITING:  # paused: it goes on through the queue
        body = {"execution_id": result.execution_id, "status": result.status.value, "waiting": result.waiting}
        return json_response(body, 202, headers={"Location": f"/api/workflows/executions/{result.execution_id}"})
    if result is not None:
        return json_response(result_to_api(result, caller))
    record = submission.record
    if record is not None and record.status.is_terminal and duplicate_outcome:  # a repeat of a finished run
        return json_response({
            "execution_id": record.id,
            "status": record.status.value,
            "output_data": record.output_data,
            "error_message": record.error_message,
            "error_type": record.error_type,
            "duration_ms": record.duration_ms,
            "duplicate": True,
        })
    location = f"/api/workflows/executions/{submission.execution_id}"
    answer: dict[str, Any] = {"execution_id": submission.execution_id, "status": submission.status.value}
    if submission.duplicate:
        answer["duplicate"] = True
    return json_response(answer, 202, headers={"Location": location})
