"""Checking a form against the registry when it is created or updated: every problem at once, each at its field.

A form that passes runs: its workflow and providers exist, every parameter the workflow requires has a field, every
field fits the parameter it fills, every reference points at a field and no references go round in a circle (so
`depends_on` and `visible_if` can always be evaluated in order), every expression compiles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from shared.errors import FieldError, InputValidationError
from shared.forms import conditions, expressions
from shared.forms.model import CHOICE_TYPES, MAX_FIELDS, TEXT_TYPES, FieldRefInput, Form, FormField, StaticInput
from shared.functions.registry import FunctionMetadata
from shared.functions.validation import validate_parameters

# Which parameter types (shared.functions.param_types) each field type can carry. A value the type accepts may
# still be refused by the parameter's own limits: the engine checks those when the workflow runs.
CARRIES: dict[str, frozenset[str]] = {
    "text": frozenset({"string", "email", "choice", "json"}),
    "textarea": frozenset({"string", "json"}),
    "email": frozenset({"email", "string", "json"}),
    "number": frozenset({"int", "float", "json"}),
    "checkbox": frozenset({"bool", "json"}),
    "datetime": frozenset({"datetime", "date", "string", "json"}),
    "select": frozenset({"string", "int", "float", "bool", "email", "choice", "json"}),
    "radio": frozenset({"string", "int", "float", "bool", "email", "choice", "json"}),
    "multiselect": frozenset({"list", "json"}),
}


class FunctionLookup(Protocol):
    """What a form is checked against: the registry, or the registry with the stored DAGs the form names (a form
    may run a DAG created through the API; see FormService)."""

    def get(self, name: str) -> FunctionMetadata | None: ...


NUMBER_LIMITS = frozenset({"min", "max"})
LENGTH_LIMITS = frozenset({"min_length", "max_length"})


def check_form(form: Form, registry: FunctionLookup) -> None:
    """Raise InputValidationError listing every problem of `form`; return when there is none."""
    errors = list(form_problems(form, registry))
    if errors:
        raise InputValidationError(errors, f"The form has {len(errors)} problem(s); each names its field")


def form_problems(form: Form, registry: FunctionLookup) -> Iterator[FieldError]:
    workflow = _workflow(registry, form.linked_workflow)
    if workflow is None:
        yield FieldError("linked_workflow", f"no workflow named '{form.linked_workflow}' is registered")
    yield from _launch_problems(form, registry)
    if form.access_level == "roles" and not form.roles:
        yield FieldError("roles", "list at least one role when access_level is 'roles'")
    if form.access_level == "authenticated" and form.roles:
        yield FieldError("roles", "apply only with access_level 'roles'; with 'authenticated' every user of the "
                                  "organization may use the form")
    if len(form.fields) > MAX_FIELDS:
        yield FieldError("fields", f"a form has at most {MAX_FIELDS} fields, this one has {len(form.fields)}")
    names = {f.name for f in form.fields}
    seen: set[str] = set()
    for i, field in enumerate(form.fields):
        path = f"fields[{i}]"
        if field.name in seen:
            yield FieldError(f"{path}.name", f"'{field.name}' is the name of an earlier field; names are unique")
        seen.add(field.name)
        yield from _field_problems(field, path, names, registry)
        if workflow is not None:
            yield from _parameter_problems(field, path, workflow)
    if workflow is not None:
        yield from _unfilled_parameters(form, workflow)
    yield from _cycle_problems(form)


def depends_on(field: FormField) -> list[str]:
    """The fields whose values this field's provider inputs or visibility read: a client reloads it when they
    change."""
    read: set[str] = set()
    for value in field.data_provider_inputs.values():
        if isinstance(value, FieldRefInput):
            read.add(value.field)
        elif value.mode == "expression" and expressions.problem(value.expression) is None:
            read |= expressions.referenced_fields(value.expression)
    if isinstance(field.visible_if, dict) and not conditions.problems(field.visible_if, "visible_if"):
        read |= conditions.fields_read(field.visible_if)
    return sorted(read)


def _workflow(registry: FunctionLookup, name: str | None) -> FunctionMetadata | None:
    metadata = registry.get(name or "")
    return metadata if metadata is not None and metadata.is_workflow else None


def _launch_problems(form: Form, registry: FunctionLookup) -> Iterator[FieldError]:
    if form.launch_workflow is None:
        if form.allowed_query_params or form.default_launch_params:
            yield FieldError("launch_workflow", "allowed_query_params and default_launch_params need a "
                                                "launch_workflow to pass them to")
        return
    launch = _workflow(registry, form.launch_workflow)
    if launch is None:
        yield FieldError("launch_workflow", f"no workflow named '{form.launch_workflow}' is registered")
        return
    accepted = {p.name for p in launch.parameters}
    for name in form.allowed_query_params:
        if name not in accepted:
            yield FieldError(f"allowed_query_params.{name}", f"'{form.launch_workflow}' has no parameter '{name}'")
    for name, value in form.default_launch_params.items():
        if name not in accepted:
            yield FieldError(f"default_launch_params.{name}", f"'{form.launch_workflow}' has no parameter '{name}'")
        else:
            yield from _fits(launch, name, value, f"default_launch_params.{name}")


def _field_problems(field: FormField, path: str, names: set[str], registry: FunctionLookup) -> Iterator[FieldError]:
    yield from _choice_problems(field, path)
    yield from _default_problems(field, path)
    yield from _validation_problems(field, path)
    if field.data_provider is not None:
        yield from _provider_problems(field, path, names, registry)
    elif field.data_provider_inputs:
        yield FieldError(f"{path}.data_provider_inputs", "applies only to a field with a data_provider")
    if field.visible_if is not None:
        found = conditions.problems(field.visible_if, f"{path}.visible_if")
        yield from found
        if not found:
            for name in sorted(conditions.fields_read(field.visible_if) - names):
                yield FieldError(f"{path}.visible_if", f"reads field '{name}', which this form does not have")


def _choice_problems(field: FormField, path: str) -> Iterator[FieldError]:
    is_choice = field.type in CHOICE_TYPES
    if is_choice and not field.options and field.data_provider is None:
        yield FieldError(f"{path}.options", f"a {field.type} field needs options or a data_provider")
    if is_choice and field.options and field.data_provider is not None:
        yield FieldError(f"{path}.options", "give static options or a data_provider, not both")
    if not is_choice and field.options is not None:
        yield FieldError(f"{path}.options", f"apply only to select, multiselect and radio fields, not {field.type}")
    if not is_choice and field.data_provider is not None:
        yield FieldError(f"{path}.data_provider", f"applies only to select, multiselect and radio, not {field.type}")


def _validation_problems(field: FormField, path: str) -> Iterator[FieldError]:
    rules = field.validation
    if rules is None:
        return
    given = {key for key, value in rules.model_dump().items() if value is not None}
    fits = NUMBER_LIMITS if field.type == "number" else (LENGTH_LIMITS | {"pattern"}) if field.type in TEXT_TYPES \
        else LENGTH_LIMITS if field.type == "multiselect" else frozenset()
    for key in sorted(given - fits):
        yield FieldError(f"{path}.validation.{key}", f"does not apply to a {field.type} field")
    if rules.pattern is not None:
        try:
            re.compile(rules.pattern)
        except re.error as error:
            yield FieldError(f"{path}.validation.pattern", f"is not a regular expression: {error}")
    if rules.min is not None and rules.max is not None and rules.min > rules.max:
        yield FieldError(f"{path}.validation.min", "is above max")
    if rules.min_length is not None and rules.max_length is not None and rules.min_length > rules.max_length:
        yield FieldError(f"{path}.validation.min_length", "is above max_length")


def _provider_problems(
    field: FormField, path: str, names: set[str], registry: FunctionLookup
) -> Iterator[FieldError]:
    provider = registry.get(field.data_provider or "")
    if provider is None or not provider.is_data_provider:
        yield FieldError(f"{path}.data_provider", f"no data provider named '{field.data_provider}' is registered")
        provider = None
    accepted = {p.name: p for p in provider.parameters} if provider is not None else {}
    for param, source in field.data_provider_inputs.items():
        where = f"{path}.data_provider_inputs.{param}"
        if provider is not None and param not in accepted:
            yield FieldError(where, f"'{field.data_provider}' has no input named '{param}'")
        if isinstance(source, StaticInput) and provider is not None and param in accepted:
            yield from _fits(provider, param, source.value, f"{where}.value")
        if isinstance(source, FieldRefInput):
            if source.field not in names:
                yield FieldError(f"{where}.field", f"refers to field '{source.field}', which this form does not have")
        elif source.mode == "expression":
            yield from _expression_problems(source.expression, f"{where}.expression", names)
    for spec in accepted.values():
        if spec.required and spec.name not in field.data_provider_inputs:
            yield FieldError(f"{path}.data_provider_inputs.{spec.name}",
                             f"'{field.data_provider}' requires input '{spec.name}'; give it a static value, a "
                             "field_ref or an expression")


def _expression_problems(text: str, where: str, names: set[str]) -> Iterator[FieldError]:
    yield from (FieldError(where, problem) for problem in expressions.problems(text))
    if expressions.syntax_problem(text) is not None:
        return
    for name in sorted(expressions.referenced_fields(text) - names):
        yield FieldError(where, f"reads values.{name}, but this form has no field '{name}'")


def _parameter_problems(field: FormField, path: str, workflow: FunctionMetadata) -> Iterator[FieldError]:
    if not field.carries_value:
        return
    parameter = next((p for p in workflow.parameters if p.name == field.name), None)
    if parameter is None:
        accepted = ", ".join(p.name for p in workflow.parameters) or "no parameters"
        yield FieldError(f"{path}.name", f"'{workflow.name}' has no parameter '{field.name}' (it takes {accepted})")
        return
    if parameter.type not in CARRIES[field.type]:
        yield FieldError(f"{path}.type", f"a {field.type} field cannot carry parameter '{field.name}' of type "
                                         f"{parameter.type}")
        return
    as_parameter = (lambda value: [value]) if field.type == "multiselect" else (lambda value: value)
    for i, option in enumerate(field.options or []):
        yield from _fits(workflow, field.name, as_parameter(option.value), f"{path}.options[{i}].value")
    if field.default_value is not None:
        yield from _fits(workflow, field.name, field.default_value, f"{path}.default_value")


def _default_problems(field: FormField, path: str) -> Iterator[FieldError]:
    """A select/radio default must be one of its static options (a multiselect's: each of its items)."""
    if field.default_value is None or not field.options or field.type not in CHOICE_TYPES:
        return
    chosen = field.default_value if field.type == "multiselect" and isinstance(field.default_value, list) \
        else [field.default_value]
    values = [option.value for option in field.options]
    for item in chosen:
        if not any(conditions.json_equal(item, value) for value in values):
            yield FieldError(f"{path}.default_value", f"{item!r} is not one of the field's options")


def _fits(metadata: FunctionMetadata, name: str, value: Any, where: str) -> Iterator[FieldError]:
    """Whether `value` is one the parameter `name` of `metadata` takes, by the engine's own rules (its input model):
    a value saved in a form that the function would refuse fails every run, so it is refused at save."""
    try:
        validate_parameters(metadata, {name: value})
    except InputValidationError as refused:
        for error in refused.errors:
            if re.split(r"[.\[]", error.field, maxsplit=1)[0] == name:
                yield FieldError(where, f"is not a value '{metadata.name}' takes for '{name}': {error.message}")


def _unfilled_parameters(form: Form, workflow: FunctionMetadata) -> Iterator[FieldError]:
    filled = {f.name: i for i, f in enumerate(form.fields) if f.carries_value}
    for parameter in workflow.parameters:
        if parameter.required and parameter.name not in filled:
            yield FieldError("fields", f"'{workflow.name}' requires parameter '{parameter.name}' and no field "
                                       "supplies it")
        elif parameter.required and not _always_shown_when_submittable(form, form.fields[filled[parameter.name]]):
            yield FieldError(f"fields[{filled[parameter.name]}].visible_if",
                             f"'{workflow.name}' requires parameter '{parameter.name}', and a hidden field submits "
                             "nothing: drop visible_if, or give the parameter a default")


def _always_shown_when_submittable(form: Form, field: FormField, depth: int = 0) -> bool:
    """Whether the field is shown whenever a submission can pass at all: it has no visible_if, or only one that
    holds once every required field is filled (`{"field": "country", "not_empty": true}` over a required country
    that is itself always shown; `all` of such, or `any` with one). Then a hidden field means a required field is
    empty, and the user is told about that one."""
    condition = field.visible_if
    return condition is None or (depth < len(form.fields) and _holds_when_required_filled(form, condition, depth))


def _holds_when_required_filled(form: Form, condition: Any, depth: int) -> bool:
    if not isinstance(condition, dict) or conditions.problems(condition, ""):
        return False
    if "all" in condition:
        return all(_holds_when_required_filled(form, item, depth) for item in condition["all"])
    if "any" in condition:
        return any(_holds_when_required_filled(form, item, depth) for item in condition["any"])
    read = form.field(condition.get("field", ""))
    return (condition.get("not_empty") is True and read is not None and read.required
            and _always_shown_when_submittable(form, read, depth + 1))


def _cycle_problems(form: Form) -> Iterator[FieldError]:
    """One error per field on a cycle of references (provider inputs and visible_if), naming the cycle."""
    graph = {f.name: set(depends_on(f)) for f in form.fields}
    index = {f.name: i for i, f in enumerate(form.fields)}
    reported: set[str] = set()
    for start in graph:
        cycle = _cycle_from(start, graph)
        if cycle and start not in reported:
            reported.update(cycle)
            text = " -> ".join([*cycle, cycle[0]])
            for name in cycle:
                yield FieldError(f"fields[{index[name]}]", f"is part of a cycle of field references: {text}")


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """The cycle through `start`, as a path of names, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return path
            if nxt not in visited and nxt in graph:
                visited.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None
