"""DAG files: `*.dag.json` under a root load after its Python modules, register as workflows, and every file that
cannot register is a load error naming why, while the others still load (shared.dag.loader)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.dag.graph_view import graph_view
from shared.dag.loader import discover_all, load_dags
from shared.dag.registration import definition_of
from shared.functions.discovery import PLATFORM_DIR
from shared.functions.registry import FunctionRegistry


def write(root: Path, relative: str, content: str | dict[str, Any]) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def simple(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "nodes": [{"id": "only", "type": "transform", "data": {"value": 1}}], **extra}


def errors_by_file(report: Any) -> dict[str, str]:
    return {Path(error.path).name: error.error for error in report.errors}


def test_a_dag_calling_a_workflow_of_a_later_module_registers_as_a_workflow_and_dag(tmp_path: Path) -> None:
    # Given a DAG file whose action calls a workflow defined in a module that sorts after it
    tag = uuid.uuid4().hex[:8]
    write(tmp_path, f"a_{tag}.dag.json", {
        "name": f"dag_{tag}", "parameters": [{"name": "text", "required": True}],
        "nodes": [{"id": "call", "type": "action", "data": {"workflow": f"late_{tag}",
                                                          "input": {"text": "{{ inputs.text }}"}}}]})
    write(tmp_path, f"zz_{tag}.py", "from shared import workflow\n\n"
                                    f"@workflow(name='late_{tag}')\nasync def late(context, text: str) -> str:\n"
                                    "    return text\n")
    registry = FunctionRegistry()
    # When the root is discovered
    report = discover_all(registry, [(tmp_path, "workspace")])
    # Then the DAG is registered, tagged workflow and dag, with its source and file, and no load error
    assert report.errors == []
    metadata = registry.get(f"dag_{tag}")
    assert metadata is not None and metadata.tags == {"workflow", "dag"} and metadata.source == "workspace"
    assert [p.name for p in metadata.parameters] == ["text"]
    assert metadata.function.dag_location == str(tmp_path / f"a_{tag}.dag.json")
    assert metadata.location == str(tmp_path / f"a_{tag}.dag.json")  # what load reports and the API show
    assert str(tmp_path / f"a_{tag}.dag.json") in report.modules


def test_bad_json_invalid_definitions_and_taken_names_are_load_errors_and_the_rest_loads(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    # Given one good DAG, one file that is not JSON, one with graph problems, one taking a Python workflow's name
    write(tmp_path, "good.dag.json", simple(f"good_{tag}"))
    write(tmp_path, "broken.dag.json", '{\n  "name": "x",\n  "nodes": [\n}\n')
    write(tmp_path, "cyclic.dag.json", {
        "name": f"cyclic_{tag}", "nodes": [{"id": "a", "type": "transform", "data": {"value": 1}},
                                          {"id": "b", "type": "nope"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]})
    write(tmp_path, "taken.dag.json", simple(f"py_{tag}"))
    write(tmp_path, f"flows_{tag}.py", f"from shared import workflow\n\n@workflow(name='py_{tag}')\n"
                                       "async def py(context) -> int:\n    return 1\n")
    registry = FunctionRegistry()
    # When the root is discovered
    errors = errors_by_file(discover_all(registry, [(tmp_path, "workspace")]))
    # Then only the good DAG registers; the JSON error has its line and column; every graph problem is listed
    assert registry.get(f"good_{tag}") is not None and registry.get(f"cyclic_{tag}") is None
    assert set(errors) == {"broken.dag.json", "cyclic.dag.json", "taken.dag.json"}
    assert "not valid JSON" in errors["broken.dag.json"] and "line 4, column 1" in errors["broken.dag.json"]
    assert "[no_start_node]" in errors["cyclic.dag.json"] and "[unknown_node_type]" in errors["cyclic.dag.json"]
    assert "[cycle]" in errors["cyclic.dag.json"]
    # And the Python workflow keeps its name
    assert "already taken" in errors["taken.dag.json"]
    taken = registry.get(f"py_{tag}")
    assert taken is not None and definition_of(taken) is None


def test_two_files_with_one_name_the_second_is_refused(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    write(tmp_path, "one.dag.json", simple(f"same_{tag}"))
    write(tmp_path, "two.dag.json", simple(f"same_{tag}", description="second"))
    registry = FunctionRegistry()
    errors = errors_by_file(load_dags(registry, [(tmp_path, "workspace")]))
    assert list(errors) == ["two.dag.json"] and "one.dag.json" in errors["two.dag.json"]
    metadata = registry.get(f"same_{tag}")
    assert metadata is not None and metadata.description == ""


def test_skip_rules_of_python_discovery_apply_to_dag_files(tmp_path: Path) -> None:
    # Given DAG files where discovery never looks: private, hidden, tests/, node_modules/, and one .conduitignore names
    tag = uuid.uuid4().hex[:8]
    write(tmp_path, ".conduitignore", "drafts/\n")
    for relative in ("_private.dag.json", ".hidden.dag.json", "tests/t.dag.json", "node_modules/n.dag.json",
                     "drafts/d.dag.json", ".git/g.dag.json"):
        write(tmp_path, relative, simple(f"skipped_{uuid.uuid4().hex[:8]}"))
    write(tmp_path, "nested/deeper/kept.dag.json", simple(f"kept_{tag}"))
    registry = FunctionRegistry()
    # When the DAG files are loaded
    report = load_dags(registry, [(tmp_path, "workspace")])
    # Then only the nested file registers and each skipped entry says why
    assert [m.name for m in registry.list("dag")] == [f"kept_{tag}"]
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert skipped["_private.dag.json"].startswith("private") and skipped[".hidden.dag.json"] == "hidden file"
    assert skipped["tests"] == "tests folder" and skipped["node_modules"] == "node_modules"
    assert "conduitignore" in skipped["drafts"] and skipped[".git"] == "hidden folder"


@pytest.fixture
def fresh_platform_modules() -> Iterator[None]:
    """Platform modules import once per process, into the registry current at the time: discovering them into a
    new registry needs them imported afresh, and the process's own modules back afterwards (else the host's
    registry, loaded later by another test, would find them imported and register nothing)."""
    kept = {name: module for name, module in sys.modules.items() if _under_platform(module)}
    for name in kept:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [name for name, module in sys.modules.items() if _under_platform(module)]:
            del sys.modules[name]
        sys.modules.update(kept)


def _under_platform(module: Any) -> bool:
    file = getattr(module, "__file__", None)
    return bool(file) and Path(file).resolve().is_relative_to(PLATFORM_DIR.resolve())


def test_the_platform_examples_load_validate_and_have_graphs(fresh_platform_modules: None) -> None:
    # Given the shipped platform folder
    registry = FunctionRegistry()
    # When it is discovered
    report = discover_all(registry, [(PLATFORM_DIR, "platform")])
    # Then the three example DAGs register with no load error, and each has a graph with a Mermaid drawing
    assert report.errors == []
    dags = {m.name: m for m in registry.list("dag")}
    assert set(dags) == {"email_to_slack", "ticket_triage", "text_report"}
    seed = graph_view(dags["email_to_slack"])
    assert [n["type"] for n in seed["nodes"]] == ["trigger", "action"]
    assert seed["nodes"][1]["data"]["tool"] == "slack" and "n_trigger_1 --> n_action_1" in seed["mermaid"]
    assert "subgraph n_each_text" in graph_view(dags["text_report"])["mermaid"]
    triage = graph_view(dags["ticket_triage"])["mermaid"]
    assert 'n_page_on_call -.->|"error"| n_paging_failed' in triage
    # And the seed's action resolves to the local stand-in by the tool_action rule
    stand_in = registry.get("slack_send_message")
    assert stand_in is not None and stand_in.is_workflow
