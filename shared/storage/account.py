"""How Conduit reaches its storage account: a connection string, or the account's endpoints and an Entra ID identity.

Conduit reads the storage connection the way the Functions host reads `AzureWebJobsStorage`, so one configuration
serves the host's triggers and Conduit's own Table and Queue clients:
- `AzureWebJobsStorage` set (not empty): a connection string (`UseDevelopmentStorage=true` for Azurite). Like the host,
  an exact setting wins over settings under its prefix.
- otherwise an identity-based connection, settings under `AzureWebJobsStorage__` (names compared without regard to
  case, as the host's configuration does): `accountName` gives https://<account>.<service>.core.windows.net;
  `tableServiceUri` / `queueServiceUri` name a service's endpoint themselves (and win over `accountName`);
  `blobServiceUri` is the host's alone. `credential` = `managedidentity` takes a token from the app's managed
  identity: the system-assigned one, or the user-assigned one whose client id `clientId` gives. Without it,
  DefaultAzureCredential (environment, workload or managed identity, then developer sign-ins) is used, with
  `clientId` as its managed identity's client id, as the host does.

A StorageAccount is plain, frozen data and never holds a credential object: async credentials, like async clients,
belong to the event loop that uses them. So it can key the process's supervisors and be handed to another thread,
which opens clients (and credentials) of its own from it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.errors import StorageError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

SETTING = "AzureWebJobsStorage"
MANAGED_IDENTITY = "managedidentity"
DEV_STORAGE = "UseDevelopmentStorage=true"
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_ENDPOINT_SUFFIX = "core.windows.net"  # what the host assumes for `accountName`; other clouds name the URIs
# Forms the host knows that Conduit does not build: refused by name rather than silently ignored.
_UNSUPPORTED = {
    "tenantid": "tenantId",
    "clientsecret": "clientSecret",
    "clientcertificate": "clientCertificate",
    "managedidentityresourceid": "managedIdentityResourceId",
    "managedidentityobjectid": "managedIdentityObjectId",
}


def normalise_connection_string(connection_string: str) -> str:
    """azure-data-tables 12.7.0 only accepts the development shortcut without a trailing `;` (gotcha #4)."""
    text = connection_string.strip()
    if text.rstrip(";").strip().lower() == DEV_STORAGE.lower():
        return DEV_STORAGE
    return text


@dataclass(frozen=True)
class StorageAccount:
    """Either a connection string, or the Table and Queue endpoints plus which identity gets their tokens."""

    connection_string: str | None = field(default=None, repr=False)  # holds the account key
    table_endpoint: str | None = None
    queue_endpoint: str | None = None
    managed_identity: bool = False  # ManagedIdentityCredential; else DefaultAzureCredential
    client_id: str | None = None  # a user-assigned identity's client id

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageAccount:
        return cls(connection_string=normalise_connection_string(connection_string))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, setting: str = SETTING) -> StorageAccount:
        """The account the settings name, as the host reads them; StorageError saying both ways when neither is set."""
        values = _settings_under(setting, environ)
        if values.get(""):
            return cls.from_connection_string(values[""])
        identity = {key: value for key, value in values.items() if key}
        if not identity:
            raise StorageError(
                f"Storage is not configured. Set {setting} to a storage connection string ({DEV_STORAGE} for "
                f"Azurite), or connect with an identity: {setting}__accountName=<account> with "
                f"{setting}__credential={MANAGED_IDENTITY} and, for a user-assigned identity, {setting}__clientId."
            )
        return _identity_account(setting, identity)

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    def credential(self) -> AsyncTokenCredential | None:
        """A new token credential for one client (None with a connection string); whoever closes the client
        closes it too (`clients.close_client`): the SDKs' `close()` leaves it open."""
        if self.connection_string is not None:
            return None
        from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

        if self.managed_identity:
            return ManagedIdentityCredential(client_id=self.client_id)
        if self.client_id:
            return DefaultAzureCredential(managed_identity_client_id=self.client_id)
        return DefaultAzureCredential()  # AZURE_CLIENT_ID, when set, names its managed identity


def as_account(account: StorageAccount | str) -> StorageAccount:
    """A StorageAccount as is; a string as a connection string (tests, benchmarks, tools)."""
    return account if isinstance(account, StorageAccount) else StorageAccount.from_connection_string(account)


def _settings_under(setting: str, environ: Mapping[str, str]) -> dict[str, str]:
    """{"": the setting itself, "accountname": ..., ...}: the setting and its `__` children, names in lower case."""
    exact, prefix = setting.lower(), f"{setting.lower()}__"
    found: dict[str, str] = {}
    for name, value in environ.items():
        lowered = name.lower()
        if lowered == exact:
            found[""] = value.strip()
        elif lowered.startswith(prefix) and value.strip():
            found[lowered[len(prefix) :]] = value.strip()
    return found


def _identity_account(setting: str, values: Mapping[str, str]) -> StorageAccount:
    for key, name in _UNSUPPORTED.items():
        if key in values:
            raise StorageError(
                f"{setting}__{name} is not supported by Conduit. Use a managed identity ({setting}__credential="
                f"{MANAGED_IDENTITY}, {setting}__clientId), or leave __credential unset for DefaultAzureCredential, "
                "which reads a service principal from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET."
            )
    return StorageAccount(
        table_endpoint=_endpoint(setting, values, "table"),
        queue_endpoint=_endpoint(setting, values, "queue"),
        managed_identity=values.get("credential", "").lower() == MANAGED_IDENTITY,
        client_id=values.get("clientid"),
    )


def _endpoint(setting: str, values: Mapping[str, str], service: str) -> str:
    """The service's endpoint: its `<service>ServiceUri`, else derived from `accountName`."""
    uri = values.get(f"{service}serviceuri")
    if uri is not None:
        parts = urlsplit(uri)
        if parts.scheme.lower() != "https" or not parts.netloc:
            raise StorageError(
                f"{setting}__{service}ServiceUri must be an https:// URI (tokens are only sent over HTTPS), "
                f"not {uri!r}."
            )
        return uri.rstrip("/")
    name = values.get("accountname")
    if name is None:
        raise StorageError(
            f"Conduit needs the {service.title()} service of the storage account: set {setting}__accountName "
            f"(or {setting}__{service}ServiceUri) besides the other {setting}__ settings."
        )
    if not _ACCOUNT_NAME.match(name):
        raise StorageError(
            f"{setting}__accountName {name!r} is not a storage account name (3 to 24 lowercase letters and digits)."
        )
    return f"https://{name}.{service}.{_ENDPOINT_SUFFIX}"
