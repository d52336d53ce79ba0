"""Schedules: `@workflow(schedule=...)` fired exactly once per slot by a timer on any number of instances, the
catch-up and overlap policies, and the admin's list / trigger / pause / resume."""
