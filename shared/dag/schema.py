"""The published JSON Schema of the DAG format (`GET /api/dags/schema`, `schemas/dag.schema.json`).

It is derived, never written by hand: the definition's pydantic models give the shape, and each registered node
type binds a node's `data` to its config's schema (`if type == X then data: X's Config`), so a new node type
appears in the schema by registering its handler. Editors validate against it as authors type; the schema cannot say
everything (cycles, labels, templates, upstream references): `validation.check_definition` is the full check.

Regenerate the committed file with `.venv/bin/python -m shared.dag.schema > schemas/dag.schema.json`.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.dag.definition import NODE_ID_PATTERN, DagDefinition
from shared.dag.nodes import handlers

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://conduit.dev/schemas/dag.schema.json"


def dag_schema() -> dict[str, Any]:
    """The schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_built())


@lru_cache(maxsize=1)
def _built() -> dict[str, Any]:
    models: list[type[BaseModel]] = [DagDefinition, *(h.Config for h in handlers())]
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    definitions: dict[str, Any] = top["$defs"]
    root_name = _def_name(refs[(DagDefinition, "validation")])
    schema = {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, **definitions.pop(root_name)}
    schema["title"] = "Conduit DAG workflow definition"
    _bind_node_data(definitions, {h.type_name: _def_name(refs[(h.Config, "validation")]) for h in handlers()})
    schema["$defs"] = dict(sorted(definitions.items()))
    return schema


def _def_name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _bind_node_data(definitions: dict[str, Any], config_by_type: dict[str, str]) -> None:
    """A node's `type` is one of the registered types, and its `data` fits that type's config."""
    node = definitions["DagNode"]
    node["properties"]["id"]["pattern"] = NODE_ID_PATTERN  # validation checks it too (`invalid_definition`)
    node["properties"]["type"] = {"title": "Type", "description": "The node type (GET /api/dags/node-types).",
                                  "enum": sorted(config_by_type)}
    node["allOf"] = [
        {"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
         "then": {"properties": {"data": {"$ref": f"#/$defs/{config}"}}}}
        for name, config in sorted(config_by_type.items())
    ]


def main() -> None:
    print(json.dumps(dag_schema(), indent=2))


if __name__ == "__main__":
    main()
