"""Onboarding's own helpers (reporting/ has a different helpers.py; each folder imports its own)."""

import hashlib

LICENSE_SKUS = {"M365_BUSINESS_BASIC": "Microsoft 365 Business Basic", "M365_E3": "Microsoft 365 E3"}


def username_for(first_name, last_name):
    return f"{first_name}.{last_name}".lower().replace(" ", "")


def temporary_password(seed, length=16):
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return ("Tmp!" + digest)[:length]


def leaver_mailbox(email):
    local, _, domain = email.partition("@")
    return f"leavers+{local}@{domain}"
