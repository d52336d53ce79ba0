"""The published JSON Schema of the DAG format: the committed file is the generated one, and it binds each node
type's `data` to that type's config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.dag.nodes import handlers
from shared.dag.schema import dag_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO_ROOT / "schemas" / "dag.schema.json"
REGENERATE = ".venv/bin/python -m shared.dag.schema > schemas/dag.schema.json"


def test_the_committed_schema_is_the_generated_one() -> None:
    # Given the file in the repository / When compared with what the code generates / Then they are equal
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == dag_schema(), f"schemas/dag.schema.json is out of date; regenerate it: {REGENERATE}"


def test_each_node_type_binds_data_to_its_config() -> None:
    schema = dag_schema()
    node = schema["$defs"]["DagNode"]
    names = sorted(h.type_name for h in handlers())
    # Then `type` is one of the registered types and each has an if/then naming its config's schema
    assert node["properties"]["type"]["enum"] == names
    bound = {rule["if"]["properties"]["type"]["const"]: rule["then"]["properties"]["data"]["$ref"]
             for rule in node["allOf"]}
    assert set(bound) == set(names)
    for handler in handlers():
        target = schema["$defs"][bound[handler.type_name].rsplit("/", 1)[-1]]
        assert set(target.get("properties", {})) == set(handler.Config.model_json_schema().get("properties", {}))
    assert schema["$defs"]["HttpRequestConfig"]["required"] == ["url"]
    assert "json" in schema["$defs"]["HttpRequestConfig"]["properties"]  # the alias authors write


def test_every_reference_resolves_and_the_top_level_is_the_definition() -> None:
    schema = dag_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"name", "nodes", "edges", "parameters", "schedule"} <= set(schema["properties"])
    assert schema["required"] == ["name"] and schema["additionalProperties"] is False
    refs = set(_refs(schema))
    assert refs and all(ref.startswith("#/$defs/") and ref.split("/")[-1] in schema["$defs"] for ref in refs)


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []
