"""Workflows read stored config and secrets: organization first, then global, then app settings, then the default;
from async and sync code; never another organization's; at most one storage read per scope per cache period."""

from __future__ import annotations

import asyncio

import pytest

from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry
from shared.models import GLOBAL_SCOPE, ExecutionStatus
from shared.storage.account import StorageAccount
from shared.storage.clients import RequestCounter
from shared.storage.config import ConfigStore
from shared.storage.secret_box import SecretBox, generate_key
from tests.config.conftest import run

READERS = ["cfg_async", "cfg_sync"]


@pytest.mark.parametrize("workflow", READERS)
async def test_the_organization_value_wins_then_global_then_the_setting_then_the_default(
    workflow: str, engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a global value and an organization's own value of one key, and an app setting of another
    await config_store.put(GLOBAL_SCOPE, key, "string", "global value", "admin", secrets_key)
    await config_store.put(org, key, "string", "org value", "admin", secrets_key)
    monkeypatch.setenv(f"CONDUIT_CONFIG_{key.upper()}_SETTING", "from settings")
    # When workflows of the organization, of another one and of GLOBAL read them
    own = await run(engine, workflow, org, key=key)
    other = await run(engine, workflow, "org-other-" + org, key=key)
    global_ = await run(engine, workflow, GLOBAL_SCOPE, key=key)
    setting = await run(engine, workflow, org, key=f"{key}_setting")
    missing = await run(engine, workflow, org, key=f"{key}_missing", default="fallback")
    # Then the organization's value overrides the global one, which the others see; settings and default follow
    assert own.result == {"value": "org value"}, own.error_message
    assert other.result == {"value": "global value"}
    assert global_.result == {"value": "global value"}
    assert setting.result == {"value": "from settings"}
    assert missing.result == {"value": "fallback"}


@pytest.mark.parametrize("workflow", READERS)
async def test_values_come_back_with_their_type(
    workflow: str, engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given an int, a bool and a JSON value
    values = {"_int": ("int", 42), "_bool": ("bool", False), "_json": ("json", {"tenants": ["a", "b"], "n": 1.5})}
    for suffix, (type_, value) in values.items():
        await config_store.put(org, key + suffix, type_, value, "admin", secrets_key)
    # When a workflow reads each, Then it gets the typed value, not text
    for suffix, (_, value) in values.items():
        result = await run(engine, workflow, org, key=key + suffix)
        assert result.result == {"value": value}


async def test_get_secret_from_async_code_with_await_and_from_sync_code(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given a global secret
    await config_store.put(GLOBAL_SCOPE, key, "secret", "s3cret-value", "admin", secrets_key)
    # When an async workflow awaits get_secret and a sync one calls it
    awaited = await run(engine, "secret_async", org, key=key)
    called = await run(engine, "secret_sync", org, key=key)
    # Then both get the decrypted text (a plain str once awaited)
    assert awaited.result == {"length": 12, "type": "str"}, awaited.error_message
    assert called.result == {"length": 12, "upper": "S3CRET-VALUE"}, called.error_message


async def test_a_missing_secret_and_a_plain_value_read_as_a_secret_fail_saying_why(
    engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given a key stored as a plain string
    await config_store.put(org, key, "string", "not-encrypted", "admin", secrets_key)
    # When a workflow asks for it as a secret, and for a key nobody stored
    plain = await run(engine, "secret_sync", org, key=key)
    missing = await run(engine, "secret_async", org, key=key + "_none")
    # Then both fail with SecretNotFoundError saying what to do
    assert plain.status is ExecutionStatus.FAILED and plain.error_type == "SecretNotFoundError"
    assert "not as a secret" in (plain.error_message or "")
    assert missing.error_type == "SecretNotFoundError"
    assert f"No secret '{key}_none' is stored in organization {org} or globally" in (missing.error_message or "")


@pytest.mark.parametrize("workflow", ["secret_async", "secret_sync"])
async def test_a_secret_of_one_organization_is_never_readable_by_another(
    workflow: str, engine: Engine, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given organization A's secret
    await config_store.put(org, key, "secret", "only-for-org-a", "admin", secrets_key)
    # When a workflow of organization B (and one of GLOBAL) asks for it, by get_secret and by get_config
    other = await run(engine, workflow, "org-b-" + org, key=key)
    global_ = await run(engine, workflow, GLOBAL_SCOPE, key=key)
    config = await run(engine, "cfg_async", "org-b-" + org, key=key, default="none")
    own = await run(engine, workflow, org, key=key)
    # Then neither finds it; A's own workflow does
    assert other.error_type == "SecretNotFoundError" and global_.error_type == "SecretNotFoundError"
    assert config.result == {"value": "none"}
    assert own.status is ExecutionStatus.SUCCESS


async def test_a_secret_stored_with_a_key_no_longer_configured_fails_clearly(
    engine: Engine, config_store: ConfigStore, org: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a secret written with one key, and the setting then holding another one only
    await config_store.put(org, key, "secret", "written-with-old", "admin", SecretBox.from_setting(generate_key()))
    monkeypatch.setenv("CONDUIT_SECRETS_KEY", generate_key())
    try:
        # When a workflow reads it, Then it fails naming the cause and the fix
        result = await run(engine, "secret_sync", org, key=key)
        assert result.error_type == "SecretUnreadableError"
        assert "make rotate-secrets" in (result.error_message or "")
    finally:
        await config_store.delete(org, key)  # `make rotate-secrets` in a later test would report it unreadable


async def test_executions_that_read_no_config_send_no_storage_request_and_readers_share_one_read_per_scope(
    config_registry: FunctionRegistry, storage_connection_string: str, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given an engine whose config store counts its storage requests
    counter = RequestCounter()
    store = ConfigStore.open(StorageAccount.from_connection_string(storage_connection_string), counter=counter)
    await store.ensure_table()
    await store.put(org, key, "int", 7, "admin", secrets_key)
    reader = ConfigReader(store, ttl=60)
    engine = Engine(config_registry, config=reader)
    try:
        counter.reset()
        # When ten executions read no config
        for _ in range(10):
            assert (await run(engine, "no_config", org)).status is ExecutionStatus.SUCCESS
        # Then no storage request was sent
        assert counter.count == 0 and reader.reads == 0
        # When twenty executions read config, async and sync, ten of them at once
        await asyncio.gather(*(run(engine, "cfg_async", org, key=key) for _ in range(10)))
        for _ in range(5):
            assert (await run(engine, "cfg_sync", org, key=key)).result == {"value": 7}
            assert (await run(engine, "cfg_async", org, key=f"{key}_global_only")).result == {"value": None}
        # Then the organization's config was read once, and GLOBAL's once (for the key the organization lacks)
        assert reader.reads == 2 and counter.count == 2
        # When a value changes through this instance (the service invalidates the scope)
        await store.put(org, key, "int", 8, "admin", secrets_key)
        reader.invalidate(org)
        # Then the next execution reads the new value at once
        assert (await run(engine, "cfg_sync", org, key=key)).result == {"value": 8}
    finally:
        engine.close()
        await store.close()


async def test_cached_config_is_read_again_once_the_cache_period_is_over(
    config_registry: FunctionRegistry, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given a reader that keeps a scope's config half a second
    await config_store.put(org, key, "string", "first", "admin", secrets_key)
    engine = Engine(config_registry, config=ConfigReader(config_store, ttl=0.5))
    try:
        assert (await run(engine, "cfg_async", org, key=key)).result == {"value": "first"}
        # When the value changes elsewhere (another instance: no invalidation here)
        await config_store.put(org, key, "string", "second", "admin", secrets_key)
        # Then this instance sees it once the cache period is over (polled, generous bound)
        for _ in range(100):
            if (await run(engine, "cfg_async", org, key=key)).result == {"value": "second"}:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the new value was never read")
    finally:
        engine.close()
