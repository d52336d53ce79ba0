"""Triage rules of the service desk (imported by plain name from this folder's workflows)."""

URGENT_WORDS = ("down", "outage", "breach")


def priority_for(summary, board=None):
    if any(word in summary.lower() for word in URGENT_WORDS):
        return "P1"
    return "P2" if board == "Escalations" else "P3"
