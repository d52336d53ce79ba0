"""`make package` (scripts/package.py): the zip Azure's remote build receives.

It must hold the app, its requirements and host.json, and nothing of the development tree; and it must be
self-contained: unpacked on its own, `function_app` imports and discovery loads the platform and workspace functions.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "package.py"
APP_PARTS = ("function_app.py", "host.json", "requirements.txt", ".funcignore", "shared", "functions", "platform")
DEV_ONLY = (".venv/", "node_modules/", ".azurite/", "tests/", "benchmarks/", "devhost/", ".git/", "dist/")
# What the unpacked package reports when imported by the repo's Python, with nothing of the repo on its path.
PROBE = """
import json, sys
import function_app, shared
from shared.runtime import load_functions
registry, report = load_functions()
print(json.dumps({
    "modules": {"function_app": function_app.__file__, "shared": shared.__file__},
    "triggers": sorted(f.get_function_name() for f in function_app.app.get_functions()),
    "functions": sorted(m.name for m in registry.list()),
    "load_errors": [e.to_dict() for e in report.errors],
}))
"""


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conduit_package_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


package_script = _load_script()


def package(root: Path, output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--output", str(output)],
        capture_output=True, text=True, timeout=60,
    )


def names_in(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def unpack_and_probe(zip_path: Path, into: Path) -> dict:
    """Unpack the zip alone and import the app from it with the repo's Python, cwd = the unpacked folder (as the
    Functions worker runs it), and nothing of the repo on the path."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONDUIT_WORKSPACE")}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=into, env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    report: dict = json.loads(probe.stdout.strip().splitlines()[-1])
    for module_file in report["modules"].values():
        assert Path(module_file).resolve().is_relative_to(into.resolve()), f"{module_file} is not from the package"
    return report


def copy_app(destination: Path) -> Path:
    """The repo's app files, plus the clutter a developer's tree has, plus a workspace with one workflow."""
    destination.mkdir(parents=True)
    for part in APP_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns(".venv", "node_modules"))
        else:
            shutil.copy2(source, destination / part)
    clutter = {
        ".venv/lib/python3.11/site-packages/azure/__init__.py": "",
        "node_modules/azurite/package.json": "{}",
        ".azurite/__azurite_db_table__.json": "{}",
        ".conduit/records.jsonl": "",
        "tests/test_app.py": "",
        "benchmarks/bench.py": "",
        "devhost/__main__.py": "",
        "local.settings.json": '{"Values": {"CONDUIT_ADMIN_KEY": "secret"}}',
        "shared/__pycache__/errors.cpython-311.pyc": "",
        ".git/HEAD": "ref: refs/heads/main",
        "dist/conduit-old.zip": "",
        "workspace/team_flows.py": (
            "from shared import workflow\n\n\n@workflow(description='A team workflow')\n"
            "def team_flow() -> str:\n    return 'ok'\n"
        ),
    }
    for name, text in clutter.items():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_text(text)
    return destination


def test_package_holds_the_app_and_its_requirements_and_nothing_of_the_dev_tree(tmp_path: Path) -> None:
    # Given an app root with a virtualenv, node_modules, Azurite data, tests, caches, local settings and a workspace
    root = copy_app(tmp_path / "app")
    # When the package is built
    built = package(root, tmp_path / "out" / "app.zip")
    # Then it holds the app, its requirements, host.json, the platform and workspace functions
    assert built.returncode == 0, built.stderr
    names = names_in(tmp_path / "out" / "app.zip")
    for required in ("function_app.py", "host.json", "requirements.txt", "shared/__init__.py",
                     "functions/http/workflows.py", "platform/greetings.py", "workspace/team_flows.py"):
        assert required in names
    # And nothing of the development tree, no compiled caches, no local secrets, no site-packages
    assert [n for n in names if n.startswith(DEV_ONLY) or n.startswith(".conduit/")] == []
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "site-packages" in n] == []
    assert "local.settings.json" not in names and ".funcignore" not in names
    # And unpacked on its own, discovery finds the workspace workflow in it (CONDUIT_WORKSPACE's default, ./workspace)
    report = unpack_and_probe(tmp_path / "out" / "app.zip", tmp_path / "wwwroot")
    assert "team_flow" in report["functions"] and report["load_errors"] == []


def test_package_of_this_repository_is_self_contained(tmp_path: Path) -> None:
    # Given the package built from this repository as it is
    built = package(REPO_ROOT, tmp_path / "conduit.zip")
    assert built.returncode == 0, built.stderr
    names = names_in(tmp_path / "conduit.zip")
    assert [n for n in names if n.startswith(DEV_ONLY) or "__pycache__" in n] == []
    assert "README.md" not in names and "platform/README.md" in names  # `/README.md` in .funcignore is anchored
    # When the repo's Python imports function_app from the unpacked package alone
    report = unpack_and_probe(tmp_path / "conduit.zip", tmp_path / "wwwroot")
    # Then it indexes the triggers and loads the platform functions without errors (a developer's own workspace/,
    # packed too when present, may hold work in progress: its load errors are not the repository's)
    assert [error for error in report["load_errors"] if "/workspace/" not in error["path"]] == []
    assert report["triggers"] and "greet" in report["functions"]


def test_a_package_without_its_requirements_is_refused_with_the_reason(tmp_path: Path) -> None:
    # Given an app root whose .funcignore excludes requirements.txt
    root = copy_app(tmp_path / "app")
    (root / ".funcignore").write_text((root / ".funcignore").read_text() + "\nrequirements.txt\n")
    # When the package is built
    built = package(root, tmp_path / "app.zip")
    # Then it is refused, naming the file and where it was excluded, and no zip is left behind
    assert built.returncode == 1
    assert "requirements.txt" in built.stderr and ".funcignore" in built.stderr
    assert not (tmp_path / "app.zip").exists()


@pytest.mark.parametrize(
    ("rule", "path", "is_dir", "ignored"),
    [
        ("/README.md", "README.md", False, True),
        ("/README.md", "platform/README.md", False, False),
        ("tests/", "tests", True, True),
        ("tests/", "tests", False, False),  # a file named `tests` is not a folder
        ("*.py[cod]", "shared/x.pyc", False, True),
        ("docs/**/*.md", "docs/a/b/c.md", False, True),
    ],
)
def test_funcignore_rules_follow_gitignore(rule: str, path: str, is_dir: bool, ignored: bool) -> None:
    # Given one .funcignore rule, When a path is checked against it, Then it is excluded exactly as git would
    assert package_script.IgnoreRules([rule]).ignored(path, is_dir) is ignored
