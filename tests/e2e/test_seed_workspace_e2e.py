"""A workspace written the way the seed system's users write theirs (tests/e2e/seed_workspace), run unchanged on a
real devhost with CONDUIT_BIFROST_COMPAT=true, as its user would: health, the list, and every workflow over HTTP.

The figure this file gives: how many of the workspace's functions load, and how many of its workflows run to
Success (printed; run with `-s` to see it).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.storage.secret_box import generate_key
from tests.e2e.conftest import ConduitHost, ConduitHosts

SEED_WORKSPACE = Path(__file__).resolve().parent / "seed_workspace"
ORG = "org-contoso"
IN_ORG = {"X-Organization-Id": ORG}
SETTINGS = {
    "CONDUIT_WORKSPACE": str(SEED_WORKSPACE),
    "CONDUIT_BIFROST_COMPAT": "true",
    "CONDUIT_CONFIG_DIGEST_RECIPIENT": "it-team@contoso.example",
    "CONDUIT_SECRETS_KEY": generate_key(),
}
PSA_KEY = "psa-key-of-contoso-0123456789abcdef"  # stored as the organization's secret; the seed SDK reads it
TERMINAL = {"Success", "Failed", "CompletedWithErrors", "Timeout", "Cancelled"}
SKIPPED_BY_DISCOVERY = ("drafts", "tests")
THIS_RUN = "<execution id>"  # in an expected log line: the id of the execution it belongs to


@pytest.fixture(scope="module")
async def host(conduit_hosts_module: ConduitHosts) -> ConduitHost:
    host = await conduit_hosts_module.start(env=SETTINGS)
    # The organization's PSA config, stored the way its admin would (the seed SDK's config and secrets read it)
    for key, type_, value in (("psa_url", "string", "https://psa.contoso.example"), ("psa_page_size", "int", 25),
                              ("psa_api_key", "secret", PSA_KEY)):
        answer = await host.client.put(f"/api/config/{key}", json={"type": type_, "value": value}, headers=IN_ORG)
        assert answer.status_code == 200, answer.text
    return host


@pytest.fixture
def client(host: ConduitHost) -> httpx.AsyncClient:
    return host.client


def declared_functions(root: Path = SEED_WORKSPACE) -> dict[str, str]:
    """name -> "workflow" / "data_provider" for every decorated function in the workspace's files (what discovery
    skips left out), read from the source, so the count does not depend on what loaded."""
    declared = {}
    for path in root.rglob("*.py"):
        if path.relative_to(root).parts[0] in SKIPPED_BY_DISCOVERY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    kind, name = _registration(decorator)
                    if kind:
                        declared[name or node.name] = kind
    return declared


def _registration(decorator: ast.expr) -> tuple[str | None, str | None]:
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call else decorator
    kind = target.id if isinstance(target, ast.Name) and target.id in ("workflow", "data_provider") else None
    names = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
    names += call.args[:1] if call else []
    name = names[0].value if names and isinstance(names[0], ast.Constant) else None
    return kind, name


@dataclass
class Case:
    """One workflow run with good input, and what its user should read back."""

    name: str
    input_data: dict[str, Any]
    output: Any
    logs: list[tuple[str, str, str]]  # (level, logger, message); THIS_RUN in a message is the execution's id
    steps: list[tuple[str, Any]] = field(default_factory=list)  # checkpoints: (name, data)
    headers: dict[str, str] = field(default_factory=dict)
    sync: bool = False


def wf(name: str) -> str:
    return f"workflow.{name}"


def audit(action: str, detail: str) -> str:
    """The line modules/audit.py logs through `from bifrost import context` (attributed to the calling workflow)."""
    return f'audit: {action} {{"org": "{ORG}", "execution": "{THIS_RUN}", {detail}}}'


CASES = [
    Case("hello_world", {"name": "Ada"}, {"message": "Hello, Ada!", "executed_by": "admin"},
         [("INFO", wf("hello_world"), "Greeting Ada")], sync=True),
    Case("onboard_new_hire",
         {"email": "ada@contoso.example", "first_name": "Ada", "last_name": "Lovelace", "department": "Engineering",
          "license": "M365_E3", "seats": "2"},
         {"success": True, "upn": "ada.lovelace@contoso.example", "contact": "ada@contoso.example",
          "license": "Microsoft 365 E3", "organization": ORG},
         [("INFO", wf("onboard_new_hire"),
           'Starting onboarding {"email": "ada@contoso.example", "org": "' + ORG + '"}'),
          ("INFO", wf("onboard_new_hire"), audit("user_created", '"upn": "ada.lovelace@contoso.example"'))],
         [("account_planned", {"username": "ada.lovelace", "upn": "ada.lovelace@contoso.example",
                               "department": "Engineering"}),
          ("license_assigned", {"sku": "M365_E3", "seats": 2})],
         headers=IN_ORG),
    Case("offboard_user", {"email": "bob@contoso.example"},
         {"disabled": "bob@contoso.example", "reason": "left the company",
          "mail_forwarded_to": "leavers+bob@contoso.example"},
         [("INFO", wf("offboard_user"), 'Blocking sign-in {"email": "bob@contoso.example"}')],
         [("sign_in_blocked", {"email": "bob@contoso.example"})], headers=IN_ORG, sync=True),
    Case("reset_password", {"email": "carol@example.org", "length": "20"},
         {"email": "carol@example.org", "temporary_password": "Tmp!" + "*" * 16, "same_context": True},
         [("INFO", wf("reset_password"), 'Temporary password set {"email": "carol@example.org", "length": 20}')],
         sync=True),
    Case("license_report", {},
         {"organization": ORG, "counts": {"M365_BUSINESS_BASIC": 42, "M365_E3": 7}, "total": 49},
         [("INFO", "conduit_workspace.reporting.license_report", "Counted 2 SKUs"),
          ("INFO", wf("license_report"), 'License report ready {"skus": ["M365_BUSINESS_BASIC", "M365_E3"]}')],
         headers=IN_ORG),
    Case("weekly_digest", {"weeks": 2, "format": "markdown"},
         {"to": "it-team@contoso.example", "subject": "[IT digest] last 2 weeks",
          "body": "- 3 new hires\n- 1 leaver\n- 12 tickets"},
         [("INFO", wf("weekly_digest"), 'Digest prepared {"to": "it-team@contoso.example", "weeks": 2}')],
         sync=True),
    Case("usage_summary", {"mailboxes": ["ceo@contoso.example", "ada@x.io"], "quota_gb": 40},
         {"usage_gb": {"ceo@contoso.example": 47.5, "ada@x.io": 20.0}, "over_quota": ["ceo@contoso.example"]},
         [("ERROR", wf("usage_summary"),
           'Mailboxes over quota {"mailboxes": ["ceo@contoso.example"], "quota_gb": 40.0}')],
         [("usage_measured", {"mailboxes": 2, "over_quota": 1})]),
    Case("board_pack", {"month": "2024-05"},
         {"month": "2024-05", "summary": "3 sections", "outline": "- Service desk\n- Security\n- Projects"},
         [("INFO", wf("board_pack"), 'Board pack for 2024-05 {"sections": 3}')]),
    Case("triage_ticket", {"ticket_id": "4711", "summary": "VPN down for sales", "board": "Service Desk",
                           "source": "halopsa"},
         {"ticket_id": 4711, "priority": "P1", "webhook_fields": {"board": "Service Desk", "source": "halopsa"}},
         [("INFO", wf("triage_ticket"),
           'Ticket triaged {"ticket": 4711, "priority": "P1", "extra_fields": ["board", "source"]}')], sync=True),
    Case("escalate_ticket", {"ticket_ref": "T-10234", "tier": "manager", "summary": "Printer jam"},
         {"ticket": "T-10234", "tier": "manager", "priority": "P2"},
         [("INFO", wf("escalate_ticket"), 'Escalating T-10234 {"tier": "manager"}'),
          ("WARNING", wf("escalate_ticket"), 'Escalated to a manager {"ticket": "T-10234"}'),
          ("INFO", wf("escalate_ticket"), audit("ticket_escalated", '"ticket": "T-10234"'))],
         [("priority_set", {"ticket": "T-10234", "priority": "P2"}), ("assigned", {"ticket": "T-10234",
                                                                                   "tier": "manager"})],
         headers=IN_ORG),
    Case("sync_psa_board", {"board": "Projects"},
         {"board": "Projects", "url": "https://psa.contoso.example/boards?page_size=25", "key_tail": "cdef"},
         [("INFO", wf("sync_psa_board"),
           'Pulling board {"board": "Projects", "url": "https://psa.contoso.example", "authorization": "Bearer ***"}')],
         headers=IN_ORG),
    Case("close_stale_tickets", {}, {"closed": ["T-1000", "T-1001", "T-1002"]},
         [("WARNING", wf("close_stale_tickets"), 'Closed stale tickets {"count": 3, "older_than_days": 30}')]),
]


async def test_health_shows_nothing_failed_and_lists_what_was_skipped_with_its_reason(
    client: httpx.AsyncClient,
) -> None:
    # When an admin asks for health on a host serving the seed workspace
    details = (await client.get("/api/health")).json()
    # Then nothing failed to load, and the two folders discovery left alone are listed with their reasons
    assert details["status"] == "ok" and details["load_errors"] == []
    skipped = {Path(s["path"]).relative_to(SEED_WORKSPACE).as_posix(): s["reason"] for s in details["load_skipped"]}
    assert skipped == {"drafts": "matched .conduitignore: drafts/", "tests": "tests folder"}


async def test_every_workflow_is_listed_with_its_category_tags_and_validation_limits(client: httpx.AsyncClient) -> None:
    # When the workflows are listed
    items = {i["name"]: i for i in (await client.get("/api/workflows")).json()["items"] if i["source"] == "workspace"}
    # Then every workflow the workspace declares is there (data providers are not workflows)
    declared = declared_functions()
    assert set(items) == {name for name, kind in declared.items() if kind == "workflow"}
    print(f"\nseed workspace: {len(items)} of {sum(k == 'workflow' for k in declared.values())} workflows listed")
    # And bare @workflow takes the function's name and docstring; category and tags are as written
    assert items["license_report"]["description"].startswith("Count assigned licenses per SKU")
    assert (items["onboard_new_hire"]["category"], items["onboard_new_hire"]["tags"]) == (
        "Onboarding", ["m365", "onboarding", "workflow"])
    assert items["weekly_digest"]["schedule"] == "0 7 * * 1"
    assert {n: i["execution_mode"] for n, i in items.items()} == {
        n: "sync" if c.sync else "async" for n, c in ((c.name, c) for c in CASES)}
    # And positional @param gave label, required, data provider, default and help text
    onboard = {p["name"]: p for p in items["onboard_new_hire"]["parameters"]}
    assert (onboard["email"]["type"], onboard["email"]["label"], onboard["email"]["required"]) == (
        "email", "Work email", True)
    assert (onboard["license"]["data_provider"], onboard["license"]["default_value"]) == (
        "available_licenses", "M365_BUSINESS_BASIC")
    assert onboard["license"]["help_text"] == "The license to assign; one with free seats"
    # And the validation limits are in the input schema, for forms to check before sending
    schema = items["onboard_new_hire"]["input_schema"]["properties"]
    assert (schema["first_name"]["minLength"], schema["first_name"]["maxLength"]) == (1, 40)
    assert (schema["seats"]["minimum"], schema["seats"]["maximum"]) == (1, 5)
    assert schema["department"]["enum"] == ["Sales", "Engineering", "Finance"]
    assert items["escalate_ticket"]["input_schema"]["properties"]["ticket_ref"]["pattern"] == r"^T-\d{4,}$"
    usage = items["usage_summary"]["input_schema"]["properties"]
    assert (usage["mailboxes"]["minItems"], usage["mailboxes"]["maxItems"]) == (1, 10)
    # And only the **kwargs workflow accepts fields it does not declare
    open_schemas = {n for n, i in items.items() if i["input_schema"].get("additionalProperties") is not False}
    assert open_schemas == {"triage_ticket"}


async def test_every_workflow_runs_to_success_over_http(client: httpx.AsyncClient) -> None:
    # Given every workflow of the workspace, each with good input (queued ones submitted first, so they run together)
    started = time.monotonic()
    ids = {c.name: await _submit(client, c) for c in CASES}
    # When each has finished (sync ones answered at once; queued ones are polled on their record)
    records = dict(zip(ids, await asyncio.gather(*(_finished(client, ids[c.name], c.headers) for c in CASES)),
                       strict=True))
    # Then each ended Success with its result, its log lines (attributed, data as JSON) and its checkpoints
    problems = []
    for case in CASES:
        problems += await _check_run(client, case, ids[case.name], records[case.name])
    succeeded = sum(records[c.name]["status"] == "Success" for c in CASES)
    declared = declared_functions()
    print(f"\nseed workspace: {len(declared)} functions declared ({sum(k == 'workflow' for k in declared.values())} "
          f"workflows, {sum(k == 'data_provider' for k in declared.values())} data providers); "
          f"{succeeded} of {len(CASES)} workflows ran to Success over HTTP in {time.monotonic() - started:.1f} s")
    assert problems == []
    assert succeeded == len(CASES) == sum(k == "workflow" for k in declared.values())


async def test_the_data_providers_answer_with_their_options(client: httpx.AsyncClient) -> None:
    # Given the workspace's data providers, imported by plain name from an admin's inline script (in the org's scope)
    code = (
        "from providers.licenses import available_licenses, departments\n"
        "from providers.psa import ticket_boards\n"
        "result = {'available_licenses': await available_licenses(context), 'departments': departments(context),\n"
        "          'ticket_boards': await ticket_boards()}\n"
    )
    response = await client.post("/api/scripts/execute", headers=IN_ORG,
                                 json={"code": base64.b64encode(code.encode()).decode(), "name": "providers"})
    # Then each answers with its options (the bare one, the one with tags, and the one reading `bifrost.context`)
    body = response.json()
    assert (response.status_code, body["status"]) == (200, "Success"), body
    options = {name: [o["value"] for o in values] for name, values in body["output_data"].items()}
    assert options == {"available_licenses": ["M365_BUSINESS_BASIC", "M365_E3"],
                       "departments": ["Sales", "Engineering", "Finance"],
                       "ticket_boards": ["Service Desk", "Projects"]}
    declared = {name for name, kind in declared_functions().items() if kind == "data_provider"}
    assert set(options) == declared
    print(f"\nseed workspace: {len(options)} of {len(declared)} data providers answered")


async def test_bad_input_is_one_422_naming_every_bad_field(client: httpx.AsyncClient) -> None:
    # Given input that breaks every kind of limit at once, plus a field the workflow does not declare
    bad = {"email": "not-an-email", "first_name": "A" * 41, "last_name": "", "department": "Legal", "seats": 9,
           "manager": "grace@contoso.example"}
    # When it is sent
    response = await client.post("/api/workflows/onboard_new_hire/execute", json={"input_data": bad}, headers=IN_ORG)
    # Then one 422 names each field with its reason
    assert response.status_code == 422
    details = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert set(details) == {"email", "first_name", "last_name", "department", "seats", "manager"}
    assert "40" in details["first_name"] and "5" in details["seats"] and "Engineering" in details["department"]
    # And a pattern and a choice are reported the same way
    escalate = await client.post("/api/workflows/escalate_ticket/execute",
                                 json={"input_data": {"ticket_ref": "10234", "tier": "tier9"}})
    assert escalate.status_code == 422
    assert {d["field"]: d["message"] for d in escalate.json()["error"]["details"]} == {
        "ticket_ref": r"must match ^T-\d{4,}$", "tier": "must be one of 'tier2', 'tier3', 'manager'"}


async def test_a_user_error_ends_failed_with_its_message_for_the_user(client: httpx.AsyncClient) -> None:
    # When a protected account is offboarded
    response = await client.post("/api/workflows/offboard_user/execute", headers=IN_ORG,
                                 json={"input_data": {"email": "admin@contoso.example"}})
    # Then the run is Failed with the workflow's own message; its log has the workflow's warning and the engine's
    # one-line note of the error, no traceback
    body = response.json()
    message = "admin@contoso.example is a protected account and cannot be offboarded."
    assert response.status_code == 200
    assert (body["status"], body["error_type"], body["error_message"]) == ("Failed", "UserError", message)
    assert [(line["level"], line["logger"], line["message"]) for line in body["logs"]] == [
        ("WARNING", wf("offboard_user"), 'Refusing to offboard a protected account {"email": "admin@contoso.example"}'),
        ("ERROR", "conduit.engine", f"UserError: {message}")]
    record = (await client.get(f"/api/workflows/executions/{body['execution_id']}", headers=IN_ORG)).json()
    assert (record["status"], record["error_message"], record["scope"]) == ("Failed", body["error_message"], ORG)


async def test_undeclared_input_is_422_unless_the_workflow_takes_kwargs(client: httpx.AsyncClient) -> None:
    # When a field the workflow does not declare is sent to a workflow without **kwargs
    response = await client.post("/api/workflows/hello_world/execute",
                                 json={"input_data": {"name": "Ada", "colour": "red"}})
    # Then it is refused, naming the field (the seed system ignored it silently)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == ["colour"]
    # And the workflow that takes **kwargs receives it
    triage = await client.post("/api/workflows/triage_ticket/execute",
                               json={"input_data": {"ticket_id": 1, "summary": "New laptop", "colour": "red"}})
    assert triage.status_code == 200 and triage.json()["status"] == "Success"
    assert triage.json()["output_data"]["webhook_fields"] == {"colour": "red"}


async def _submit(client: httpx.AsyncClient, case: Case) -> str:
    response = await client.post(f"/api/workflows/{case.name}/execute", json={"input_data": case.input_data},
                                 headers=case.headers)
    assert response.status_code == (200 if case.sync else 202), f"{case.name}: {response.text}"
    return str(response.json()["execution_id"])


async def _finished(client: httpx.AsyncClient, execution_id: str, headers: dict[str, str],
                    timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record = (await client.get(f"/api/workflows/executions/{execution_id}", headers=headers)).json()
        if record.get("status") in TERMINAL:
            return dict(record)
        assert time.monotonic() < deadline, f"{execution_id} is still {record.get('status')} after {timeout}s"
        await asyncio.sleep(0.2)


async def _check_run(client: httpx.AsyncClient, case: Case, execution_id: str, record: dict[str, Any]) -> list[str]:
    """What differs from the case's expectations (empty when the run is as its user expects)."""
    where = f"{case.name} ({execution_id})"
    if record["status"] != "Success":
        return [f"{where}: {record['status']} {record.get('error_type')}: {record.get('error_message')}"]
    problems = []
    if record["output_data"] != case.output:
        problems.append(f"{where}: result {record['output_data']!r}, expected {case.output!r}")
    logs = (await client.get(f"/api/workflows/executions/{execution_id}/logs", headers=case.headers)).json()["items"]
    lines = [(line["level"], line["logger"], line["message"]) for line in logs]
    expected = [(level, logger, message.replace(THIS_RUN, execution_id)) for level, logger, message in case.logs]
    if lines != expected:
        problems.append(f"{where}: log lines {lines!r}, expected {expected!r}")
    steps = (await client.get(f"/api/workflows/executions/{execution_id}/steps", headers=case.headers)).json()
    checkpoints = [(s["step_name"], s["output_data"]) for s in steps["items"] if s["step_type"] == "checkpoint"]
    if checkpoints != case.steps or any(s["status"] != "Success" for s in steps["items"]):
        problems.append(f"{where}: steps {steps['items']!r}, expected checkpoints {case.steps!r}")
    return problems
