"""`from bifrost import ...`: with CONDUIT_BIFROST_COMPAT on, seed-system files load and run unchanged; what Conduit
does not offer (and `import bifrost` with the setting off) fails the file's load with a message naming it.

Through discovery of a temporary workspace, as the runtime loads one; the finder is installed as the runtime's
`load_functions` installs it, and removed after each test.
"""

import logging
import sys
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.compat import finder
from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.functions.discovery import DiscoveryReport, discover
from shared.functions.registry import FunctionRegistry
from shared.models import Caller, ExecutionRequest, ExecutionStatus
from shared.storage.config import ConfigStore
from shared.storage.secret_box import KEY_SETTING, SecretBox, generate_key

SEED_WORKFLOW = '''
"""Written for the seed system, copied unchanged."""
from bifrost import workflow, data_provider, param, ExecutionContext, OrganizationContext, UserError, get_context
from bifrost import context as current


@workflow(name="greet_{tag}", description="Greets", category="testing")
@param("name", type="string", label="Name", required=True)
async def greet(context: OrganizationContext, name: str) -> dict:
    context.info(f"greeting {{name}}", {{"org": context.org_id}})
    context.save_checkpoint("greeted", {{"name": name}})
    if name == "nobody":
        raise UserError("Say who to greet.")
    return {{"greeting": f"Hello, {{name}}!", "org_name": context.org_name,
            "same_context": get_context() is context, "proxy_id": current.execution_id}}


@data_provider(name="names_{tag}", description="Names")
async def names(context: ExecutionContext):
    return [{{"label": "Ada", "value": "ada"}}]
'''


@pytest.fixture
def compat_on() -> Iterator[None]:
    finder.install(enabled=True)
    yield
    finder.uninstall()


@pytest.fixture
def compat_off() -> Iterator[None]:
    finder.install(enabled=False)
    yield
    finder.uninstall()


def load(root: Path, files: dict[str, str]) -> tuple[FunctionRegistry, DiscoveryReport]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    registry = FunctionRegistry()
    return registry, discover(registry, [(root, "workspace")])


def loaded(report: DiscoveryReport, stem: str) -> types.ModuleType:
    """A module discovery loaded, by its file name (its module name is path-derived: `conduit_workspace...<stem>`)."""
    return sys.modules[next(name for name in report.modules if name.rsplit(".", 1)[-1] == stem)]


def errors_by_file(report: DiscoveryReport) -> dict[str, str]:
    return {Path(e.path).name: e.error for e in report.errors}


async def test_a_seed_workflow_loads_and_runs_unchanged(tmp_path: Path, compat_on: None) -> None:
    # Given a workspace file written for the seed system (from bifrost import ...)
    tag = uuid.uuid4().hex[:8]
    registry, report = load(tmp_path, {f"seed_{tag}.py": SEED_WORKFLOW.format(tag=tag)})
    # Then it loads, registering its workflow and data provider
    assert report.errors == []
    assert registry.get(f"greet_{tag}") is not None and registry.get(f"names_{tag}") is not None
    # And it runs: the context helpers, get_context and `bifrost.context` all work in an organization's scope
    engine = Engine(registry)
    result = await engine.execute(ExecutionRequest(name=f"greet_{tag}", parameters={"name": "Ada"}, transient=True,
                                                   caller=Caller(user_id="u1", scope="org-7")))
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == {"greeting": "Hello, Ada!", "org_name": "org-7", "same_context": True,
                             "proxy_id": result.execution_id}
    assert [line.message for line in result.logs] == ['greeting Ada {"org": "org-7"}']
    assert [(s["step_name"], s["step_type"], s["output_data"]) for s in result.steps] == [
        ("greeted", "checkpoint", {"name": "Ada"})]
    # And its UserError is Conduit's: shown to the user as written
    failed = await engine.execute(ExecutionRequest(name=f"greet_{tag}", parameters={"name": "nobody"},
                                                   transient=True))
    assert (failed.status, failed.error_type, failed.error_message) == (
        ExecutionStatus.FAILED, "UserError", "Say who to greet.")


SEED_CONFIG_WORKFLOW = '''
"""Written for the seed system: config and secrets through its SDK."""
from bifrost import config, secrets, workflow, context


@workflow(name="cfg_{tag}")
async def read_config(key: str, secret_key: str) -> dict:
    token = await secrets.get(secret_key)
    context.info(f"calling with {{token}}")
    return {{"value": await config.get(key), "missing": await config.get(key + "_none", default="dflt"),
            "missing_secret": await secrets.get(secret_key + "_none"), "token": token}}


@workflow(name="cfg_set_{tag}")
async def write_config(key: str) -> dict:
    await config.set(key, "x")
    return {{}}


@workflow(name="cfg_other_{tag}")
async def other_org(key: str) -> dict:
    return {{"value": await config.get(key, scope="org-somebody-else")}}
'''


async def test_seed_config_and_secrets_read_the_stored_values_masked_and_refuse_writes(
    tmp_path: Path, compat_on: None, storage_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an organization with a stored int value and a secret, and a seed file reading both with its SDK
    monkeypatch.setenv(KEY_SETTING, generate_key())
    tag, org = uuid.uuid4().hex[:8], f"org-{uuid.uuid4().hex[:8]}"
    key, secret_key, secret = f"limit_{tag}", f"token_{tag}", f"sk-live-{uuid.uuid4().hex}"
    store = ConfigStore.from_connection_string(storage_connection_string)
    await store.ensure_table()
    await store.put(org, key, "int", 42, "admin", SecretBox.from_env())
    await store.put(org, secret_key, "secret", secret, "admin", SecretBox.from_env())
    registry, report = load(tmp_path, {f"seed_cfg_{tag}.py": SEED_CONFIG_WORKFLOW.format(tag=tag)})
    assert report.errors == []
    engine = Engine(registry, config=ConfigReader(store))
    caller = Caller(user_id="u1", scope=org)
    try:
        # When the workflow runs in that organization
        result = await engine.execute(ExecutionRequest(name=f"cfg_{tag}", caller=caller, transient=True,
                                                       parameters={"key": key, "secret_key": secret_key}))
        # Then it read the typed value, the default for a missing key, None for a missing secret (saying why in
        # its log), and the secret, which is masked in what the execution returns and logs
        assert result.status is ExecutionStatus.SUCCESS, result.error_message
        assert result.result == {"value": 42, "missing": "dflt", "missing_secret": None, "token": "***"}
        messages = [line.message for line in result.logs]
        assert "calling with ***" in messages and secret not in "".join(messages)
        assert any("answered None" in message for message in messages)
        # And writing config, or reading another organization's, fails saying why
        wrote = await engine.execute(ExecutionRequest(name=f"cfg_set_{tag}", caller=caller, transient=True,
                                                      parameters={"key": key}))
        assert wrote.status is ExecutionStatus.FAILED and "PUT/DELETE /api/config" in (wrote.error_message or "")
        other = await engine.execute(ExecutionRequest(name=f"cfg_other_{tag}", caller=caller, transient=True,
                                                      parameters={"key": key}))
        assert (other.status, other.error_type) == (ExecutionStatus.FAILED, "ForbiddenError")
        assert "org-somebody-else" in (other.error_message or "")
    finally:
        engine.close()
        await store.delete(org, secret_key)
        await store.close()


@pytest.mark.parametrize(
    ("statement", "name", "says"),
    [
        ("from bifrost import files", "files", "no file storage"),
        ("from bifrost import workflow, integrations", "integrations", "context.http"),
        ("import bifrost.users", "users", "no user directory"),
        ("from bifrost.roles import create", "roles", "context.caller.roles"),
        ("from bifrost import tool", "tool", "@workflow"),
        ("from bifrost import organizations", "organizations", "/api/organizations"),
        ("from bifrost import knowledge", "knowledge", "not part of Conduit's API"),
    ],
)
def test_what_conduit_does_not_offer_fails_the_load_with_a_message_naming_it(
    tmp_path: Path, compat_on: None, statement: str, name: str, says: str
) -> None:
    # Given a seed file importing something Conduit does not offer, beside one that imports only what it offers
    tag = uuid.uuid4().hex[:8]
    _, report = load(tmp_path, {
        f"uses_{name}_{tag}.py": f"{statement}\n",
        f"fine_{tag}.py": "from bifrost import workflow\n",
    })
    # Then that file's load error is the message naming `bifrost.<name>` (no exception type, no traceback), and
    # the other file loads
    error = errors_by_file(report)
    assert list(error) == [f"uses_{name}_{tag}.py"]
    assert error[f"uses_{name}_{tag}.py"].startswith(f"`bifrost.{name}` is not offered by Conduit")
    assert says in error[f"uses_{name}_{tag}.py"]
    assert "ImportError" not in error[f"uses_{name}_{tag}.py"] and "Traceback" not in error[f"uses_{name}_{tag}.py"]


def test_a_file_s_own_import_error_fallback_still_works(tmp_path: Path, compat_on: None) -> None:
    # Given a seed file that falls back when an optional bifrost module is missing
    tag = uuid.uuid4().hex[:8]
    text = "try:\n    from bifrost import files\nexcept ImportError:\n    files = None\n"
    _, report = load(tmp_path, {f"optional_{tag}.py": text})
    # Then it loads (the refusal is an ImportError too)
    assert report.errors == []
    assert loaded(report, f"optional_{tag}").files is None


def test_with_the_setting_off_import_bifrost_says_which_setting_turns_it_on(tmp_path: Path, compat_off: None) -> None:
    tag = uuid.uuid4().hex[:8]
    _, report = load(tmp_path, {f"seed_{tag}.py": SEED_WORKFLOW.format(tag=tag),
                                f"sub_{tag}.py": "import bifrost.files\n"})
    for error in errors_by_file(report).values():
        assert error.startswith("`import bifrost` needs the setting CONDUIT_BIFROST_COMPAT=true")
    assert len(report.errors) == 2


def test_with_the_setting_off_a_workspace_module_named_bifrost_still_imports(tmp_path: Path,
                                                                             compat_off: None) -> None:
    # Given the seed's own shim module `bifrost.py` kept in the workspace, and a file importing from it
    tag = uuid.uuid4().hex[:8]
    files = {"bifrost.py": f"marker = '{tag}'\n", f"user_{tag}.py": "from bifrost import marker\n"}
    _, report = load(tmp_path / tag, files)
    try:
        # Then the workspace's module is what `bifrost` is: the setting off takes nothing away
        assert report.errors == []
        assert loaded(report, f"user_{tag}").marker == tag
    finally:
        sys.modules.pop("bifrost", None)


def test_with_the_setting_on_a_workspace_module_named_bifrost_never_replaces_conduits(tmp_path: Path,
                                                                                      compat_on: None) -> None:
    # Given the seed's own shim module `bifrost.py` kept in the workspace, next to a seed workflow
    tag = uuid.uuid4().hex[:8]
    files = {"bifrost.py": "workflow = 'the shim'\n", f"seed_{tag}.py": SEED_WORKFLOW.format(tag=tag)}
    registry, report = load(tmp_path / tag, files)
    # Then the shim loads under its path-derived name like any file, and `bifrost` in its neighbour is Conduit's API
    assert report.errors == [] and loaded(report, "bifrost").workflow == "the shim"
    assert registry.get(f"greet_{tag}") is not None


@pytest.mark.parametrize(("value", "on"), [("true", True), ("TRUE", True), ("1", True), ("false", False),
                                           ("", False), ("perhaps", False)])
def test_the_setting_decides_when_the_runtime_installs_the_finder(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str, on: bool
) -> None:
    # Given CONDUIT_BIFROST_COMPAT set to a value
    monkeypatch.setenv("CONDUIT_BIFROST_COMPAT", value)
    try:
        # When the finder is installed from the setting (as shared.runtime.load_functions does before discovery)
        with caplog.at_level(logging.WARNING, logger="conduit.compat"):
            installed = finder.install()
        # Then `bifrost` is Conduit's API only when it is on; an unreadable value is off, with a warning
        assert installed.enabled is on
        if on:
            import bifrost

            assert bifrost.workflow.__module__ == "shared.functions.decorators"
        else:
            with pytest.raises(ImportError, match="CONDUIT_BIFROST_COMPAT=true"):
                import bifrost
        assert ("perhaps" in caplog.text) is (value == "perhaps")
    finally:
        finder.uninstall()


def test_importing_an_offered_name_as_a_module_says_how_to_import_it(tmp_path: Path, compat_on: None) -> None:
    # Given a file that imports an offered name as if it were a submodule
    tag = uuid.uuid4().hex[:8]
    _, report = load(tmp_path, {f"as_module_{tag}.py": "import bifrost.workflow\n"})
    # Then its load error says how to import it, not that Conduit does not offer it (while listing it as offered)
    assert errors_by_file(report) == {f"as_module_{tag}.py": "`bifrost.workflow` is not a module: Conduit offers "
                                                             "workflow as a name, so write `from bifrost import "
                                                             "workflow`."}
