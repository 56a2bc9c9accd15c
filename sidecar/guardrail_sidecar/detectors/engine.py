"""The PII engine: every finder over a text, overlaps merged, redaction, counts per entity type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from guardrail_sidecar.detectors.contact import EmailFinder, IpFinder, PhoneFinder
from guardrail_sidecar.detectors.entities import ENTITIES, PLACEHOLDER, Entity, Match, Span
from guardrail_sidecar.detectors.numbers import CardFinder, IbanFinder, NumericIdFinder, WordIdFinder
from guardrail_sidecar.detectors.secrets import PrivateKeyFinder, TokenFinder


class Finder(Protocol):
    """Reads regions (`spans`) whose findings text arriving later cannot change once the region is closed."""

    entity: Entity

    def spans(self, text: str) -> Iterable[Span]: ...

    def find(self, text: str) -> list[Match]: ...


def default_finders(entities: Iterable[Entity], phone_regions: Sequence[str]) -> list[Finder]:
    wanted = set(entities)
    finders: list[Finder] = [
        EmailFinder(),
        PhoneFinder(phone_regions),
        CardFinder(),
        IbanFinder(),
        NumericIdFinder(),
        WordIdFinder(),
        IpFinder(),
        TokenFinder(),
        PrivateKeyFinder(),
    ]
    return [f for f in finders if f.entity in wanted]


@dataclass(frozen=True)
class Finding:
    """One redacted region: its place, the entity type of its longest match, and every match merged into it."""

    start: int
    end: int
    entity: Entity
    matches: tuple[Match, ...] = field(compare=False)


@dataclass(frozen=True)
class Redacted:
    text: str
    findings: tuple[Finding, ...]

    @property
    def counts(self) -> Counter[Entity]:
        return Counter(f.entity for f in self.findings)


# When two entity types claim the same characters equally long, the first of these names the region.
_ORDER: tuple[Entity, ...] = ("secret", "payment_card", "iban", "national_id", "email", "ip_address", "phone")
_PRIORITY = {e: i for i, e in enumerate(_ORDER)}


def merge(matches: Iterable[Match]) -> list[Finding]:
    """Overlapping matches become one region (their union), named after the longest of them."""
    out: list[Finding] = []
    group: list[Match] = []
    end = -1
    for m in sorted(matches, key=lambda m: (m.start, -m.end)):
        if group and m.start >= end:
            out.append(_finding(group))
            group = []
        group.append(m)
        end = max(end, m.end) if len(group) > 1 else m.end
    if group:
        out.append(_finding(group))
    return out


def _finding(group: list[Match]) -> Finding:
    best = min(group, key=lambda m: (-(m.end - m.start), _PRIORITY[m.entity]))
    return Finding(min(m.start for m in group), max(m.end for m in group), best.entity, tuple(group))


class PiiDetector:
    """The built-in PII detector: `find` says what is where, `redact` replaces it with `[ENTITY]` placeholders.

    `threshold` drops matches whose confidence is lower (checksummed identifiers and prefixed keys score high; the
    weaker checks, e.g. Dutch BSN's 11-test or a high-entropy token, lower)."""

    def __init__(
        self,
        entities: Iterable[Entity] = ENTITIES,
        *,
        threshold: float = 0.5,
        phone_regions: Sequence[str] = ("US",),
    ) -> None:
        self.entities = tuple(dict.fromkeys(entities))
        self.threshold = threshold
        self.finders = default_finders(self.entities, phone_regions)

    def matches(self, text: str) -> list[Match]:
        return [m for f in self.finders for m in f.find(text) if m.score >= self.threshold]

    def find(self, text: str) -> list[Finding]:
        return merge(self.matches(text))

    def redact(self, text: str) -> Redacted:
        findings = self.find(text)
        return Redacted(replace(text, findings), tuple(findings))

    def spans(self, text: str) -> Iterator[Span]:
        for finder in self.finders:
            yield from finder.spans(text)


def replace(text: str, findings: Sequence[Finding]) -> str:
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts += [text[pos : f.start], PLACEHOLDER[f.entity]]
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)
