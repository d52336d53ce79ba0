"""Plain-name imports of workspace modules: `import helpers` in `billing/invoice.py` finds `billing/helpers.py`.

Workflows written for the seed system import their neighbours by plain name (it put each file's folder on
`sys.path`). A plain name is one key in `sys.modules`, so two folders' `helpers.py` would collide there: whichever
loaded first would serve both. Instead, every workspace module gets builtins whose `__import__` knows the importing
module (`import` passes its globals): a plain name that is a file or folder next to the importer, else at its root,
resolves to that file's path-derived module (`conduit_workspace.billing.helpers`), and nothing is stored under the
plain name. Names the standard library or an installed package provides (`json`, `httpx`, Conduit's `shared`) are
never shadowed. Because the hook lives in the module's builtins, imports inside functions, run long after
discovery, resolve the same way.

Code outside the workspace (tests, inline scripts) may import a root's top-level modules by plain name too: a finder
at the end of `sys.meta_path` makes the plain name an alias of the same module object, so nothing is imported twice.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from shared.functions.import_roots import ImportRoot, alias_spec, plain_roots, root_of

_real_import = builtins.__import__
_builtins: dict[str, Any] | None = None
_entries: dict[Path, frozenset[str]] = {}
_elsewhere: dict[str, bool] = {}
_resolved: dict[tuple[str, str], str | None] = {}
_lock = threading.Lock()


def workspace_builtins() -> dict[str, Any]:
    """The builtins workspace modules run with: Python's own, with the neighbour-aware `__import__`. One copy,
    taken when the first workspace module loads."""
    global _builtins
    with _lock:
        if _builtins is None:
            _builtins = {**vars(builtins), "__import__": workspace_import}
        return _builtins


def workspace_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: Sequence[str] | None = (),
    level: int = 0,
) -> ModuleType:
    """`__import__` for workspace modules: a plain name next to the importer (or at its root) is that module.

    A direct call, `__import__("helpers")`, passes no globals: the calling module's are meant, as for `import`."""
    if globals is None and level == 0:
        globals = sys._getframe(1).f_globals
    base = neighbour(name, (globals or {}).get("__package__")) if level == 0 else None
    if base is None:
        return _real_import(name, globals, locals, fromlist or (), level)
    module = _real_import(base + name[len(name.partition(".")[0]):], None, None, fromlist or (), 0)
    return module if fromlist else sys.modules[base]


def neighbour(name: str, package: str | None) -> str | None:
    """The path-derived name that plain `name`'s first part means inside `package` (the importer's package), or
    None when it is not a workspace module: the importer's own folder first, then its root.

    Cached per (package, name): an `import json` in a function body runs at every call, and building the folder's
    path each time made it some 100 times slower than Python's own import of a loaded module."""
    first = name.partition(".")[0]
    if not package or not first:
        return None
    key = (package, first)
    try:
        return _resolved[key]
    except KeyError:
        pass
    base = _neighbour_of(first, package)
    _resolved[key] = base
    return base


def _neighbour_of(first: str, package: str) -> str | None:
    root = root_of(package)
    if root is None:
        return None
    for base in dict.fromkeys((package, root.package)):
        if first in _names_in(root.folder_of(base)) and not _importable_elsewhere(first):
            return f"{base}.{first}"
    return None


def _names_in(folder: Path) -> frozenset[str]:
    """Module and folder names directly in `folder`, listed once per process (discovery runs once)."""
    names = _entries.get(folder)
    if names is None:
        try:
            listing = os.listdir(folder)
        except OSError:
            listing = []
        names = frozenset(
            entry[:-3] if entry.endswith(".py") else entry
            for entry in listing
            if entry.endswith(".py") or (folder / entry).is_dir()
        )
        _entries[folder] = names
    return names


def _importable_elsewhere(name: str) -> bool:
    """Whether a plain top-level name is the standard library's, an installed package or Conduit's own module.
    Namespace folders do not count (Python ranks them last too). Cached: an import inside a function runs at every
    call, and the answer does not change once discovery has run."""
    known = _elsewhere.get(name)
    if known is None:
        known = name in sys.stdlib_module_names or name in sys.builtin_module_names or _found_elsewhere(name)
        _elsewhere[name] = known
    return known


# The app's own folder (function_app.py, functions/, devhost/, ...) is not a library a workspace helper could mean;
# of its modules only Conduit's `shared` (the user-facing API) outranks a workspace file of the same name.
_APP_FOLDER = Path(__file__).resolve().parents[2]
_APP_API = frozenset({"shared"})


def _found_elsewhere(name: str) -> bool:
    module = sys.modules.get(name)
    if module is not None:
        return root_of(getattr(module, "__name__", "") or "") is None and not _app_module(name, module.__spec__)
    for finder in sys.meta_path:
        if isinstance(finder, PlainNameFinder) or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec(name, None)
        except ImportError:  # a finder that refuses the name (the `bifrost` one when switched off) does not have it
            continue
        if spec is not None and not _is_namespace(spec):
            return not _app_module(name, spec)
    return False


def _app_module(name: str, spec: importlib.machinery.ModuleSpec | None) -> bool:
    """Whether `name` is one of the app folder's own top-level modules (`functions`, `function_app`), not `shared`."""
    origin = getattr(spec, "origin", None)
    if name in _APP_API or not origin:
        return False
    return Path(origin).resolve().parent in (_APP_FOLDER, _APP_FOLDER / name)


def _is_namespace(spec: importlib.machinery.ModuleSpec) -> bool:
    return spec.loader is None or isinstance(spec.loader, importlib.machinery.NamespaceLoader)


class PlainNameFinder(importlib.abc.MetaPathFinder):
    """Last on `sys.meta_path`: a top-level name nothing else provides, found at the platform or workspace root, is
    an alias of that root's module (`import flows` in an inline script is `conduit_workspace.flows`, one object)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or "." in fullname:
            return None
        for root in plain_roots():
            if fullname in _names_in(root.folder):
                return alias_spec(fullname, f"{root.package}.{fullname}")
        return None


def forget(root: ImportRoot) -> None:
    """Drop what was learnt about `root`'s folders and about plain names: discovery looks afresh each time it runs
    (tests switch settings such as the `bifrost` import between runs in one process)."""
    for folder in [folder for folder in _entries if folder.is_relative_to(root.folder)]:
        _entries.pop(folder, None)
    _elsewhere.clear()
    _resolved.clear()
