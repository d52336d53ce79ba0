"""The chaos run in small (benchmarks/chaos.py with small numbers): about 45 s of chaos, ~200 executions, 3 hosts.

Same code as the long run: its own Azurite on disk, one HTTP host and two queue workers, one SIGKILL of a worker,
one Azurite restart, storage fault windows through CONDUIT_STORAGE_FAULTS and copies of execution messages; then
every invariant is checked. Host logs, Azurite's data and the fault file go to a conduit-chaos-ci-* temporary folder,
kept (and named in the failure) when the test fails, removed when it passes.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

CHAOS_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"


def load_chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conduit_chaos", CHAOS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(480)
async def test_every_accepted_execution_ends_once_under_chaos() -> None:
    # Given a cluster of three hosts on a persistent Azurite, and a stream of ~200 async executions of every kind
    chaos = load_chaos()
    plan = chaos.Plan(duration=45, executions=200, hosts=3, seed=7, grace=180, kills=1, azurite_restarts=1,
                      kill_http=False, settle=5,
                      folder=Path(tempfile.mkdtemp(prefix="conduit-chaos-ci-")))

    # When a worker is SIGKILLed, Azurite restarts, storage faults come and go and messages are sent again
    outcome = await chaos.run_chaos(plan)
    report = chaos.report(outcome) + "\n" + "\n".join(outcome.disruptions.log[-30:])

    # Then the chaos really happened, and enough executions were accepted to mean something
    assert outcome.disruptions.done["sigkill"] == 1, report
    assert outcome.disruptions.done["azurite_restarted"] == 1, report
    assert outcome.disruptions.done["fault_window"] >= 2, report
    assert len(outcome.ledger.accepted) >= 120, report
    # And every accepted execution reached exactly one terminal state: nothing lost, overwritten or run again after
    # it finished, every heavy logger's lines complete and its own, every deadline kept
    assert outcome.findings.total_violations == 0, report
    shutil.rmtree(plan.folder, ignore_errors=True)
