"""A DAG definition as one more registered function: `FunctionMetadata` with tags `workflow` and `dag`.

The function runs the graph (`shared.dag.executor.run_dag`), so HTTP, the queue, schedules, forms and endpoints run a
DAG through `engine.execute` with no path of their own. Its signature is built from the definition's parameters: the
input model then refuses unknown inputs as it does for `@workflow` functions, and a definition that declares no
parameters takes any input (the DAG seed's event payload becomes `inputs` as it comes).
"""

from __future__ import annotations

import inspect
from typing import Any

from shared.dag.definition import DagDefinition, DagParameter, DagSchedule
from shared.engine.context import ExecutionContext
from shared.functions.model import build_input_model
from shared.functions.registry import FunctionMetadata, ParameterMetadata
from shared.functions.schedule import ScheduleOptions, check_schedule_options

DAG_TAGS = frozenset({"workflow", "dag"})


def dag_metadata(definition: DagDefinition, *, source: Any = None, location: str | None = None) -> FunctionMetadata:
    """The registry record of `definition`. `source` is "platform", "workspace" or None (stored through the API, or
    run unregistered); `location` is where it was defined (a file path), shown in load errors and the API.

    Raises ValueError for a schedule that does not parse; `validation.check_definition` reports that (and every other
    problem) first, so a checked definition always registers."""
    parameters = tuple(_parameter(p) for p in definition.parameters)
    function = _runner(definition, location)
    schedule = _schedule(definition.schedule)
    return FunctionMetadata(
        name=definition.name,
        function=function,
        description=definition.description,
        category=definition.category,
        tags=DAG_TAGS,
        execution_mode=definition.mode,
        timeout_seconds=definition.timeout_seconds,
        parameters=parameters,
        endpoint_enabled=definition.endpoint_enabled,
        allowed_methods=tuple(definition.allowed_methods),
        public_endpoint=definition.public_endpoint,
        disable_global_key=definition.disable_global_key,
        source=source,
        schedule=schedule.cron.expression if schedule is not None else None,
        schedule_options=schedule,
        input_model=build_input_model(definition.name, definition.description, function, parameters),
    )


def _parameter(spec: DagParameter) -> ParameterMetadata:
    return ParameterMetadata(
        name=spec.name,
        type=spec.type,
        label=spec.label,
        required=spec.required,
        default_value=spec.default_value,
        data_provider=spec.data_provider,
        help_text=spec.help_text,
        validation=spec.validation,
    )


def _runner(definition: DagDefinition, location: str | None) -> Any:
    async def run_dag_workflow(context: ExecutionContext, **inputs: Any) -> Any:
        from shared.dag.executor import run_dag  # the executor imports the engine's pieces; loaded when a DAG runs

        return await run_dag(definition, context, inputs)

    run_dag_workflow.__name__ = run_dag_workflow.__qualname__ = f"dag:{definition.name}"
    run_dag_workflow.__doc__ = definition.description or None
    if definition.parameters:
        context = inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ExecutionContext)
        declared = [
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                              default=inspect.Parameter.empty if p.required else p.default_value)
            for p in definition.parameters
        ]
        run_dag_workflow.__signature__ = inspect.Signature([context, *declared])  # type: ignore[attr-defined]
    run_dag_workflow.dag_definition = definition  # type: ignore[attr-defined]
    run_dag_workflow.dag_location = location  # type: ignore[attr-defined]
    return run_dag_workflow


def definition_of(metadata: FunctionMetadata) -> DagDefinition | None:
    """The definition behind a registered DAG workflow; None for a Python one."""
    return getattr(metadata.function, "dag_definition", None)


def _schedule(schedule: str | DagSchedule | None) -> ScheduleOptions | None:
    if schedule is None:
        return None
    if isinstance(schedule, str):
        return check_schedule_options(schedule)
    return check_schedule_options(schedule.cron, schedule.timezone, schedule.inputs, schedule.catch_up,
                                  schedule.max_catch_up, schedule.grace_seconds, schedule.overlap)
