"""`@workflow(schedule=...)`: checked at import, so a typo is a load error naming the workflow, not a silent never.

Validated now; the schedules issue acts on it (a timer fires each slot once). A schedule is a five-field cron
expression, `minute hour day-of-month month day-of-week`, in UTC: `*/15 * * * *`, `0 6 * * MON-FRI`. (Azure's
six-field NCRONTAB, with seconds, is for the app's own timer triggers, not for workflow schedules.)
"""

from __future__ import annotations

from croniter import croniter

EXAMPLE = "'0 6 * * 1-5' (06:00 UTC on weekdays)"


def check_schedule(schedule: object) -> str | None:
    """The expression, normalised to single spaces; ValueError saying what is wrong with it otherwise."""
    if schedule is None:
        return None
    if not isinstance(schedule, str):
        raise ValueError(f"schedule must be a cron expression (text), got {type(schedule).__name__}")
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule {schedule!r} has {len(fields)} fields; use five (minute hour day month weekday), "
            f"e.g. {EXAMPLE}"
        )
    expression = " ".join(fields)
    if not croniter.is_valid(expression, strict=True):  # strict: also a date that never comes (30 February)
        raise ValueError(f"schedule {schedule!r} is not a valid cron expression, e.g. {EXAMPLE}")
    return expression
