"""The context the seed system's workflows use: org id and name, log helpers, checkpoints, config and secrets.

Run through the engine (transient executions), so what is asserted is what a user reads back: the execution's log
lines, steps, result and error.
"""

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import Caller, ExecutionRequest, ExecutionResult, ExecutionStatus

registry = FunctionRegistry()
engine = Engine(registry)

with use_registry(registry):

    @workflow(name="ctx_org")
    async def ctx_org(context: ExecutionContext):
        return {"org_id": context.org_id, "org_name": context.org_name}

    @workflow(name="ctx_logs")
    async def ctx_logs(context: ExecutionContext):
        context.info("plain")
        context.info("created", {"user": "ada", "count": 2})
        context.warning("slow", {"when": datetime(2024, 1, 2, tzinfo=UTC), "ratio": float("nan")})
        context.error("failed", ["a", 1])
        context.debug("hidden at INFO")
        context.log("warning", "via log")
        context.log("INFO", "upper case level")
        return "done"

    @workflow(name="ctx_debug", log_level="DEBUG")
    def ctx_debug(context: ExecutionContext):
        context.debug("details", {"k": 1})
        context.log("debug", "more details")

    @workflow(name="ctx_bad_level")
    async def ctx_bad_level(context: ExecutionContext):
        context.log("verbose", "never stored")

    @workflow(name="ctx_marker")
    async def ctx_marker(context: ExecutionContext, marker: str):
        def from_thread() -> None:
            for i in range(20):
                context.info(f"{marker} thread", {"i": i})

        thread = threading.Thread(target=from_thread)
        thread.start()
        for i in range(20):
            context.info(f"{marker} task", {"i": i})
            await asyncio.sleep(0)
        await asyncio.to_thread(thread.join)

    @workflow(name="ctx_checkpoints")
    async def ctx_checkpoints(context: ExecutionContext):
        context.save_checkpoint("fetched", {"users": 3})
        async with context.step("create users", step_type="api") as step:
            step.output_data = {"created": 3}
            context.save_checkpoint("inside", {"at": object()})
        context.save_checkpoint("done", None)

    @workflow(name="ctx_config")
    def ctx_config(context: ExecutionContext):
        return {
            "api_url": context.get_config("api_url"),
            "dashed": context.get_config("api-url"),
            "missing": context.get_config("nothing_here", "fallback"),
            "admin_key": context.get_config("admin_key", "not readable"),
            "storage": context.get_config("AzureWebJobsStorage", "not readable"),
            "given": context.get_config("given"),
        }

    @workflow(name="ctx_secret")
    async def ctx_secret(context: ExecutionContext):
        return await context.get_secret("halo_client_secret")


def run(name: str, **kwargs) -> asyncio.Future[ExecutionResult]:
    return engine.execute(ExecutionRequest(name=name, transient=True, **kwargs))  # type: ignore[return-value]


def lines(result: ExecutionResult) -> list[tuple[str, str, str]]:
    return [(line.level, line.logger, line.message) for line in result.logs]


async def test_org_id_and_org_name_are_the_scope_and_none_for_global() -> None:
    # Given a workflow that returns its organization, run for an organization and globally
    in_org = await run("ctx_org", caller=Caller(user_id="u1", scope="org-42"))
    global_ = await run("ctx_org")
    # Then an organization's id (and, until organizations have names, its name) is the scope; GLOBAL has neither
    assert in_org.result == {"org_id": "org-42", "org_name": "org-42"}
    assert global_.result == {"org_id": None, "org_name": None}


async def test_log_helpers_are_lines_of_the_execution_with_level_logger_and_data_as_json() -> None:
    # When a workflow logs through the context helpers, with structured data JSON cannot all hold
    result = await run("ctx_logs")
    # Then each is a line of the execution, at its level, from the function's logger, data appended as JSON;
    # values JSON cannot hold are named, not fatal; DEBUG is left out at the default level
    assert result.status is ExecutionStatus.SUCCESS
    logger = "workflow.ctx_logs"
    assert lines(result) == [
        ("INFO", logger, "plain"),
        ("INFO", logger, 'created {"user": "ada", "count": 2}'),
        ("WARNING", logger, 'slow {"when": "<datetime>", "ratio": "<nan>"}'),
        ("ERROR", logger, 'failed ["a", 1]'),
        ("WARNING", logger, "via log"),
        ("INFO", logger, "upper case level"),
    ]


async def test_debug_lines_are_stored_when_the_workflow_asks_for_debug() -> None:
    result = await run("ctx_debug")
    assert lines(result) == [("DEBUG", "workflow.ctx_debug", 'details {"k": 1}'),
                             ("DEBUG", "workflow.ctx_debug", "more details")]


async def test_an_unknown_level_fails_the_execution_naming_the_levels() -> None:
    result = await run("ctx_bad_level")
    assert result.status is ExecutionStatus.FAILED and result.error_type == "ValueError"
    assert "debug, info, warning, error, critical" in (result.error_message or "")
    assert [level for level, _, _ in lines(result)] == ["ERROR"]  # the traceback; nothing logged at "verbose"


async def test_helper_lines_of_concurrent_executions_never_mix_even_from_threads() -> None:
    # Given two executions logging through the context helpers at once, from their task and a thread each
    first, second = await asyncio.gather(run("ctx_marker", parameters={"marker": "AAA"}),
                                         run("ctx_marker", parameters={"marker": "BBB"}))
    # Then each execution has exactly its own 40 lines
    for result, own, other in ((first, "AAA", "BBB"), (second, "BBB", "AAA")):
        messages = [message for _, _, message in lines(result)]
        assert len(messages) == 40 and all(m.startswith(own) for m in messages), messages[:3]
        assert not any(other in m for m in messages)


async def test_checkpoints_are_steps_in_execution_order() -> None:
    # When a workflow saves checkpoints before, inside and after a step of its own
    result = await run("ctx_checkpoints")
    # Then each checkpoint is a Success step of type checkpoint whose output is its data, in the order taken
    steps = sorted(result.steps, key=lambda s: s["execution_order"])
    assert [(s["execution_order"], s["step_name"], s["step_type"], s["status"]) for s in steps] == [
        (1, "fetched", "checkpoint", "Success"),
        (2, "create users", "api", "Success"),
        (3, "inside", "checkpoint", "Success"),
        (4, "done", "checkpoint", "Success"),
    ]
    assert [s["output_data"] for s in steps] == [{"users": 3}, {"created": 3}, {"at": "<object>"}, None]


async def test_get_config_reads_only_conduit_config_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a config setting, and settings that are not config (a key, a connection string)
    monkeypatch.setenv("CONDUIT_CONFIG_API_URL", "https://api.example.com")
    monkeypatch.setenv("CONDUIT_ADMIN_KEY", "secret-admin-key")
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    # When a workflow reads them, and config its caller passed
    result = await run("ctx_config", config={"given": "by caller"})
    # Then only CONDUIT_CONFIG_<KEY> is read (any key spelling maps to it); the others fall back to the default
    assert result.result == {
        "api_url": "https://api.example.com",
        "dashed": "https://api.example.com",
        "missing": "fallback",
        "admin_key": "not readable",
        "storage": "not readable",
        "given": "by caller",
    }


async def test_get_secret_of_a_key_nobody_stored_fails_saying_how_to_store_it() -> None:
    # Given an engine with no stored secret named halo_client_secret (the seed system's `await` form is used)
    result = await run("ctx_secret")
    # Then the execution fails, naming the key and how an admin stores it
    assert result.status is ExecutionStatus.FAILED and result.error_type == "SecretNotFoundError"
    message = result.error_message or ""
    assert "halo_client_secret" in message and "PUT /api/config/halo_client_secret" in message
