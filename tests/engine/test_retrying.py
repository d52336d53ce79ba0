"""Which storage failures `finish` tries again, and how long it keeps trying (no storage needed)."""

from __future__ import annotations

import asyncio

import pytest
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ServiceRequestError

from shared.errors import StaleRecordError, StorageError
from shared.storage.outage import is_storage_outage
from shared.storage.retrying import retrying


def wrapped(cause: Exception) -> StorageError:
    try:
        raise StorageError("Writing 1 rows failed") from cause
    except StorageError as error:
        return error


def status_error(status: int, kind: type[HttpResponseError] = HttpResponseError) -> HttpResponseError:
    error = kind(f"status {status}")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (wrapped(ServiceRequestError("dropped")), True),
        (wrapped(status_error(503)), True),
        (wrapped(status_error(500)), True),
        (wrapped(status_error(429)), True),
        (TimeoutError(), True),
        (wrapped(status_error(400)), False),
        (wrapped(status_error(413)), False),
        (status_error(412, ResourceModifiedError), False),
        (StaleRecordError("changed"), False),
        (ValueError("bad step order"), False),
    ],
    ids=["dropped", "503", "500", "429", "timeout", "400", "413", "412", "stale", "value"],
)
def test_transient_means_storage_may_answer_differently_later(error, transient):
    assert is_storage_outage(error) is transient


async def test_retrying_stops_at_the_first_permanent_failure_and_within_its_budget():
    # Given calls that fail transiently forever, and one that fails for good
    calls = []

    async def busy() -> None:
        calls.append("busy")
        raise wrapped(status_error(503))

    async def refused() -> None:
        calls.append("refused")
        raise wrapped(status_error(400))

    # When each is retried with a one-second budget
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StorageError):
        await retrying(busy, budget=1.0, cap=0.3, what="busy")
    spent = loop.time() - started
    with pytest.raises(StorageError):
        await retrying(refused, budget=1.0, cap=0.3, what="refused")
    # Then the transient one was tried several times within about its budget, the permanent one once
    assert calls.count("busy") >= 3 and spent < 10
    assert calls.count("refused") == 1
