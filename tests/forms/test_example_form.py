"""The shipped example form fits the platform's functions it links to."""

from __future__ import annotations

import json

import pytest

from shared.forms.definition import check_form, depends_on
from shared.forms.model import Form
from shared.functions.discovery import PLATFORM_DIR
from shared.runtime import load_functions

EXAMPLE = PLATFORM_DIR / "forms" / "plan_trip.json"


def test_the_example_form_is_valid_against_the_platform() -> None:
    # Given the shipped form and the platform's functions (loaded as a host loads them)
    form = Form.model_validate(json.loads(EXAMPLE.read_text()))
    registry, _ = load_functions()
    if registry.get("plan_trip") is None:
        pytest.skip("platform/trips.py (plan_trip, countries, cities) is not on this branch")
    # Then it passes every check, and its city dropdown depends on the country
    check_form(form, registry)
    assert depends_on(form.field("city")) == ["country"]  # type: ignore[arg-type]
