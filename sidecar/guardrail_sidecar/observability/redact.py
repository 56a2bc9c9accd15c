"""Masking of configured patterns (and common secrets) before text reaches a log line."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Always masked: bearer tokens, API-key-like strings, e-mail addresses.
_BUILTIN = (
    r"(?i)bearer\s+[a-z0-9._~+/=-]+",
    r"\b(?:sk|pk|rk|ghp|xox[abp])[-_][A-Za-z0-9_-]{8,}\b",
    r"[\w.+-]+@[\w-]+\.[\w.-]+",
)
MASK = "[REDACTED]"


class Redactor:
    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._patterns = [re.compile(p) for p in (*_BUILTIN, *patterns)]

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(MASK, text)
        return text
