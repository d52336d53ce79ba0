"""Reporting's own helpers (onboarding/ has a different helpers.py; each folder imports its own)."""

ASSIGNED = {
    "org-contoso": {"M365_BUSINESS_BASIC": 42, "M365_E3": 7},
    None: {"M365_BUSINESS_BASIC": 3},
}


def license_counts(org_id):
    return dict(ASSIGNED.get(org_id, {}))


def period_label(weeks):
    return "last week" if weeks == 1 else f"last {weeks} weeks"
