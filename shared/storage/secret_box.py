"""Encryption of config secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, keys from settings.

CONDUIT_SECRETS_KEY holds one or more Fernet keys, comma-separated. The first encrypts every secret written; all of
them decrypt (MultiFernet), so a key is rotated by putting a new key first, re-encrypting every stored secret with
`make rotate-secrets` (scripts/rotate_secrets.py), and only then removing the old key. Without the setting nothing
is encrypted and nothing is stored: a secret is never written in clear.

Fernet tokens are authenticated: a token altered in storage, or encrypted with a key no longer listed, does not
decrypt at all (SecretUnreadableError) rather than decrypting to something else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.errors import SecretsNotConfiguredError, SecretUnreadableError

KEY_SETTING = "CONDUIT_SECRETS_KEY"


@dataclass(frozen=True)
class SecretBox:
    """The keys of CONDUIT_SECRETS_KEY: encrypt with the first, decrypt with any."""

    keys: tuple[Fernet, ...]

    @classmethod
    def from_env(cls) -> SecretBox:
        """The box of the current setting (read on every call: a key added to the settings counts at once)."""
        return cls.from_setting(os.environ.get(KEY_SETTING, ""))

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        """Keys from `value` ("key1,key2"); SecretsNotConfiguredError naming the entry that is not a Fernet key."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        keys = []
        for number, entry in enumerate(entries, 1):
            try:
                keys.append(Fernet(entry))
            except (ValueError, TypeError):
                raise SecretsNotConfiguredError(
                    f"Entry {number} of the setting {KEY_SETTING} is not a Fernet key (32 bytes, URL-safe base64, 44 "
                    "characters). Generate one with `python scripts/rotate_secrets.py --generate-key`."
                ) from None
        return cls(tuple(keys))

    @property
    def configured(self) -> bool:
        return bool(self.keys)

    def encrypt(self, plaintext: str) -> str:
        """The Fernet token of `plaintext` under the first key; refused when no key is configured."""
        return self._first().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, what: str = "a secret") -> str:
        """The plaintext of a token written with any listed key; SecretUnreadableError when none decrypts it."""
        try:
            return self._all().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadableError(
                f"{what} cannot be decrypted with any key of {KEY_SETTING}: the key it was encrypted with was "
                "removed before `make rotate-secrets` re-encrypted it, or the stored value was altered. Put the "
                "old key back (after the current first one) and run `make rotate-secrets`, or set the value again."
            ) from None

    def is_current(self, token: str) -> bool:
        """Whether `token` is already encrypted with the first key (rotation leaves such rows alone)."""
        try:
            self._first().decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def rotate(self, token: str, what: str = "a secret") -> str:
        """`token` re-encrypted with the first key (decrypted with whichever listed key wrote it)."""
        try:
            return self._all().rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            self.decrypt(token, what)  # raises the explanation
            raise

    def _first(self) -> Fernet:
        if not self.keys:
            raise SecretsNotConfiguredError(
                f"Secrets cannot be stored or read: the setting {KEY_SETTING} is not set. Set it to a Fernet key "
                "(generate one with `python scripts/rotate_secrets.py --generate-key`) and restart; secrets are "
                "never stored in clear."
            )
        return self.keys[0]

    def _all(self) -> MultiFernet:
        self._first()
        return MultiFernet(list(self.keys))


def generate_key() -> str:
    """A new random Fernet key (URL-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")
