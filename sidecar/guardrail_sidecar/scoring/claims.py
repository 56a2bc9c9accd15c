"""Split answers into claims (sentences), in one piece or incrementally as a stream arrives.

Splitting keeps the original text: the pieces concatenate back to exactly the input, so a streamed answer can
be released piece by piece without ever changing what the client already saw.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
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
_NON_SPACE = re.compile(r"\S")
_ABBREVIATION_LOOKBACK = 12
_TAIL_CHARS = ".!?\"')]\u201d\u2019 \t\r\n\f\v\u00a0"
_UNDECIDED_TAIL = 256  # a longer run of punctuation and spaces: only its end is looked at again
MIN_CLAIM_WORDS = 3
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # "J.K" of "J.K. Rowling", "U.S" of "the U.S. team"
MAX_CLAIM_CHARS = 1000  # a longer run without a sentence end is cut (the NLI model reads ~256 tokens anyway)


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

    @property
    def fragment(self) -> str | None:
        """A statement too short to check on its own ("Rowling.", "90 days."), or None."""
        stripped = self.text.strip()
        if stripped.endswith("?") or not 0 < len(_WORD.findall(stripped)) < MIN_CLAIM_WORDS:
            return None
        return stripped


def claim_texts(pieces: Iterable[Piece], last: str | None = None) -> tuple[list[str], str | None]:
    """The claims of consecutive pieces of one answer, and its last full sentence so far (pass it to the next
    call, as a stream does). A fragment after a sentence is checked read after that sentence, never dropped: an
    answer's fabricated "90 days." or the surname of a split name must not pass unchecked; a leading fragment
    ("Sure.", "Yes.") is chit-chat unless the whole answer is one (`pipeline.claims_of`: with the question)."""
    out: list[str] = []
    for piece in pieces:
        if (claim := piece.claim) is not None:
            out.append(claim)
            last = claim
        elif (fragment := piece.fragment) is not None and last is not None:
            out.append(f"{last} {fragment}")
    return out, last


def _is_abbreviation(text: str, end: int) -> bool:
    start = end
    floor = max(0, end - _ABBREVIATION_LOOKBACK)  # abbreviations are short: never scan a long word back
    while start > floor and not text[start - 1].isspace():
        start -= 1
    word = text[start:end].lower().strip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()) or _INITIALS.fullmatch(word) is not None


def _visible(text: str, i: int) -> int:
    """The index of the first character at or after `i` that is not an invisible format character (Cf)."""
    while i < len(text) and unicodedata.category(text[i]) == "Cf":
        i += 1
    return i


def _glued(text: str, start: int, after: int) -> bool:
    """A sentence end with no space after it, as in "returned item.Our headquarters" (invisible characters
    between them count as nothing): a lower-case letter before the punctuation, an upper-case one after it.
    Splitting there keeps a grounded sentence from carrying an ungrounded one past the check as one claim."""
    return start > 0 and text[start - 1].islower() and text[after].isupper()


def _natural(text: str, final: bool, lo: int = 0) -> Iterator[int]:
    """End offsets of sentences by punctuation and newlines, looking from `lo` (lazily; linear in the text
    scanned)."""
    for match in _END.finditer(text, lo):
        end = match.end()
        if match.group() == "\n":
            yield end
            continue
        after = _visible(text, end)
        if after < len(text) and not text[after].isspace():
            if _glued(text, match.start(), after):  # "item.Our": two sentences glued, each checked on its own
                yield end
            continue  # 3.5, e.g.x, URLs: not a boundary
        if _is_abbreviation(text, match.start()):
            continue
        nxt = _NON_SPACE.search(text, end)
        if nxt is None:
            if final:
                yield end
            continue
        if nxt.group().islower():
            continue
        yield end


def _forced(text: str, start: int, stop: int) -> list[int]:
    """Cuts between `start` and `stop` so no piece is longer than MAX_CLAIM_CHARS: at the last space that
    keeps a piece within the limit, else at the limit itself."""
    cuts = []
    while stop - start > MAX_CLAIM_CHARS:
        limit = start + MAX_CLAIM_CHARS
        space = max(text.rfind(" ", start + 1, limit), text.rfind("\t", start + 1, limit))
        start = space + 1 if space > start else limit
        cuts.append(start)
    return cuts


def boundaries(text: str, final: bool, lo: int = 0) -> list[int]:
    """End offsets of complete sentences; unless `final`, a boundary needs the next sentence begun.

    A run of text with no sentence end is cut every MAX_CLAIM_CHARS at most (at a space where it can), so an
    unpunctuated answer or stream is split in linear time into claims the NLI model can read. `lo`: no
    sentence ends before it (a stream's buffer already looked at)."""
    return list(_boundaries(text, final, lo))


def _boundaries(text: str, final: bool, lo: int = 0) -> Iterator[int]:
    start = 0
    for end in _natural(text, final, lo):
        yield from _forced(text, start, end)
        yield end
        start = end
    yield from _forced(text, start, len(text))  # the unfinished rest: cut only where it is too long


def _undecided_from(text: str) -> int:
    """Where the trailing run of punctuation, closing quotes and spaces begins (at most UNDECIDED_TAIL chars
    back): a sentence end found there may still become a boundary as more text arrives; the ones before it
    were decided for good."""
    return max(len(text.rstrip(_TAIL_CHARS)), len(text) - _UNDECIDED_TAIL)


def split(text: str) -> list[Piece]:
    """The whole answer as pieces; their texts concatenate back to `text`."""
    return list(_pieces(text))


def _pieces(text: str) -> Iterator[Piece]:
    """`split`, lazily: a caller that stops early does not pay for the rest of a long text."""
    start = 0
    for end in _boundaries(text, final=True):
        if end > start:
            yield Piece(text[start:end])
            start = end
    if start < len(text):
        yield Piece(text[start:])


def claims(text: str) -> list[str]:
    """The sentences of `text` that make a checkable statement."""
    return claim_texts(split(text))[0]


class SentenceBuffer:
    """Accumulates streamed deltas and hands out complete pieces as soon as their sentence has ended."""

    def __init__(self) -> None:
        self._text = ""
        self._maybe_end = False  # the buffer holds a sentence-end character (a boundary may be pending)
        self._scan_from = 0  # no sentence ends before this offset of the buffer (nothing to rescan there)

    def feed(self, delta: str) -> list[Piece]:
        self._text += delta
        self._maybe_end = self._maybe_end or _END.search(delta) is not None
        if not self._maybe_end and len(self._text) <= MAX_CLAIM_CHARS:
            return []  # nothing can end here yet: don't rescan the buffer for every token
        ends = boundaries(self._text, final=False, lo=self._scan_from)
        if not ends:
            self._scan_from = _undecided_from(self._text)
            return []
        pieces, start = [], 0
        for end in ends:
            if end > start:
                pieces.append(Piece(self._text[start:end]))
                start = end
        self._text = self._text[start:]
        self._maybe_end = _END.search(self._text) is not None
        self._scan_from = 0
        return pieces

    def finish(self) -> list[Piece]:
        """Whatever remains once the stream ended."""
        rest, self._text, self._maybe_end, self._scan_from = self._text, "", False, 0
        return split(rest)


def sentences(text: str, min_words: int = 1) -> Iterator[str]:
    """The sentences of `text` (stripped, lazily), a fragment of fewer than `min_words` words joined to the next
    sentence (the last one to the previous); a run of fragments is cut once it reaches MAX_CLAIM_CHARS."""
    held: str | None = None  # the last sentence, given out once it is known whether a fragment follows it
    pending: list[str] = []
    words = chars = 0
    for piece in _pieces(text):
        stripped = piece.text.strip()
        if not stripped:
            continue
        pending.append(stripped)
        words += len(_WORD.findall(stripped))
        chars += len(stripped) + 1
        if words >= min_words or chars >= MAX_CLAIM_CHARS:
            if held is not None:
                yield held
            held = " ".join(pending)
            pending, words, chars = [], 0, 0
    if pending:
        rest = " ".join(pending)
        held = rest if held is None else f"{held} {rest}"
    if held is not None:
        yield held


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
