"""DAG definitions from files: every `*.dag.json` under `platform/` and the workspace folder, registered as
workflows next to the Python ones.

Files are found with the rules Python discovery uses (hidden and `_`-prefixed entries, virtual environments,
`tests/`, `node_modules/`, `.conduitignore`; see shared.functions.ignore) and read AFTER every Python module has
loaded, so an `action` node may call a workflow defined in any module. A file that does not parse, fails
validation, or takes a name already registered does not register; it is listed among the load errors with every
problem, and the other files still load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from shared.dag.registration import dag_metadata, definition_of
from shared.dag.validation import check_definition
from shared.errors import DagValidationError
from shared.functions.discovery import PLATFORM_DIR, DiscoveryReport, LoadError, discover, workspace_dir
from shared.functions.ignore import Skipped, SkipRules, is_cache
from shared.functions.registry import FunctionMetadata, FunctionRegistry, Source

SUFFIX = ".dag.json"
MAX_FILE_BYTES = 1024 * 1024  # far above a definition's limit: a bigger file is refused before it is parsed


def discover_all(registry: FunctionRegistry, roots: list[tuple[Path, Source]] | None = None) -> DiscoveryReport:
    """Python discovery, then the DAG files of the same roots: one report of both."""
    report = discover(registry, roots)
    dags = load_dags(registry, roots)
    report.errors.extend(dags.errors)
    known = {skipped.path for skipped in report.skipped}
    report.skipped.extend(s for s in dags.skipped if s.path not in known)
    report.modules.extend(dags.modules)
    return report


def load_dags(registry: FunctionRegistry, roots: list[tuple[Path, Source]] | None = None) -> DiscoveryReport:
    """Register every valid `*.dag.json` under `roots` (default: platform/ and the workspace); `modules` lists the
    files registered, `errors` the ones that were not and why."""
    report = DiscoveryReport()
    for folder, source in roots if roots is not None else default_roots():
        if folder.is_dir():
            for path in dag_files(folder, report):
                _load_file(registry, path, source, report)
    return report


def default_roots() -> list[tuple[Path, Source]]:
    return [(PLATFORM_DIR, "platform"), (workspace_dir(), "workspace")]


def dag_files(top: Path, report: DiscoveryReport) -> Iterator[Path]:
    """Every `*.dag.json` under `top` in a stable order; what the skip rules leave alone goes to `report.skipped`
    (and a `.conduitignore` that cannot be read stops the folder, as it does for Python modules)."""
    try:
        rules = SkipRules.load(top)
    except (OSError, ValueError) as exc:
        report.errors.append(LoadError(str(top), f"{type(exc).__name__}: {exc}; no DAG file in {top} was loaded"))
        return
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            reason = None if is_cache(here / name) else rules.folder_reason(here / name)
            if reason is not None:
                report.skipped.append(Skipped(str(here / name), reason))
            elif not is_cache(here / name):
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(f for f in filenames if f.endswith(SUFFIX)):
            reason = rules.data_file_reason(here / name)
            if reason is not None:
                report.skipped.append(Skipped(str(here / name), reason))
            else:
                yield here / name


def _load_file(registry: FunctionRegistry, path: Path, source: Source, report: DiscoveryReport) -> None:
    try:
        raw = read_definition_file(path)
        definition = check_definition(raw, registry)
    except DagValidationError as error:
        problems = "; ".join(f"{e.field}: {e.message} [{e.code}]" for e in error.errors)
        report.errors.append(LoadError(str(path), f"not registered, {len(error.errors)} problem(s): {problems}"))
        return
    except ValueError as error:
        report.errors.append(LoadError(str(path), str(error)))
        return
    taken = registry.get(definition.name)
    if taken is not None:
        report.errors.append(LoadError(str(path), f"not registered: the name '{definition.name}' is already taken "
                                                  f"by {_where(taken)}; names are unique, rename one of them"))
        return
    registry.register(dag_metadata(definition, source=source, location=str(path)))
    report.modules.append(str(path))


def read_definition_file(path: Path) -> dict[str, object]:
    """The JSON object in `path`; ValueError naming the line and column of a syntax error."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"not registered: the file is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"not registered: not valid JSON: {error.msg} (line {error.lineno}, column "
                         f"{error.colno})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"not registered: cannot be read: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError("not registered: a DAG file holds one JSON object (the definition)")
    return raw


def _where(metadata: FunctionMetadata) -> str:
    if definition_of(metadata) is not None:
        return f"the DAG in {getattr(metadata.function, 'dag_location', None) or 'storage'}"
    return f"{metadata.function.__qualname__} ({metadata.location})"
