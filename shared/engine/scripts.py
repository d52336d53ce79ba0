"""Inline scripts: base64 Python run with `context` and the parameters in scope, its variables captured.

A script may use top-level `await`; such a script runs on the event loop, any other in a worker thread so a blocking
script cannot stall other executions. Decoding and compiling happen before anything runs, so a script that cannot
run is a 422 for the caller, not a failed execution.
"""

from __future__ import annotations

import ast
import base64
import binascii
import inspect
from dataclasses import dataclass
from types import CodeType
from typing import Any

from shared.errors import FieldError, InputValidationError
from shared.serialization import script_variables

MAX_SCRIPT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Script:
    """A compiled inline script."""

    name: str
    code: CodeType

    @property
    def is_async(self) -> bool:
        return bool(self.code.co_flags & inspect.CO_COROUTINE)


def compile_script(encoded: str, name: str = "script") -> Script:
    """Decode and compile base64 source; every problem is an `InputValidationError` on the `code` field."""
    try:
        source = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("is not valid base64") from None
    if len(source) > MAX_SCRIPT_BYTES:
        raise _invalid(f"is {len(source):,} bytes; scripts may be at most {MAX_SCRIPT_BYTES:,} bytes")
    try:
        text = source.decode("utf-8")
        code = compile(text, f"<script:{name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except UnicodeDecodeError:
        raise _invalid("does not decode to UTF-8 text") from None
    except SyntaxError as exc:
        raise _invalid(f"has a syntax error on line {exc.lineno}: {exc.msg}") from None
    return Script(name=name, code=code)


def _invalid(message: str) -> InputValidationError:
    return InputValidationError([FieldError("code", message)], "The script cannot be run")


def namespace_for(script: Script, injected: dict[str, Any]) -> dict[str, Any]:
    return {"__name__": "__main__", "__file__": f"<script:{script.name}>", "__builtins__": __builtins__, **injected}


def run_sync(script: Script, namespace: dict[str, Any]) -> None:
    exec(script.code, namespace)


async def run_async(script: Script, namespace: dict[str, Any]) -> None:
    outcome = eval(script.code, namespace)
    if inspect.iscoroutine(outcome):
        await outcome


def script_outcome(namespace: dict[str, Any], injected: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The script's `result` variable as it is (None if unset) and all its variables, JSON-safe.

    Other variables are diagnostics and are made JSON-safe; `result` is the outcome and is judged like a workflow's
    return value, so a result holding NaN or a datetime is `ResultNotSerializable`, not a quietly altered string."""
    variables = script_variables(namespace, injected)
    return (namespace.get("result") if "result" in variables else None), variables
