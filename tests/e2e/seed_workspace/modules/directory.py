"""A stand-in for the organization's user directory (what a real workspace would call Microsoft Graph for)."""

DOMAINS = {"org-contoso": "contoso.example", None: "example.org"}
PROTECTED = {"admin@contoso.example", "breakglass@contoso.example"}


def domain_for(org_id):
    return DOMAINS.get(org_id, "example.org")


def make_upn(username, org_id):
    return f"{username}@{domain_for(org_id)}"


def is_protected(email):
    return email.lower() in PROTECTED
