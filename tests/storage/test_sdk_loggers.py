"""The Azure SDK's loggers are quiet from the moment function_app is imported, before any storage request.

Under the Functions worker every INFO record reaches the host; the SDK logs each request with its headers at INFO.
Each case runs in a fresh interpreter, as the worker imports the app: nothing else may have set the levels first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy")


def levels_after_import(before: str = "") -> dict[str, str]:
    """Run `before`, import function_app in a fresh interpreter, and return the SDK loggers' own levels."""
    code = (
        "import json, logging\n"
        "logging.getLogger().setLevel(logging.INFO)  # as the Functions worker configures the root logger\n"
        f"{before}\n"
        "import function_app\n"
        f"print(json.dumps({{n: logging.getLevelName(logging.getLogger(n).level) for n in {LOGGERS!r}}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_app_sets_the_sdk_loggers_to_warning() -> None:
    # Given a fresh interpreter whose root logger is at INFO, When function_app is imported
    levels = levels_after_import()
    # Then the SDK's loggers are at WARNING, so its request logs never reach the host
    assert levels == {name: "WARNING" for name in LOGGERS}


def test_a_level_the_user_set_before_import_is_kept() -> None:
    # Given the user asked for the SDK's INFO logs before the app was imported
    levels = levels_after_import("logging.getLogger('azure').setLevel(logging.INFO)")
    # Then Conduit leaves the SDK's loggers as configured
    assert levels == {"azure": "INFO", "azure.core.pipeline.policies.http_logging_policy": "NOTSET"}

