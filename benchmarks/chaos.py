"""Chaos run: async executions stream into several devhost hosts on one Azurite while hosts are SIGKILLed, Azurite
is restarted, storage faults come and go and execution messages are re-sent; then the invariants are checked.

Everything is local and bounded: its own Azurite (on disk, in a temporary folder, so a restart keeps the data), one
HTTP host plus queue workers (`--no-http`), the workflows of benchmarks/chaos_workspace. After `--duration` seconds
of chaos it stops injecting, waits up to `--grace` seconds for every accepted execution to become terminal, checks
(see benchmarks/chaoskit/checks.py), prints the figures and exits 1 if any invariant is violated.

    .venv/bin/python benchmarks/chaos.py                                  # 600 s, 5,000 executions, 4 hosts
    .venv/bin/python benchmarks/chaos.py --duration 180 --executions 1500 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaoskit.checks import Findings, check
from chaoskit.cluster import Cluster, host_settings, wait_healthy
from chaoskit.disrupt import Disruptions, Disruptor
from chaoskit.faults import FaultFile
from chaoskit.observe import TERMINAL, Observer
from chaoskit.workload import Ledger, Workload


@dataclass
class Plan:
    """One chaos run's parameters."""

    duration: float = 600
    executions: int = 5000
    hosts: int = 4  # one with HTTP, the rest queue workers
    rate: float | None = None  # submits per second; default: enough for `executions` within `duration`
    seed: int = 1
    grace: float = 240  # seconds after the chaos for every accepted execution to become terminal
    kills: int | None = None  # default: one per 30 s of chaos
    azurite_restarts: int | None = None  # default: one per 120 s of chaos
    kill_http: bool = True
    azurite_signal: str = "term"
    lease_seconds: int = 3
    log_level: str = "WARNING"
    settle: float = 10  # seconds the observer keeps watching after everything is terminal
    folder: Path | None = None
    extra_settings: dict[str, str] = field(default_factory=dict)

    def submit_rate(self) -> float:
        return self.rate or max(1.0, self.executions / self.duration * 1.05)


@dataclass
class Outcome:
    plan: Plan
    ledger: Ledger
    findings: Findings
    disruptions: Disruptions
    faults: dict[str, int]
    observer: Observer
    unexpected_exits: list[tuple[str, int]]
    chaos_seconds: float
    folder: Path

    @property
    def recovery_seconds(self) -> float | None:
        """From the end of the last disruption to the last execution becoming terminal (0 if all were before)."""
        if self.findings.last_completed is None or not self.disruptions.last_end:
            return None
        return max(0.0, self.findings.last_completed.timestamp() - self.disruptions.last_end)

    @property
    def executions_per_second(self) -> float:
        if self.findings.last_completed is None or not self.ledger.first_submit:
            return 0.0
        span = self.findings.last_completed.timestamp() - self.ledger.first_submit
        return len(self.ledger.accepted) / max(1e-9, span)

    @property
    def ok(self) -> bool:
        return self.findings.total_violations == 0


async def run_chaos(plan: Plan) -> Outcome:
    folder = plan.folder or Path(tempfile.mkdtemp(prefix="conduit-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(plan.seed)
    admin_key = secrets.token_urlsafe(16)
    faults = FaultFile(folder / "faults.json")
    settings = host_settings(plan.lease_seconds) | {"CONDUIT_STORAGE_FAULTS": faults.setting} | plan.extra_settings
    cluster = Cluster(folder, admin_key, settings, plan.log_level)
    try:
        return await _run(plan, rng, cluster, faults, folder)
    finally:
        faults.clear()
        await asyncio.to_thread(cluster.close)


async def _run(plan: Plan, rng: random.Random, cluster: Cluster, faults: FaultFile, folder: Path) -> Outcome:
    await asyncio.to_thread(cluster.start_azurite)
    http = cluster.add_host(http=True)
    for _ in range(max(0, plan.hosts - 1)):
        cluster.add_host(http=False)
    for host in cluster.hosts:
        cluster.start_host(host)
    await wait_healthy(http.base_url)
    ledger, observer = Ledger(), Observer(cluster.connection_string)
    stop = asyncio.Event()
    watching = asyncio.ensure_future(observer.watch(stop))
    async with Workload(rng, ledger, [http.base_url], cluster.admin_key, cluster.connection_string) as workload:
        disruptor = Disruptor(rng, cluster, faults, ledger, observer, workload,
                              kills=plan.kills if plan.kills is not None else max(1, int(plan.duration // 30)),
                              azurite_restarts=plan.azurite_restarts if plan.azurite_restarts is not None
                              else max(1, int(plan.duration // 120)),
                              kill_http=plan.kill_http, azurite_signal=plan.azurite_signal)
        keeper = asyncio.ensure_future(disruptor.keep_hosts_up(stop))
        started = time.monotonic()
        await asyncio.gather(
            workload.run(plan.executions, plan.submit_rate(), until=started + plan.duration),
            disruptor.run(plan.duration),
        )
        chaos_seconds = time.monotonic() - started
        await _wait_terminal(ledger, observer, plan.grace)
        await asyncio.sleep(plan.settle)  # a late writer would show up now
    await observer.look_now()
    findings = await check(cluster.connection_string, ledger, observer, http.base_url, cluster.admin_key)
    stop.set()
    await asyncio.gather(watching, keeper)
    return Outcome(plan, ledger, findings, disruptor.record, dict(faults.switched_on), observer,
                   list(cluster.unexpected_exits), chaos_seconds, folder)


async def _wait_terminal(ledger: Ledger, observer: Observer, grace: float) -> None:
    """Poll (through the observer) until every accepted execution is terminal, or the grace period is over."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        statuses = observer.statuses()
        if all(statuses.get(execution_id) in TERMINAL for execution_id in ledger.accepted):
            return
        await asyncio.sleep(1)


def report(outcome: Outcome) -> str:
    """The figures, one per line; violations first."""
    f, ledger, plan = outcome.findings, outcome.ledger, outcome.plan
    lines = [
        f"chaos run: seed {plan.seed}, {plan.hosts} hosts, {outcome.chaos_seconds:.0f} s of chaos, "
        f"lease {plan.lease_seconds} s, folder {outcome.folder}",
        f"accepted executions (202)             {len(ledger.accepted)}",
        f"terminal                              {sum(n for s, n in f.statuses.items() if s in TERMINAL)}"
        f"   {dict(sorted(f.statuses.items()))}",
    ]
    for invariant in ("non_terminal", "finished_twice", "overwritten", "side_effects_repeated", "logs_lost",
                      "logs_misattributed", "logs_unreadable", "idempotency", "deadline_ignored",
                      "unaccepted_left_open"):
        ids = f.violations.get(invariant, [])
        lines.append(f"{invariant:<38}{len(ids)}   (goal 0){'   e.g. ' + f.samples[invariant] if ids else ''}")
    recovery = outcome.recovery_seconds
    lines += [
        f"last fault -> last execution terminal {'n/a' if recovery is None else f'{recovery:.1f} s'}",
        f"executions/s (accepted / first submit to last completion)  {outcome.executions_per_second:.1f}",
        f"takeovers (attempt > 1)               {f.takeovers}",
        f"side-effect rows                      {f.side_effect_rows}",
        f"heavy loggers checked                 {f.heavy_checked}",
        f"disruptions                           {dict(outcome.disruptions.done)}",
        f"fault rules switched on, by kind      {outcome.faults}",
        f"messages re-sent to the queue         {dict(ledger.requeued)}",
        f"submit answers                        {dict(ledger.answers)}   gave up: {ledger.gave_up}, "
        f"re-sent with the same key: {ledger.resent_submits}",
        f"cancel answers                        {dict(ledger.cancels)}",
        f"hosts that exited by themselves       {outcome.unexpected_exits}",
        f"observer looks                        {outcome.observer.looks} ({outcome.observer.failed_looks} failed)",
        f"result                                {'OK' if outcome.ok else 'VIOLATIONS: ' + str(f.total_violations)}",
    ]
    return "\n".join(lines)


def summary(outcome: Outcome) -> dict[str, Any]:
    """The figures as JSON (for --json)."""
    f = outcome.findings
    return {
        "plan": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(outcome.plan).items()},
        "accepted": len(outcome.ledger.accepted),
        "statuses": dict(f.statuses),
        "violations": {k: v for k, v in f.violations.items()},
        "samples": f.samples,
        "recovery_seconds": outcome.recovery_seconds,
        "executions_per_second": outcome.executions_per_second,
        "disruptions": dict(outcome.disruptions.done),
        "faults": outcome.faults,
        "disruption_log": outcome.disruptions.log,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of chaos (default 600)")
    parser.add_argument("--executions", type=int, default=5000, help="executions to submit (default 5000)")
    parser.add_argument("--hosts", type=int, default=4, help="hosts: one with HTTP, the rest workers (default 4)")
    parser.add_argument("--rate", type=float, help="submits per second (default: executions / duration, +5 %%)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grace", type=float, default=240, help="seconds to wait for terminal states (240)")
    parser.add_argument("--kills", type=int, help="host SIGKILLs (default: one per 30 s)")
    parser.add_argument("--azurite-restarts", type=int, help="Azurite restarts (default: one per 120 s)")
    parser.add_argument("--azurite-signal", choices=("term", "kill"), default="term",
                        help="how Azurite is stopped after its freeze; kill loses its last ~5 s of writes")
    parser.add_argument("--no-kill-http", action="store_true", help="SIGKILL only queue workers")
    parser.add_argument("--lease-seconds", type=int, default=3)
    parser.add_argument("--log-level", default="WARNING", help="the hosts' console level (logs in --folder)")
    parser.add_argument("--folder", type=Path, help="where Azurite's data, host logs and the fault file go")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra host setting (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(duration=args.duration, executions=args.executions, hosts=args.hosts, rate=args.rate,
                seed=args.seed, grace=args.grace, kills=args.kills, azurite_restarts=args.azurite_restarts,
                kill_http=not args.no_kill_http, azurite_signal=args.azurite_signal,
                lease_seconds=args.lease_seconds, log_level=args.log_level, folder=args.folder,
                extra_settings=dict(item.split("=", 1) for item in args.setting))
    outcome = asyncio.run(run_chaos(plan))
    print(report(outcome))
    if args.json:
        args.json.write_text(json.dumps(summary(outcome), indent=1, default=str))
    if outcome.ok and args.folder is None:
        shutil.rmtree(outcome.folder, ignore_errors=True)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
