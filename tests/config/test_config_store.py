"""Config rows in Table storage: secrets encrypted at rest, refused without a key, and re-encrypted by rotation."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableServiceClient
from cryptography.fernet import Fernet

from shared.api.http import status_for
from shared.config.rotation import RotationReport, rotate_one, rotate_secrets
from shared.errors import SecretsNotConfiguredError, SecretUnreadableError
from shared.models import GLOBAL_SCOPE
from shared.storage.config import CONFIG_TABLE, ConfigStore
from shared.storage.secret_box import KEY_SETTING, SecretBox, generate_key
from tests.config.conftest import KEY
from tests.e2e.conftest import REPO_ROOT

SECRET = "correct-horse-battery-staple"


async def raw_row(connection_string: str, table: str, scope: str, key: str) -> dict[str, object]:
    async with TableServiceClient.from_connection_string(connection_string) as service:
        return dict(await service.get_table_client(table).get_entity(scope, key))


async def test_a_secret_is_encrypted_at_rest_and_its_plaintext_is_nowhere_in_the_row(
    config_store: ConfigStore, storage_connection_string: str, org: str, key: str, secrets_key: SecretBox
) -> None:
    # When a secret is stored
    entry = await config_store.put(org, key, "secret", SECRET, "admin", secrets_key)
    # Then the row holds a Fernet token of it, and the plaintext (or its base64) in no property
    row = await raw_row(storage_connection_string, CONFIG_TABLE, org, key)
    assert row["Type"] == "secret" and entry.token == row["Value"] and entry.value is None
    assert not any(SECRET in str(value) for value in row.values())
    assert Fernet(KEY).decrypt(str(row["Value"]).encode()).decode() == SECRET
    # And a plain value is stored as JSON text
    await config_store.put(org, key + "_n", "int", 5, "admin", secrets_key)
    assert (await raw_row(storage_connection_string, CONFIG_TABLE, org, key + "_n"))["Value"] == "5"


async def test_without_a_key_setting_a_secret_is_refused_and_nothing_is_stored(
    config_store: ConfigStore, org: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no CONDUIT_SECRETS_KEY
    monkeypatch.delenv(KEY_SETTING, raising=False)
    # When a secret is stored, Then it is refused, saying which setting to set (HTTP 503: for the operator)
    with pytest.raises(SecretsNotConfiguredError) as refused:
        await config_store.put(org, key, "secret", SECRET, "admin", SecretBox.from_env())
    assert KEY_SETTING in refused.value.message and status_for(refused.value) == 503
    # And nothing was written, not even in clear
    assert await config_store.get(org, key) is None


def test_a_setting_entry_that_is_not_a_fernet_key_is_refused_naming_it() -> None:
    with pytest.raises(SecretsNotConfiguredError, match="Entry 2 of the setting CONDUIT_SECRETS_KEY"):
        SecretBox.from_setting(f"{generate_key()}, not-a-key")


@pytest.fixture
async def own_table(storage_connection_string: str) -> AsyncIterator[ConfigStore]:
    """A config table of this test alone: rotation visits a whole table."""
    store = ConfigStore.from_connection_string(storage_connection_string, table=f"Cfg{uuid.uuid4().hex[:12]}")
    await store.ensure_table()
    try:
        yield store
    finally:
        await store.close()


async def test_rotation_re_encrypts_every_secret_so_the_old_key_can_go(own_table: ConfigStore, org: str) -> None:
    # Given secrets in an organization and globally, written with the old key, and a plain value
    old, new = generate_key(), generate_key()
    for scope in (org, GLOBAL_SCOPE):
        await own_table.put(scope, "token", "secret", f"{SECRET}-{scope}", "admin", SecretBox.from_setting(old))
    await own_table.put(org, "url", "string", "https://x.test", "admin", SecretBox.from_setting(old))
    # When the new key is put first and the rotation runs
    both = SecretBox.from_setting(f"{new},{old}")
    report = await rotate_secrets(own_table, both)
    # Then both secrets were re-encrypted, and the old key alone no longer reads them while the new one does
    assert (report.rotated, report.current, report.complete) == (2, 0, True)
    only_new, only_old = SecretBox.from_setting(new), SecretBox.from_setting(old)
    for scope in (org, GLOBAL_SCOPE):
        entry = await own_table.get(scope, "token")
        assert entry is not None and entry.token is not None
        assert only_new.decrypt(entry.token) == f"{SECRET}-{scope}"
        with pytest.raises(SecretUnreadableError):
            only_old.decrypt(entry.token)
    # And running it again writes nothing (idempotent)
    again = await rotate_secrets(own_table, both)
    assert (again.rotated, again.current) == (0, 2)


async def test_rotation_never_overwrites_a_secret_an_admin_changed_meanwhile(own_table: ConfigStore, org: str) -> None:
    # Given the rotation read a secret written with the old key
    old, new = generate_key(), generate_key()
    await own_table.put(org, "token", "secret", "old-value", "admin", SecretBox.from_setting(old))
    read = await own_table.get(org, "token")
    assert read is not None
    # When an admin sets a new value before the rotation writes (a PUT encrypts with the first key)
    both = SecretBox.from_setting(f"{new},{old}")
    await own_table.put(org, "token", "secret", "changed-value", "admin", both)
    report = RotationReport()
    await rotate_one(own_table, both, read, report)
    # Then the rotation's conditional write lost, it read the row again and left the admin's value
    stored = await own_table.get(org, "token")
    assert stored is not None and stored.token is not None
    assert SecretBox.from_setting(new).decrypt(stored.token) == "changed-value"
    assert (report.rotated, report.current) == (0, 1)


async def test_rotation_reports_secrets_no_key_decrypts_and_is_not_done(own_table: ConfigStore, org: str) -> None:
    await own_table.put(org, "token", "secret", "lost-key-value", "admin", SecretBox.from_setting(generate_key()))
    report = await rotate_secrets(own_table, SecretBox.from_setting(generate_key()))
    assert report.unreadable == [f"{org}/token"] and not report.complete


def rotate_command(connection_string: str, keys: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDUIT_", "AzureWebJobs"))}
    env |= {"AzureWebJobsStorage": connection_string, KEY_SETTING: keys}
    return subprocess.run([sys.executable, "scripts/rotate_secrets.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_the_rotate_secrets_command_re_encrypts_and_says_when_old_keys_may_go(
    config_store: ConfigStore, storage_connection_string: str, org: str, key: str
) -> None:
    # Given a secret written with an old key (the table's other secrets use the tests' KEY)
    old = generate_key()
    await config_store.put(org, key, "secret", SECRET, "admin", SecretBox.from_setting(old))
    # When `make rotate-secrets` runs with KEY first and the old key after it
    done = rotate_command(storage_connection_string, f"{KEY},{old}")
    # Then it re-encrypted it, says the old keys may go, and the stored secret now reads with KEY alone
    assert done.returncode == 0, done.stderr
    assert "every secret is under the first key; the other keys may be removed" in done.stdout
    entry = await config_store.get(org, key)
    assert entry is not None and entry.token is not None
    assert SecretBox.from_setting(KEY).decrypt(entry.token) == SECRET
    # And run again, it re-encrypts nothing
    assert rotate_command(storage_connection_string, f"{KEY},{old}").stdout.startswith("re-encrypted 0,")


def test_the_command_generates_a_fernet_key_and_refuses_to_run_without_the_setting(
    storage_connection_string: str,
) -> None:
    generated = rotate_command(storage_connection_string, "", "--generate-key")
    Fernet(generated.stdout.strip())  # a valid key
    refused = rotate_command(storage_connection_string, "")
    assert refused.returncode == 1 and "CONDUIT_SECRETS_KEY is not set" in refused.stderr
