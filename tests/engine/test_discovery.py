"""Discovery: every module of a root is imported once, failures are reported, helpers import by plain name."""

import sys
import uuid
from pathlib import Path

import pytest

from shared.functions.discovery import discover
from shared.functions.registry import FunctionRegistry


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_loads_modules_reports_failures_and_supports_plain_imports(tmp_path: Path) -> None:
    # Given a workspace with a helper package, a workflow that imports it, and a module that fails to import
    tag = uuid.uuid4().hex[:8]
    _write(tmp_path, f"helpers_{tag}/__init__.py", "COUNT = []\n")
    _write(tmp_path, f"helpers_{tag}/text.py", "def up(s):\n    return s.upper()\n")
    _write(
        tmp_path,
        f"flows_{tag}.py",
        f"from helpers_{tag}.text import up\nimport helpers_{tag}\nhelpers_{tag}.COUNT.append(1)\n"
        "from shared import workflow\n\n"
        f"@workflow(name='wf_{tag}')\nasync def wf(context):\n    return up('x')\n",
    )
    _write(tmp_path, f"broken_{tag}.py", "import does_not_exist_anywhere\n")
    registry = FunctionRegistry()

    # When it is discovered
    report = discover(registry, [(tmp_path, "workspace")])

    # Then the workflow is registered with its source, the helper was imported once, the failure is reported
    meta = registry.get(f"wf_{tag}")
    assert meta is not None and meta.source == "workspace"
    package = report.modules[0].split(".")[0]
    assert sys.modules[f"{package}.helpers_{tag}"].COUNT == [1]
    assert [Path(e.path).name for e in report.errors] == [f"broken_{tag}.py"]
    assert "does_not_exist_anywhere" in report.errors[0].error
    assert f"{package}.flows_{tag}" in report.modules and f"{package}.helpers_{tag}.text" in report.modules


def test_a_file_hidden_by_a_package_of_the_same_name_is_reported(tmp_path: Path) -> None:
    # Given a file and a package folder with one module name
    tag = uuid.uuid4().hex[:8]
    _write(tmp_path, f"same_{tag}.py", "raise RuntimeError('never imported')\n")
    _write(tmp_path, f"same_{tag}/__init__.py", "X = 1\n")
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])
    # Then the package loads and the file is reported rather than silently skipped
    assert [Path(e.path).name for e in report.errors] == [f"same_{tag}.py"]
    assert "package folder of the same name" in report.errors[0].error


def test_workspace_and_platform_modules_get_their_own_root_package(tmp_path: Path) -> None:
    # Given a platform folder and a workspace folder, each with a utils.py
    _write(tmp_path, "platform/utils.py", "WHERE = 'platform'\n")
    _write(tmp_path, "workspace/utils.py", "WHERE = 'workspace'\n")
    report = discover(FunctionRegistry(), [(tmp_path / "platform", "platform"), (tmp_path / "workspace", "workspace")])
    # Then both load, under the platform's and the workspace's root package
    assert report.errors == [] and len(report.modules) == 2
    assert report.modules[0].startswith("conduit_platform") and report.modules[1].startswith("conduit_workspace")


def test_missing_root_is_fine(tmp_path: Path) -> None:
    report = discover(FunctionRegistry(), [(tmp_path / "absent", "workspace")])
    assert report.modules == [] and report.errors == []


def test_a_relative_workspace_is_taken_from_the_app_folder_not_the_current_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a relative CONDUIT_WORKSPACE and a host started from another folder
    from shared.functions.discovery import REPO_ROOT, workspace_dir

    monkeypatch.setenv("CONDUIT_WORKSPACE", "my_flows")
    monkeypatch.chdir(tmp_path)
    # Then the workspace is the folder beside function_app.py
    assert workspace_dir() == REPO_ROOT / "my_flows"
    assert (REPO_ROOT / "function_app.py").exists()


def test_a_syntax_error_is_one_line_with_the_line_and_its_code(tmp_path: Path) -> None:
    # Given a module missing a colon, and a module importing a neighbour that has a syntax error
    _write(tmp_path, "broken.py", "from shared import workflow\n\n@workflow\nasync def broken(context)\n    pass\n")
    _write(tmp_path, "flows/bad_helper.py", "def f(:\n    pass\n")
    _write(tmp_path, "flows/uses_it.py", "import bad_helper\n")
    # When discovered
    errors = {Path(e.path).name: e.error for e in discover(FunctionRegistry(), [(tmp_path, "workspace")]).errors}
    # Then the broken file's error is one line naming the line and its code (its path is the error's path)
    assert errors["broken.py"] == "SyntaxError: expected ':' (line 4: async def broken(context))"
    # And an error in another file keeps Python's text, which names that file
    assert 'bad_helper.py", line 1' in errors["uses_it.py"] and "SyntaxError" in errors["uses_it.py"]


def test_a_missing_package_says_where_conduit_looked_and_what_to_do(tmp_path: Path) -> None:
    # Given a module importing a package that is not installed (the seed system's image had it)
    _write(tmp_path, "tickets.py", "import halo_psa_sdk_not_installed\n")
    # When discovered
    [error] = discover(FunctionRegistry(), [(tmp_path, "workspace")]).errors
    # Then the error names the module and says to add the package to requirements.txt
    assert error.error.startswith("ModuleNotFoundError: No module named 'halo_psa_sdk_not_installed': it is not in the "
                                  "standard library, the installed packages or the workspace; add the package to "
                                  "requirements.txt")
