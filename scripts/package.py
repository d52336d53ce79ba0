"""Build the deployment package: the zip `func pack` would produce for a remote build, from the app root.

What goes in follows Core Tools: every file under the app root except `.git/` and `.vscode/`, the files `.funcignore`,
`.gitignore`, `local.settings.json` and `project.lock.json`, and whatever `.funcignore` (gitignore syntax) excludes.
Azure's remote build installs `requirements.txt` (and the files it includes with `-r`/`-c`), so the zip carries the
requirements, never site-packages. The user's workspace folder (`workspace/`, the default CONDUIT_WORKSPACE) goes in
when it exists: it is git-ignored but it is the app's own code.

The zip is reproducible: entries sorted, every timestamp 1980-01-01, file modes kept.

    .venv/bin/python scripts/package.py            # dist/conduit-<git short sha>.zip
    .venv/bin/python scripts/package.py --output /tmp/app.zip
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pathspec

APP_ROOT = Path(__file__).resolve().parent.parent
IGNORE_FILE = ".funcignore"
ALWAYS_IGNORED_DIRS = frozenset({".git", ".vscode"})  # Core Tools' FileSystemHelpers.GetLocalFiles
ALWAYS_IGNORED_FILES = frozenset({".funcignore", ".gitignore", "local.settings.json", "project.lock.json"})
REQUIRED = ("function_app.py", "host.json", "requirements.txt")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")


class PackageError(Exception):
    """The app root cannot be packaged as it is (a required file is missing or excluded)."""


class IgnoreRules:
    """The rules of one `.funcignore`, read as git reads a `.gitignore` (pathspec, as discovery's `.conduitignore`)."""

    def __init__(self, lines: list[str]) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)

    @classmethod
    def load(cls, root: Path) -> IgnoreRules:
        path = root / IGNORE_FILE
        return cls(path.read_text(encoding="utf-8").splitlines() if path.is_file() else [])

    def ignored(self, relative: str, is_dir: bool) -> bool:
        return self.spec.match_file(relative + "/" if is_dir else relative)


def package_files(root: Path, rules: IgnoreRules) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip) for every file that goes in, in a stable order. A folder excluded is not walked, so
    a rule cannot re-include a file inside it (git's rule too); symlinked folders (`.venv` in a worktree) are never
    followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        base = here.relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        dirnames[:] = sorted(
            name for name in dirnames
            if name not in ALWAYS_IGNORED_DIRS
            and not (here / name).is_symlink()
            and not rules.ignored(prefix + name, is_dir=True)
        )
        for name in sorted(filenames):
            relative = prefix + name
            if name in ALWAYS_IGNORED_FILES or rules.ignored(relative, is_dir=False):
                continue
            if (here / name).is_file():  # skips dangling symlinks, sockets
                yield here / name, relative


def check_contents(root: Path, names: set[str]) -> None:
    """The host needs function_app.py and host.json; the remote build needs requirements.txt and what it includes."""
    missing = [name for name in REQUIRED if name not in names]
    missing += [name for name in _included_requirements(root, "requirements.txt") if name not in names]
    if missing:
        raise PackageError(
            f"the package would not contain {', '.join(missing)}: add the file, or remove it from {IGNORE_FILE}"
        )


def _included_requirements(root: Path, name: str) -> list[str]:
    path = root / name
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _INCLUDE.match(line)
        if match:
            included = (Path(name).parent / match.group(1)).as_posix()
            found += [included, *_included_requirements(root, included)]
    return found


def build(root: Path, output: Path) -> list[str]:
    """Write the package of `root` to `output` (atomically); return the names it holds."""
    files = list(package_files(root, IgnoreRules.load(root)))
    check_contents(root, {name for _, name in files})
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=output.parent, suffix=".zip.tmp", delete=False) as handle:
        temporary = Path(handle.name)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in files:
                entry = zipfile.ZipInfo(name, _ZIP_EPOCH)
                entry.external_attr = (path.stat().st_mode & 0xFFFF) << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
        temporary.replace(output)
    finally:
        temporary.unlink(missing_ok=True)
    return [name for _, name in files]


def version(root: Path) -> str:
    """The git short sha of HEAD, `-dirty` when tracked files differ from it; `nogit` outside a git checkout."""
    try:
        sha = _git(root, "rev-parse", "--short", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "nogit"
    return f"{sha}-dirty" if dirty else sha


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Azure Functions deployment zip (remote build).")
    parser.add_argument("--root", type=Path, default=APP_ROOT, help="the app root (default: this repository)")
    parser.add_argument("--output", type=Path, help="the zip to write (default: dist/conduit-<git short sha>.zip)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    output = args.output or root / "dist" / f"conduit-{version(root)}.zip"
    try:
        names = build(root, output)
    except PackageError as exc:
        print(f"package.py: {exc}", file=sys.stderr)
        return 1
    print(f"{output} ({len(names)} files, {output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
