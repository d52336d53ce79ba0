"""What discovery leaves alone is listed in the load report with its reason, and never imported."""

from pathlib import Path

from shared.functions.discovery import discover
from shared.functions.registry import FunctionRegistry

EXPLODES = "raise RuntimeError('discovery must not import this file')\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_every_skipped_file_and_folder_is_reported_with_its_reason(tmp_path: Path) -> None:
    # Given a workspace with one real module and one of each kind of thing discovery skips
    _write(tmp_path, {
        "flow.py": "X = 1\n",
        ".git/hooks/hook.py": EXPLODES,
        ".secret.py": EXPLODES,
        "_drafts/draft.py": EXPLODES,
        "_private.py": EXPLODES,
        "tests/test_flow.py": EXPLODES,
        "node_modules/pkg/build.py": EXPLODES,
        "env/pyvenv.cfg": "home = /usr/bin\n",
        "env/lib/site.py": EXPLODES,
        "oldenv/bin/python": "",
        "oldenv/tool.py": EXPLODES,
        "scratch/notes.py": EXPLODES,
        "billing/generated_api.py": EXPLODES,
        "billing/invoice.py": "X = 2\n",
        ".conduitignore": "# workspace rules\nscratch/\n**/generated_*.py\n",
    })
    (tmp_path / "__pycache__").mkdir()

    # When the workspace is discovered
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])

    # Then only the two real modules load, and nothing else ran
    assert report.errors == []
    assert sorted(name.split(".", 1)[1] for name in report.modules) == ["billing.invoice", "flow"]
    # And each skipped entry is listed once, with its reason (a folder once, not each file in it)
    assert {(str(Path(s.path).relative_to(tmp_path)), s.reason) for s in report.skipped} == {
        (".git", "hidden folder"),
        (".secret.py", "hidden file"),
        ("_drafts", "private folder (_ prefix)"),
        ("_private.py", "private file (_ prefix)"),
        ("tests", "tests folder"),
        ("node_modules", "node_modules"),
        ("env", "virtual environment"),
        ("oldenv", "virtual environment"),
        ("scratch", "matched .conduitignore: scratch/"),
        ("billing/generated_api.py", "matched .conduitignore: **/generated_*.py"),
    }
    # And paths are absolute, like the paths of load errors
    assert all(Path(s.path).is_absolute() for s in report.skipped)
    assert report.skipped[0].to_dict().keys() == {"path", "reason"}


def test_a_negated_ignore_pattern_brings_a_file_back(tmp_path: Path) -> None:
    # Given an ignore file that excludes every *_job.py but one
    _write(tmp_path, {
        "a_job.py": EXPLODES,
        "keep_job.py": "X = 1\n",
        ".conduitignore": "*_job.py\n!keep_job.py\n",
    })

    # When discovered
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])

    # Then the last matching pattern decides, as in git
    assert [name.rsplit(".", 1)[1] for name in report.modules] == ["keep_job"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [("a_job.py", "matched .conduitignore: *_job.py")]


def test_a_skipped_helper_can_still_be_imported_by_the_workflow_that_needs_it(tmp_path: Path) -> None:
    # Given a `_`-prefixed helper folder that discovery skips, used by a workflow
    _write(tmp_path, {
        "_shared/strings.py": "def shout(s):\n    return s.upper()\n",
        "flow.py": "from _shared.strings import shout\nVALUE = shout('ok')\n",
    })

    # When discovered
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])

    # Then skipping means "not imported on its own", not "cannot be imported": the workflow module loads
    assert report.errors == []
    assert [Path(s.path).name for s in report.skipped] == ["_shared"]


def test_a_broken_symbolic_link_is_reported_as_such_not_as_a_missing_module(tmp_path: Path) -> None:
    # Given a workflow file that is a symbolic link whose target was moved away, next to a real module
    _write(tmp_path, {"flow.py": "X = 1\n"})
    (tmp_path / "moved.py").symlink_to(tmp_path / "elsewhere" / "moved.py")

    # When the workspace is discovered
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])

    # Then the real module loads and the link is listed with what is wrong with it (not "No module named ...")
    assert report.errors == []
    assert [name.split(".", 1)[1] for name in report.modules] == ["flow"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("moved.py", f"broken symbolic link (its target {tmp_path / 'elsewhere' / 'moved.py'} does not exist)"),
    ]
