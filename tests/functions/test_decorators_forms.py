"""The ways users write decorators — bare, with only some arguments, the seed system's positional @param — register
what they say, and `GET /api/workflows` (`to_api`) lists it."""

from __future__ import annotations

from shared import ExecutionContext, data_provider, param, workflow
from shared.functions.registry import FunctionRegistry, use_registry


def test_bare_decorators_register_under_the_function_name_with_the_docstring() -> None:
    # Given a bare @workflow and a bare @data_provider (no parentheses)
    registry = FunctionRegistry()
    with use_registry(registry):

        @workflow
        async def send_greeting(name: str, count: int = 1) -> dict:
            """Send a greeting message."""
            return {"message": f"Hello {name}!" * count}

        @data_provider
        async def departments() -> list:
            return [{"label": "Engineering", "value": "eng"}]

    # Then each is registered under its own name, the workflow's description is its docstring, and its inputs come
    # from the signature; the decorated functions are returned unchanged
    greeting = registry.get("send_greeting")
    assert greeting is not None and greeting.is_workflow and greeting.description == "Send a greeting message."
    assert [(p.name, p.type, p.required) for p in greeting.parameters] == [("name", "string", True),
                                                                         ("count", "int", False)]
    provider = registry.get("departments")
    assert provider is not None and provider.is_data_provider and not provider.is_workflow
    assert send_greeting.__name__ == "send_greeting" and departments.__name__ == "departments"


def test_name_is_optional_everywhere() -> None:
    registry = FunctionRegistry()
    with use_registry(registry):

        @workflow(category="Admin", tags=["m365"])
        async def onboard_user(email: str) -> None: ...

        @data_provider(category="m365", cache_ttl_seconds=60)
        async def licences() -> list:
            return []

    assert registry.get("onboard_user") is not None and registry.get("licences") is not None


def test_param_takes_the_seed_systems_positional_order() -> None:
    # Given @param written positionally (name, type, label, required, validation) and with keywords
    registry = FunctionRegistry()
    with use_registry(registry):

        @workflow
        @param("username", "string", "User name", True, {"min_length": 3})
        @param("department", "string", "Department", data_provider="departments", help_text="Where they work")
        @param("seats", type="int", label="Seats", default_value=1)
        async def create_user(context: ExecutionContext, username: str, department: str = "", seats: int = 1) -> None:
            ...

    # Then each field holds what was written in its place
    username, department, seats = registry.get("create_user").parameters  # type: ignore[union-attr]
    assert (username.type, username.label, username.required, username.validation) == (
        "string", "User name", True, {"min_length": 3})
    assert (department.label, department.data_provider, department.help_text) == (
        "Department", "departments", "Where they work")
    assert (seats.type, seats.default_value, seats.required) == ("int", 1, False)


def test_data_provider_takes_tags_and_category_and_lists_them() -> None:
    registry = FunctionRegistry()
    with use_registry(registry):

        @data_provider(category="m365", tags=["licensing", "graph"])
        async def available_licences() -> list:
            return []

    listed = registry.get("available_licences").to_api()  # type: ignore[union-attr]
    assert listed["category"] == "m365"
    assert listed["tags"] == ["data_provider", "graph", "licensing"]


def test_a_seed_system_workflow_and_provider_load_unchanged() -> None:
    # Given decorators written as the seed system's docs show them (positional name/description, list arguments,
    # None for the seed's "not given" defaults)
    registry = FunctionRegistry()
    with use_registry(registry):

        @data_provider(name="get_available_licenses", description="Available M365 licences", category="m365",
                       cache_ttl_seconds=300)
        async def get_available_licenses(context) -> list:
            return []

        @workflow("user_onboarding", "Onboard a new M365 user", category="user_management", tags=["m365", "user"],
                  execution_mode="sync", timeout_seconds=300, endpoint_enabled=True, allowed_methods=["GET", "POST"],
                  disable_global_key=False, retry_policy=None, schedule=None)
        @param("first_name", type="string", label="First Name", required=True)
        @param("license", type="string", label="License Type", data_provider="get_available_licenses")
        async def onboard_user(context, first_name, license=None):
            pass

        @workflow(name="plain", tags=None, allowed_methods=None, description=None)
        async def plain(context):
            """From the docstring."""

    onboarding = registry.get("user_onboarding")
    assert onboarding is not None and onboarding.description == "Onboard a new M365 user"
    assert onboarding.allowed_methods == ("GET", "POST") and onboarding.tags == {"workflow", "m365", "user"}
    assert [p.name for p in onboarding.parameters] == ["first_name", "license"]
    plain_meta = registry.get("plain")
    assert plain_meta is not None and plain_meta.allowed_methods == ("POST",) and plain_meta.tags == {"workflow"}
    assert plain_meta.description == "From the docstring."


def test_workflow_and_data_provider_stack_in_either_order() -> None:
    # Given one function made both a workflow and a data provider, in each order, with @param below both
    registry = FunctionRegistry()
    with use_registry(registry):

        @workflow
        @data_provider(tags=["lookup"])
        @param("prefix", "string", "Prefix")
        async def regions(prefix: str = "") -> list:
            return []

        @data_provider
        @workflow(category="Sites")
        @param("prefix", "string", "Prefix")
        async def sites(prefix: str = "") -> list:
            return []

    # Then both are both, with their tags and declared inputs
    for name in ("regions", "sites"):
        meta = registry.get(name)
        assert meta is not None and meta.is_workflow and meta.is_data_provider
        assert [p.label for p in meta.parameters] == ["Prefix"]
    assert "lookup" in registry.get("regions").tags  # type: ignore[union-attr]
    assert registry.get("sites").category == "Sites"  # type: ignore[union-attr]
