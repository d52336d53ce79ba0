"""Check, offline, that the lock files agree with the hand-edited inputs (run by `make lint`, `make test` and CI).

A pin edited in requirements.in without `make lock` would otherwise go unnoticed: the bootstrap installs the locks,
so the edit would simply not happen. Also checks that the dev lock has the runtime lock's version of every package
both contain, which `make lock` guarantees by compiling the dev lock with the runtime lock as constraints.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {
    "requirements.in": "requirements.txt",
    "requirements-dev.in": "requirements-dev.txt",
    "requirements-tools.in": "requirements-tools.txt",
}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==\s*([^\s;\\]+))?")


def canonical(name: str) -> str:
    """The name as the package index compares it (PEP 503): case and runs of `-_.` do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(path: Path) -> dict[str, str | None]:
    """The requirements an input names, following `-r` includes: name -> pinned version (None when not `==`)."""
    found: dict[str, str | None] = {}
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            found.update(wanted(path.parent / line.split(maxsplit=1)[1]))
        elif line and not line.startswith(("#", "-")) and (match := REQUIREMENT.match(line)):
            found[canonical(match.group(1))] = match.group(2)
    return found


def locked(path: Path) -> dict[str, str]:
    """The pins of a lock file written by `make lock`: name -> version."""
    pins = (REQUIREMENT.match(line) for line in path.read_text().splitlines() if line[:1].isalnum())
    return {canonical(m.group(1)): m.group(2) for m in pins if m and m.group(2)}


def problems() -> list[str]:
    """Every disagreement between an input and its lock, and between the runtime and dev locks."""
    found = []
    for source, lock in LOCKS.items():
        pins = locked(ROOT / lock)
        for name, version in wanted(ROOT / source).items():
            if name not in pins:
                found.append(f"{lock} lacks {name}, which {source} asks for")
            elif version is not None and pins[name] != version:
                found.append(f"{lock} pins {name}=={pins[name]}, {source} asks for =={version}")
    runtime, dev = locked(ROOT / "requirements.txt"), locked(ROOT / "requirements-dev.txt")
    for name in sorted(runtime.keys() & dev.keys()):
        if runtime[name] != dev[name]:
            found.append(f"requirements-dev.txt pins {name}=={dev[name]}, requirements.txt {name}=={runtime[name]}")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"conduit: {problem}", file=sys.stderr)
    if found:
        print("conduit: the lock files are out of date: run `make lock` and commit the result.", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
