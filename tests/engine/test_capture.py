"""Log capture limits and levels (transient executions): bytes, partial writes and `\\r`, INFO by default, DEBUG only
when asked for and only from the workflow's own loggers, and the process's logging left as the host configured it."""

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from shared import ExecutionContext, workflow
from shared.capture import log_capture as capture_module
from shared.capture.log_capture import current_capture
from shared.capture.partial_lines import MAX_LINE_CHARS
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionResult, ExecutionStatus

registry = FunctionRegistry()
engine = Engine(registry)
module_log = logging.getLogger(__name__)

with use_registry(registry):

    @workflow(name="printer")
    def printer(lines: int, width: int) -> int:
        for _ in range(lines):
            print("x" * width)
        held = current_capture()
        return held.held if held else -1

    @workflow(name="partial_printer")
    def partial_printer(writes: int, chunk: str) -> None:
        for _ in range(writes):
            print(chunk, end="")
        print()

    @workflow(name="carriage")
    def carriage() -> None:
        for percent in (10, 50, 100):
            print(f"\r{percent:3d}% done", end="")
        print()
        print("windows line\r\nnext line\r")
        print("split\r", end="")
        print("", end="\n")

    def _levels(context: ExecutionContext) -> int:
        context.logger.debug("context debug")
        module_log.debug("module debug")
        logging.getLogger(f"{__name__}.helpers").debug("module child debug")
        context.logger.info("context info")
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").debug("Authorization: Bearer secret")
        logging.getLogger("urllib3.connectionpool").debug("GET /?sig=secret")
        logging.getLogger("azure.identity").info("token acquired for secret")
        logging.getLogger("some.library").debug("library debug")
        logging.getLogger("some.library").info("library info")
        logging.getLogger("azure.core").warning("azure warning")
        return logging.getLogger().level

    @workflow(name="levels_default")
    async def levels_default(context: ExecutionContext) -> int:
        return _levels(context)

    @workflow(name="levels_debug", log_level="DEBUG")
    async def levels_debug(context: ExecutionContext) -> int:
        return _levels(context)

    @workflow(name="debug_while_other_runs")
    async def debug_while_other_runs(context: ExecutionContext, delay: float) -> None:
        await asyncio.sleep(delay)
        context.logger.debug("debug after %s", delay)
        context.logger.info("info after %s", delay)


def run(name: str, log_level: str | None = None, **parameters) -> asyncio.Future[ExecutionResult]:
    trigger = {"kind": "api", **({"log_level": log_level} if log_level else {})}
    request = ExecutionRequest(name=name, parameters=parameters, transient=True, trigger=trigger)
    return asyncio.ensure_future(engine.execute(request))


def messages(result: ExecutionResult) -> list[str]:
    return [line.message for line in result.logs]


@pytest.fixture
def small_byte_limit(monkeypatch) -> int:
    monkeypatch.setattr(capture_module, "MAX_LOG_BYTES", 100_000)
    return 100_000


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def console() -> Iterator[Collector]:
    """Another handler on the root logger at NOTSET, as the Functions worker's or a host's console would be."""
    handler = Collector()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


async def test_output_beyond_the_byte_limit_is_counted_and_ends_with_a_warning(small_byte_limit: int) -> None:
    # Given a limit of 100,000 bytes per execution
    # When a workflow prints 2,000 lines of 1,000 characters (2 MB)
    result = await run("printer", lines=2_000, width=1_000)
    # Then the first 100 lines are kept, and memory never held more than them
    assert result.status is ExecutionStatus.SUCCESS and result.result == 100
    assert messages(result)[:100] == ["x" * 1_000] * 100
    # And a final WARNING says what was left out
    last = result.logs[-1]
    assert len(result.logs) == 101 and last.level == "WARNING" and last.sequence == 101
    assert last.message == ("1,900 more log lines (1,900,000 bytes) were not stored: the limit is 100,000 lines and "
                            "100,000 bytes of text per execution.")


async def test_twenty_thousand_partial_writes_are_one_line_quickly() -> None:
    # When a workflow prints 20,000 chunks without a newline, then one newline
    started = time.perf_counter()
    result = await run("partial_printer", writes=20_000, chunk="0123456789")
    # Then the stored line is exactly their concatenation, and it took time linear in the text (generous bound)
    assert messages(result) == ["0123456789" * 20_000]
    assert time.perf_counter() - started < 5


async def test_a_megabyte_without_newline_is_cut_at_the_line_limit_with_a_marker() -> None:
    result = await run("partial_printer", writes=1_000, chunk="y" * 1_000)
    (line,) = messages(result)
    assert len(line) <= MAX_LINE_CHARS and line.startswith("y" * 200_000)
    kept = line.index("…")
    cut = 1_000_000 - kept
    assert line[kept:] == f"… [truncated: {cut} more characters; the limit is 262144 characters per log line]"


async def test_carriage_return_keeps_the_latest_state_of_a_line() -> None:
    # When a workflow redraws a progress line with \r, and prints Windows line endings
    result = await run("carriage")
    # Then the progress line is stored once, as last drawn; \r\n ends a line as it is; a trailing \r changes nothing
    assert messages(result) == ["100% done", "windows line", "next line", "split"]


async def test_debug_is_not_stored_by_default() -> None:
    result = await run("levels_default")
    assert messages(result) == ["context info", "library info", "azure warning"]


async def test_debug_opt_in_on_the_decorator_stores_the_workflows_own_debug_lines_only() -> None:
    # When a workflow declared with log_level="DEBUG" logs DEBUG lines from its own and from third-party loggers
    result = await run("levels_debug")
    # Then its own DEBUG lines are stored; third-party DEBUG (and the Azure SDK's INFO) never are
    assert messages(result) == ["context debug", "module debug", "module child debug", "context info",
                                "library info", "azure warning"]
    assert result.logs[0].level == "DEBUG" and result.logs[0].logger == "workflow.levels_debug"


async def test_debug_opt_in_on_the_request() -> None:
    # When an admin asks for DEBUG on one execution of a workflow that did not opt in
    result = await run("levels_default", log_level="DEBUG")
    # Then that execution stores the workflow's DEBUG lines, and the next one (without) does not
    assert messages(result)[:3] == ["context debug", "module debug", "module child debug"]
    assert "context debug" not in messages(await run("levels_default"))


async def test_third_party_debug_is_never_stored_even_when_the_host_logs_debug() -> None:
    # Given a host whose root logger is at DEBUG (someone debugging the host)
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)
    try:
        default, debug = await asyncio.gather(run("levels_default"), run("levels_debug"))
    finally:
        root.setLevel(before)
    # Then neither stores the Azure SDK's or urllib3's DEBUG lines (nor another library's), the default one no DEBUG
    assert messages(default) == ["context info", "library info", "azure warning"]
    assert messages(debug) == ["context debug", "module debug", "module child debug", "context info", "library info",
                               "azure warning"]


async def test_executions_do_not_change_the_root_level_nor_flood_other_handlers(console: Collector) -> None:
    # Given a root logger at INFO (as the Functions worker sets it) with another handler on it
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    try:
        # When a default and a DEBUG execution run
        default, debug = await asyncio.gather(run("levels_default"), run("levels_debug"))
        # Then the root level stayed INFO, before, during and after them
        assert default.result == debug.result == logging.INFO and root.level == logging.INFO
    finally:
        root.setLevel(before)
    # And the other handler got their INFO lines but none of the DEBUG records made for the DEBUG execution
    seen = [(r.levelname, r.getMessage()) for r in console.records if r.name.startswith(("workflow.", __name__))]
    assert ("INFO", "context info") in seen and not any(level == "DEBUG" for level, _ in seen)
    # And the workflow's loggers are back at their own levels
    assert logging.getLogger("workflow.levels_debug").level == logging.NOTSET
    assert module_log.level == logging.NOTSET


async def test_a_debug_execution_does_not_make_a_concurrent_one_store_debug() -> None:
    # Given two executions of one workflow at once, one asked for DEBUG
    first = run("debug_while_other_runs", delay=0.2)
    second = run("debug_while_other_runs", log_level="DEBUG", delay=0.1)
    plain, verbose = await asyncio.gather(first, second)
    # Then only the DEBUG one stored the DEBUG line
    assert messages(plain) == ["info after 0.2"]
    assert messages(verbose) == ["debug after 0.1", "info after 0.1"]
