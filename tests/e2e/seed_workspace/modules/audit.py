"""Audit lines for any workflow: reads the running execution from `bifrost.context`, so callers pass nothing."""

from bifrost import context


def record(action, **details):
    context.info(f"audit: {action}", {"org": context.org_id, "execution": context.execution_id, **details})
