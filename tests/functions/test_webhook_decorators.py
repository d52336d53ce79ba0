"""The webhook arguments of @workflow: checked at import, carried in the metadata, kept when merged."""

from __future__ import annotations

import pytest

from shared import data_provider, workflow
from shared.errors import RegistrationError
from shared.functions.registry import FunctionRegistry, use_registry


def test_a_signed_endpoint_records_its_secret_key_scheme_and_delivery_header() -> None:
    registry = FunctionRegistry()
    with use_registry(registry):

        # Given one function that is both a data provider and a signed endpoint (the provider decorator last)
        @data_provider
        @workflow(endpoint_enabled=True, webhook_secret="github_secret", webhook_signature="github",
                  webhook_delivery_header="X-GitHub-Delivery")
        async def on_push(**payload: object) -> list: return []

    # Then the merged record keeps the workflow's webhook fields
    meta = registry.get("on_push")
    assert meta is not None and meta.is_data_provider and meta.is_workflow
    assert (meta.webhook_secret, meta.webhook_signature, meta.webhook_delivery_header) == (
        "github_secret", "github", "X-GitHub-Delivery")
    assert meta.endpoint_to_api() == {"path": "/api/endpoints/on_push", "methods": ["POST"], "access": "signature",
                                      "signature": "github", "global_keys": True}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"endpoint_enabled": True, "webhook_secret": "s"}, "webhook_secret needs webhook_signature"),
    ({"endpoint_enabled": True, "webhook_signature": "github"}, "webhook_signature needs webhook_secret"),
    ({"endpoint_enabled": True, "webhook_secret": "s", "webhook_signature": "hmac"}, "must be one of github"),
    ({"endpoint_enabled": True, "webhook_secret": "whsec abc/def", "webhook_signature": "stripe"},
     "names a config key"),
    ({"webhook_secret": "s", "webhook_signature": "slack"}, "apply to endpoints only"),
    ({"endpoint_enabled": True, "webhook_delivery_header": "X Delivery"}, "HTTP header name"),
    ({"endpoint_enabled": True, "webhook_secret": 5, "webhook_signature": "slack"}, "webhook_secret must be text"),
])
def test_webhook_mistakes_fail_the_load_naming_the_argument(kwargs: dict, message: str) -> None:
    with use_registry(FunctionRegistry()), pytest.raises(RegistrationError, match=message) as failed:

        @workflow(**kwargs)
        async def hook() -> None: ...

    assert "@workflow on hook" in failed.value.message and "test_webhook_decorators.py:" in failed.value.message
    assert "whsec" not in failed.value.message  # a pasted secret is never echoed
