"""A secret read by an execution is masked (`***`) in everything it stores or returns: log lines, printed output,
results, errors, steps and HTTP call records — inside longer text and in its JSON, URL and base64 forms; values
shorter than the minimum are left alone, and the execution's log says so."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from shared.capture.redaction import MASK, MIN_REDACTED_LENGTH, Redactor
from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry
from shared.models import Caller, ExecutionRequest, ExecutionResult, ExecutionStatus
from shared.storage.config import ConfigStore
from shared.storage.executions import ExecutionStore
from shared.storage.secret_box import SecretBox
from tests.config.conftest import run
from tests.config.workspace.config_flows import forms_of

# Every encoding differs from the value: a quote and a backslash (JSON), '/', ' ', '+' and 'é' (URL), and bytes
# whose base64 holds '+' and '/' (so the URL-safe alphabet differs) and needs padding.
SECRET = 'Tok/en+ "q\\é>?~'


def every_form(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], *forms_of(secret).values()}


def test_the_forms_of_the_test_secret_all_differ() -> None:
    forms = forms_of(SECRET)
    assert len(set(forms.values()) | {SECRET}) == len(forms) + 1, forms  # nothing tested twice, nothing left out


@pytest.mark.parametrize("form", sorted(every_form(SECRET)))
def test_a_redactor_masks_each_form_inside_longer_text(form: str) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    assert redactor.text(f"a{form}b") == f"a{MASK}b"
    assert redactor.value({f"k{form}": [form, 1]}) == {f"k{MASK}": [MASK, 1]}


def test_values_shorter_than_the_minimum_are_not_masked() -> None:
    redactor = Redactor()
    assert not redactor.add("12345") and len("12345") < MIN_REDACTED_LENGTH
    assert redactor.text("order 12345") == "order 12345"


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    """A local HTTP server that answers every request 200 (the target of context.http calls)."""
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def stored_engine(
    config_registry: FunctionRegistry, config_store: ConfigStore, storage_connection_string: str
) -> AsyncIterator[tuple[Engine, ExecutionStore]]:
    """An engine that persists its executions (record, log lines, steps) to Azurite."""
    store = ExecutionStore.from_connection_string(storage_connection_string)
    await store.ensure_tables()
    engine = Engine(config_registry, store, config=ConfigReader(config_store))
    try:
        yield engine, store
    finally:
        engine.close()
        await store.close()


async def stored_outputs(store: ExecutionStore, result: ExecutionResult, scope: str) -> str:
    """Everything stored for an execution (record, log lines, steps) and returned (the result), as one text."""
    record = await store.get(scope, result.execution_id)
    assert record is not None
    logs = await store.get_logs(result.execution_id)
    steps = await store.get_steps(result.execution_id)
    assert logs  # the lines were stored (and steps, where the workflow made any)
    returned = {"result": result.result, "error": result.error_message, "logs": [line.to_dict() for line in
                result.logs], "steps": result.steps, "calls": result.integration_calls}
    stored = {"record": record.to_api(), "logs": [line.to_dict() for line in logs], "steps": steps}
    return json.dumps(returned, ensure_ascii=False) + json.dumps(stored, ensure_ascii=False)


def assert_no_form_in(text: str, secret: str) -> None:
    leaked = [form for form in every_form(secret) if form in text]
    assert not leaked, f"left in the output: {leaked}"


@pytest.mark.parametrize("workflow", ["leak_async", "leak_sync"])
async def test_a_secret_is_masked_in_logs_prints_results_steps_and_stored_rows(
    workflow: str, stored_engine: tuple[Engine, ExecutionStore], config_store: ConfigStore, org: str, key: str,
    secrets_key: SecretBox,
) -> None:
    # Given a secret, and a workflow that logs, prints, steps and returns it in every form
    engine, store = stored_engine
    await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    # When it runs (persisted)
    result = await run(engine, workflow, org, key=key)
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    # Then no form of the secret is anywhere in what is returned or stored
    assert_no_form_in(await stored_outputs(store, result, org), SECRET)
    # And each place shows the mask where the value was, the text around it kept
    assert result.result["plain"] == MASK and result.result["inside"] == f"Bearer {MASK}!"
    assert json.loads(result.result["document"]) == {"t": MASK}
    assert set(result.result["forms"].values()) == {MASK} and result.result["list"] == [MASK, 1, None]
    messages = [line.message for line in result.logs]
    assert f"token is {MASK}!" in messages and 'as JSON: {"token": "***"}' in messages
    assert {f"{name}={MASK};" for name in forms_of(SECRET)} <= set(messages)
    step = next(s for s in result.steps if s["step_type"] == "custom")
    assert step["step_name"] == f"step {MASK}"
    assert step["input_data"] == {"token": MASK, "header": f"Bearer {MASK}"}
    assert step["output_data"] == {"echo": MASK, "keys": {MASK: 1}}
    checkpoint = next(s for s in result.steps if s["step_type"] == "checkpoint")
    assert checkpoint["output_data"] == {"url": f"https://x.test/?t={MASK}"}


async def test_a_secret_is_masked_in_http_call_records(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox, http_server: str
) -> None:
    # Given a workflow that calls a local server with the secret (URL-encoded, and as URL-safe base64) in the path
    await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    # When it runs
    result = await run(engine, "leak_async", org, key=key, url=http_server)
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    # Then both calls are recorded, as steps and integration calls, with the secret masked in their URLs and names
    masked = [f"{http_server}/hook/{MASK}", f"{http_server}/b64/{MASK}"]
    assert [call["url"] for call in result.integration_calls] == masked
    http_steps = [s for s in result.steps if s["step_type"] == "http"]
    assert [s["input_data"]["url"] for s in http_steps] == masked
    assert all(s["step_name"].endswith(MASK) for s in http_steps)
    assert_no_form_in(json.dumps([result.integration_calls, result.steps], ensure_ascii=False), SECRET)


@pytest.mark.parametrize("user_error", [False, True])
async def test_a_secret_is_masked_in_errors_and_their_tracebacks(
    user_error: bool, stored_engine: tuple[Engine, ExecutionStore], config_store: ConfigStore, org: str, key: str,
    secrets_key: SecretBox,
) -> None:
    # Given a workflow that fails with the secret (JSON-escaped) in its exception, or in a UserError for the user
    engine, store = stored_engine
    await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    # When it runs
    result = await run(engine, "fail_with_secret", org, key=key, user_error=user_error)
    # Then it failed, with the secret masked in its error message, its log lines and the stored record
    assert result.status is ExecutionStatus.FAILED
    expected = f"the service refused {MASK}" if user_error else f'bad token "{MASK}"'
    assert result.error_message == expected
    assert any(expected in line.message for line in result.logs)
    assert_no_form_in(await stored_outputs(store, result, org), SECRET)


async def test_a_secret_read_through_get_config_is_masked_too(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    result = await run(engine, "leak_config", org, key=key)
    assert result.result == {"value": MASK}
    assert [line.message for line in result.logs] == [f"config says {MASK}"]


async def test_a_short_secret_is_not_masked_and_the_log_says_so(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given a secret shorter than the minimum
    await config_store.put(org, key, "secret", "pin42", "admin", secrets_key)
    # When a workflow reads and returns it
    result = await run(engine, "leak_config", org, key=key)
    # Then it is not masked (it would mask every "pin42" in any text), and a WARNING line says why
    assert result.result == {"value": "pin42"}
    warnings = [line.message for line in result.logs if line.level == "WARNING"]
    assert warnings == [f"secret '{key}' is 5 characters long, shorter than {MIN_REDACTED_LENGTH}: it is not masked "
                        "in this execution's output"]


async def test_an_execution_that_reads_no_secret_is_not_masked_even_if_it_holds_the_same_text(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given another execution read the secret
    await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    assert (await run(engine, "leak_config", org, key=key)).result == {"value": MASK}
    # When an execution that read no secret returns the same text (e.g. from its input)
    result = await engine.execute(ExecutionRequest(name="cfg_async", caller=Caller(user_id="u", scope=org),
                                                   parameters={"key": "nothing_" + key, "default": SECRET}))
    # Then redaction is per execution: it is returned as is
    assert result.result == {"value": SECRET}


class _Kept(logging.Handler):
    """A handler of the host's kind (the Functions worker's forwards records to Application Insights)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


async def test_log_records_reach_the_hosts_own_handlers_masked_too(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given a handler on the root logger beside Conduit's capture, as the Functions host has
    kept = _Kept()
    logging.getLogger().addHandler(kept)
    await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    try:
        # When a workflow logs the secret in every form
        result = await run(engine, "leak_sync", org, key=key)
    finally:
        logging.getLogger().removeHandler(kept)
    assert result.status is ExecutionStatus.SUCCESS
    # Then that handler got the records with the secret masked as well
    text = "\n".join(kept.lines)
    assert f"token is {MASK}!" in text
    assert_no_form_in(text, SECRET)
