"""A `@param(data_provider=...)` naming no data provider is a load error once discovery is complete."""

import uuid
from pathlib import Path

from shared.functions.discovery import discover
from shared.functions.registry import FunctionRegistry

FLOW = """
from shared import param, workflow

@workflow(name="assign_{tag}")
@param("licence", data_provider="{provider}")
async def assign(context, licence: str) -> str:
    return licence
"""
PROVIDER = """
from shared import data_provider

@data_provider(name="licences_{tag}")
def licences() -> list:
    return [{{"label": "E3", "value": "e3"}}]
"""


def test_a_missing_data_provider_is_a_load_error_naming_function_parameter_provider_and_file(tmp_path: Path) -> None:
    # Given a workflow whose @param names a data provider nobody defines
    tag = uuid.uuid4().hex[:8]
    (tmp_path / f"assign_{tag}.py").write_text(FLOW.format(tag=tag, provider=f"licenses_{tag}"))
    (tmp_path / f"providers_{tag}.py").write_text(PROVIDER.format(tag=tag))
    registry = FunctionRegistry()
    # When the workspace is discovered
    report = discover(registry, [(tmp_path, "workspace")])
    # Then one load error names the function, the parameter, the missing provider and the file
    [error] = report.errors
    assert error.path == str(tmp_path / f"assign_{tag}.py")
    assert f"assign_{tag}: @param('licence') names data_provider 'licenses_{tag}'" in error.error
    assert "no data provider has that name" in error.error
    # And the workflow itself is still registered and runs (only the field's options cannot be listed)
    assert registry.get(f"assign_{tag}") is not None


def test_a_provider_defined_in_a_module_loaded_later_is_found(tmp_path: Path) -> None:
    # Given the workflow's module sorts before the module with its provider
    tag = uuid.uuid4().hex[:8]
    (tmp_path / f"a_flow_{tag}.py").write_text(FLOW.format(tag=tag, provider=f"licences_{tag}"))
    (tmp_path / f"z_providers_{tag}.py").write_text(PROVIDER.format(tag=tag))
    # When discovered, Then nothing is reported: the check runs after every module has loaded
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])
    assert report.errors == [] and len(report.modules) == 2


def test_naming_a_workflow_that_is_no_data_provider_is_reported(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    (tmp_path / f"flow_{tag}.py").write_text(FLOW.format(tag=tag, provider=f"assign_{tag}"))
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])
    assert len(report.errors) == 1 and f"names data_provider 'assign_{tag}'" in report.errors[0].error
