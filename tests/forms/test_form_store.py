"""Forms in Table storage (real Azurite): point reads, ETags, conditional replace and delete, large forms."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.errors import ConflictError, FormNotFoundError, PayloadTooLargeError, PreconditionFailedError
from shared.storage.forms import MAX_FORM_UNITS, FormStore


@pytest.fixture
async def store(storage_connection_string: str) -> AsyncIterator[FormStore]:
    forms = FormStore.from_connection_string(storage_connection_string)
    await forms.ensure_table()
    try:
        yield forms
    finally:
        await forms.close()


async def test_a_large_form_round_trips_and_a_stale_etag_changes_nothing(store: FormStore) -> None:
    # Given a form with more text than one property holds (non-ASCII included)
    scope, form_id = f"org-{uuid.uuid4().hex[:6]}", "big"
    document = {"name": "Big", "help": "é" * 40_000 + "x" * 40_000}
    created = await store.create(scope, form_id, document)
    # Then it reads back intact, with the ETag its create answered
    read = await store.get(scope, form_id)
    assert read is not None and read.document == document and read.etag == created.etag
    # When it is replaced with that ETag, and then again with the same (now stale) one
    replaced = await store.replace(scope, form_id, {"name": "v2"}, created.etag)
    with pytest.raises(PreconditionFailedError):
        await store.replace(scope, form_id, {"name": "v3"}, created.etag)
    with pytest.raises(PreconditionFailedError):
        await store.delete(scope, form_id, created.etag)
    # Then the first replace stands
    current = await store.get(scope, form_id)
    assert current is not None and current.document == {"name": "v2"} and current.etag == replaced.etag


async def test_ids_are_unique_per_scope_and_replace_never_creates(store: FormStore) -> None:
    scope = f"org-{uuid.uuid4().hex[:6]}"
    await store.create(scope, "one", {"name": "One"})
    with pytest.raises(ConflictError):
        await store.create(scope, "one", {"name": "Again"})
    with pytest.raises(FormNotFoundError):
        await store.replace(scope, "missing", {"name": "x"}, "*")
    for impossible in ("bad/id", "bad#id", "x" * 300):  # no key can hold them, so no form has them
        with pytest.raises(FormNotFoundError):
            await store.replace(scope, impossible, {"name": "x"}, "*")
        with pytest.raises(FormNotFoundError):
            await store.delete(scope, impossible)
    assert [f.form_id for f in await store.list(scope)] == ["one"]
    await store.delete(scope, "one")
    assert await store.get(scope, "one") is None


async def test_a_form_beyond_the_limit_is_refused_before_anything_is_written(store: FormStore) -> None:
    scope = f"org-{uuid.uuid4().hex[:6]}"
    with pytest.raises(PayloadTooLargeError):
        await store.create(scope, "huge", {"name": "Huge", "help": "x" * MAX_FORM_UNITS})
    assert await store.get(scope, "huge") is None


@pytest.mark.parametrize("if_match", [
    "garbage", '"abc"', "strip-w", "W/\"datetime'2001-01-01T00%3A00%3A00.0000000Z'\"",
])
async def test_an_if_match_that_is_no_stored_etag_is_a_failed_precondition(store: FormStore, if_match: str) -> None:
    # Given a stored form
    scope = f"org-{uuid.uuid4().hex[:6]}"
    created = await store.create(scope, "one", {"name": "One"})
    if if_match == "strip-w":
        if_match = created.etag.removeprefix("W/")  # the real ETag, without its weak prefix
    # When it is replaced or deleted naming a version that is not the stored one (malformed or not)
    with pytest.raises(PreconditionFailedError):
        await store.replace(scope, "one", {"name": "changed"}, if_match)
    with pytest.raises(PreconditionFailedError):
        await store.delete(scope, "one", if_match)
    # Then nothing changed
    current = await store.get(scope, "one")
    assert current is not None and current.document == {"name": "One"} and current.etag == created.etag
