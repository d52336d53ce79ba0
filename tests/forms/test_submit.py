"""Submitting a form and starting it, through the service on real Azurite: what the submitter is told."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.errors import InputValidationError
from shared.forms.model import Form
from shared.forms.service import FormService
from shared.models import Caller

ADMIN = Caller(user_id="admin", is_platform_admin=True)


def form(**changes: Any) -> Form:
    return Form.model_validate({"id": f"s-{uuid.uuid4().hex[:8]}", "name": "Count", "linked_workflow": "form_count",
                                "fields": [{"name": "count", "type": "number", "required": True}]} | changes)


async def test_the_workflows_own_refusal_names_the_forms_field(form_service: FormService) -> None:
    # Given a form whose number field fills an int parameter
    created = await form_service.create(ADMIN, form())
    # When a user submits a number the field takes but the workflow's int parameter does not
    with pytest.raises(InputValidationError) as caught:
        await form_service.submit(ADMIN, created.form.id, {"count": 1.5})
    # Then the problem names the form's field, as every other submit error does
    assert [error.field for error in caught.value.errors] == ["values.count"]


@pytest.mark.parametrize(("launch", "status"), [("form_prefill", "Success"), ("form_launch_fails", "Failed")])
async def test_startup_answers_the_launch_result_without_an_execution_id(
    form_service: FormService, launch: str, status: str
) -> None:
    # Given forms whose launch workflow succeeds, or raises
    created = await form_service.create(ADMIN, form(launch_workflow=launch))
    # When each is started
    answer = await form_service.startup(ADMIN, created.form.id, {"traveller": "ada"}, {})
    # Then the answer says how the launch ended (a failure with its error, as a sync execute says it)
    assert answer["status"] == status
    if status == "Failed":
        assert answer["error_type"] == "RuntimeError" and "no profile for 'ada'" in answer["error_message"]
    # And names no execution: a launch runs transient, so there would be nothing to look up
    assert "execution_id" not in answer
