"""Print a workspace's load report: what loads, which functions it registers, what fails to load and what is skipped.

    .venv/bin/python scripts/load_report.py [workspace] [--json]     (or: make check-workspace WORKSPACE=path)

Run it before deploying: it loads the workspace exactly as a host does at start-up (Conduit's own discovery, the
platform/ folder included, so a name taken twice across both is found too) without storage or a running host, and
exits 1 when anything failed to load. `workspace` defaults to the setting CONDUIT_WORKSPACE (else ./workspace);
other settings come from the environment, then from local.settings.json as devhost reads them (e.g.
CONDUIT_BIFROST_COMPAT=true for files that start with `from bifrost import ...`).

Exit codes: 0 everything loaded, 1 load errors (listed), 2 the workspace folder does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python scripts/load_report.py` puts only scripts/ on the path


@dataclass
class Report:
    """The load report, in the shape both outputs print."""

    workspace: str
    settings: dict[str, str]
    modules: dict[str, int]
    functions: list[dict[str, str]]
    load_errors: list[dict[str, str]]
    skipped: list[dict[str, str]]
    counts: dict[str, int] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    workspace = Path(options.workspace).resolve() if options.workspace else None
    if workspace is not None and not workspace.is_dir():
        print(f"load_report: {workspace} is not a folder", file=sys.stderr)
        return 2
    _apply_settings(workspace)
    report = build_report()
    print(json.dumps(report.__dict__, indent=2) if options.json else render(report))
    return 1 if report.load_errors else 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print a workspace's load report (exit 1 on load errors).")
    parser.add_argument("workspace", nargs="?", help="the workspace folder (default: CONDUIT_WORKSPACE, ./workspace)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def _apply_settings(workspace: Path | None) -> None:
    """The settings a host would have: the environment first, then local.settings.json's Values (as devhost and
    Core Tools read them); the workspace given on the command line wins. Before Conduit is imported: the timeout
    limit, for one, is read when its decorators are."""
    from devhost.settings import read_values, settings_file

    path = settings_file(ROOT)
    if path is not None:
        for key, value in read_values(path).items():
            os.environ.setdefault(key, value)
    if workspace is not None:
        os.environ["CONDUIT_WORKSPACE"] = str(workspace)


def build_report() -> Report:
    """Discover the functions the way the host does (shared.runtime.load_functions) and describe the outcome."""
    import logging

    from shared.compat.finder import SETTING
    from shared.functions.discovery import workspace_dir
    from shared.functions.import_roots import root_of
    from shared.runtime import load_functions

    logging.getLogger("conduit.discovery").setLevel(logging.ERROR)  # its WARNING per error: printed below instead
    registry, discovered = load_functions()
    modules = {"platform": 0, "workspace": 0}
    for name in discovered.modules:
        root = root_of(name)
        modules["workspace" if root is not None and root.folder == workspace_dir() else "platform"] += 1
    functions = [
        {"name": m.name, "kind": " + ".join(k for k in ("workflow", "data_provider") if k in m.tags),
         "source": m.source or "", "location": m.location}
        for m in registry.list()
    ]
    counts = {
        "workflows": registry.count("workflow"),
        "data_providers": registry.count("data_provider"),
        "workspace_functions": sum(f["source"] == "workspace" for f in functions),
    }
    return Report(
        workspace=str(workspace_dir()),
        settings={SETTING: os.environ.get(SETTING, "")},
        modules=modules,
        functions=functions,
        load_errors=[{"path": _shown(e.path), "error": e.error} for e in discovered.errors],
        skipped=[{"path": _shown(s.path), "reason": s.reason} for s in discovered.skipped],
        counts=counts,
    )


def _shown(path: str) -> str:
    from shared.functions.registry import shown_path

    return shown_path(path)


def render(report: Report) -> str:
    lines = [
        f"Load report for {_shown(report.workspace)}"
        + "".join(f" ({key}={value or 'unset'})" for key, value in report.settings.items()),
        f"Modules loaded: {sum(report.modules.values())} ({report.modules['workspace']} workspace, "
        f"{report.modules['platform']} platform)",
        f"Functions: {len(report.functions)} ({_count(report.counts['workflows'], 'workflow')}, "
        f"{_count(report.counts['data_providers'], 'data provider')}; {report.counts['workspace_functions']} from "
        f"the workspace)",
    ]
    lines += _table(report.functions, ("source", "kind", "name", "location"))
    lines.append(f"Load errors: {len(report.load_errors)}")
    for error in report.load_errors:
        text = error["error"].splitlines() or [""]
        lines.append(f"  {error['path']}: {text[0]}")
        lines += [f"      {line}" for line in text[1:]]
    lines.append(f"Skipped: {len(report.skipped)}")
    lines += [f"  {s['path']}: {s['reason']}" for s in report.skipped]
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    widths = {c: max((len(str(r[c])) for r in rows), default=0) for c in columns}
    return ["  " + "  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip() for r in rows]


if __name__ == "__main__":
    sys.exit(main())
