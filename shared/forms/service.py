"""Forms as a service: manage them, answer a field's options, run a submission or the launch workflow.

Every way in (HTTP today) comes here, so the rules hold everywhere: who may see or change a form is asked of
`shared.identity.policy`; a form is checked against the registry before it is stored (definition.py); values are
checked before the workflow is submitted through the programmatic execution service (values.py); a field's options
come from its own provider only, through the engine and its cache (shared.providers.service).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import (
    FieldError,
    FormFieldNotFoundError,
    FormNotFoundError,
    InputValidationError,
    NotFoundError,
    PreconditionRequiredError,
)
from shared.executions.queries import result_to_api
from shared.executions.service import Submission, WorkflowCall, submit
from shared.executions.services import Services
from shared.forms.definition import FunctionLookup, check_form, depends_on
from shared.forms.inputs import provider_inputs, visible_values
from shared.forms.model import Form, FormField, can_be_form_id
from shared.forms.values import check_values
from shared.functions.registry import FunctionMetadata
from shared.identity import policy
from shared.models import Caller, ExecutionRequest
from shared.providers.service import ProviderCall, provider_options
from shared.storage.forms import FormStore, StoredForm

FORM_TRIGGER = "form"


@dataclass(frozen=True)
class FoundForm:
    """A stored form the caller may use, parsed."""

    stored: StoredForm
    form: Form

    def to_api(self) -> dict[str, Any]:
        """The form as clients get it: its definition, where it lives, its ETag, and each field's `depends_on`."""
        body = self.form.model_dump(mode="json")
        for field, shown in zip(self.form.fields, body["fields"], strict=True):
            shown["depends_on"] = depends_on(field)
        return body | {"scope": self.stored.scope, "etag": self.stored.etag}


@dataclass
class FormService:
    """The forms of one store, run on one set of execution services (registry, engine, queue)."""

    services: Services
    store: FormStore

    async def create(self, caller: Caller, form: Form) -> FoundForm:
        policy.check_form_admin(caller, "create forms")
        check_form(form, await self._functions(caller, form))
        stored = await self.store.create(policy.form_owner_scope(caller), form.id, _document(form))
        return FoundForm(stored, form)

    async def update(self, caller: Caller, form_id: str, form: Form, if_match: str | None) -> FoundForm:
        """Replace a form of the caller's scope, only the version `if_match` names (`*`: whatever is stored)."""
        policy.check_form_admin(caller, "change forms")
        if not can_be_form_id(form_id):
            raise FormNotFoundError(form_id)  # no form was ever saved with it: nothing to replace
        if "id" in form.model_fields_set and form.id != form_id:
            raise InputValidationError([FieldError("id", f"a form's id cannot change; this is form '{form_id}'")])
        form = form.model_copy(update={"id": form_id})
        if not if_match:
            raise PreconditionRequiredError(
                "Send If-Match with the ETag of the version you edited (GET answers it), so that a change made "
                "meanwhile is not overwritten; If-Match: * replaces whatever is stored.",
                details={"form_id": form_id},
            )
        check_form(form, await self._functions(caller, form))
        stored = await self.store.replace(policy.form_owner_scope(caller), form_id, _document(form), if_match)
        return FoundForm(stored, form)

    async def delete(self, caller: Caller, form_id: str, if_match: str | None = None) -> None:
        policy.check_form_admin(caller, "delete forms")
        await self.store.delete(policy.form_owner_scope(caller), form_id, if_match)

    async def get(self, caller: Caller, form_id: str) -> FoundForm:
        """The form, if the caller may use it (own organization's first, then global); else FormNotFoundError."""
        for scope in policy.form_lookup_scopes(caller):
            stored = await self.store.get(scope, form_id)
            if stored is not None:
                found = FoundForm(stored, Form.model_validate(stored.document))
                if _sees(caller, found):
                    return found
                break  # an organization's form shadows the global one of the same id, even when hidden
        raise FormNotFoundError(form_id)

    async def list(self, caller: Caller) -> list[FoundForm]:
        """Every form the caller may use, by name; an organization's form hides a global one with its id."""
        found: dict[str, FoundForm] = {}
        for scope in policy.form_lookup_scopes(caller):
            for stored in await self.store.list(scope):
                if stored.form_id not in found:
                    found[stored.form_id] = FoundForm(stored, Form.model_validate(stored.document))
        usable = [f for f in found.values() if _sees(caller, f)]
        return sorted(usable, key=lambda f: (f.form.name.lower(), f.form.id))

    async def options(
        self, caller: Caller, form_id: str, field_name: str, values: Mapping[str, Any], no_cache: bool = False
    ) -> dict[str, Any]:
        """The options of one field's own provider for the current values (no other provider is reachable)."""
        found = await self.get(caller, form_id)
        field = found.form.field(field_name)
        if field is None or field.data_provider is None:
            what = "has no field" if field is None else "takes no options from a data provider in field"
            raise FormFieldNotFoundError(f"Form '{form_id}' {what} '{field_name}'.",
                                         details={"form_id": form_id, "field": field_name})
        inputs = provider_inputs(found.form, field, visible_values(found.form, values))
        return await self._provider(caller, found, field, inputs, no_cache)

    async def submit(
        self, caller: Caller, form_id: str, values: Mapping[str, Any], idempotency_key: str | None = None
    ) -> Submission:
        """Check the values, then run the linked workflow with them (its own mode: sync waits, async queues)."""
        found = await self.get(caller, form_id)

        async def options_of(field: FormField, accepted: dict[str, Any]) -> list[Any]:
            inputs = provider_inputs(found.form, field, accepted)
            answer = await self._provider(caller, found, field, inputs, no_cache=False)
            return [option.get("value") for option in answer["options"]]

        parameters = await check_values(found.form, values, options_of)
        try:
            return await submit(self.services, WorkflowCall(
                workflow_name=found.form.linked_workflow,
                input_data=parameters,
                caller=caller,
                organization_id=policy.form_run_scope(caller, found.stored.scope),
                trigger_payload={"kind": FORM_TRIGGER, "form_id": found.form.id},
                idempotency_key=idempotency_key,
            ))
        except InputValidationError as refused:
            raise _as_form_values(found.form, refused) from None

    async def startup(
        self, caller: Caller, form_id: str, params: Mapping[str, Any], query: Mapping[str, str]
    ) -> dict[str, Any]:
        """Run the launch workflow with `default_launch_params`, then `params`, then the allowed query parameters
        (later ones win); its result pre-fills the form. It runs transient: opening a form is no execution to keep,
        so the answer names none, and its log lines are in it, for admins only. A launch that fails answers like a
        sync execute (status Failed or Timeout, error_type, error_message): the form can still open, unfilled."""
        found = await self.get(caller, form_id)
        form = found.form
        if form.launch_workflow is None:
            raise NotFoundError(f"Form '{form_id}' has no launch_workflow.", details={"form_id": form_id})
        policy.check_may_run(caller, form.launch_workflow)
        allowed = {name: value for name, value in query.items() if name in form.allowed_query_params}
        request = ExecutionRequest(
            caller=caller,
            name=form.launch_workflow,
            parameters=dict(form.default_launch_params) | dict(params) | allowed,
            scope=policy.form_run_scope(caller, found.stored.scope),
            trigger={"kind": FORM_TRIGGER, "form_id": form.id, "purpose": "launch"},
            transient=True,
        )
        answer = result_to_api(await self.services.engine.execute(request), caller)
        answer.pop("execution_id")  # a transient run is never stored: its id could never be looked up
        if not policy.sees_launch_logs(caller):
            answer.pop("logs", None)
        return answer

    async def _functions(self, caller: Caller, form: Form) -> FunctionLookup:
        """The registry, plus the stored DAGs (shared.dag.library) the form's workflows name, as the form's own
        scope finds them: a form may run a DAG created through the API, as every trigger may."""
        stored: dict[str, FunctionMetadata] = {}
        for name in {form.linked_workflow, form.launch_workflow} - {None}:
            if name and self.services.registry.get(name) is None:
                probe = ExecutionRequest(caller=caller, name=name, scope=policy.form_owner_scope(caller))
                await self.services.engine.resolve(probe)
                if probe.definition is not None:
                    stored[name] = probe.definition
        return _WithStored(self.services.registry, stored) if stored else self.services.registry

    async def _provider(
        self, caller: Caller, found: FoundForm, field: FormField, inputs: dict[str, Any], no_cache: bool
    ) -> dict[str, Any]:
        call = ProviderCall(
            name=field.data_provider or "",
            caller=caller,
            inputs=inputs,
            no_cache=no_cache,
            organization_id=policy.form_run_scope(caller, found.stored.scope),
        )
        return await provider_options(self.services.engine, call)


@dataclass(frozen=True)
class _WithStored:
    """A registry seen together with some stored DAGs (which the registry never holds)."""

    registry: FunctionLookup
    stored: Mapping[str, FunctionMetadata]

    def get(self, name: str) -> FunctionMetadata | None:
        return self.stored.get(name) or self.registry.get(name)


def _as_form_values(form: Form, refused: InputValidationError) -> InputValidationError:
    """The workflow's own refusal of its parameters (`count expected an integer`), each at `values.<field>` like
    every other problem of a submission (a field fills the parameter of its name); others (idempotency_key) stay."""
    def at_field(error: FieldError) -> FieldError:
        name = re.split(r"[.\[]", error.field, maxsplit=1)[0]
        return FieldError(f"values.{error.field}", error.message) if form.field(name) else error

    return InputValidationError([at_field(error) for error in refused.errors], "The form's values are not valid")


def _sees(caller: Caller, found: FoundForm) -> bool:
    form = found.form
    return policy.sees_form(caller, found.stored.scope, is_active=form.is_active, access_level=form.access_level,
                            roles=frozenset(form.roles))


def _document(form: Form) -> dict[str, Any]:
    return form.model_dump(mode="json", exclude_none=False)
