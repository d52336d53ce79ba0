"""App settings, read the way Azure Functions Core Tools reads them.

Core Tools exports `local.settings.json` `Values` as environment variables before the worker starts; a variable that
is already set wins. Bindings then refer to settings by name (`connection="AzureWebJobsStorage"`) or embed them as
`%Name%` (`queue_name="%WORK_QUEUE%"`), and both forms are resolved here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.request
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import connection_string

log = logging.getLogger("devhost.settings")

LOCAL_SETTINGS = "local.settings.json"
EXAMPLE_SETTINGS = "local.settings.example.json"
_PERCENT_NAME = re.compile(r"%([^%]+)%")
# The endpoints `UseDevelopmentStorage=true` stands for: Azurite's default ports.
DEVELOPMENT_STORAGE = connection_string(10000, 10001, 10002)


class SettingsError(RuntimeError):
    """A setting the app refers to is missing or malformed; the message names it and says where to set it."""


def settings_file(script_root: Path) -> Path | None:
    """`local.settings.json`, else the example a developer would copy it from, else None."""
    for name in (LOCAL_SETTINGS, EXAMPLE_SETTINGS):
        path = script_root / name
        if path.is_file():
            return path
    return None


def read_values(path: Path) -> dict[str, str]:
    """The `Values` object of a settings file, as strings (Core Tools rejects non-string values; we coerce)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path} is not valid JSON: {exc}") from exc
    if document.get("IsEncrypted"):
        raise SettingsError(f"{path} is encrypted; devhost reads only plain settings (set IsEncrypted to false).")
    values = document.get("Values") or {}
    return {str(key): "" if value is None else str(value) for key, value in values.items()}


def load_local_settings(script_root: Path, environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Export the settings file's Values into `environ`, never overriding a variable that is already set."""
    path = settings_file(script_root)
    if path is None:
        log.warning("No %s or %s in %s; using the environment only.", LOCAL_SETTINGS, EXAMPLE_SETTINGS, script_root)
        return None
    for key, value in read_values(path).items():
        environ.setdefault(key, value)
    return path


def resolve(value: str, environ: MutableMapping[str, str] = os.environ) -> str:
    """Replace every `%Name%` in a binding property with that app setting, as the host's name resolver does."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise SettingsError(f"App setting '{name}' (used as %{name}%) is not set; add it to {LOCAL_SETTINGS}.")
        return environ[name]

    return _PERCENT_NAME.sub(lookup, value)


@dataclass(frozen=True)
class IdentityConnection:
    """An identity-based storage connection: the settings under `<name>__` (names in lower case), read as the host
    reads them — and as Conduit's shared/storage/account.py does, which devhost must not import (see below)."""

    name: str
    values: Mapping[str, str]

    def endpoint(self, service: str) -> str:
        """`<name>__<service>ServiceUri`, else https://<accountName>.<service>.core.windows.net."""
        uri = self.values.get(f"{service}serviceuri")
        if uri:
            return uri.rstrip("/")
        account = self.values.get("accountname")
        if not account:
            raise SettingsError(
                f"Storage connection '{self.name}' names no {service} service: set {self.name}__accountName "
                f"or {self.name}__{service}ServiceUri."
            )
        return f"https://{account}.{service}.core.windows.net"

    def credential(self) -> Any:
        """A new async credential: the managed identity with `credential=managedidentity` (the user-assigned one
        `clientId` names, else the system-assigned one), otherwise DefaultAzureCredential."""
        from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential  # ~1 s: only when used

        client_id = self.values.get("clientid")
        if self.values.get("credential", "").lower() == "managedidentity":
            return ManagedIdentityCredential(client_id=client_id)
        return DefaultAzureCredential(managed_identity_client_id=client_id) if client_id else DefaultAzureCredential()


def storage_connection(
    setting: str | None, environ: Mapping[str, str] = os.environ
) -> str | IdentityConnection:
    """The connection behind a binding's `connection` setting name (default `AzureWebJobsStorage`): a connection
    string, or an identity-based connection when the setting is absent (or empty) and settings `<name>__...` exist.

    Like the host, a name `X` also matches the setting `AzureWebJobsX`, and `UseDevelopmentStorage=true` means the
    local emulator; it is expanded here because not every storage SDK accepts the short form (azure-notes gotcha #4).
    """
    name = setting or "AzureWebJobsStorage"
    names = (name, f"AzureWebJobs{name}")
    value = next((environ[n] for n in names if environ.get(n, "").strip()), "")
    if not value:
        for candidate in names:
            prefix = f"{candidate.lower()}__"
            values = {k.lower()[len(prefix) :]: v.strip() for k, v in environ.items() if k.lower().startswith(prefix)}
            if any(values.values()):
                return IdentityConnection(candidate, values)
        raise SettingsError(
            f"Storage connection setting '{name}' is not set; add it to {LOCAL_SETTINGS} (a connection string), "
            f"or {name}__accountName (with {name}__credential and {name}__clientId) for an identity-based connection."
        )
    if value.strip().rstrip(";").lower().startswith("usedevelopmentstorage=true"):
        return DEVELOPMENT_STORAGE
    return value


def queue_service(connection: str | IdentityConnection, **options: Any) -> QueueServiceClient:
    if isinstance(connection, str):
        return QueueServiceClient.from_connection_string(connection, **options)
    return QueueServiceClient(connection.endpoint("queue"), credential=connection.credential(), **options)


def table_service(connection: str | IdentityConnection, **options: Any) -> TableServiceClient:
    if isinstance(connection, str):
        return TableServiceClient.from_connection_string(connection, **options)
    return TableServiceClient(connection.endpoint("table"), credential=connection.credential(), **options)


async def close_service(service: QueueServiceClient | TableServiceClient) -> None:
    """Close a service client and the token credential it was opened with (the SDK's `close()` leaves it open)."""
    await service.close()
    credential: Any = getattr(service, "credential", None)
    if hasattr(credential, "get_token") and hasattr(credential, "close"):
        await credential.close()


def storage_client_options(service: str = "queue") -> dict[str, Any]:
    """Keyword arguments for every storage SDK client devhost opens.

    azure-core's aiohttp transport trusts the environment by default, which sends each request through two worker
    thread trips (a ~/.netrc lookup and a proxy lookup, ~0.9 ms CPU together); so it is on only when a proxy is
    configured. Same rule as Conduit's `shared.storage.clients.open_tables`, kept here because devhost must not
    import the hosted app's packages (an app's own `shared` package would be shadowed by Conduit's).
    """
    proxies = urllib.request.getproxies_environment()
    trust_env = any(scheme in proxies for scheme in ("http", "https", "all"))
    options: dict[str, Any] = {"use_env_settings": trust_env}
    if os.environ.get(FAULTS_SETTING, "").strip():
        options["transport"] = _faulty_transport(service, trust_env)
    return options


FAULTS_SETTING = "CONDUIT_STORAGE_FAULTS"


def _faulty_transport(service: str, trust_env: bool) -> Any:
    """Conduit's fault-injection seam around devhost's own clients too (queue receive/delete, timer slots), so a
    chaos run can fail the host's requests as well as the app's. Imported only when the setting asks for faults:
    devhost otherwise never imports the hosted app's packages."""
    from azure.core.pipeline.transport import AioHttpTransport

    from shared.storage.faults import FaultyTransport

    return FaultyTransport(AioHttpTransport(use_env_settings=trust_env), service)


def is_disabled(function_name: str, environ: MutableMapping[str, str] = os.environ) -> bool:
    """`AzureWebJobs.<Function>.Disabled` = true keeps a function from being hosted, as in the real host."""
    return environ.get(f"AzureWebJobs.{function_name}.Disabled", "").strip().lower() in ("true", "1")
