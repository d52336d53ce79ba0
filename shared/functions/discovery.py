"""Load the user's functions: every module of `platform/` and of the workspace folder, once, at start-up.

Every `.py` file at any depth is imported, with or without `__init__.py`, under a name derived from its path
(`conduit_workspace.billing.utils`; see `import_roots`), so two folders' `utils.py` never collide, and a helper next
to a workflow still imports by plain name (see `plain_imports`). Hidden and `_`-prefixed entries, virtual
environments, `tests/`, `node_modules/` and what `.conduitignore` names are skipped (see `ignore`). A module that
fails to import is reported with its path and error, a skipped file or folder with its reason; the others still load.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConduitError
from shared.functions import plain_imports
from shared.functions.ignore import IGNORE_FILE, Skipped, SkipRules, is_cache
from shared.functions.import_roots import ImportRoot, add_root, set_plain_roots
from shared.functions.registry import FunctionRegistry, Source, loading_source, use_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
PLATFORM_DIR = REPO_ROOT / "platform"
MISSING_WORKSPACE = "the workspace folder (setting CONDUIT_WORKSPACE) does not exist, so no workspace function loaded"


@dataclass(frozen=True)
class LoadError:
    """A module that could not be loaded, and why."""

    path: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


@dataclass
class DiscoveryReport:
    """What discovery loaded, what failed to load (`errors`) and what it left alone on purpose (`skipped`)."""

    modules: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def workspace_dir() -> Path:
    """CONDUIT_WORKSPACE (default `workspace`); a relative path is taken from the app's folder (where
    function_app.py is), not from wherever the host was started."""
    return (REPO_ROOT / os.environ.get("CONDUIT_WORKSPACE", "workspace")).resolve()


def discover(
    registry: FunctionRegistry,
    roots: list[tuple[Path, Source]] | None = None,
) -> DiscoveryReport:
    """Import every module under each root into `registry`, tagging functions with their source."""
    configured = roots is None
    roots = roots if roots is not None else [(PLATFORM_DIR, "platform"), (workspace_dir(), "workspace")]
    report = DiscoveryReport()
    if configured and not workspace_dir().is_dir():
        # Not an error (a fresh checkout has no workspace/ yet), but never silent: a mistyped CONDUIT_WORKSPACE
        # would otherwise just leave the host with no workspace functions.
        report.skipped.append(Skipped(str(workspace_dir()), MISSING_WORKSPACE))
    with use_registry(registry):
        loaded = [_load_root(root, source, report) for root, source in roots if root.is_dir()]
    if configured:
        set_plain_roots(loaded)
    report.errors.extend(missing_data_providers(registry))
    report.errors.extend(LoadError(path, message) for path, message in registry.unclaimed_params())
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


def _load_root(folder: Path, source: Source, report: DiscoveryReport) -> ImportRoot:
    root = add_root(folder, source)
    plain_imports.forget(root)
    try:
        rules = SkipRules.load(root.folder)
    except (OSError, ValueError) as exc:
        # Without its rules discovery cannot know what the workspace meant to exclude, so it imports nothing.
        report.errors.append(LoadError(str(root.folder / IGNORE_FILE), f"{type(exc).__name__}: {exc}; nothing in "
                                       f"{root.folder} was loaded"))
        return root
    with loading_source(source):
        for path in _files_under(root.folder, rules, report):
            _load_module(root, path, report)
    return root


def _files_under(top: Path, rules: SkipRules, report: DiscoveryReport) -> Iterator[Path]:
    """Every `.py` file to import, `__init__.py` before its neighbours, folders in a stable (sorted) order; what the
    rules skip goes to the report instead, a skipped folder once (not its contents)."""
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            folder = here / name
            reason = None if is_cache(folder) else rules.folder_reason(folder)
            if reason is not None:
                report.skipped.append(Skipped(str(folder), reason))
            elif not is_cache(folder):
                kept.append(name)
        dirnames[:] = kept
        for name in sorted((f for f in filenames if f.endswith(".py")), key=lambda f: (f != "__init__.py", f)):
            reason = rules.file_reason(here / name)
            if reason is not None:
                report.skipped.append(Skipped(str(here / name), reason))
            else:
                yield here / name


def _load_module(root: ImportRoot, path: Path, report: DiscoveryReport) -> None:
    shown = str(path)
    module_name = root.module_name(path)
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # a module calling sys.exit() at import must not stop the host
        report.errors.append(LoadError(shown, failure_text(exc, path)))
        return
    loaded_from = Path(getattr(module, "__file__", "") or "").resolve()
    if loaded_from != path.resolve():
        report.errors.append(
            LoadError(shown, f"not loaded: the module name '{module_name}' belongs to {loaded_from or 'a folder'} "
                             f"(a package folder of the same name wins over a file); rename one of them")
        )
        return
    report.modules.append(module_name)


def failure_text(exc: BaseException, path: Path) -> str:
    """Why a module did not import, in one line where Python's own text would need several or leave the user
    guessing: a syntax error says the line and its text (the file is the load error's path), a missing module says
    where Conduit looked and what to do. A ConduitError's message is shown as is; anything else as Python puts it."""
    if isinstance(exc, ConduitError):
        return exc.message
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path.resolve():
        code = f": {exc.text.strip()}" if exc.text and exc.text.strip() else ""
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno}{code})"
    if type(exc) is ModuleNotFoundError and exc.name and "." not in exc.name:
        return (f"ModuleNotFoundError: No module named '{exc.name}': it is not in the standard library, the installed "
                f"packages or the workspace; add the package to requirements.txt (Azure's build installs it), or "
                f"fix the name")
    return "".join(traceback.format_exception_only(exc)).strip()
