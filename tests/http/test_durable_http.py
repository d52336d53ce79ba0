"""Durable executions over function_app's HTTP functions: a stored DAG that pauses for an event answers 202 Waiting,
the event is delivered with `POST .../events/{name}` (404, 409 and 422 where they fit), the queue runs it on; reruns
over HTTP; what the validator says about wait edges and retry policies; an ad-hoc run that cannot pause."""

from __future__ import annotations

import uuid
from typing import Any

from tests.http.conftest import Api

BASE = "http://localhost/api"


def approval_dag(name: str) -> dict[str, Any]:
    return {
        "name": name, "execution_mode": "sync", "parameters": [{"name": "item", "type": "string"}],
        "nodes": [
            {"id": "ask", "type": "transform", "data": {"value": "approve {{ inputs.item }}?"}},
            {"id": "approve", "type": "wait_for_event", "data": {"event": "approval", "timeout_seconds": 3600}},
            {"id": "done", "type": "transform", "data": {"value": {"item": "{{ inputs.item }}",
                                                                   "by": "{{ nodes.approve.output.by }}"}}},
            {"id": "expired", "type": "transform", "data": {"value": "expired"}},
        ],
        "edges": [{"source": "ask", "target": "approve"}, {"source": "approve", "target": "done"},
                  {"source": "approve", "target": "expired", "label": "timeout"}],
    }


async def event(api: Api, execution_id: str, name: str, body: Any = None) -> tuple[int, Any]:
    return await api.call("deliver_execution_event", "POST",
                          f"{BASE}/workflows/executions/{execution_id}/events/{name}", body=body,
                          route={"execution_id": execution_id, "name": name})


async def rerun(api: Api, execution_id: str, **params: str) -> tuple[int, Any]:
    return await api.call("rerun_execution_by_id", "POST", f"{BASE}/workflows/executions/{execution_id}/rerun",
                          route={"execution_id": execution_id}, params=params)


async def test_a_dag_waiting_for_an_event_is_answered_202_and_goes_on_when_it_is_delivered(
        api: Api, run_queue: Any) -> None:
    # Given a stored sync DAG that asks, then waits for an approval
    name = f"approve_{uuid.uuid4().hex[:8]}"
    status, created = await api.call("list_dags", "POST", f"{BASE}/dags", body=approval_dag(name))
    assert status == 201, created
    # When it is executed
    status, answer = await api.execute(name, {"item": "laptop"})
    # Then the caller gets 202 with the execution id: it is Waiting for the approve node's event
    assert status == 202, answer
    execution_id = answer["execution_id"]
    assert answer["status"] == "Waiting" and answer["waiting"]["node_id"] == "approve"
    status, record = await api.execution(execution_id)
    assert record["status"] == "Waiting" and record["waiting"]["event"] == "approval"
    assert record["node_outputs"]["ask"] == "approve laptop?"
    # And events it does not wait for, malformed names and unknown executions are refused, changing nothing
    status, body = await event(api, execution_id, "rejection", {"by": "x"})
    assert status == 409 and body["error"]["details"]["waiting_for"] == ["approval"]
    status, body = await event(api, execution_id, "no spaces", {})
    assert status == 422 and body["error"]["details"][0]["field"] == "name"
    status, body = await event(api, str(uuid.uuid4()), "approval", {})
    assert status == 404
    status, body = await api.call("deliver_execution_event", "POST",
                                  f"{BASE}/workflows/executions/{execution_id}/events/approval", raw=b"not json",
                                  route={"execution_id": execution_id, "name": "approval"})
    assert status == 400 and body["error"]["code"] == "bad_request"
    # When the approval is delivered and the queue runs it on
    status, body = await event(api, execution_id, "approval", {"by": "ana"})
    assert status == 202 and body["status"] == "Pending"
    await run_queue()
    # Then it ends Success with the payload as the wait's output
    status, record = await api.execution(execution_id)
    assert record["status"] == "Success", record
    assert record["output_data"] == {"item": "laptop", "by": "ana"} and record["resumes"] == 1
    assert record["node_outputs"]["approve"] == {"by": "ana"} and "waiting" not in record
    status, steps = await api.call("get_execution_step_records", "GET",
                                   f"{BASE}/workflows/executions/{execution_id}/steps",
                                   route={"execution_id": execution_id})
    approve = [s for s in steps["items"] if s.get("node_id") == "approve"]
    assert [(s["status"], s["attempt"], s["node_attempt"]) for s in approve] == [("Waiting", 1, 1),
                                                                                  ("Success", 1, 1)]
    # And a second delivery is a 409: it waits for nothing any more
    status, _ = await event(api, execution_id, "approval", {"by": "bo"})
    assert status == 409
    # And the finished execution can be rerun with the same input, linked to it
    status, again = await rerun(api, execution_id)
    assert status == 202 and again["rerun_of"] == execution_id
    status, record = await api.execution(again["execution_id"])
    assert record["rerun_of"] == execution_id and record["input_data"] == {"item": "laptop"}
    await api.call("cancel_execution_by_id", "POST", f"{BASE}/workflows/executions/{again['execution_id']}/cancel",
                   route={"execution_id": again["execution_id"]})


async def test_rerun_refuses_what_it_cannot_do(api: Api, run_queue: Any) -> None:
    name = f"approve_{uuid.uuid4().hex[:8]}"
    await api.call("list_dags", "POST", f"{BASE}/dags", body=approval_dag(name))
    _, answer = await api.execute(name, {"item": "desk"})
    # A Waiting execution is not finished: 409
    status, body = await rerun(api, answer["execution_id"])
    assert status == 409 and body["error"]["details"]["status"] == "Waiting"
    # An unknown one: 404
    status, _ = await rerun(api, str(uuid.uuid4()))
    assert status == 404
    # A bad flag: 422
    status, body = await rerun(api, answer["execution_id"], from_failed="maybe")
    assert status == 422


async def test_the_validator_names_bad_wait_edges_and_retry_policies(api: Api) -> None:
    name = f"bad_{uuid.uuid4().hex[:8]}"
    definition = approval_dag(name)
    definition["edges"][2]["label"] = "late"
    definition["nodes"][0]["retry"] = {"max_attempts": 0, "backoff": "linear"}
    status, body = await api.call("list_dags", "POST", f"{BASE}/dags", body=definition)
    assert status == 422
    codes = {(d["field"], d["code"]) for d in body["error"]["details"]}
    assert ("edges[2]", "wait_edge_label") in codes and ("nodes.ask.retry", "invalid_retry") in codes


async def test_an_adhoc_dag_cannot_pause_and_says_why(api: Api) -> None:
    definition = approval_dag(f"adhoc_{uuid.uuid4().hex[:8]}")
    status, body = await api.call("execute_dag", "POST", f"{BASE}/dags/execute",
                                  body={"dag": definition, "event_payload": {"item": "chair"}})
    assert status == 200, body
    assert body["status"] == "Failed" and "cannot pause" in body["error_message"]
