"""A form and its fields, as admins write them and as they are stored: one pydantic model each.

The models check shape only (types, known keys, sizes); whether a form makes sense against the registry — its
workflow and providers exist, references point at fields, expressions compile — is `definition.check_form`, which
reports every such problem at once.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FieldType = Literal[
    "text", "email", "number", "select", "multiselect", "checkbox", "textarea", "radio", "datetime", "markdown", "html"
]
CHOICE_TYPES = frozenset({"select", "multiselect", "radio"})
DISPLAY_TYPES = frozenset({"markdown", "html"})  # content shown to the user; they carry no value
TEXT_TYPES = frozenset({"text", "textarea", "email"})
MAX_FIELDS = 50
FORM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"  # a workflow parameter's name, usable in `values.<name>`
Scalar = str | int | float | bool


def can_be_form_id(text: str) -> bool:
    """Whether a form could have this id: every form is saved through the model, so one that does not match never
    exists (its routes answer 404, whatever storage would make of the text as a key)."""
    return re.fullmatch(FORM_ID_PATTERN, text) is not None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Validation(_Strict):
    """Limits on a field's value: `min`/`max` for numbers, lengths and `pattern` (searched, as `@param` does) for
    text, `min_length`/`max_length` as item counts for a multiselect."""

    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(default=None, max_length=1_000)
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)


class Option(_Strict):
    """One choice of a select, multiselect or radio field (the shape data providers return)."""

    label: str
    value: Scalar
    description: str | None = None


class StaticInput(_Strict):
    mode: Literal["static"]
    value: Any = None


class FieldRefInput(_Strict):
    mode: Literal["field_ref"]
    field: str


class ExpressionInput(_Strict):
    mode: Literal["expression"]
    expression: str = Field(max_length=2_000)


ProviderInput = Annotated[StaticInput | FieldRefInput | ExpressionInput, Field(discriminator="mode")]


class FormField(_Strict):
    """One field; its `name` is the linked workflow's parameter it fills (display fields fill none)."""

    name: str = Field(pattern=FIELD_NAME_PATTERN)
    label: str | None = None
    type: FieldType
    required: bool = False
    validation: Validation | None = None
    options: list[Option] | None = Field(default=None, max_length=1_000)
    data_provider: str | None = None
    data_provider_inputs: dict[str, ProviderInput] = Field(default_factory=dict)
    default_value: Any = None
    placeholder: str | None = None
    help_text: str | None = None
    visible_if: dict[str, Any] | None = None  # the grammar is conditions.py's; checked by definition.check_form

    @property
    def carries_value(self) -> bool:
        return self.type not in DISPLAY_TYPES


class Form(_Strict):
    """A form: fields whose values run `linked_workflow`, and who may use it."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=FORM_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    linked_workflow: str
    fields: list[FormField] = Field(default_factory=list)  # at most MAX_FIELDS: checked with the rest
    is_active: bool = True
    access_level: Literal["authenticated", "roles"] = "authenticated"
    roles: list[str] = Field(default_factory=list)
    launch_workflow: str | None = None
    allowed_query_params: list[str] = Field(default_factory=list)
    default_launch_params: dict[str, Any] = Field(default_factory=dict)

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)
