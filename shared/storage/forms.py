"""Form definitions in Table storage: one row per form, read by key, replaced only by whoever read the latest one.

Table `ConduitForms`: PartitionKey = the owning scope (an organization id, or GLOBAL for a form every organization
sees), RowKey = the form id. A form is one JSON document; the row also carries `Name` and `IsActive`, so a listing
needs no decoding to say what a form is called. Fields can be large (long help texts, static options), so the
document is split over string properties of at most 32,000 UTF-16 units each (packing.py) up to MAX_FORM_UNITS,
well inside the 1 MiB entity limit; a larger form is refused with PayloadTooLargeError before anything is written.

Every read and write answers the row's ETag. `replace` and `delete` are ETag-conditional when given one: a stale ETag
is PreconditionFailedError (HTTP 412) and nothing is written, so two admins editing one form never silently
overwrite each other. An If-Match that is not of storage's ETag format (storage answers 400 InvalidInput) names no
stored version either, and is answered the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from shared.errors import (
    ConflictError,
    FormNotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
)
from shared.storage.account import StorageAccount
from shared.storage.keys import key_problem
from shared.storage.packing import pack_text, unpack_text, utf16_units
from shared.storage.tables import TableStore

FORMS_TABLE = "ConduitForms"
MAX_FORM_UNITS = 128_000  # JSON of one form in UTF-16 units: 4 properties, at most ~768 KB on the wire
_DOCUMENT = "Definition"
_PARTITION_FILTER = "PartitionKey eq @pk"


@dataclass(frozen=True)
class StoredForm:
    """A form's document as stored, where it lives (its owning scope) and the ETag of that version."""

    scope: str
    form_id: str
    document: dict[str, Any]
    etag: str


class FormStore(TableStore):
    """Reads and writes forms (ConduitForms)."""

    TABLE = FORMS_TABLE

    @classmethod
    def from_connection_string(cls, connection_string: str) -> FormStore:
        return cls.open(StorageAccount.from_connection_string(connection_string))

    async def get(self, scope: str, form_id: str) -> StoredForm | None:
        """One point read; None when the scope holds no such form (or the id could not be a key)."""
        if key_problem(form_id) or key_problem(scope):
            return None
        try:
            entity = await self._table.get_entity(scope, form_id)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    async def list(self, scope: str) -> list[StoredForm]:
        """Every form a scope owns, in id order (one partition range read)."""
        pages = self._table.query_entities(_PARTITION_FILTER, parameters={"pk": scope})
        return [_from_entity(entity) async for entity in pages]

    async def create(self, scope: str, form_id: str, document: dict[str, Any]) -> StoredForm:
        """Write a new form; ConflictError when the scope already has one with this id."""
        entity = _entity(scope, form_id, document)
        try:
            response = await self._table.create_entity(entity)
        except ResourceExistsError:
            raise ConflictError(
                f"A form with id '{form_id}' already exists here; change it with PUT /api/forms/{form_id}.",
                details={"form_id": form_id},
            ) from None
        return StoredForm(scope, form_id, document, response["etag"])

    async def replace(self, scope: str, form_id: str, document: dict[str, Any], etag: str | None) -> StoredForm:
        """Replace the form; only the version `etag` names when it is given (None or `*`: whatever version is
        stored). FormNotFoundError when there is none (an id that cannot be a key has none): a replace never
        creates."""
        if key_problem(form_id) or key_problem(scope):
            raise FormNotFoundError(form_id)
        entity = _entity(scope, form_id, document)
        options: dict[str, Any] = {"mode": UpdateMode.REPLACE}
        if etag and etag != "*":
            options |= {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            response = await self._table.update_entity(entity, **options)
        except ResourceModifiedError:
            raise _stale(form_id, etag) from None
        except ResourceNotFoundError:
            raise FormNotFoundError(form_id) from None
        except HttpResponseError as error:
            if _malformed_etag(error, etag):
                raise _stale(form_id, etag) from None
            raise
        return StoredForm(scope, form_id, document, response["etag"])

    async def delete(self, scope: str, form_id: str, etag: str | None = None) -> None:
        """Delete the form (only the version `etag` names, when given); FormNotFoundError when there is none."""
        if await self.get(scope, form_id) is None:
            raise FormNotFoundError(form_id)
        options: dict[str, Any] = {}
        if etag and etag != "*":
            options = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            await self._table.delete_entity(scope, form_id, **options)
        except ResourceModifiedError:
            raise _stale(form_id, etag) from None
        except HttpResponseError as error:
            if _malformed_etag(error, etag):
                raise _stale(form_id, etag) from None
            raise


def _malformed_etag(error: HttpResponseError, etag: str | None) -> bool:
    """Whether storage refused the If-Match itself: an ETag that is not of its format (`garbage`, `"abc"`, a real
    one without its `W/` prefix) is 400 InvalidInput, not 412 — yet to the client it is simply not the stored
    version, so it is answered like a stale one."""
    refused_input = error.status_code == 400 and getattr(error, "error_code", None) == "InvalidInput"
    return bool(etag) and etag != "*" and refused_input


def _stale(form_id: str, etag: str | None) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"Form '{form_id}' was changed by someone else since you read it (your If-Match no longer matches); "
        "GET it again, apply your change to the current version and send that version's ETag.",
        details={"form_id": form_id, "if_match": etag},
    )


def _entity(scope: str, form_id: str, document: dict[str, Any]) -> dict[str, Any]:
    for what, value in (("form id", form_id), ("scope", scope)):
        problem = key_problem(value)
        if problem:
            raise ValueError(f"Invalid {what} {value!r}: it {problem}.")
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    units = utf16_units(text)
    if units > MAX_FORM_UNITS:
        raise PayloadTooLargeError(
            f"The form is {units:,} characters of JSON; the limit is {MAX_FORM_UNITS:,}.",
            details={"field": "form", "size": units, "limit": MAX_FORM_UNITS},
        )
    entity: dict[str, Any] = {"PartitionKey": scope, "RowKey": form_id}
    entity["Name"] = str(document.get("name") or "")
    entity["IsActive"] = bool(document.get("is_active", True))
    return entity | pack_text(_DOCUMENT, text)


def _from_entity(entity: Any) -> StoredForm:
    text = unpack_text(_DOCUMENT, entity)
    document = json.loads(text) if text else {}
    return StoredForm(entity["PartitionKey"], entity["RowKey"], document, entity.metadata["etag"])
