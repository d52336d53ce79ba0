"""Re-encrypting every stored secret with the first key of CONDUIT_SECRETS_KEY (`make rotate-secrets`).

Run after putting a new key first in the setting; once it reports nothing unreadable, the old keys can be removed.
It is idempotent: a secret already encrypted with the first key is left alone (no write), so running it again, or
after an interruption, only finishes what is left. Each re-encrypted row is written ETag-conditionally: a secret an
admin changed or deleted meanwhile (a PUT encrypts with the first key already) is read again and decided again, so
that change is never overwritten with the older value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.errors import SecretUnreadableError, StaleRecordError
from shared.storage.config import ConfigEntry, ConfigStore
from shared.storage.secret_box import SecretBox

_ATTEMPTS = 5  # re-reads of one row that keeps changing under the rotation before it is reported as such


@dataclass
class RotationReport:
    """What one run did: re-encrypted, already current, gone or changed meanwhile, and what no key decrypts."""

    rotated: int = 0
    current: int = 0
    gone: int = 0
    busy: list[str] = field(default_factory=list)  # scope/key of rows that kept changing: run again
    unreadable: list[str] = field(default_factory=list)  # scope/key of rows no listed key decrypts

    @property
    def complete(self) -> bool:
        """Whether every stored secret is now encrypted with the first key (the old keys may be removed)."""
        return not self.busy and not self.unreadable


async def rotate_secrets(store: ConfigStore, box: SecretBox) -> RotationReport:
    """Re-encrypt every stored secret of every scope with `box`'s first key."""
    report = RotationReport()
    async for entry in store.secrets():
        await rotate_one(store, box, entry, report)
    return report


async def rotate_one(store: ConfigStore, box: SecretBox, entry: ConfigEntry, report: RotationReport) -> None:
    """Re-encrypt one secret as read in `entry`; a row changed since is read again and decided again."""
    name = f"{entry.scope}/{entry.key}"
    current: ConfigEntry | None = entry
    for _ in range(_ATTEMPTS):
        if current is None or not current.is_secret or current.token is None:
            report.gone += 1
            return
        if box.is_current(current.token):
            report.current += 1
            return
        try:
            token = box.rotate(current.token, f"Secret '{current.key}' of {current.scope}")
        except SecretUnreadableError:
            report.unreadable.append(name)
            return
        try:
            await store.replace_token(current, token)
        except StaleRecordError:
            current = await store.get(entry.scope, entry.key)
            continue
        report.rotated += 1
        return
    report.busy.append(name)
