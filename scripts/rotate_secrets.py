"""Re-encrypt every stored config secret with the first key of CONDUIT_SECRETS_KEY: `make rotate-secrets`.

    .venv/bin/python scripts/rotate_secrets.py                 # re-encrypt; exit 1 if anything is left
    .venv/bin/python scripts/rotate_secrets.py --generate-key  # print a new key to put first in the setting

Settings (CONDUIT_SECRETS_KEY, AzureWebJobsStorage) come from the environment, else from local.settings.json (which
`make run` writes). Key rotation: put a new key first (`new,old`), deploy, run this, then remove the old key. Safe
to run again at any time: rows already under the first key are not written; rows an admin changes meanwhile are
never overwritten with their older value.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.config.rotation import RotationReport, rotate_secrets
from shared.storage.account import SETTING as STORAGE_SETTING
from shared.storage.account import StorageAccount
from shared.storage.config import ConfigStore
from shared.storage.secret_box import KEY_SETTING, SecretBox, generate_key

ROOT = Path(__file__).resolve().parents[1]


def load_settings(names: tuple[str, ...]) -> None:
    """Fill the named settings missing from the environment from local.settings.json, as the host would."""
    path = ROOT / "local.settings.json"
    if not path.is_file():
        return
    values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values", {})
    for name in names:
        if not os.environ.get(name) and values.get(name):
            os.environ[name] = str(values[name])


async def run() -> RotationReport:
    box = SecretBox.from_env()
    async with ConfigStore.open(StorageAccount.from_env()) as store:
        await store.ensure_table()
        return await rotate_secrets(store, box)


def describe(report: RotationReport) -> str:
    lines = [f"re-encrypted {report.rotated}, already under the first key {report.current}, "
             f"deleted or changed meanwhile {report.gone}"]
    if report.busy:
        lines.append(f"kept changing while being re-encrypted (run again): {', '.join(report.busy)}")
    if report.unreadable:
        lines.append(f"no key of {KEY_SETTING} decrypts (keep the old keys; put the one they were written with "
                     f"back, or set these again): {', '.join(report.unreadable)}")
    lines.append("done: every secret is under the first key; the other keys may be removed" if report.complete
                 else "NOT done: keep the old keys in the setting")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate-key", action="store_true", help="print a new Fernet key and exit")
    args = parser.parse_args(argv)
    if args.generate_key:
        print(generate_key())
        return 0
    load_settings((KEY_SETTING, STORAGE_SETTING))
    try:
        report = asyncio.run(run())
    except Exception as error:  # a missing setting or storage: one line saying which
        print(f"rotate-secrets: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    print(describe(report))
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
