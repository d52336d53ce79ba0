"""functionTimeout as the Functions host enforces it for an out-of-process (Python) worker.

When an invocation runs past `functionTimeout` the host logs `Timeout value of 00:05:00 exceeded by function
'Functions.x' (Id: '...'). Initiating cancellation.`, fails that invocation (an HTTP caller gets 500, a queue message
is retried), waits a short grace period and then restarts the worker process, which ends every invocation still
running on it. The Python worker never sees a cancellation: its code simply stops with the process. devhost does the
same: the timed-out call is abandoned, not cancelled, and the host is recycled (os.execv) after `RESTART_GRACE_SECONDS`.
"""

from __future__ import annotations

DEFAULT_SECONDS = 30 * 60.0  # the host's default outside the Consumption plan (Core Tools, Premium, Flex, Dedicated)
CONSUMPTION_DEFAULT_SECONDS = 5 * 60.0
CONSUMPTION_MAX_SECONDS = 10 * 60.0
MIN_SECONDS = 1.0
RESTART_GRACE_SECONDS = 2.0  # between the timeout and the worker restart (about 2 s in the host's own logs)
SKU_SETTING = "WEBSITE_SKU"  # "Dynamic" on the Consumption plan


class FunctionTimeoutError(TimeoutError):
    """An invocation ran past functionTimeout; it has been abandoned and the host is about to recycle."""


def format_timespan(seconds: float) -> str:
    """A .NET TimeSpan's default text (`[d.]hh:mm:ss[.fffffff]`), as the host's messages show it."""
    ticks = round(seconds * 10_000_000)
    days, rest = divmod(ticks, 86_400 * 10_000_000)
    hours, rest = divmod(rest, 3_600 * 10_000_000)
    minutes, rest = divmod(rest, 60 * 10_000_000)
    whole, fraction = divmod(rest, 10_000_000)
    text = f"{hours:02d}:{minutes:02d}:{whole:02d}"
    if fraction:
        text += f".{fraction:07d}"
    return f"{days}.{text}" if days else text


def timeout_message(seconds: float, function_name: str, invocation_id: str) -> str:
    """The host's log line when the timeout fires."""
    return (
        f"Timeout value of {format_timespan(seconds)} exceeded by function 'Functions.{function_name}' "
        f"(Id: '{invocation_id}'). Initiating cancellation."
    )
