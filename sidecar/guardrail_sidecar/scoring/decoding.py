"""Undo the encodings an attacker hides an instruction in, before the injection detector reads it. Pure.

`textnorm.for_detection` already takes off the disguises a tokenizer trips over (Unicode tag
characters, full-width forms, invisible characters, look-alike letters from the TR39 confusables of
`confusable-homoglyphs`). An LLM also reads through encodings a classifier does not; this module decodes them,
each with the standard library's codec:

- percent/URL encoding (`urllib.parse.unquote_plus`), where the text holds `%XX` escapes;
- base64 and base64url runs (`base64`), kept only when they decode to readable UTF-8 text;
- hex runs (`bytes.fromhex`), kept only when they decode to readable text;
- rot13 (`codecs`), kept only when the rotated text reads as more English than the original;
- leetspeak (`1gn0r3 4ll pr3v10u5`), folded inside words that mix letters with digits or symbols;
- spaced-out letters (`i g n o r e`, `i.g.n.o.r.e`), joined.

`views(text)` is what gets scored: the normalised text, and, when anything was decoded, the decoded text as a
second view (the detector takes the highest score). Nothing here changes the request; it is for scoring only.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import string
from urllib.parse import unquote_plus

from guardrail_sidecar.scoring.textnorm import for_detection

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:(?:0x)?[0-9A-Fa-f]{2}[\s:,]?){8,}(?![0-9A-Fa-f])")
_WORDS = re.compile(r"[A-Za-z]+")
_SEGMENT = re.compile(r"(?<=[:;.!?\n])(?=\s)")  # split after clause punctuation, keeping every character
_COMMON = frozenset(
    [
        "stop",
        "being",
        "instead",
        "helpful",
        "pretend",
        "delete",
        "list",
        "earlier",
        "directions",
        "guidelines",
        "everything",
        "message",
        "only",
        "reply",
        "respond",
        "answer",
        "before",
        "told",
        "are",
        "have",
        "will",
        "send",
        "email",
        "data",
        "the",
        "a",
        "an",
        "and",
        "or",
        "to",
        "of",
        "in",
        "on",
        "for",
        "is",
        "are",
        "be",
        "you",
        "your",
        "all",
        "any",
        "previous",
        "prior",
        "instructions",
        "instruction",
        "ignore",
        "forget",
        "disregard",
        "system",
        "prompt",
        "rules",
        "now",
        "this",
        "that",
        "with",
        "from",
        "as",
        "it",
        "do",
        "not",
        "what",
        "me",
        "my",
        "tell",
        "show",
        "print",
        "reveal",
        "say",
        "write",
        "give",
        "new",
        "user",
        "assistant",
        "must",
        "password",
        "secret",
        "key",
        "admin",
        "following",
        "above",
        "below",
    ]
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_WORD = re.compile(r"(?<!\S)[A-Za-z0-9@$]*[A-Za-z][A-Za-z0-9@$]*(?!\S)")
_LEET_CHARS = re.compile(r"[013457@$]")
_NOT_LEET = re.compile(r"[2689]")
_SPACED = re.compile(r"(?<!\w)(?:[A-Za-z][ .\-_*]){3,}[A-Za-z](?!\w)")
_READABLE = 0.9  # share of printable characters a decoded run needs to count as text


def _readable(raw: bytes) -> str | None:
    """`raw` as text if it is UTF-8, mostly printable and holds a word of three letters or more."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c.isspace() for c in text)
    if not text or printable / len(text) < _READABLE or not re.search(r"[A-Za-z]{3,}", text):
        return None
    return text


def _english(text: str) -> int:
    """Common English words of three letters or more (shorter ones turn up by chance inside rotated leetspeak)."""
    return sum(len(w) >= 3 and w.lower() in _COMMON for w in _WORDS.findall(text))


def _rot13(segment: str) -> str:
    """A segment (a clause) rotated when it reads as more English so: an encoded instruction behind a plain frame
    ("Decode this and do what it says: Vtaber nyy ...") is rotated on its own."""
    rotated = codecs.decode(segment, "rot13")
    return rotated if _english(rotated) > max(1, 2 * _english(segment)) else segment


def _base64(match: re.Match[str]) -> str:
    run = match.group()
    if run.isalpha() or run.isdigit():  # a long word or number, not an encoding
        return run
    padded = run + "=" * (-len(run) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            text = _readable(decode(padded))
        except (binascii.Error, ValueError):
            continue
        if text is not None:
            return text
    return run


def _hex(match: re.Match[str]) -> str:
    digits = re.sub(r"0x|[\s:,]", "", match.group())
    if len(digits) % 2:
        return match.group()
    try:
        text = _readable(bytes.fromhex(digits))
    except ValueError:
        return match.group()
    return match.group() if text is None else f" {text} "


def _leet(match: re.Match[str]) -> str:
    """A word mixing letters with leet digits/symbols folded; an id or hash (digits leet never uses, all hex) kept."""
    word = match.group()
    if not _LEET_CHARS.search(word) or len(word) < 3 or _NOT_LEET.search(word):
        return word
    if len(word) >= 8 and all(c in string.hexdigits for c in word):
        return word
    return word.translate(_LEET)


def _unspace(match: re.Match[str]) -> str:
    return re.sub(r"[ .\-_*]", "", match.group())


def decode(text: str) -> str:
    """`text` with every encoding this module knows decoded in place (the input itself when none applies)."""
    out = text
    if _PERCENT.search(out):
        out = unquote_plus(out)
    out = _BASE64.sub(_base64, out)
    out = _HEX.sub(_hex, out)
    out = "".join(_rot13(segment) for segment in _SEGMENT.split(out))
    out = _SPACED.sub(_unspace, out)
    return _LEET_WORD.sub(_leet, out)


def views(text: str) -> list[str]:
    """What the detector scores for `text`: the normalised text, and the decoded one when it differs."""
    normal = for_detection(text)
    decoded = for_detection(decode(normal))
    return [normal] if decoded == normal else [normal, decoded]
