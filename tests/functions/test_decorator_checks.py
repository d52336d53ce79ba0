"""Decorator arguments that are accepted do something: retry_policy is checked at import (schedules are in
test_decorator_schedules.py), and timeout_seconds is capped below the host's functionTimeout with a message that says
why."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared import workflow
from shared.errors import RegistrationError
from shared.functions.decorators import MAX_TIMEOUT
from shared.functions.host_timeout import read_host_timeout
from shared.functions.registry import FunctionRegistry, use_registry


def register(**options: Any):
    registry = FunctionRegistry()
    with use_registry(registry):

        @workflow(name="nightly_report", **options)
        async def report() -> None: ...

    return registry.get("nightly_report")


def test_a_retry_policy_is_stored_with_every_key() -> None:
    assert register(retry_policy={"max_attempts": 3}).retry_policy == {  # type: ignore[union-attr]
        "max_attempts": 3, "backoff": "exponential", "initial_delay_seconds": 10.0, "max_delay_seconds": 300.0,
        "jitter": 0.0, "retry_on": None}
    policy = {"max_attempts": 5, "backoff": "fixed", "initial_delay_seconds": 0, "max_delay_seconds": 60.5,
              "jitter": 0.25, "retry_on": ["TimeoutError", 503]}
    assert register(retry_policy=policy).retry_policy == policy  # type: ignore[union-attr]
    older_names = {"max_attempts": 2, "backoff_seconds": 1, "max_backoff_seconds": 5}
    stored = register(retry_policy=older_names).retry_policy  # type: ignore[union-attr]
    assert (stored["initial_delay_seconds"], stored["max_delay_seconds"]) == (1, 5)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, "max_attempts: Field required"),
        ({"max_attempts": 11}, "max_attempts: Input should be less than or equal to 10"),
        ({"max_attempts": "3"}, "max_attempts: Input should be a valid integer"),
        ({"max_attempts": 2, "backoff_seconds": -1}, "backoff_seconds: Input should be greater than or equal to 0"),
        ({"max_attempts": 2, "backoff_seconds": 60, "max_backoff_seconds": 10}, "at least initial_delay_seconds"),
        ({"max_attempts": 2, "retry_on": [42]}, "42 is not an HTTP status"),
        ({"max_attempts": 0, "retry_on": [999, "no name"]},
         "max_attempts: Input should be greater than or equal to 1; retry_on: Value error, 999 is not an HTTP status "
         "(100..599); 'no name' is not an error type name"),
        ({"max_attempts": 2, "backoff": "linear"}, "backoff: Input should be 'fixed' or 'exponential'"),
        ({"max_attempts": 2, "retries": 1}, "retries: Extra inputs are not permitted"),
        (3, "retry_policy must be a dict"),
    ],
)
def test_a_malformed_retry_policy_is_an_import_error(policy: Any, expected: str) -> None:
    with pytest.raises(RegistrationError) as caught:
        register(retry_policy=policy)
    assert "@workflow on report ('nightly_report')" in str(caught.value) and expected in str(caught.value)


def test_a_timeout_past_the_host_limit_says_the_limit_and_why() -> None:
    # Given the shipped host.json (functionTimeout 01:00:00)
    assert MAX_TIMEOUT == 3300
    # When a workflow asks for more than the engine can finish before the host recycles the worker
    with pytest.raises(RegistrationError) as caught:
        register(timeout_seconds=3301)
    # Then the import error says the limit and where it comes from, and where the workflow is defined
    message, _, location = str(caught.value).rpartition(" (at ")
    assert message == (
        "@workflow on report ('nightly_report'): timeout_seconds may be at most 3300 (55 minutes), got 3301: "
        "host.json's functionTimeout is 01:00:00 and the engine keeps 300 s to record the outcome before the host "
        "recycles the worker."
    )
    assert location.startswith("tests/functions/test_decorator_checks.py:")
    assert register(timeout_seconds=3300).timeout_seconds == 3300  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("document", "seconds", "text"),
    [
        ({"functionTimeout": "00:30:00"}, 1800, "00:30:00"),
        ({"functionTimeout": "1.02:00:00"}, 93600, "1.02:00:00"),
        ({"functionTimeout": "-1"}, 3600, "01:00:00"),  # unbounded: Conduit assumes the shipped hour
        ({"version": "2.0"}, 1800, "00:30:00"),  # none set: the host's own default on Flex Consumption and Premium
        (None, 1800, "00:30:00"),  # no host.json at all
    ],
)
def test_the_host_timeout_is_read_from_host_json(tmp_path: Path, document: Any, seconds: int, text: str) -> None:
    host_json = tmp_path / "host.json"
    if document is not None:
        host_json.write_text(json.dumps(document))
    found = read_host_timeout(host_json, environ={})
    assert (found.seconds, found.text) == (seconds, text)


@pytest.mark.parametrize("name", ["AzureFunctionsJobHost__functionTimeout", "AZUREFUNCTIONSJOBHOST__FUNCTIONTIMEOUT"])
def test_the_app_setting_that_overrides_function_timeout_wins_over_host_json(tmp_path: Path, name: str) -> None:
    # Given host.json's hour, and the app setting the host reads instead of it (names are case-insensitive)
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"functionTimeout": "01:00:00"}))
    # When Conduit reads the host's timeout
    found = read_host_timeout(host_json, environ={name: "00:20:00"})
    # Then it is the setting's 20 minutes, which is what the host will enforce, and the message can say where from
    assert (found.seconds, found.text) == (1200, "00:20:00")
    assert found.source == "the app setting AzureFunctionsJobHost__functionTimeout"


SHORT_HOST_TIMEOUT = """
from shared import workflow
from shared.errors import RegistrationError
from shared.functions.registry import get_registry

@workflow(name="plain")
async def plain(context):
    return 1

try:
    @workflow(name="long", timeout_seconds=1200)
    async def long(context):
        return 1
except RegistrationError as error:
    print(error)
print(get_registry().get("plain").timeout_seconds)
"""


def test_a_shorter_function_timeout_setting_caps_timeouts_and_the_default_stays_loadable() -> None:
    # Given the app setting that sets the host's functionTimeout to 20 minutes (it wins over host.json)
    env = {**os.environ, "AzureFunctionsJobHost__functionTimeout": "00:20:00"}
    # When a process imports a workflow without timeout_seconds and one asking for 1200 s
    done = subprocess.run([sys.executable, "-c", SHORT_HOST_TIMEOUT], env=env, capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    refused, default = done.stdout.strip().splitlines()
    # Then the default shrinks to the cap (15 minutes) instead of failing to load, and more is refused, saying why
    assert default == "900"
    assert "timeout_seconds may be at most 900 (15 minutes), got 1200" in refused
    assert "the app setting AzureFunctionsJobHost__functionTimeout is 00:20:00" in refused
