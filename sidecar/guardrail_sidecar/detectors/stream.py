"""Redaction of a stream: emit at once whatever no later text can turn into (part of) a match; hold back the rest.

The output of `feed`* + `finish` is exactly `PiiDetector.redact(whole text).text`, however the text was split: every
finder reads regions that later text cannot change once closed (`Span`), and the stream holds back from the first
region still open (in practice the last word or number, or a private key block until its footer). The last emitted
character is kept as context: finders look one character around a region ("digits glued to a letter")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from guardrail_sidecar.detectors.engine import Finding, PiiDetector, replace
from guardrail_sidecar.detectors.entities import Entity, Span


class StreamRedactor:
    def __init__(self, detector: PiiDetector) -> None:
        self.detector = detector
        self.counts: Counter[Entity] = Counter()
        self._buffer = ""
        self._context = ""  # the last character emitted

    @property
    def held(self) -> str:
        """The text received but not yet emitted (never logged: it may hold a secret)."""
        return self._buffer

    def feed(self, text: str) -> str:
        self._buffer += text
        window = self._context + self._buffer
        cut = safe_prefix(window, list(self.detector.spans(window)))
        return self._emit(window, cut) if cut > len(self._context) else ""

    def finish(self) -> str:
        window = self._context + self._buffer
        return self._emit(window, len(window))

    def _emit(self, window: str, cut: int) -> str:
        skip = len(self._context)
        findings = [f for f in self.detector.find(window[:cut]) if f.start >= skip]
        self.counts.update(f.entity for f in findings)
        out = replace(window[skip:cut], [_shift(f, -skip) for f in findings])
        self._context, self._buffer = window[cut - 1 : cut], window[cut:]
        return out


def safe_prefix(text: str, spans: Sequence[Span]) -> int:
    """The longest prefix of `text` whose redaction no continuation of `text` can change."""
    cut = min((s.start for s in spans if s.open), default=len(text))
    moved = True
    while moved:  # a closed region that straddles the cut is held back whole
        moved = False
        for s in spans:
            if s.start < cut < s.end:
                cut, moved = s.start, True
    return cut


def _shift(f: Finding, offset: int) -> Finding:
    return Finding(f.start + offset, f.end + offset, f.entity, f.matches)
