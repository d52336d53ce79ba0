"""Fixtures of the config and secrets tests: a config store on the session Azurite, an engine reading it, keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.functions.discovery import discover
from shared.functions.registry import FunctionRegistry
from shared.models import Caller, ExecutionRequest, ExecutionResult
from shared.storage.config import ConfigStore
from shared.storage.secret_box import KEY_SETTING, SecretBox, generate_key

WORKSPACE = Path(__file__).resolve().parent / "workspace"
KEY = generate_key()  # the key the tests' deployment encrypts with


@pytest.fixture(scope="session")
def config_registry() -> FunctionRegistry:
    registry = FunctionRegistry()
    report = discover(registry, [(WORKSPACE, "workspace")])
    assert not report.errors, report.errors
    return registry


@pytest.fixture
def secrets_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretBox]:
    """CONDUIT_SECRETS_KEY set to KEY for the test."""
    monkeypatch.setenv(KEY_SETTING, KEY)
    yield SecretBox.from_env()


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def key() -> str:
    """A config key no other test uses (GLOBAL is shared by every test of the session)."""
    return f"k_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def config_store(storage_connection_string: str) -> AsyncIterator[ConfigStore]:
    store = ConfigStore.from_connection_string(storage_connection_string)
    await store.ensure_table()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def engine(config_registry: FunctionRegistry, config_store: ConfigStore) -> AsyncIterator[Engine]:
    """An engine over the test workspace reading stored config (transient runs: nothing persisted)."""
    engine = Engine(config_registry, config=ConfigReader(config_store))
    try:
        yield engine
    finally:
        engine.close()


async def run(engine: Engine, name: str, scope: str, **parameters: object) -> ExecutionResult:
    caller = Caller(user_id="u1", scope=scope)
    return await engine.execute(ExecutionRequest(name=name, caller=caller, parameters=dict(parameters)))
