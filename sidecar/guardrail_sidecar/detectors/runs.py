"""Finders that read maximal runs of the characters their entity can contain.

A run ends at the first character its entity cannot contain, so what a finder says about a closed run can never be
changed by text that arrives later: this is what lets a stream emit everything before the first open run."""

from __future__ import annotations

import re
from collections.abc import Iterator

from guardrail_sidecar.detectors.entities import Entity, Match, Span


class RunFinder:
    """Base: `characters` is a regex character-class body; `find_in_run` reads one run (and only that run)."""

    entity: Entity
    characters: str
    min_length = 1  # shorter runs hold nothing of this entity
    hint = ""  # a regex every run holding this entity matches somewhere (a cheap test before the real one)

    def __init__(self) -> None:
        self._run = re.compile(f"[{self.characters}]+")
        self._hint = re.compile(self.hint) if self.hint else None

    def spans(self, text: str) -> Iterator[Span]:
        """Open runs, and closed ones that may hold a match: a closed run too short or without the hint holds none,
        nor does any part of it, so a stream may cut through it."""
        for m in self._run.finditer(text):
            if m.end() == len(text) or self._may_hold(m.group()):
                yield Span(m.start(), m.end(), m.end() == len(text))

    def _may_hold(self, run: str) -> bool:
        return len(run) >= self.min_length and (self._hint is None or self._hint.search(run) is not None)

    def find(self, text: str) -> list[Match]:
        out: list[Match] = []
        for m in self._run.finditer(text):
            if not self._may_hold(m.group()):
                continue
            before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
            out.extend(found.shifted(m.start()) for found in self.find_in_run(m.group(), before, after))
        return out

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:  # pragma: no cover - overridden
        """The matches in `run`; `before`/`after` are the characters around it ("" at the ends of the text)."""
        raise NotImplementedError


def glued(run: str, start: int, end: int, before: str, after: str) -> bool:
    """Whether run[start:end] touches a letter: digits inside a word ("a14c1949910...", a hash) are not a number."""
    return (start == 0 and before.isalpha()) or (end == len(run) and after.isalpha())


def group_windows(chain: str, separators: str, max_chars: int) -> Iterator[tuple[int, int, str]]:
    """Every window of whole digit/letter groups of `chain` (groups split by single separator characters), longest
    first from each start: (start, end, text). A window never cuts a group, so "12345678901234" holds no 11-digit
    window."""
    groups = [(m.start(), m.end()) for m in re.finditer(f"[^{re.escape(separators)}]+", chain)]
    for i, (start, _) in enumerate(groups):
        ends = [end for _, end in groups[i:] if end - start <= max_chars]
        for end in reversed(ends):
            yield start, end, chain[start:end]


def pick_longest(candidates: list[Match]) -> list[Match]:
    """Non-overlapping matches, longest first (ties: earliest)."""
    chosen: list[Match] = []
    for m in sorted(candidates, key=lambda c: (-(c.end - c.start), c.start)):
        if all(m.end <= c.start or m.start >= c.end for c in chosen):
            chosen.append(m)
    return sorted(chosen, key=lambda c: c.start)
