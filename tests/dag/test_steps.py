"""DAG node steps in Table storage: each written as its node ends, before its successors start; secrets masked."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared import workflow
from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import Caller, ExecutionRequest, ExecutionStatus
from shared.storage.clients import RequestCounter
from shared.storage.config import ConfigStore
from shared.storage.executions import ExecutionStore
from shared.storage.secret_box import KEY_SETTING, SecretBox, generate_key
from tests.dag.support import chain, node, node_steps, register_dag

registry = FunctionRegistry()
gates: dict[str, asyncio.Event] = {}

with use_registry(registry):

    @workflow(name="hold")
    async def hold(context, gate: str):
        await asyncio.wait_for(gates[gate].wait(), 30)
        return "released"

    register_dag(registry, "held", [
        node("first", "transform", value={"made": "{{ inputs.gate }}"}),
        node("second", "action", workflow="hold", input={"gate": "{{ inputs.gate }}"}),
        node("third", "transform", value="done"),
    ], chain("first", "second", "third"))

    register_dag(registry, "three", [node("a", "transform", value=1), node("b", "transform", value=2),
                                     node("c", "transform", value=3)], chain("a", "b", "c"))

    register_dag(registry, "with_secret", [
        node("use", "transform", value={"auth": "Bearer {{ secret(inputs.key) }}"}),
        node("say", "action", workflow="say", input={"text": "{{ nodes.use.output.auth }}"}),
    ], chain("use", "say"))

    @workflow(name="say")
    async def say(context, text: str):
        context.logger.info("sending %s", text)
        return text


async def test_a_node_step_is_in_storage_while_its_successor_still_runs(execution_store: ExecutionStore) -> None:
    # Given a persisted run whose second node waits until the test opens its gate
    engine = Engine(registry, execution_store)
    gate = uuid.uuid4().hex
    gates[gate] = asyncio.Event()
    request = ExecutionRequest(name="held", parameters={"gate": gate})
    run = asyncio.ensure_future(engine.execute(request))
    # When the test reads the execution's step rows while the second node is blocked
    rows: list[dict] = []
    for _ in range(100):
        rows = await execution_store.get_steps(request.execution_id)
        if rows:
            break
        await asyncio.sleep(0.05)
    # Then the first node's step is stored, with its output, and nothing of the later nodes yet
    assert [(r["node_id"], r["status"], r["output_data"]) for r in rows] == [("first", "Success", {"made": gate})]
    assert rows[0]["step_type"] == "dag_node" and rows[0]["iteration"] == [] and rows[0]["execution_order"] == 1
    gates[gate].set()
    result = await run
    # And once released, every node's step is stored once, in execution order
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    rows = await execution_store.get_steps(request.execution_id)
    assert [(r["node_id"], r["status"]) for r in rows] == [("first", "Success"), ("second", "Success"),
                                                          ("third", "Success")]
    engine.close()


async def test_one_storage_request_per_node_and_finish_does_not_write_them_again(
    execution_store: ExecutionStore, counter: RequestCounter
) -> None:
    # Given a persisted three-node chain that logs nothing (the scope registered by an earlier run)
    engine = Engine(registry, execution_store)
    await engine.execute(ExecutionRequest(name="three"))
    counter.reset()
    # When it runs
    result = await engine.execute(ExecutionRequest(name="three"))
    # Then it cost the record's create, one write per node and the final update: nothing more
    assert result.status is ExecutionStatus.SUCCESS and result.result == 3
    assert counter.reset() == 1 + 3 + 1
    engine.close()


async def test_a_transient_run_writes_no_step(execution_store: ExecutionStore, counter: RequestCounter) -> None:
    engine = Engine(registry, execution_store)
    counter.reset()
    result = await engine.execute(ExecutionRequest(name="three", transient=True))
    assert result.status is ExecutionStatus.SUCCESS and counter.reset() == 0
    assert len(node_steps(result.steps)) == 3
    engine.close()


async def test_a_secret_read_by_a_template_is_masked_in_stored_steps_logs_and_result(
    execution_store: ExecutionStore, config_store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stored secret, read by a template whose value goes on to an action that logs it
    monkeypatch.setenv(KEY_SETTING, generate_key())
    org, key, value = f"org-{uuid.uuid4().hex[:8]}", f"k_{uuid.uuid4().hex[:8]}", "tok-" + uuid.uuid4().hex
    await config_store.put(org, key, "secret", value, "admin", SecretBox.from_env())
    engine = Engine(registry, execution_store, config=ConfigReader(config_store))
    # When the DAG runs for that organization
    request = ExecutionRequest(name="with_secret", parameters={"key": key}, caller=Caller(user_id="u", scope=org))
    result = await engine.execute(request)
    # Then the secret worked, and appears nowhere the execution stored or answered
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    stored = await execution_store.get(org, request.execution_id)
    rows = await execution_store.get_steps(request.execution_id)
    logs = await execution_store.get_logs(request.execution_id)
    assert rows and logs and stored is not None
    assert any("sending Bearer ***" in line.message for line in logs)
    for text in (repr(rows), repr(logs), repr(stored.output_data), repr(result.result), repr(result.steps)):
        assert value not in text
    assert node_steps(rows)["use"]["output_data"] == {"auth": "Bearer ***"}
    engine.close()
