"""Load the user's functions: every module of `platform/` and of the workspace folder, once, at start-up.

Both folders are import roots (appended to `sys.path`), so a workflow module imports its own helpers and sibling
packages by plain name, and a helper imported that way is the same module object discovery loaded. A module that
fails to import is reported with its path and error; the others still load. Roots go at the end of `sys.path` so
a user module can never shadow the standard library; a module whose name is already taken is reported instead.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConduitError
from shared.functions.registry import FunctionRegistry, Source, loading_source, use_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
PLATFORM_DIR = REPO_ROOT / "platform"
_SKIPPED_DIRS = {"__pycache__", "tests", "node_modules", ".venv", "venv"}


@dataclass(frozen=True)
class LoadError:
    """A module that could not be loaded, and why."""

    path: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


@dataclass
class DiscoveryReport:
    """What discovery loaded and what it could not."""

    modules: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def workspace_dir() -> Path:
    """CONDUIT_WORKSPACE (default `workspace`); a relative path is taken from the app's folder (where
    function_app.py is), not from wherever the host was started."""
    return (REPO_ROOT / os.environ.get("CONDUIT_WORKSPACE", "workspace")).resolve()


def discover(
    registry: FunctionRegistry,
    roots: list[tuple[Path, Source]] | None = None,
) -> DiscoveryReport:
    """Import every module under each root into `registry`, tagging functions with their source."""
    roots = roots if roots is not None else [(PLATFORM_DIR, "platform"), (workspace_dir(), "workspace")]
    report = DiscoveryReport()
    with use_registry(registry):
        for root, source in roots:
            if root.is_dir():
                _load_root(root, source, report)
    report.errors.extend(missing_data_providers(registry))
    return report


def missing_data_providers(registry: FunctionRegistry) -> list[LoadError]:
    """A `@param(data_provider=...)` naming no registered data provider; checked once everything has loaded, so a
    provider may live in any module. The function stays registered: only the field's options cannot be listed.
    """
    errors = []
    for metadata in registry.list():
        for spec in metadata.parameters:
            provider = registry.get(spec.data_provider) if spec.data_provider else None
            if spec.data_provider and (provider is None or not provider.is_data_provider):
                errors.append(LoadError(
                    metadata.source_file,
                    f"{metadata.name}: @param('{spec.name}') names data_provider '{spec.data_provider}', but no data "
                    f"provider has that name; add @data_provider(name='{spec.data_provider}') or fix the name",
                ))
    return errors


def _load_root(root: Path, source: Source, report: DiscoveryReport) -> None:
    if str(root) not in sys.path:
        sys.path.append(str(root))
    with loading_source(source):
        for path, module_name in _modules_under(root):
            _load_module(root, path, module_name, report)


def _modules_under(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, dotted module name) for every .py file, packages before their contents, in a stable order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS and not d.startswith("."))
        here = Path(dirpath)
        relative = here.relative_to(root).parts
        if relative and not (here / "__init__.py").exists():
            dirnames[:] = []  # only regular packages are walked into; plain folders are data
            continue
        for filename in sorted(f for f in filenames if f.endswith(".py") and not f.startswith(".")):
            stem = filename[:-3]
            if stem == "__init__":
                if relative:
                    yield here / filename, ".".join(relative)
                continue
            yield here / filename, ".".join((*relative, stem))


def _load_module(root: Path, path: Path, module_name: str, report: DiscoveryReport) -> None:
    shown = str(path)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        detail = exc.message if isinstance(exc, ConduitError) else "".join(traceback.format_exception_only(exc)).strip()
        report.errors.append(LoadError(shown, detail))
        return
    loaded_from = Path(getattr(module, "__file__", "") or "").resolve()
    if loaded_from != path.resolve():
        report.errors.append(
            LoadError(shown, f"the module name '{module_name}' is already taken by {loaded_from or 'a built-in'}; "
                             f"rename the file")
        )
        return
    report.modules.append(module_name)
