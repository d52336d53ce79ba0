"""Log capture with real storage: flushed lines leave a queued execution's memory, the byte limit holds for what is
stored, and the `log_level` an admin asks for on execute (sync or queued)."""

import pytest

from shared.capture import log_capture as capture
from shared.errors import ForbiddenError
from shared.executions.service import WorkflowCall, submit
from shared.models import Caller
from shared.runtime import get_runtime
from tests.http.conftest import Api


async def stored_lines(api: Api, execution_id: str) -> list[tuple[int, str, str]]:
    _, logs = await api.logs(execution_id)
    return [(line["sequence"], line["level"], line["message"]) for line in logs["items"]]


async def test_a_queued_execution_lets_go_of_lines_once_they_are_flushed(api: Api, run_queue) -> None:
    # Given an async execution that logs 500 lines and waits until the supervisor has flushed them
    _, body = await api.execute("logs_while_flushed", {"lines": 500})
    # When the queue runs it
    await run_queue()
    _, record = await api.execution(body["execution_id"])
    # Then its capture held 500 lines before the flush and none after it
    assert record["status"] == "Success"
    assert record["output_data"] == {"held_before": 500, "flushed": 500, "held_after": 0}
    # And storage holds every line once, with sequences 1..501 without a gap
    lines = await stored_lines(api, body["execution_id"])
    assert [seq for seq, _, _ in lines] == list(range(1, 502))
    assert lines[0][2] == "before 0" and lines[499][2] == "before 499" and lines[500][2] == "after the flush"


async def test_a_sync_execution_keeps_its_flushed_lines_for_the_response(api: Api) -> None:
    # When the same workflow runs synchronously (its lines are flushed while it waits)
    status, body = await api.execute("logs_while_flushed", {"lines": 500}, body_extra={"mode": "sync"})
    # Then it kept them, and the response carries all 501 lines, as does storage
    assert status == 200 and body["output_data"] == {"held_before": 500, "flushed": 500, "held_after": 500}
    assert [line["sequence"] for line in body["logs"]] == list(range(1, 502))
    assert [seq for seq, _, _ in await stored_lines(api, body["execution_id"])] == list(range(1, 502))


async def test_stored_lines_stop_at_the_byte_limit_with_a_warning(api: Api, monkeypatch) -> None:
    # Given a limit of 50,000 bytes of text per execution
    monkeypatch.setattr(capture, "MAX_LOG_BYTES", 50_000)
    # When a workflow logs 6,000 lines of 10 bytes
    status, body = await api.execute("many_logs", {"lines": 6_000})
    # Then 5,000 lines are stored, then one WARNING saying what was left out
    assert status == 200 and body["status"] == "Success"
    lines = await stored_lines(api, body["execution_id"])
    assert len(lines) == 5_001 and lines[4_999] == (5_000, "INFO", "line 04999")
    assert lines[-1] == (5_001, "WARNING", "1,000 more log lines (10,000 bytes) were not stored: the limit is "
                                           "100,000 lines and 50,000 bytes of text per execution.")


async def test_debug_lines_are_stored_only_when_an_admin_asks(api: Api, run_queue) -> None:
    # When a workflow logging DEBUG lines runs plainly, and with "log_level": "debug" (sync and queued)
    _, plain = await api.execute("debug_lines")
    _, verbose = await api.execute("debug_lines", body_extra={"log_level": "debug"})
    _, queued = await api.execute("debug_lines", body_extra={"log_level": "DEBUG", "mode": "async"})
    await run_queue()
    # Then only the runs that asked store the workflow's DEBUG line, and none stores third-party DEBUG
    assert [m for _, _, m in await stored_lines(api, plain["execution_id"])] == ["info line"]
    for execution_id in (verbose["execution_id"], queued["execution_id"]):
        assert await stored_lines(api, execution_id) == [(1, "DEBUG", "debug line"), (2, "INFO", "info line")]
    # And the record shows the level it was asked to run with
    _, record = await api.execution(queued["execution_id"])
    assert record["trigger"]["kind"] == "http" and record["trigger"]["log_level"] == "DEBUG"


async def test_an_unknown_log_level_is_422(api: Api) -> None:
    status, body = await api.execute("debug_lines", body_extra={"log_level": "VERBOSE"})
    assert status == 422 and body["error"]["details"][0]["field"] == "log_level"


async def test_only_platform_admins_may_choose_the_log_level(api: Api) -> None:
    # Given a caller who is not a platform admin (no such caller exists over HTTP yet: every key is the admin's)
    caller = Caller(user_id="u-1", scope="org-1")
    call = WorkflowCall(workflow_name="debug_lines", caller=caller, log_level="DEBUG", trigger_payload={"kind": "http"})
    # When they ask for DEBUG, then the execution service refuses before anything runs
    with pytest.raises(ForbiddenError, match="Only platform admins may choose"):
        await submit(await get_runtime(), call)
