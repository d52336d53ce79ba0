"""DAG workflows run through every trigger with no path of their own: one real devhost process on Azurite runs file
DAGs queued over HTTP, fired by a schedule, called at their webhook endpoint and submitted by a form, the platform's
example DAGs by name and through `POST /api/dags/execute`, and a DAG whose node fails.

The module's host serves a copy of tests/e2e/dag_workspace (the file DAGs these tests run; the platform's own
workflows and DAGs load from platform/ as always) plus one DAG written when the module starts: its six-field
schedule fires daily at a second about 10 s away, and the host's scheduler ticks every 2 s (as in
test_schedules_e2e), so this run sees that one slot fire.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.models import slot_execution_id
from tests.e2e.conftest import ConduitHost, ConduitHosts

DAG_WORKSPACE = Path(__file__).resolve().parent / "dag_workspace"
PLATFORM_DAGS = Path(__file__).resolve().parents[2] / "platform" / "dags"
LEAD = timedelta(seconds=10)  # time for the host to start and tick once before the slot, on a busy machine
TERMINAL = {"Success", "Failed", "Timeout", "Cancelled", "CompletedWithErrors"}


@dataclass
class DagHost:
    host: ConduitHost
    scheduled_name: str
    slot: datetime

    @property
    def client(self) -> httpx.AsyncClient:
        return self.host.client


def scheduled_dag(name: str, slot: datetime) -> dict[str, Any]:
    """A DAG that fires daily at `slot`'s time of day (UTC), with schedule inputs over its parameter's default."""
    return {
        "name": name,
        "description": "Fired by its schedule: a morning note.",
        "parameters": [{"name": "team", "type": "string", "default_value": "nobody"},
                       {"name": "mood", "type": "string", "default_value": "fine"}],
        "schedule": {"cron": f"{slot.second} {slot.minute} {slot.hour} * * *", "inputs": {"team": "ops"}},
        "nodes": [{"id": "note", "type": "transform",
                   "data": {"value": {"note": "good morning, {{ inputs.team }}", "mood": "{{ inputs.mood }}"}}}],
        "edges": [],
    }


@pytest.fixture(scope="module")
async def dags(conduit_hosts_module: ConduitHosts, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[
        DagHost]:
    workspace = tmp_path_factory.mktemp("dag-workspace")
    shutil.copytree(DAG_WORKSPACE, workspace, dirs_exist_ok=True)
    name = f"e2e_dag_scheduled_{uuid.uuid4().hex[:8]}"
    slot = (datetime.now(UTC) + LEAD).replace(microsecond=0)
    (workspace / "scheduled.dag.json").write_text(json.dumps(scheduled_dag(name, slot)))
    host = await conduit_hosts_module.start(env={"CONDUIT_WORKSPACE": str(workspace),
                                                 "CONDUIT_SCHEDULER_SCHEDULE": "*/2 * * * * *"})
    assert datetime.now(UTC) < slot, "the host started after the slot: the schedule test would prove nothing"
    yield DagHost(host, name, slot)


async def execution(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/workflows/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def finished(client: httpx.AsyncClient, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The execution's detail once it has reached a terminal status."""
    deadline = time.monotonic() + timeout
    while (record := await execution(client, execution_id))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, f"execution {execution_id} is still {record['status']}"
        await asyncio.sleep(0.1)
    return record


async def node_steps(client: httpx.AsyncClient, execution_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/workflows/executions/{execution_id}/steps")
    assert response.status_code == 200, response.text
    return [step for step in response.json()["items"] if step["step_type"] == "dag_node"]


async def run_sync(client: httpx.AsyncClient, name: str, input_data: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/api/workflows/{name}/execute", json={"input_data": input_data, "mode": "sync"})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_every_dag_file_registers_as_a_workflow_tagged_dag(dags: DagHost) -> None:
    """The platform's and the workspace's DAG files load next to the Python workflows, with nothing refused."""
    health = (await dags.client.get("/api/health")).json()
    assert health["load_errors"] == [], health["load_errors"]
    listed = {item["name"]: item for item in (await dags.client.get("/api/workflows")).json()["items"]}
    file_dags = {"e2e_dag_greeting", "e2e_dag_booking", "e2e_dag_ticket_hook", "e2e_dag_announce",
                 dags.scheduled_name, "email_to_slack", "ticket_triage", "text_report"}
    assert file_dags <= set(listed), sorted(set(file_dags) - set(listed))
    assert listed["e2e_dag_greeting"]["source"] == "workspace" and listed["text_report"]["source"] == "platform"
    assert listed["greet"]["source"] == "platform"  # the Python workflows the DAGs call are there too


async def test_a_file_dag_queued_over_http_runs_on_the_queue_worker_node_by_node(dags: DagHost) -> None:
    """Async DAGs go through the queue like any async workflow, and each node is a step the API shows."""
    # When the async DAG is executed over HTTP without a mode (it is async by its definition)
    response = await dags.client.post("/api/workflows/e2e_dag_greeting/execute",
                                      json={"input_data": {"name": "Ada", "times": "3"}})
    # Then it is accepted as Pending with the status URL, and the queue worker runs it to Success
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    assert response.json()["status"] == "Pending"
    assert response.headers["location"] == f"/api/workflows/executions/{execution_id}"
    record = await finished(dags.client, execution_id)
    assert record["status"] == "Success", record
    assert record["output_data"] == {"greetings": ["Hello, Ada!"] * 3, "letters": 3}
    assert record["trigger"]["kind"] == "http" and "run_queued_execution" in dags.host.log()
    # And its steps hold one dag_node step per node, each with its node id and type, all Success
    steps = await node_steps(dags.client, execution_id)
    assert sorted((s["node_id"], s["node_type"], s["status"]) for s in steps) == [
        ("both", "join", "Success"), ("fan_out", "parallel", "Success"), ("greet", "action", "Success"),
        ("measure", "action", "Success"), ("summary", "transform", "Success")]
    assert {s["step_name"] for s in steps} == {s["node_id"] for s in steps}
    # And the detail maps each node to its output; the action nodes' are the called workflows' results
    outputs = record["node_outputs"]
    assert set(outputs) == {"fan_out", "greet", "measure", "both", "summary"}
    assert outputs["greet"]["greetings"] == ["Hello, Ada!"] * 3 and outputs["measure"]["words"] == 1
    assert outputs["both"] == {"greet": outputs["greet"], "measure": outputs["measure"]}
    assert outputs["summary"] == record["output_data"]


async def test_an_endpoint_enabled_dag_answers_its_webhook(dags: DagHost) -> None:
    """A DAG with `endpoint_enabled` is a webhook endpoint: query and body merged, coerced, and branched on."""
    # When a ticket is posted to the DAG's endpoint, its priority in the query as text
    urgent = await dags.client.post("/api/endpoints/e2e_dag_ticket_hook?priority=1",
                                    json={"title": "Printer on fire"})
    later = await dags.client.post("/api/endpoints/e2e_dag_ticket_hook", json={"title": "New mouse"})
    # Then each answers 200 with the branch its gateway chose, the priority an int
    assert urgent.status_code == 200 and urgent.json()["status"] == "Success", urgent.text
    assert urgent.json()["output_data"] == {"lane": "urgent", "title": "Printer on fire", "priority": 1}
    assert later.status_code == 200 and later.json()["output_data"] == {"lane": "later", "title": "New mouse",
                                                                        "priority": 3}, later.text
    # And the run is recorded as a webhook execution, the branch not taken skipped
    record = await execution(dags.client, urgent.json()["execution_id"])
    assert record["trigger"]["kind"] == "webhook" and record["trigger"]["endpoint"] == "e2e_dag_ticket_hook"
    assert set(record["node_outputs"]) == {"is_urgent", "urgent"}
    statuses = {s["node_id"]: s["status"] for s in await node_steps(dags.client, record["id"])}
    assert statuses == {"is_urgent": "Success", "urgent": "Success", "later": "Skipped"}
    # And a webhook missing the DAG's required parameter is refused naming it, and nothing runs
    missing = await dags.client.post("/api/endpoints/e2e_dag_ticket_hook", json={"priority": 2})
    assert missing.status_code == 422 and missing.json()["error"]["details"][0]["field"] == "title", missing.text


async def test_a_form_linked_to_a_file_dag_runs_it_with_the_fields_as_inputs(dags: DagHost) -> None:
    """Forms check their fields against the DAG's parameters and submit through the same service."""
    # Given a form whose fields fill the DAG's parameters
    form_id = f"e2e-booking-{uuid.uuid4().hex[:8]}"
    form = {"id": form_id, "name": "Book a stay", "linked_workflow": "e2e_dag_booking",
            "fields": [{"name": "traveller", "type": "text", "required": True},
                       {"name": "nights", "type": "number", "required": True, "validation": {"min": 1}},
                       {"name": "breakfast", "type": "checkbox"}]}
    created = await dags.client.post("/api/forms", json=form)
    assert created.status_code == 201, created.text
    # When it is submitted
    submitted = await dags.client.post(f"/api/forms/{form_id}/submit",
                                       json={"values": {"traveller": "Grace", "nights": 2, "breakfast": True}})
    # Then the DAG ran with the form's values as its inputs, typed by its parameters
    assert submitted.status_code == 200, submitted.text
    answer = submitted.json()
    assert answer["status"] == "Success", answer
    assert answer["output_data"] == {"confirmation": "GRACE x2", "nights": 2, "breakfast": True}
    record = await execution(dags.client, answer["execution_id"])
    assert record["workflow_id"] == "e2e_dag_booking" and record["trigger"] == {"kind": "form", "form_id": form_id}
    assert record["node_outputs"] == {"confirm": answer["output_data"]}
    # And the form's runs list it
    listed = (await dags.client.get("/api/workflows/executions", params={"form_id": form_id})).json()["items"]
    assert [item["id"] for item in listed] == [answer["execution_id"]]


async def test_the_email_to_slack_example_runs_by_name_and_unregistered(dags: DagHost) -> None:
    """The DAG seed's own example: its trigger node's payload is the inputs, its Slack action the local stand-in."""
    # When it runs by name with a new e-mail's payload
    by_name = await run_sync(dags.client, "email_to_slack", {"subject": "Quarterly numbers", "from": "cfo@x.test"})
    # Then the stand-in received the templated message, channel and connection
    assert by_name["status"] == "Success", by_name
    assert {k: by_name["output_data"][k] for k in ("channel", "text", "connection_id", "posted")} == {
        "channel": "#general", "text": "New email received: Quarterly numbers", "connection_id": "slack_conn_1",
        "posted": False}
    record = await execution(dags.client, by_name["execution_id"])
    assert record["node_outputs"]["trigger_1"] == {"subject": "Quarterly numbers", "from": "cfo@x.test"}
    # When the file's JSON itself is run through /api/dags/execute with an event payload
    definition = json.loads((PLATFORM_DAGS / "email_to_slack.dag.json").read_text())
    response = await dags.client.post("/api/dags/execute",
                                      json={"dag": definition, "event_payload": {"subject": "Lunch at noon"}})
    # Then it runs the same way, recorded as an execution of that definition
    assert response.status_code == 200, response.text
    adhoc = response.json()
    assert adhoc["status"] == "Success" and adhoc["output_data"]["text"] == "New email received: Lunch at noon"
    stored = await execution(dags.client, adhoc["execution_id"])
    assert stored["trigger"]["kind"] == "dag_execute" and stored["input_data"] == {"subject": "Lunch at noon"}
    assert set(stored["node_outputs"]) == {"trigger_1", "action_1"}


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"subject": "Site down", "priority": "HIGH", "reporter": "Lin"},
     {"page_on_call": {"channel": "#on-call", "text": "HIGH: Site down (from Lin)"}}),
    ({"subject": "Typo on the about page", "priority": "low"},
     {"queue_low": {"status": "queued", "queue": "low", "subject": "Typo on the about page"}}),
    ({"subject": "Question about invoices"},
     {"note": {"status": "noted", "priority": "normal", "subject": "Question about invoices"}}),
    ({"subject": "   "}, {"status": "refused", "reason": "the ticket has no subject"}),
], ids=["high-pages", "low-queues", "default-notes", "blank-refused"])
async def test_the_ticket_triage_example_takes_each_branch(dags: DagHost, inputs: dict[str, Any],
                                                           expected: dict[str, Any]) -> None:
    """Each priority takes its branch of the switch; a blank subject takes the if's false branch."""
    ran = await run_sync(dags.client, "ticket_triage", inputs)
    assert ran["status"] == "Success", ran
    output = ran["output_data"]
    if "page_on_call" in expected:  # the join's output: the stand-in's answer, of which the message matters
        assert set(output) == {"page_on_call"}
        assert {k: output["page_on_call"][k] for k in ("channel", "text")} == expected["page_on_call"]
    else:
        assert output == expected


async def test_the_text_report_example_counts_each_text_in_a_loop(dags: DagHost) -> None:
    """A loop_foreach over the texts calls text_stats once per item and sums the words, in item order."""
    ran = await run_sync(dags.client, "text_report", {"texts": ["  the cat and the hat ", "one two", "x"], "top": 1})
    assert ran["status"] == "Success", ran
    summary = ran["output_data"]
    assert (summary["texts"], summary["words"]) == (3, 8)
    assert [(row["index"], row["words"], row["most_common"]) for row in summary["per_text"]] == [
        (0, 5, [{"word": "the", "count": 2}]), (1, 2, [{"word": "one", "count": 1}]),
        (2, 1, [{"word": "x", "count": 1}])]
    # And each iteration's nodes are steps of their own (3 nodes x 3 texts), besides the loop and the summary
    steps = await node_steps(dags.client, ran["execution_id"])
    assert sorted(s["step_name"] for s in steps if s["iteration"]) == sorted(
        f"{node}[{i}]" for node in ("clean", "count", "row") for i in range(3))


async def test_a_failing_node_without_an_error_edge_fails_the_run_naming_the_node(dags: DagHost) -> None:
    """No `on: "error"` edge: the node's failure is the run's, and what came after it never runs."""
    # When the Slack stand-in refuses the channel the DAG posts to
    ran = await run_sync(dags.client, "e2e_dag_announce", {"channel": "not a channel", "text": "cake"})
    # Then the run is Failed with an error naming the node and the called workflow's error
    assert (ran["status"], ran["error_type"]) == ("Failed", "DagNodeFailed"), ran
    assert "node 'post'" in ran["error_message"], ran["error_message"]
    assert "'not a channel' is not a Slack channel" in ran["error_message"], ran["error_message"]
    # And the node before it succeeded, the node itself failed, and the node after it never ran
    steps = {s["node_id"]: s for s in await node_steps(dags.client, ran["execution_id"])}
    assert steps["compose"]["status"] == "Success" and steps["compose"]["output_data"] == "Announcement: cake"
    assert steps["post"]["status"] == "Failed" and "not a Slack channel" in steps["post"]["error_message"]
    assert "done" not in steps, steps["done"]
    # And the same DAG with a channel Slack accepts succeeds (the failure was the input's)
    fine = await run_sync(dags.client, "e2e_dag_announce", {"channel": "#general"})
    assert fine["status"] == "Success" and fine["output_data"] == {"posted_to": "#general"}, fine


async def test_a_scheduled_dag_fires_at_its_slot_and_succeeds(dags: DagHost) -> None:
    """A DAG's `schedule` is a workflow's schedule: the timer fires the slot through the queue, as the system."""
    # When the slot comes (the other tests of the module ran meanwhile)
    deadline = time.monotonic() + LEAD.total_seconds() + 30
    expected_id = slot_execution_id(dags.scheduled_name, dags.slot)
    while True:
        response = await dags.client.get("/api/workflows/executions", params={"workflow_id": dags.scheduled_name})
        items = response.json()["items"]
        if items and items[0]["status"] in TERMINAL:
            break
        assert time.monotonic() < deadline, (items, dags.host.log_tail())
        await asyncio.sleep(0.3)
    # Then the slot's one execution ran to Success, with the schedule's inputs over the parameters' defaults
    assert [(i["id"], i["trigger"]) for i in items] == [(expected_id, "schedule")], items
    record = await execution(dags.client, expected_id)
    assert record["status"] == "Success", record
    assert record["output_data"] == {"note": "good morning, ops", "mood": "fine"}
    assert record["trigger"]["scheduled_for"] == dags.slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert record["caller"]["kind"] == "system" and record["node_outputs"] == {"note": record["output_data"]}
    # And the schedule lists the run
    schedule = (await dags.client.get(f"/api/schedules/{dags.scheduled_name}")).json()
    assert (schedule["run_count"], schedule["last_execution_id"], schedule["last_status"]) == (
        1, expected_id, "Success"), schedule
