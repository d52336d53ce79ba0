"""Module names for workspace and platform files, derived from their path under a root package.

`workspace/billing/utils.py` is `conduit_workspace.billing.utils` and `workspace/hr/utils.py` is
`conduit_workspace.hr.utils`: two files with one name never collide, and each is imported once. `platform/` files
live under `conduit_platform`. A folder with an `__init__.py` is a regular package; a folder without one is a
namespace-like parent, so relative imports (`from . import helpers`) work at any depth.

The roots are not on `sys.path`: a finder at the front of `sys.meta_path` resolves names under a root package, and
its loader gives each module the plain-name import of `plain_imports` (a helper next to a workflow imports by its
plain name, from that workflow's own folder).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT_PACKAGES = {"platform": "conduit_platform", "workspace": "conduit_workspace"}


@dataclass(frozen=True)
class ImportRoot:
    """A folder whose files are imported under one root package."""

    folder: Path
    package: str

    def module_name(self, file: Path) -> str:
        """The dotted name of a `.py` file under this root (`__init__.py` names its folder's package)."""
        parts = file.relative_to(self.folder).with_suffix("").parts
        if parts and parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join((self.package, *parts))

    def folder_of(self, package: str) -> Path:
        """The folder of a package under this root, from its dotted name."""
        return self.folder.joinpath(*package.split(".")[1:])


_roots: dict[str, ImportRoot] = {}
_plain_roots: list[ImportRoot] = []
_lock = threading.Lock()


def add_root(folder: Path, source: str) -> ImportRoot:
    """The root for `folder`, registered on first use. The workspace is `conduit_workspace` and `platform/` is
    `conduit_platform`; another folder for the same source in this process (tests) gets `_2`, `_3`, ..."""
    folder = folder.resolve()
    with _lock:
        for root in _roots.values():
            if root.folder == folder:
                return root
        base = ROOT_PACKAGES.get(source, f"conduit_{source}")
        package, number = base, 1
        while package in _roots or package in sys.modules:
            number += 1
            package = f"{base}_{number}"
        root = ImportRoot(folder, package)
        _roots[package] = root
        _install()
        return root


def root_of(module_name: str) -> ImportRoot | None:
    """The root a dotted module name belongs to, if any."""
    return _roots.get(module_name.partition(".")[0])


def plain_roots() -> list[ImportRoot]:
    """The roots whose top-level modules code outside them may import by plain name: the process's platform and
    workspace folders, once discovered (not the folders tests discover on their own)."""
    return list(_plain_roots)


def set_plain_roots(roots: list[ImportRoot]) -> None:
    _plain_roots[:] = roots


class RootFinder(importlib.abc.MetaPathFinder):
    """Finds `conduit_workspace.x.y` on disk: a package folder, else a module file, else a namespace-like folder
    (the order Python's own path finder uses)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        root = root_of(fullname)
        if root is None:
            return alias_of_submodule(fullname) if "." in fullname else None
        return spec_at(fullname, root.folder_of(fullname))


def spec_at(name: str, location: Path) -> importlib.machinery.ModuleSpec | None:
    """The spec for module `name` at `location` (a folder, or a file without its `.py`)."""
    init = location / "__init__.py"
    if init.is_file():
        return importlib.util.spec_from_file_location(
            name, init, loader=WorkspaceLoader(name, str(init)), submodule_search_locations=[str(location)]
        )
    file = location.with_name(location.name + ".py")
    if file.is_file():
        return importlib.util.spec_from_file_location(name, file, loader=WorkspaceLoader(name, str(file)))
    if location.is_dir():
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(location)]
        return spec
    return None


def alias_of_submodule(fullname: str) -> importlib.machinery.ModuleSpec | None:
    """`helpers.text` when plain `helpers` is an alias of `conduit_workspace.helpers`: the same alias one level
    down, so Python's path finder never loads the file a second time under the plain name."""
    parent, _, child = fullname.rpartition(".")
    canonical = getattr(sys.modules.get(parent), "__name__", None) if parent else None
    if canonical is None or canonical == parent or root_of(canonical) is None:
        return None
    return alias_spec(fullname, f"{canonical}.{child}")


def alias_spec(alias: str, canonical: str) -> importlib.machinery.ModuleSpec:
    return importlib.machinery.ModuleSpec(alias, _AliasLoader(canonical))


class _AliasLoader(importlib.abc.Loader):
    """Imports the path-derived module and puts it in `sys.modules` under the alias; the import system then hands
    that object (not the empty one it created) to the importer."""

    def __init__(self, canonical: str) -> None:
        self.canonical = canonical

    def exec_module(self, module: ModuleType) -> None:
        sys.modules[module.__name__] = importlib.import_module(self.canonical)


class WorkspaceLoader(importlib.machinery.SourceFileLoader):
    """Python's source loader (bytecode cache included), giving the module builtins whose `__import__` also looks
    in the module's own folder (see `plain_imports`)."""

    def exec_module(self, module: ModuleType) -> None:
        from shared.functions.plain_imports import workspace_builtins

        module.__dict__["__builtins__"] = workspace_builtins()
        super().exec_module(module)


def _install() -> None:
    from shared.functions.plain_imports import PlainNameFinder

    if not any(isinstance(finder, RootFinder) for finder in sys.meta_path):
        # First: names under a root package are ours alone, and a finder later on would load them without hooks.
        sys.meta_path.insert(0, RootFinder())
    if not any(isinstance(finder, PlainNameFinder) for finder in sys.meta_path):
        # Last: a plain name reaches a root only when the standard library and installed packages do not have it.
        sys.meta_path.append(PlainNameFinder())


def is_workspace_module(module: Any) -> bool:
    """Whether a module was loaded from a root (under its root package name)."""
    return root_of(getattr(module, "__name__", "") or "") is not None
