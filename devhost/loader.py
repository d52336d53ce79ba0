"""Load `function_app.py` and turn `app.get_functions()` into plain records the listeners can host.

Like the Python worker, devhost imports the script root's `function_app` module, finds its one `FunctionApp`
(any `FunctionRegister`), and reads each function's trigger from the same binding metadata the real host gets —
so nothing about the app's own routes or queues is known in advance.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost.settings import is_disabled

log = logging.getLogger("devhost.loader")

SCRIPT_FILE = "function_app"
HTTP, QUEUE, TIMER = "httpTrigger", "queueTrigger", "timerTrigger"
SUPPORTED_TRIGGERS = (HTTP, QUEUE, TIMER)
# Bindings with no effect on the call: the HTTP trigger's `$return` output.
_PASSIVE_BINDINGS = ("http",)


class LoadError(RuntimeError):
    """function_app.py could not be imported or holds no FunctionApp."""


@dataclass(frozen=True)
class FunctionSpec:
    """One hosted function: its name, trigger binding (as in function.json) and the user's Python callable."""

    name: str
    trigger: dict[str, Any]
    user_function: Callable[..., Any]
    is_async: bool
    wants_context: bool
    directory: str

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def arg_name(self) -> str:
        return str(self.trigger["name"])


def import_app(script_root: Path) -> func.FunctionRegister:
    """Import `function_app` from the script root (put first on sys.path) and return its FunctionApp."""
    root = str(script_root.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    if not (script_root / f"{SCRIPT_FILE}.py").is_file():
        raise LoadError(f"No {SCRIPT_FILE}.py in {root}; pass --script-root or run from the app's folder.")
    module = importlib.import_module(SCRIPT_FILE)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if len(apps) != 1:
        raise LoadError(f"{SCRIPT_FILE}.py must define exactly one FunctionApp; found {len(apps)}.")
    return apps[0]


def load_functions(script_root: Path) -> list[FunctionSpec]:
    """Every function of the app that devhost can host; others are reported and skipped, as the host does."""
    specs = []
    for function in import_app(script_root).get_functions():
        spec = _to_spec(function, str(script_root.resolve()))
        if spec is not None:
            specs.append(spec)
    return specs


def _to_spec(function: Any, directory: str) -> FunctionSpec | None:
    name = function.get_function_name()
    bindings = json.loads(function.get_function_json())["bindings"]
    trigger = next((b for b in bindings if b["type"].endswith("Trigger")), None)
    if is_disabled(name):
        log.info("Function '%s' is disabled by AzureWebJobs.%s.Disabled.", name, name)
        return None
    if trigger is None or trigger["type"] not in SUPPORTED_TRIGGERS:
        log.error("Function '%s' skipped: devhost hosts only %s triggers.", name, ", ".join(SUPPORTED_TRIGGERS))
        return None
    others = [b for b in bindings if b is not trigger and b["type"] not in _PASSIVE_BINDINGS]
    if others:
        log.error(
            "Function '%s' skipped: devhost does not support its %s binding(s).", name, [b["type"] for b in others]
        )
        return None
    user_function = function.get_user_function()
    parameters = inspect.signature(user_function).parameters
    return FunctionSpec(
        name=name,
        trigger=trigger,
        user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        wants_context="context" in parameters and trigger["name"] != "context",
        directory=directory,
    )
