"""Decorators and the registry: defaults, merging, and errors a workflow author sees at import time."""

import pytest

from shared import ExecutionContext, data_provider, param, workflow
from shared.errors import RegistrationError
from shared.functions.decorators import MAX_TIMEOUT
from shared.functions.registry import FunctionRegistry, use_registry


@pytest.fixture
def registry() -> FunctionRegistry:
    return FunctionRegistry()


def test_workflow_defaults(registry: FunctionRegistry) -> None:
    # Given a workflow declared with only a name
    with use_registry(registry):

        @workflow(name="plain")
        async def plain(context: ExecutionContext) -> None: ...

    # Then it is async, times out after 1800 s, is no endpoint, and is tagged as a workflow
    meta = registry.get("plain")
    assert meta is not None
    assert (meta.execution_mode, meta.timeout_seconds, meta.endpoint_enabled) == ("async", 1800, False)
    assert meta.tags == {"workflow"}
    assert meta.allowed_methods == ("POST",)


def test_endpoint_workflows_default_to_sync(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="hook", endpoint_enabled=True)
        async def hook() -> None: ...

    assert registry.get("hook").execution_mode == "sync"  # type: ignore[union-attr]


def test_data_provider_default_cache_ttl(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @data_provider(name="options")
        def options() -> list: return []

    meta = registry.get("options")
    assert meta is not None and meta.cache_ttl_seconds == 300 and meta.tags == {"data_provider"}


def test_params_keep_declaration_order_and_default_labels(registry: FunctionRegistry) -> None:
    # Given three @param declarations in a given order
    with use_registry(registry):

        @workflow(name="ordered")
        @param("first_name", type="string", required=True)
        @param("age", type="int")
        @param("email_address", type="email", label="Work email")
        async def ordered(context, first_name: str, age: int = 0, email_address: str = "") -> None: ...

    # Then they are listed in that order, missing labels are the title-cased names
    params = registry.get("ordered").parameters  # type: ignore[union-attr]
    assert [p.name for p in params] == ["first_name", "age", "email_address"]
    assert [p.label for p in params] == ["First Name", "Age", "Work email"]
    assert params[0].required and not params[1].required


def test_decorated_function_stays_directly_callable(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="adder")
        @param("a", type="int")
        def adder(a: int = 1) -> int:
            return a + 1

    assert adder(a=41) == 42


@pytest.mark.parametrize("timeout", [0, MAX_TIMEOUT + 1, -5, 1.5, True])
def test_timeout_out_of_range_names_the_function(registry: FunctionRegistry, timeout) -> None:
    with use_registry(registry), pytest.raises(RegistrationError, match=r"too_long.*timeout_seconds"):

        @workflow(name="too_long", timeout_seconds=timeout)
        async def too_long() -> None: ...


def test_timeout_bounds_are_accepted(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="one", timeout_seconds=1)
        async def one() -> None: ...

        @workflow(name="max", timeout_seconds=MAX_TIMEOUT)
        async def max_() -> None: ...

    assert registry.get("one").timeout_seconds == 1  # type: ignore[union-attr]
    assert registry.get("max").timeout_seconds == MAX_TIMEOUT  # type: ignore[union-attr]


def test_unknown_param_type_names_function_and_parameter(registry: FunctionRegistry) -> None:
    expected = r"@param\('when'\) on dated.*unknown type 'date'"
    with use_registry(registry), pytest.raises(RegistrationError, match=expected):

        @workflow(name="dated")
        @param("when", type="date")
        async def dated(when: str) -> None: ...


def test_param_for_missing_argument_is_an_error(registry: FunctionRegistry) -> None:
    with use_registry(registry), pytest.raises(RegistrationError, match="has no argument named 'ghost'"):

        @workflow(name="ghostly")
        @param("ghost")
        async def ghostly(context) -> None: ...


def test_param_above_workflow_is_an_error(registry: FunctionRegistry) -> None:
    with use_registry(registry), pytest.raises(RegistrationError, match="below @workflow"):

        @param("x")
        @workflow(name="upside_down")
        async def upside_down(x: str) -> None: ...


def test_invalid_execution_mode(registry: FunctionRegistry) -> None:
    with use_registry(registry), pytest.raises(RegistrationError, match="execution_mode"):

        @workflow(name="odd", execution_mode="later")
        async def odd() -> None: ...


def test_one_function_with_both_decorators_gets_both_tags(registry: FunctionRegistry) -> None:
    # Given one function that is both a workflow and a data provider
    with use_registry(registry):

        @workflow(name="multi_use", description="both", timeout_seconds=60)
        @data_provider(name="multi_use", cache_ttl_seconds=42)
        @param("filter")
        def multi_use(filter: str = "") -> list:
            return []

    # Then one entry carries both tags, the workflow's settings and the provider's cache ttl
    meta = registry.get("multi_use")
    assert meta is not None
    assert meta.tags == {"workflow", "data_provider"}
    assert (meta.timeout_seconds, meta.cache_ttl_seconds, meta.description) == (60, 42, "both")
    assert len(registry.list("workflow")) == len(registry.list("data_provider")) == 1


def test_a_different_function_under_a_taken_name_names_both_files(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="taken")
        async def first() -> None: ...

        with pytest.raises(RegistrationError) as caught:

            @workflow(name="taken")
            async def second() -> None: ...

    message = str(caught.value)
    assert "first" in message and "second" in message and message.count("test_decorators.py") == 2


def test_undeclared_signature_arguments_are_inferred(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="inferred")
        @param("a", type="int")
        async def inferred(context, a: int, b: bool, c: str = "x") -> None: ...

    params = registry.get("inferred").parameters  # type: ignore[union-attr]
    assert [(p.name, p.type, p.required) for p in params] == [
        ("a", "int", False),
        ("b", "bool", True),
        ("c", "string", False),
    ]


def test_log_level_defaults_to_info_and_accepts_any_case(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="quiet")
        async def quiet() -> None: ...

        @workflow(name="verbose", log_level="debug")
        async def verbose() -> None: ...

        @data_provider(name="verbose_options", log_level="DEBUG")
        def verbose_options() -> list: return []

    levels = {name: registry.get(name).log_level for name in ("quiet", "verbose", "verbose_options")}  # type: ignore
    assert levels == {"quiet": "INFO", "verbose": "DEBUG", "verbose_options": "DEBUG"}


@pytest.mark.parametrize("decorator", [workflow, data_provider])
def test_unknown_log_level_names_the_function_and_the_levels(registry: FunctionRegistry, decorator) -> None:
    with use_registry(registry), pytest.raises(RegistrationError) as caught:

        @decorator(name="chatty", log_level="VERBOSE")
        async def chatty() -> None: ...

    expected = "on chatty: log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'VERBOSE'"
    assert expected in str(caught.value)


def test_debug_on_either_decorator_holds_for_a_function_with_both(registry: FunctionRegistry) -> None:
    with use_registry(registry):

        @workflow(name="both")
        @data_provider(name="both", log_level="DEBUG")
        async def both() -> list: return []

    assert registry.get("both").log_level == "DEBUG"  # type: ignore[union-attr]
