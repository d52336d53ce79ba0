"""The invariants, checked at the end from storage (records, side effects) and through the API (log lines).

Goal 0 for every violation count:
- non-terminal: an accepted execution not terminal after the grace period (or with no record at all: lost);
- finished twice / overwritten: a terminal record written again (the observer's rewrites, and the final read
  compared with the first terminal version seen);
- side effects repeated: a run that began after its execution's completed_at, more runs than `attempt`, or two runs
  recorded under the same attempt;
- log lines lost or misattributed: a heavy logger's stored lines (latest attempt, the API's default) hold another
  execution's line, or, for a Success, not exactly its own lines 0..N-1;
- idempotency: one key answered with two execution ids;
- deadline ignored: an execution that outlives its timeout (chaos_timeout, chaos_stubborn) recorded Success;
- logs unreadable: the logs API did not answer for a heavy logger within 60 s (so the line checks could not run);
- unaccepted records left non-terminal: a record written for a submit that got no 202 (its client saw an error)
  that nobody finished.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from azure.data.tables.aio import TableClient

from chaoskit.observe import COLUMNS, EXECUTIONS_TABLE, TERMINAL, Observer, Seen
from chaoskit.workload import Ledger

SIDE_EFFECTS_TABLE = "ChaosSideEffects"
LOGGERS = ("chaos_logger", "chaos_thread_logger")
LATE = ("chaos_timeout", "chaos_stubborn")
_LINE = re.compile(r"chaoslog (\S+) (\d+)/(\d+)")


@dataclass
class Findings:
    """Violations by invariant (execution ids), and figures that describe the run."""

    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    samples: dict[str, str] = field(default_factory=dict)  # invariant -> one example, described
    statuses: Counter[str] = field(default_factory=Counter)
    takeovers: int = 0
    side_effect_rows: int = 0
    heavy_checked: int = 0
    last_completed: datetime | None = None

    def violate(self, invariant: str, execution_id: str, detail: str) -> None:
        self.violations[invariant].append(execution_id)
        self.samples.setdefault(invariant, f"{execution_id}: {detail}")

    @property
    def total_violations(self) -> int:
        return sum(len(ids) for ids in self.violations.values())


async def read_table(connection_string: str, table: str, select: list[str] | None = None) -> list[Any]:
    async with TableClient.from_connection_string(connection_string, table) as client:
        # Execution ids sort below "~"; idempotency-key rows (`~idem|...`) share the table and are left out.
        return [row async for row in client.query_entities("RowKey lt '~'", select=select)]


async def check(connection_string: str, ledger: Ledger, observer: Observer, base_url: str,
                admin_key: str) -> Findings:
    findings = Findings()
    records = {str(row["RowKey"]): row for row in await read_table(connection_string, EXECUTIONS_TABLE, COLUMNS)}
    effects: dict[str, list[Any]] = defaultdict(list)
    for row in await read_table(connection_string, SIDE_EFFECTS_TABLE):
        effects[str(row["PartitionKey"])].append(row)
        findings.side_effect_rows += 1
    check_records(findings, ledger, observer, records)
    for execution_id, row in records.items():
        check_side_effects(findings, execution_id, row, effects.get(execution_id, []))
    check_keys(findings, ledger)
    await check_logs(findings, ledger, records, base_url, admin_key)
    return findings


def check_records(findings: Findings, ledger: Ledger, observer: Observer, records: dict[str, Any]) -> None:
    for execution_id, item in ledger.accepted.items():
        row = records.get(execution_id)
        if row is None:
            findings.violate("non_terminal", execution_id, "accepted (202) but no record exists")
            continue
        status = str(row["Status"])
        findings.statuses[status] += 1
        if status not in TERMINAL:
            findings.violate("non_terminal", execution_id, f"{item.workflow} {item.params} still {status} "
                             f"(attempt {row.get('Attempt')}, lease {row.get('LeaseOwner')})")
        elif item.workflow in LATE and status == "Success":
            findings.violate("deadline_ignored", execution_id, f"{item.workflow} {item.params} recorded Success")
        if _as_int(row.get("Attempt")) > 1:
            findings.takeovers += 1
        completed = row.get("CompletedAt")
        if isinstance(completed, datetime) and (findings.last_completed is None or completed > findings.last_completed):
            findings.last_completed = completed
    for execution_id, row in records.items():
        if execution_id not in ledger.accepted and str(row["Status"]) not in TERMINAL:
            findings.violate("unaccepted_left_open", execution_id, f"{row.get('WorkflowName')} {row['Status']}")
    check_rewrites(findings, observer, records)


def check_rewrites(findings: Findings, observer: Observer, records: dict[str, Any]) -> None:
    rewritten = {rewrite.execution_id: rewrite for rewrite in observer.rewrites}
    for execution_id, rewrite in rewritten.items():
        kind = "finished_twice" if rewrite.status_changed else "overwritten"
        findings.violate(kind, execution_id, f"{rewrite.first.status} (etag {rewrite.first.etag}) then "
                         f"{rewrite.later.status} (etag {rewrite.later.etag})")
    for execution_id, first in observer.first_terminal.items():
        row = records.get(execution_id)
        if row is None or execution_id in rewritten:
            continue
        final = Seen.of(row, 0)
        if final.etag != first.etag:
            kind = "finished_twice" if final.status != first.status else "overwritten"
            findings.violate(kind, execution_id, f"{first.status} then {final.status} at the final read")


def check_side_effects(findings: Findings, execution_id: str, row: Any, runs: list[Any]) -> None:
    status = str(row["Status"])
    completed = row.get("CompletedAt")
    attempt = _as_int(row.get("Attempt"))
    if status not in TERMINAL or not runs:
        return
    late = [run for run in runs if isinstance(completed, datetime) and run["BeganAt"] > completed]
    if late:
        findings.violate("side_effects_repeated", execution_id,
                         f"{len(late)} run(s) began after completed_at {completed.isoformat()} ({status})")
        return
    if len(runs) > attempt:
        findings.violate("side_effects_repeated", execution_id, f"{len(runs)} runs for attempt {attempt} ({status})")
        return
    same = Counter(_as_int(run.get("Attempt")) for run in runs if _as_int(run.get("Attempt")) > 0)
    doubled = [number for number, count in same.items() if count > 1]
    if doubled:
        findings.violate("side_effects_repeated", execution_id, f"two runs under attempt {doubled[0]} ({status})")


def check_keys(findings: Findings, ledger: Ledger) -> None:
    for (scope, key), ids in ledger.keys.items():
        if len(ids) > 1:
            findings.violate("idempotency", sorted(ids)[0], f"key {key} in {scope} answered with {sorted(ids)}")


async def check_logs(findings: Findings, ledger: Ledger, records: dict[str, Any], base_url: str,
                     admin_key: str) -> None:
    heavy = [item for item in ledger.accepted.values() if item.workflow in LOGGERS and item.execution_id in records]
    gate = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(headers={"x-api-key": admin_key}) as session:

        async def one(execution_id: str, scope: str, lines: int) -> None:
            async with gate:
                stored = await read_logs_patiently(session, base_url, execution_id, scope)
            if stored is None:
                findings.violate("logs_unreadable", execution_id, "GET .../logs did not answer 200 within 60 s")
                return
            check_lines(findings, execution_id, str(records[execution_id]["Status"]), lines, stored)

        await asyncio.gather(*(one(i.execution_id, i.scope, int(i.params["lines"])) for i in heavy))
    findings.heavy_checked = len(heavy)


async def read_logs_patiently(session: aiohttp.ClientSession, base_url: str, execution_id: str,
                               scope: str) -> list[str] | None:
    """The stored messages; the HTTP host may be restarting (a host that user code took down), so retry for 60 s."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await read_logs(session, base_url, execution_id, scope)
        except (aiohttp.ClientError, TimeoutError):
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(1)


async def read_logs(session: aiohttp.ClientSession, base_url: str, execution_id: str, scope: str) -> list[str]:
    """Every stored message of the execution (latest attempt), page by page through the API."""
    messages: list[str] = []
    after: int | None = None
    while True:
        query = f"?limit=1000{'' if after is None else f'&after={after}'}"
        url = f"{base_url}/api/workflows/executions/{execution_id}/logs{query}"
        async with session.get(url, headers={"X-Organization-Id": scope}) as response:
            response.raise_for_status()
            page = await response.json()
        items = page.get("items", [])
        messages += [str(item.get("message", "")) for item in items]
        if len(items) < 1000:
            return messages
        after = items[-1]["sequence"]


def check_lines(findings: Findings, execution_id: str, status: str, total: int, messages: list[str]) -> None:
    found = [match for match in map(_LINE.search, messages) if match]
    foreign = [match for match in found if match.group(1) != execution_id]
    if foreign:
        findings.violate("logs_misattributed", execution_id, f"holds {len(foreign)} line(s) of other executions, "
                         f"e.g. {foreign[0].group(0)!r}")
    if status != "Success":
        return
    own = Counter(int(match.group(2)) for match in found if match.group(1) == execution_id)
    missing = total - len([n for n in range(total) if own.get(n)])
    repeated = sum(count - 1 for count in own.values() if count > 1)
    if missing or repeated:
        findings.violate("logs_lost", execution_id, f"Success, {missing} of {total} lines missing, {repeated} "
                         f"repeated ({len(messages)} lines stored)")


def _as_int(value: Any) -> int:
    value = getattr(value, "value", value)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
