"""Which files under a workspace discovery leaves alone, and why.

A workspace is often a git checkout with more in it than automation: a virtual environment, tests, front-end code,
notes. Importing those would run code nobody meant to run at start-up, so discovery skips them and says so in the
load report. The rules are fixed and few (hidden, `_`-prefixed, virtual environments, `tests/`, `node_modules/`),
and a `.conduitignore` at the root of the folder (gitignore syntax) adds the workspace's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".conduitignore"
_VENV_MARKERS = ("pyvenv.cfg", "conda-meta", "bin/python", "Scripts/python.exe")


@dataclass(frozen=True)
class Skipped:
    """A file or folder discovery did not import, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class SkipRules:
    """The fixed rules plus one root's `.conduitignore`; `reason(path)` is None for what discovery imports."""

    def __init__(self, root: Path, lines: list[str]) -> None:
        import pathspec  # here, not at the top: importing function_app stays as quick as before (discovery is lazy)

        self.root = root
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)

    @classmethod
    def load(cls, root: Path) -> SkipRules:
        """The rules for `root`; a missing `.conduitignore` means no extra rules. An unreadable or invalid one
        raises (OSError, ValueError): discovery reports it and then loads nothing it might have excluded."""
        ignore_file = root / IGNORE_FILE
        lines = ignore_file.read_text(encoding="utf-8").splitlines() if ignore_file.is_file() else []
        return cls(root, lines)

    def folder_reason(self, folder: Path) -> str | None:
        """Why a folder is not walked into, or None."""
        name = folder.name
        if folder.is_symlink():
            return "symbolic link to a folder (not followed)"
        if name.startswith("."):
            return "hidden folder"
        if name.startswith("_"):
            return "private folder (_ prefix)"
        if name == "node_modules":
            return "node_modules"
        if name == "tests":
            return "tests folder"
        if any((folder / marker).exists() for marker in _VENV_MARKERS):
            return "virtual environment"
        if "." in name:
            return "folder name has a '.', so it cannot be part of a module name"
        return self._ignored(folder, is_dir=True)

    def file_reason(self, file: Path) -> str | None:
        """Why a `.py` file is not imported, or None. `__init__.py` is imported as its folder's package."""
        name = file.name
        if name.startswith("."):
            return "hidden file"
        if name.startswith("_") and name != "__init__.py":
            return "private file (_ prefix)"
        if "." in name[: -len(".py")]:
            return "file name has a '.' before .py, so it cannot be a module name"
        if file.is_symlink() and not file.exists():
            return f"broken symbolic link (its target {os.readlink(file)} does not exist)"
        return self._ignored(file, is_dir=False)

    def data_file_reason(self, file: Path) -> str | None:
        """Why a definition file (a `*.dag.json`) is not read, or None: the rules for `.py` files that are not
        about module names (hidden, `_`-prefixed, `.conduitignore`)."""
        if file.name.startswith("."):
            return "hidden file"
        if file.name.startswith("_"):
            return "private file (_ prefix)"
        return self._ignored(file, is_dir=False)

    def _ignored(self, path: Path, is_dir: bool) -> str | None:
        relative = path.relative_to(self.root).as_posix() + ("/" if is_dir else "")
        result = self.spec.check_file(relative)
        if not result.include or result.index is None:
            return None
        pattern = self.spec.patterns[result.index]
        return f"matched {IGNORE_FILE}: {getattr(pattern, 'pattern', pattern)}"


def is_cache(folder: Path) -> bool:
    """Python's own bytecode cache: skipped without a report line, as it never holds source."""
    return folder.name == "__pycache__"
