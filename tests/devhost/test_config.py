"""Settings, host.json and route-template rules devhost follows (plain functions: no process, no storage)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from devhost.hostconfig import load_host_config, parse_timespan
from devhost.queues import Backoff
from devhost.routing import Router, make_route
from devhost.settings import DEVELOPMENT_STORAGE, SettingsError, load_local_settings, resolve, storage_connection


def write_settings(folder: Path, name: str, values: dict[str, str]) -> None:
    (folder / name).write_text(json.dumps({"IsEncrypted": False, "Values": values}))


def test_local_settings_fall_back_to_the_example_and_never_override_the_environment(tmp_path: Path) -> None:
    # Given only the example settings file, and one of its names already in the environment
    write_settings(tmp_path, "local.settings.example.json", {"A": "from-file", "B": "from-file"})
    environ = {"B": "from-env"}
    # When settings are loaded
    used = load_local_settings(tmp_path, environ)
    # Then the example was read and the environment kept its value
    assert used == tmp_path / "local.settings.example.json"
    assert environ == {"A": "from-file", "B": "from-env"}
    write_settings(tmp_path, "local.settings.json", {"A": "local"})
    environ = {}
    assert load_local_settings(tmp_path, environ) == tmp_path / "local.settings.json"
    assert environ == {"A": "local"}


def test_percent_settings_and_connections_resolve() -> None:
    environ = {"QUEUE": "work", "AzureWebJobsStorage": "UseDevelopmentStorage=true", "AzureWebJobsOther": "x=1"}
    assert resolve("%QUEUE%-items", environ) == "work-items"
    assert storage_connection(None, environ) == DEVELOPMENT_STORAGE
    assert storage_connection("Other", environ) == "x=1"
    with pytest.raises(SettingsError, match="MISSING"):
        resolve("%MISSING%", environ)


def test_host_json_defaults_values_and_overrides(tmp_path: Path) -> None:
    # Given no host.json: the host's defaults
    defaults = load_host_config(tmp_path, {})
    assert defaults.route_prefix == "api"
    assert (defaults.queues.batch_size, defaults.queues.max_dequeue_count, defaults.queues.visibility_timeout) == (
        16,
        5,
        0.0,
    )
    # Given a host.json and an AzureFunctionsJobHost__ app setting
    (tmp_path / "host.json").write_text(
        json.dumps(
            {
                "extensions": {
                    "http": {"routePrefix": ""},
                    "queues": {"batchSize": 8, "visibilityTimeout": "00:00:30", "maxPollingInterval": "00:00:02"},
                }
            }
        )
    )
    config = load_host_config(tmp_path, {"AzureFunctionsJobHost__extensions__queues__batchSize": "2"})
    # Then the setting wins over the file, and TimeSpans are seconds
    assert config.route_prefix == ""
    assert config.queues.batch_size == 2
    assert config.queues.new_batch_threshold >= 1
    assert config.queues.visibility_timeout == 30
    assert parse_timespan("1.02:00:00.5", "x") == 93600.5


def test_batch_size_over_32_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"queues": {"batchSize": 33}}}))
    with pytest.raises(SettingsError, match="batchSize"):
        load_host_config(tmp_path, {})


def test_route_precedence_prefers_literals_then_constraints_then_parameters_then_catch_all() -> None:
    router: Router[str] = Router(
        make_route(template, ["GET"], template)
        for template in ("api/{*rest}", "api/{a}/{b}", "api/{a:int}/{b}", "api/x/{b}", "api/x/y")
    )
    assert router.lookup("GET", "/api/x/y").route.target == "api/x/y"
    assert router.lookup("GET", "/api/x/z").route.target == "api/x/{b}"
    assert router.lookup("GET", "/api/1/z").route.target == "api/{a:int}/{b}"
    assert router.lookup("GET", "/api/q/z").route.target == "api/{a}/{b}"
    assert router.lookup("GET", "/api/q/z/w").route.target == "api/{*rest}"


def test_backoff_grows_randomly_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.1, 2.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays[0] == 0.1
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert delays[-1] == 2.0
    backoff.reset()
    assert backoff.next_delay() == 0.1
