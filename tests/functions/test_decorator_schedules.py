"""`@workflow(schedule=...)` and its options are checked at import: every mistake is a RegistrationError naming the
workflow and the argument (or input field), and a good schedule is in the metadata the scheduler reads."""

from __future__ import annotations

from typing import Any

import pytest

from shared import data_provider, param, workflow
from shared.errors import RegistrationError
from shared.functions.registry import FunctionMetadata, FunctionRegistry, use_registry
from shared.functions.schedule import CronSchedule, ScheduleOptions

WHERE = "@workflow on report ('nightly_report'): "


def register(**options: Any) -> FunctionMetadata:
    """A workflow with one required parameter without a default (`region`) and one with a default (`days`)."""
    registry = FunctionRegistry()
    options.setdefault("schedule_inputs", {"region": "emea"} if options.get("schedule") else None)
    with use_registry(registry):

        @workflow(name="nightly_report", **options)
        @param("days", "int", validation={"min": 1, "max": 31})
        async def report(context, region: str, days: int = 7) -> None: ...

    metadata = registry.get("nightly_report")
    assert metadata is not None
    return metadata


def refused(**options: Any) -> str:
    with pytest.raises(RegistrationError) as caught:
        register(**options)
    return str(caught.value)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 6 * * 1-5", "0 6 * * 1-5"),
        ("*/15  *  * * *", "*/15 * * * *"),  # normalised to single spaces
        ("0 9 * * MON", "0 9 * * MON"),
        ("0 */5 * * * *", "0 */5 * * * *"),  # six-field NCRONTAB, seconds first, at most once a minute
        ("30 0 2 * * *", "30 0 2 * * *"),
    ],
)
def test_a_five_or_six_field_schedule_is_accepted(schedule: str, expected: str) -> None:
    # Given a workflow decorated with a valid schedule; then its metadata holds the normalised expression in UTC
    metadata = register(schedule=schedule)
    assert metadata.schedule == expected
    assert metadata.schedule_options == ScheduleOptions(CronSchedule(expected, "UTC"), {"region": "emea"})
    assert metadata.to_api()["schedule"] == expected and metadata.to_api()["schedule_timezone"] == "UTC"


def test_without_a_schedule_there_are_no_schedule_options() -> None:
    metadata = register()
    assert (metadata.schedule, metadata.schedule_options, metadata.to_api()["schedule_timezone"]) == (None, None, None)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("61 * * * *", "schedule '61 * * * *' is not a valid cron expression"),
        ("0 0 30 2 *", "is not a valid cron expression"),  # 30 February never comes
        ("*/30 * * * * *", "schedule '*/30 * * * * *' fires more often than once a minute: its first field "
                           "(seconds) must be one number from 0 to 59, e.g. '0 */5 * * * *'"),
        ("daily", "schedule 'daily' has 1 fields; use five"),
        (15, "schedule must be a cron expression (text), got int"),
    ],
)
def test_a_bad_schedule_is_an_import_error_naming_the_workflow(schedule: Any, expected: str) -> None:
    # Given a workflow with a schedule that would never fire as meant; then importing it fails, naming the problem
    message = refused(schedule=schedule)
    assert message.startswith(WHERE) and expected in message
    assert "tests/functions/test_decorator_schedules.py:" in message  # and where the workflow is defined


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"schedule_timezone": "Europe/Amsterdm"}, "schedule_timezone 'Europe/Amsterdm' is not an IANA time zone"),
        ({"schedule_timezone": 2}, "schedule_timezone must be an IANA time zone name (text)"),
        ({"catch_up": "every"}, "catch_up must be one of 'latest', 'all', 'none', got 'every'"),
        ({"overlap": "queue"}, "overlap must be one of 'skip', 'allow', 'cancel_previous', got 'queue'"),
        ({"max_catch_up": 0}, "max_catch_up must be a whole number from 1 to 1000, got 0"),
        ({"max_catch_up": 1001}, "max_catch_up must be a whole number from 1 to 1000, got 1001"),
        ({"max_catch_up": True}, "max_catch_up must be a whole number from 1 to 1000, got True"),
        ({"grace_seconds": -1}, "grace_seconds must be a whole number from 0 to 86400, got -1"),
        ({"grace_seconds": 1.5}, "grace_seconds must be a whole number from 0 to 86400, got 1.5"),
        ({"schedule_inputs": ["emea"]}, "schedule_inputs must be a dict of parameter name -> value, got list"),
        ({"schedule_inputs": {1: "emea"}}, "schedule_inputs keys are parameter names (text), got 1"),
    ],
)
def test_a_bad_schedule_option_is_an_import_error_naming_it(options: dict[str, Any], expected: str) -> None:
    message = refused(schedule="0 6 * * *", **options)
    assert message.startswith(WHERE) and expected in message


@pytest.mark.parametrize("option", [{"schedule_timezone": "Europe/Berlin"}, {"schedule_inputs": {"region": "x"}},
                                    {"catch_up": "all"}, {"max_catch_up": 3}, {"grace_seconds": 0},
                                    {"overlap": "allow"}])
def test_a_schedule_option_without_a_schedule_is_an_error_naming_it(option: dict[str, Any]) -> None:
    # Given an option that only means something on a schedule, but no schedule; then it is refused, not ignored
    (name,) = option
    message = refused(**option)
    assert message.startswith(f"{WHERE}{name} is given but there is no schedule")


@pytest.mark.parametrize(
    ("inputs", "problems"),
    [
        ({}, ["'region': is required"]),  # a scheduled run has no other input
        ({"region": "emea", "dayz": 3}, ["'dayz': unknown parameter; 'nightly_report' accepts days, region"]),
        ({"region": "emea", "days": "weekly"}, ["'days': expected an integer"]),
        ({"region": "emea", "days": 40}, ["'days': must be at most 31"]),
        ({"days": "x", "colour": "red"}, ["'region': is required", "'days': expected an integer", "'colour': unknown"]),
    ],
)
def test_schedule_inputs_that_do_not_fit_the_parameters_are_an_import_error(
    inputs: dict[str, Any], problems: list[str]
) -> None:
    # Given schedule_inputs checked against the workflow's parameters by its input model
    message = refused(schedule="0 6 * * *", schedule_inputs=inputs)
    # Then the error names the workflow and every field that is wrong
    assert message.startswith(f"{WHERE}schedule_inputs do not make a valid input for a scheduled run")
    for problem in problems:
        assert problem in message


def test_schedule_inputs_must_be_json() -> None:
    message = refused(schedule="0 6 * * *", schedule_inputs={"region": float("nan")})
    assert message.startswith(f"{WHERE}schedule_inputs['region'] must be JSON")


def test_every_option_is_kept_and_inputs_are_stored_as_given() -> None:
    # Given a workflow with every schedule option, and inputs the engine would coerce ("14" for an int)
    inputs = {"region": "apac", "days": "14"}
    metadata = register(schedule="0  30 7 * * 1-5", schedule_timezone="Australia/Sydney", schedule_inputs=inputs,
                        catch_up="all", max_catch_up=3, grace_seconds=0, overlap="cancel_previous")
    inputs["region"] = "changed after import"
    # Then the metadata holds them all, the inputs as given and unaffected by the later change
    assert metadata.schedule_options is not None
    assert metadata.schedule_options.to_api() == {
        "expression": "0 30 7 * * 1-5", "timezone": "Australia/Sydney", "inputs": {"region": "apac", "days": "14"},
        "catch_up": "all", "max_catch_up": 3, "grace_seconds": 0, "overlap": "cancel_previous",
    }
    assert metadata.to_api()["schedule_timezone"] == "Australia/Sydney"


@pytest.mark.parametrize("workflow_first", [True, False])
def test_a_workflow_that_is_also_a_data_provider_keeps_its_schedule(workflow_first: bool) -> None:
    # Given one function carrying both decorators, stacked either way
    registry = FunctionRegistry()
    scheduled = workflow(name="regions", schedule="0 3 * * *", schedule_timezone="Europe/Berlin")
    provider = data_provider(name="regions", cache_ttl_seconds=60)
    with use_registry(registry):

        async def regions(context) -> list[dict[str, str]]:
            return []

        provider(scheduled(regions)) if workflow_first else scheduled(provider(regions))
    # Then the merged registration keeps the workflow's schedule and options
    merged = registry.get("regions")
    assert merged is not None and merged.is_workflow and merged.is_data_provider
    assert merged.schedule == "0 3 * * *"
    assert merged.schedule_options is not None and merged.schedule_options.cron.timezone == "Europe/Berlin"
