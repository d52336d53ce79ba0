"""Checking a form when it is saved: every problem at once, each naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InputValidationError
from shared.forms.definition import check_form, depends_on
from shared.forms.model import Form
from shared.functions.registry import FunctionRegistry


def trip_form(**changes: Any) -> dict[str, Any]:
    """A valid form: a dependent dropdown (town reads region) linked to form_book_trip."""
    form: dict[str, Any] = {
        "id": "trip",
        "name": "Book a trip",
        "linked_workflow": "form_book_trip",
        "fields": [
            {"name": "traveller", "type": "text", "required": True},
            {"name": "region", "type": "select", "required": True, "data_provider": "form_regions"},
            {"name": "town", "type": "select", "required": True, "data_provider": "form_towns",
             "data_provider_inputs": {"region": {"mode": "field_ref", "field": "region"}}},
            {"name": "notes", "type": "textarea", "visible_if": {"field": "region", "equals": "de"}},
        ],
    }
    return form | changes


def problems(document: dict[str, Any], registry: FunctionRegistry) -> dict[str, str]:
    """field -> its messages (joined by " | " when a field has several)."""
    with pytest.raises(InputValidationError) as caught:
        check_form(Form.model_validate(document), registry)
    found: dict[str, list[str]] = {}
    for error in caught.value.errors:
        found.setdefault(error.field, []).append(error.message)
    return {field: " | ".join(messages) for field, messages in found.items()}


def test_a_valid_form_passes_and_knows_what_each_field_depends_on(forms_registry: FunctionRegistry) -> None:
    # Given a form whose town dropdown reads region, and whose notes show only for one region
    form = Form.model_validate(trip_form())
    # When it is checked, Then nothing is wrong
    check_form(form, forms_registry)
    # And depends_on names the fields each one reads (provider inputs and visibility)
    assert {f.name: depends_on(f) for f in form.fields} == {
        "traveller": [], "region": [], "town": ["region"], "notes": ["region"],
    }


def test_one_create_with_many_problems_reports_every_one_at_its_field(forms_registry: FunctionRegistry) -> None:
    # Given a form with one of each kind of problem
    document = trip_form(
        linked_workflow="form_book_trip",
        launch_workflow="no_such_launch",
        fields=[
            {"name": "traveller", "type": "checkbox"},  # a checkbox cannot carry a str parameter
            {"name": "region", "type": "select"},  # a select without options or provider
            {"name": "town", "type": "select", "data_provider": "form_towns",
             "data_provider_inputs": {}},  # the provider's required input is not supplied
            {"name": "notes", "type": "select", "data_provider": "no_such_provider"},
            {"name": "extra", "type": "text"},  # the workflow has no such parameter
            {"name": "extra", "type": "text"},  # a duplicate name
            {"name": "mail", "type": "select", "data_provider": "form_mailboxes",
             "data_provider_inputs": {"address": {"mode": "expression", "expression": "{{ values.first "}}},
            {"name": "peer", "type": "select", "data_provider": "form_towns",
             "data_provider_inputs": {"region": {"mode": "field_ref", "field": "nowhere"}}},
            {"name": "shown", "type": "text", "visible_if": {"field": "ghost", "equals": 1}},
        ],
    )
    # When it is checked
    found = problems(document, forms_registry)
    # Then every problem is reported, each at its own field path
    assert found["launch_workflow"] == "no workflow named 'no_such_launch' is registered"
    assert "checkbox field cannot carry parameter 'traveller' of type string" in found["fields[0].type"]
    assert found["fields[1].options"] == "a select field needs options or a data_provider"
    assert "requires input 'region'" in found["fields[2].data_provider_inputs.region"]
    assert found["fields[3].data_provider"] == "no data provider named 'no_such_provider' is registered"
    assert "has no parameter 'extra'" in found["fields[4].name"]
    assert "names are unique" in found["fields[5].name"]
    assert found["fields[6].data_provider_inputs.address.expression"].startswith("does not compile")
    assert "field 'nowhere'" in found["fields[7].data_provider_inputs.region.field"]
    assert "field 'ghost'" in found["fields[8].visible_if"]
    # (form_mail's and the extra fields' parameters do not exist; the messages name the workflow)
    assert "has no parameter 'mail'" in found["fields[6].name"]
    assert len(found) == 13  # and nothing else (peer, shown: no such parameters either)


def test_unknown_linked_workflow_and_unfilled_required_parameters(forms_registry: FunctionRegistry) -> None:
    # Given a form linked to nothing, and one missing a required parameter of its workflow
    unknown = problems(trip_form(linked_workflow="nothing_here"), forms_registry)
    unfilled = problems(trip_form(fields=trip_form()["fields"][:2]), forms_registry)
    # Then each says so
    assert unknown == {"linked_workflow": "no workflow named 'nothing_here' is registered"}
    assert unfilled == {"fields": "'form_book_trip' requires parameter 'town' and no field supplies it"}


def test_a_cycle_of_field_references_is_refused_naming_the_cycle(forms_registry: FunctionRegistry) -> None:
    # Given two fields whose providers read each other, and a third whose visibility reads itself via another
    fields = [
        {"name": "traveller", "type": "text", "visible_if": {"field": "notes", "not_empty": True}},
        {"name": "region", "type": "select", "data_provider": "form_towns",
         "data_provider_inputs": {"region": {"mode": "field_ref", "field": "town"}}},
        {"name": "town", "type": "select", "data_provider": "form_towns",
         "data_provider_inputs": {"region": {"mode": "expression", "expression": "{{ values.region }}"}}},
        {"name": "notes", "type": "text", "visible_if": {"all": [{"field": "traveller", "equals": "x"}]}},
    ]
    # When it is checked
    found = problems(trip_form(fields=fields), forms_registry)
    # Then each field on a cycle is named, with the cycle
    assert found["fields[1]"] == "is part of a cycle of field references: region -> town -> region"
    assert found["fields[2]"] == found["fields[1]"]
    assert found["fields[0]"] == "is part of a cycle of field references: traveller -> notes -> traveller"
    assert found["fields[3]"] == found["fields[0]"]


def test_expressions_read_only_fields_of_the_form(forms_registry: FunctionRegistry) -> None:
    # Given an expression reading a field the form lacks, and one reading something besides values
    document = trip_form(linked_workflow="form_mail", fields=[
        {"name": "first", "type": "text", "required": True},
        {"name": "last", "type": "text", "required": True},
        {"name": "mailbox", "type": "select", "data_provider": "form_mailboxes",
         "data_provider_inputs": {"address": {"mode": "expression",
                                              "expression": "{{ values.first }}.{{ values.surname }}{{ secret }}"}}},
    ])
    # When it is checked
    with pytest.raises(InputValidationError) as caught:
        check_form(Form.model_validate(document), forms_registry)
    # Then both are named at the expression
    where = "fields[2].data_provider_inputs.address.expression"
    assert [e.to_dict() for e in caught.value.errors] == [
        {"field": where, "message": "reads 'secret'; an expression reads only values.<field>"},
        {"field": where, "message": "reads values.surname, but this form has no field 'surname'"},
    ]


def test_type_validation_and_visible_if_grammar(forms_registry: FunctionRegistry) -> None:
    # Given fields whose types do not fit, limits that do not apply, and conditions that break the grammar
    document = trip_form(linked_workflow="form_count", fields=[
        {"name": "count", "type": "text", "validation": {"min": 1, "pattern": "("}},
        {"name": "agreed", "type": "checkbox", "visible_if": {"field": "count", "equals": 1, "in": [1]}},
    ], access_level="roles", roles=[])
    # When it is checked
    found = problems(document, forms_registry)
    # Then each is named
    assert found["fields[0].type"] == "a text field cannot carry parameter 'count' of type int"
    assert found["fields[0].validation.min"] == "does not apply to a text field"
    assert found["fields[0].validation.pattern"].startswith("is not a regular expression")
    assert found["fields[1].visible_if"] == "needs exactly one of equals, in, not_empty beside field"
    assert found["roles"] == "list at least one role when access_level is 'roles'"


def test_more_than_fifty_fields_is_refused(forms_registry: FunctionRegistry) -> None:
    # Given a form with 51 fields
    fields = trip_form()["fields"] + [{"name": f"x{i}", "type": "markdown"} for i in range(47)]
    # Then the count is refused
    assert problems(trip_form(fields=fields), forms_registry) == {"fields": "a form has at most 50 fields, this one "
                                                                            "has 51"}


def test_an_expression_that_could_hang_the_host_is_refused_when_saved(forms_registry: FunctionRegistry) -> None:
    # Given a form whose provider input loops ten million times, and one whose power never ends
    def mailbox_form(expression: str) -> dict[str, Any]:
        return trip_form(linked_workflow="form_mail", fields=[
            {"name": "first", "type": "text", "required": True},
            {"name": "last", "type": "text", "required": True},
            {"name": "mailbox", "type": "select", "data_provider": "form_mailboxes",
             "data_provider_inputs": {"address": {"mode": "expression", "expression": expression}}},
        ])

    where = "fields[2].data_provider_inputs.address.expression"
    loops = mailbox_form("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}")
    power = mailbox_form("{{ ((9**999)**999)**999 > 1 }}{{ values.first * 2 }}")
    # When they are saved, Then each construct is named at the expression
    assert problems(loops, forms_registry) == {where: "an expression may not use loops ('for')"}
    assert problems(power, forms_registry) == {where: "an expression may not use '**' | an expression may not use '*'"}


def test_saved_values_are_checked_against_the_parameters_they_feed(forms_registry: FunctionRegistry) -> None:
    # Given static options, defaults and launch parameters the functions' own parameters would refuse
    document = trip_form(linked_workflow="form_count", launch_workflow="form_prefill",
                         default_launch_params={"traveller": ["not", "text"], "region": "de"}, fields=[
        {"name": "count", "type": "select", "required": True, "default_value": 2,
         "options": [{"label": "One", "value": 1}, {"label": "A", "value": "a"}]},
        {"name": "agreed", "type": "checkbox", "default_value": "maybe"},
    ])
    # When it is saved, Then each value is named where it was written, with the engine's reason
    found = problems(document, forms_registry)
    assert found.keys() == {"fields[0].options[1].value", "fields[0].default_value", "fields[1].default_value",
                            "default_launch_params.traveller"}
    assert found["fields[0].options[1].value"].startswith("is not a value 'form_count' takes for 'count': expected "
                                                          "an integer")
    assert found["fields[0].default_value"] == "2 is not one of the field's options"
    assert "expected a boolean" in found["fields[1].default_value"]
    assert "expected a string" in found["default_launch_params.traveller"]


def test_provider_inputs_and_hidden_required_fields_are_checked(forms_registry: FunctionRegistry) -> None:
    # Given a static provider input of the wrong type, and a required parameter whose field can be hidden while
    # everything required is filled (region may hide only when traveller, which is required, is empty: fine)
    document = trip_form(fields=[
        {"name": "traveller", "type": "text", "required": True},
        {"name": "region", "type": "select", "required": True, "data_provider": "form_regions",
         "visible_if": {"field": "traveller", "not_empty": True}},
        {"name": "town", "type": "select", "required": True, "data_provider": "form_towns",
         "data_provider_inputs": {"region": {"mode": "static", "value": ["de"]}},
         "visible_if": {"field": "traveller", "equals": "Ada"}},
    ])
    # When it is saved, Then both are named
    found = problems(document, forms_registry)
    assert found.keys() == {"fields[2].data_provider_inputs.region.value", "fields[2].visible_if"}
    assert "expected a string" in found["fields[2].data_provider_inputs.region.value"]
    assert found["fields[2].visible_if"].startswith("'form_book_trip' requires parameter 'town', and a hidden field")


def test_roles_without_access_level_roles_are_refused(forms_registry: FunctionRegistry) -> None:
    # Given roles listed on a form every user of the organization may use, Then the admin is told they do nothing
    found = problems(trip_form(access_level="authenticated", roles=["hr"]), forms_registry)
    assert found == {"roles": "apply only with access_level 'roles'; with 'authenticated' every user of the "
                              "organization may use the form"}
