"""Redaction by value: once an execution reads a secret, its value is replaced by `***` wherever the execution's
output is stored or returned (log lines, printed text, results, errors, steps, HTTP call records).

The value is also masked in the forms it is commonly written in: JSON-escaped (a secret with a quote or a backslash
inside a JSON document, or with non-ASCII characters escaped as \\uXXXX), URL-encoded (`quote`, with and without `/`
kept, and `quote_plus`) and base64 of the value alone (standard and URL-safe alphabets, with and without padding).
Base64 of a longer text that contains the secret (e.g. `user:secret` in a Basic header) is not: its characters
depend on the text around it.

Values shorter than MIN_REDACTED_LENGTH are not masked: a short secret (a PIN, "1234", "admin", "true") would also
mask every ordinary word or number that happens to spell it, and garble every log line, result and URL holding one;
an execution that reads one is told so in a WARNING line of its log.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_REDACTED_LENGTH = 6


def encoded_forms(value: str) -> set[str]:
    """`value` and the encodings of it that are masked too."""
    raw = value.encode("utf-8")
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
    }
    for encoded in (base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")):
        forms |= {encoded, encoded.rstrip("=")}
    return {form for form in forms if len(form) >= MIN_REDACTED_LENGTH}


class Redactor:
    """The secret values one execution has read, and the one pattern that masks all of them and their forms.

    Safe to use from the execution's threads: `add` builds a new pattern and swaps it in whole."""

    __slots__ = ("_forms", "_lock", "_pattern")

    def __init__(self) -> None:
        self._forms: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> bool:
        """Mask `value` from now on; False (and nothing masked) when it is shorter than MIN_REDACTED_LENGTH."""
        if len(value) < MIN_REDACTED_LENGTH:
            return False
        with self._lock:
            forms = self._forms | encoded_forms(value)
            if forms != self._forms:
                # Longest first, so a padded base64 form wins over its unpadded prefix and a value over its parts.
                alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
                self._pattern = re.compile(alternatives)
                self._forms = forms
        return True

    def text(self, text: str) -> str:
        """`text` with every masked form replaced by `***`."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it (dict keys too) masked; other values as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)
