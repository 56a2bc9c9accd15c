"""Split answers into claims (sentences), in one piece or incrementally as a stream arrives.

Splitting keeps the original text: the pieces concatenate back to exactly the input, so a streamed answer can
be released piece by piece without ever changing what the client already saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*|\n")
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "no",
        "fig",
        "approx",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "mt",
        "u.s",
    }
)
_WORD = re.compile(r"\w+")
MIN_CLAIM_WORDS = 3


@dataclass(frozen=True)
class Piece:
    """A span of the answer ending at a sentence boundary; `claim` is what gets scored (None: nothing)."""

    text: str

    @property
    def claim(self) -> str | None:
        stripped = self.text.strip()
        if stripped.endswith("?") or len(_WORD.findall(stripped)) < MIN_CLAIM_WORDS:
            return None
        return stripped


def _is_abbreviation(text: str, end: int) -> bool:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end].lower().strip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def boundaries(text: str, final: bool) -> list[int]:
    """End offsets of complete sentences; unless `final`, a boundary needs the next sentence begun."""
    ends: list[int] = []
    for match in _END.finditer(text):
        end = match.end()
        if match.group() == "\n":
            ends.append(end)
            continue
        rest = text[end:]
        if rest and not rest[0].isspace():
            continue  # 3.5, e.g.x, URLs: not a boundary
        if _is_abbreviation(text, match.start()):
            continue
        nxt = rest.lstrip()
        if not nxt:
            if final:
                ends.append(end)
            continue
        if nxt[0].islower():
            continue
        ends.append(end)
    return ends


def split(text: str) -> list[Piece]:
    """The whole answer as pieces; their texts concatenate back to `text`."""
    pieces: list[Piece] = []
    start = 0
    for end in boundaries(text, final=True):
        if end > start:
            pieces.append(Piece(text[start:end]))
            start = end
    if start < len(text):
        pieces.append(Piece(text[start:]))
    return pieces


def claims(text: str) -> list[str]:
    """The sentences of `text` that make a checkable statement."""
    return [c for p in split(text) if (c := p.claim) is not None]


class SentenceBuffer:
    """Accumulates streamed deltas and hands out complete pieces as soon as their sentence has ended."""

    def __init__(self) -> None:
        self._text = ""

    def feed(self, delta: str) -> list[Piece]:
        self._text += delta
        ends = boundaries(self._text, final=False)
        if not ends:
            return []
        pieces, start = [], 0
        for end in ends:
            if end > start:
                pieces.append(Piece(self._text[start:end]))
                start = end
        self._text = self._text[start:]
        return pieces

    def finish(self) -> list[Piece]:
        """Whatever remains once the stream ended."""
        rest, self._text = self._text, ""
        return split(rest)


def passages(text: str, sentences_per_passage: int = 3, max_chars: int = 800) -> list[str]:
    """Context cut into short passages of a few sentences (what an NLI model can read at once)."""
    out: list[str] = []
    current: list[str] = []
    for piece in split(text):
        sentence = piece.text.strip()
        if not sentence:
            continue
        current.append(sentence)
        if len(current) >= sentences_per_passage or sum(map(len, current)) >= max_chars:
            out.append(" ".join(current)[:max_chars])
            current = []
    if current:
        out.append(" ".join(current)[:max_chars])
    return out
