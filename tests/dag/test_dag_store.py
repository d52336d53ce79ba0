"""Stored DAGs in Table storage (real Azurite): versions, the ETag race, delete keeping versions, large definitions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.errors import ConflictError, DagNotFoundError, PreconditionFailedError
from shared.storage.dags import DagStore


@pytest.fixture
async def store(storage_connection_string: str) -> AsyncIterator[DagStore]:
    dags = DagStore.open(storage_connection_string)
    await dags.ensure_table()
    try:
        yield dags
    finally:
        await dags.close()


def _scope() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


async def test_each_update_is_a_new_immutable_version_and_the_head_is_the_latest(store: DagStore) -> None:
    # Given a DAG created, then changed twice
    scope = _scope()
    first = await store.create(scope, "flow", {"name": "flow", "description": "one"}, "ann@example.com")
    await store.update(scope, "flow", {"name": "flow", "description": "two"}, "bob@example.com", first.etag)
    third = await store.update(scope, "flow", {"name": "flow", "description": "three"}, "cy@example.com")
    # Then the head is version 3, created by the first author and changed by the last
    head = await store.get(scope, "flow")
    assert head is not None and head.version == 3 and head.definition["description"] == "three"
    assert head.definition["version"] == 3 and head.etag == third.etag
    assert (head.created_by, head.updated_by) == ("ann@example.com", "cy@example.com")
    # And every version reads back as it was written
    assert await store.versions(scope, "flow") == [1, 2, 3]
    old = await store.get_version(scope, "flow", 1)
    assert old is not None and old.definition == {"name": "flow", "description": "one", "version": 1}
    assert old.etag is None  # a version row is never replaced: it has nothing to match
    # And a name is unique in its scope, not across scopes
    with pytest.raises(ConflictError):
        await store.create(scope, "flow", {"name": "flow"}, None)
    other = await store.create(_scope(), "flow", {"name": "flow"}, None)
    assert other.version == 1


async def test_of_concurrent_updates_from_one_read_exactly_one_wins(store: DagStore) -> None:
    # Given a DAG at version 1 that five editors read
    scope = _scope()
    created = await store.create(scope, "raced", {"name": "raced", "description": "v1"}, None)
    # When all five send their change with the ETag they read, at once
    outcomes = await asyncio.gather(
        *(store.update(scope, "raced", {"name": "raced", "description": f"edit {i}"}, f"u{i}", created.etag)
          for i in range(5)),
        return_exceptions=True,
    )
    # Then exactly one is stored, as version 2; the others are refused (409 race, or 412 stale) and wrote nothing
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, ConflictError) for o in outcomes if isinstance(o, BaseException))
    assert await store.versions(scope, "raced") == [1, 2]
    head = await store.get(scope, "raced")
    assert head is not None and head.definition["description"] == winners[0].definition["description"]


async def test_concurrent_updates_without_if_match_never_both_take_one_version(store: DagStore) -> None:
    # Given a DAG at version 1
    scope = _scope()
    await store.create(scope, "busy", {"name": "busy"}, None)
    # When six updates without If-Match race
    outcomes = await asyncio.gather(
        *(store.update(scope, "busy", {"name": "busy", "description": f"e{i}"}, None) for i in range(6)),
        return_exceptions=True,
    )
    # Then each one that succeeded has a version of its own, and the losers are 409s that wrote nothing
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, ConflictError) for o in outcomes if isinstance(o, BaseException))
    assert sorted(w.version for w in winners) == list(range(2, 2 + len(winners)))
    assert await store.versions(scope, "busy") == list(range(1, 2 + len(winners)))
    for winner in winners:
        stored = await store.get_version(scope, "busy", winner.version)
        assert stored is not None and stored.definition == winner.definition


async def test_delete_keeps_the_versions_and_a_new_create_goes_on_numbering(store: DagStore) -> None:
    # Given a DAG at version 2
    scope = _scope()
    await store.create(scope, "gone", {"name": "gone", "description": "a"}, None)
    second = await store.update(scope, "gone", {"name": "gone", "description": "b"}, None)
    # When it is deleted (a stale If-Match first, which deletes nothing)
    with pytest.raises(PreconditionFailedError):
        await store.delete(scope, "gone", '"W/stale"')
    await store.delete(scope, "gone", second.etag)
    # Then it is gone from reads and the listing, but its versions stay readable
    assert await store.get(scope, "gone") is None
    assert [d.name for d in await store.list(scope)] == []
    kept = await store.get_version(scope, "gone", 2)
    assert kept is not None and kept.definition["description"] == "b"
    with pytest.raises(DagNotFoundError):
        await store.update(scope, "gone", {"name": "gone"}, None)
    with pytest.raises(DagNotFoundError):
        await store.delete(scope, "gone")
    # And creating the name again continues at version 3
    again = await store.create(scope, "gone", {"name": "gone", "description": "c"}, None)
    assert again.version == 3 and await store.versions(scope, "gone") == [1, 2, 3]


async def test_a_large_definition_round_trips(store: DagStore) -> None:
    # Given a definition of about 250 KB of JSON with non-ASCII text (far above one property's 64 KiB)
    scope = _scope()
    nodes = [{"id": f"n{i}", "type": "transform", "data": {"template": "é✓" * 40 + "x" * 400}} for i in range(400)]
    definition = {"name": "large", "nodes": nodes, "edges": []}
    # When it is created and read back, as the head and as its version
    await store.create(scope, "large", definition, None)
    head, version = await store.get(scope, "large"), await store.get_version(scope, "large", 1)
    # Then both are exactly what was written
    assert head is not None and head.definition == definition | {"version": 1}
    assert version is not None and version.definition == head.definition
    # And the listing names it
    assert [d.name for d in await store.list(scope)] == ["large"]
