"""Create (or update) the example form on a running Conduit: `make example-form` after `make run`.

    .venv/bin/python scripts/example_form.py [--url http://localhost:7071] [--key KEY] [--form platform/forms/x.json]

The admin key defaults to CONDUIT_ADMIN_KEY from the environment, else from local.settings.json (which `make run`
writes). Running it again updates the form in place (PUT with the ETag just read), so it is safe to repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FORM = ROOT / "platform" / "forms" / "plan_trip.json"
KEY_SETTING = "CONDUIT_ADMIN_KEY"


def admin_key(given: str | None) -> str:
    key = given or os.environ.get(KEY_SETTING)
    settings = ROOT / "local.settings.json"
    if not key and settings.is_file():
        key = json.loads(settings.read_text(encoding="utf-8-sig")).get("Values", {}).get(KEY_SETTING)
    if not key:
        raise SystemExit(f"No admin key: pass --key, set {KEY_SETTING}, or start Conduit once with `make run`.")
    return key


def put_form(client: httpx.Client, form: dict[str, Any]) -> tuple[str, httpx.Response]:
    """Create the form; when its id is taken, replace it (If-Match: the ETag just read)."""
    created = client.post("/api/forms", json=form)
    if created.status_code != 409:
        return "created", created
    current = client.get(f"/api/forms/{form['id']}")
    current.raise_for_status()
    return "updated", client.put(f"/api/forms/{form['id']}", json=form, headers={"If-Match": current.headers["ETag"]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://localhost:{os.environ.get('PORT', '7071')}")
    parser.add_argument("--key", default=None, help=f"the admin key (default: {KEY_SETTING})")
    parser.add_argument("--form", type=Path, default=DEFAULT_FORM, help="the form's JSON file")
    args = parser.parse_args(argv)
    form = json.loads(args.form.read_text(encoding="utf-8"))
    with httpx.Client(base_url=args.url, headers={"x-api-key": admin_key(args.key)}, timeout=30) as client:
        try:
            what, response = put_form(client, form)
        except httpx.TransportError as error:
            print(f"Conduit does not answer at {args.url} ({error}); start it with `make run`.", file=sys.stderr)
            return 1
    if response.status_code not in (200, 201):
        print(f"Could not save the form ({response.status_code}):\n{response.text}", file=sys.stderr)
        return 1
    form_id = response.json()["id"]
    print(f"{what} form '{form_id}'. Try it:")
    print(f"  GET  {args.url}/api/forms/{form_id}")
    print(f"  POST {args.url}/api/forms/{form_id}/fields/city/options  {{\"values\": {{\"country\": \"nl\"}}}}")
    print(f"  POST {args.url}/api/forms/{form_id}/submit  "
          '{"values": {"traveller": "Ada", "country": "nl", "city": "<a value from the options>"}}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
