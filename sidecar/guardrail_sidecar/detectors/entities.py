"""What a PII finder reports: an entity type, where it is, and how sure the finder is."""

from __future__ import annotations

from dataclasses import dataclass

from guardrail_contract.detectors import PII_ENTITIES as ENTITIES
from guardrail_contract.detectors import PiiEntity as Entity

__all__ = ["ENTITIES", "PLACEHOLDER", "Entity", "Match", "Span"]

# What replaces a match in a redacted text: the entity type, never any of the original characters.
PLACEHOLDER: dict[Entity, str] = {e: f"[{e.upper()}]" for e in ENTITIES}


@dataclass(frozen=True, slots=True)
class Match:
    """One finding: text[start:end] is a `kind` (e.g. "us_ssn") of `entity`, with a confidence in [0, 1]."""

    start: int
    end: int
    entity: Entity
    kind: str
    score: float

    def shifted(self, offset: int) -> Match:
        return Match(self.start + offset, self.end + offset, self.entity, self.kind, self.score)


@dataclass(frozen=True, slots=True)
class Span:
    """A region a finder reads as a whole (a run of the characters its entity can contain, or a key block).

    `open` means text arriving later could still extend it, so a stream must hold it back."""

    start: int
    end: int
    open: bool
