"""Decorator arguments Conduit does not take: what the load error says about each.

An argument the seed system (Bifrost) has and Conduit does not is named as such, with what it did there and what
to do here; any other unknown argument gets the nearest known name. Both are load errors, never ignored: a workflow
that silently loses `is_tool` or a misspelt `schedul=` would behave differently from what its author wrote.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_NO_TOOLS = "Conduit has no AI agent tools; remove it (the workflow still runs from HTTP, queues and schedules)"
_NO_ROI = "Conduit does not report time or money saved; remove it"

# Arguments of the seed system's @workflow / @data_provider / @param that Conduit has no equivalent for.
SEED_ONLY: dict[str, str] = {
    "id": "it is the persistent id Bifrost writes into the file; Conduit identifies a function by its name, so "
          "remove id=... (pass name=... to keep a name that differs from the function's)",
    "is_tool": f"it made the workflow an AI agent tool; {_NO_TOOLS}",
    "tool_description": f"it was the description AI agents saw; {_NO_TOOLS}, or move the text to description=...",
    "time_saved": f"it recorded minutes saved per run for Bifrost's ROI reports; {_NO_ROI}",
    "value": f"it recorded the value of a run for Bifrost's ROI reports; {_NO_ROI}",
    "parameters": "it listed the inputs as dicts; declare each input with @param(...) below the decorator, or "
                  "with the function's own arguments and annotations",
}


def unknown_arguments_problem(decorator: str, unknown: Iterable[str], accepted: Iterable[str]) -> str:
    """One sentence per argument `decorator` does not take, saying what to do about it."""
    known = sorted(accepted)
    problems = []
    for name in sorted(unknown):
        if name in SEED_ONLY:
            problems.append(f"`{name}` is a Bifrost argument Conduit does not support: {SEED_ONLY[name]}")
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        problems.append(f"unknown argument `{name}`; {hint}{decorator} takes {', '.join(known)}")
    return ". ".join(problems)
