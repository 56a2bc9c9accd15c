"""Text as the injection detector should read it: the disguises a model reads through, taken off. Pure.

An LLM reads through look-alike letters, full-width forms and invisible characters that a classifier's
tokenizer does not (the embedding tokenizer turns full-width `ignore` into [UNK] and drops Unicode tag
characters).
`for_detection` undoes them, for scoring only (the request is forwarded unchanged):

1. Unicode tag characters (U+E0020-E007E, "ASCII smuggling": invisible, yet some models read them) become
   the ASCII they encode, so a smuggled instruction is scored as text;
2. NFKC: full-width, mathematical and other compatibility forms become plain letters;
3. invisible characters go: format characters (zero-width space/joiners, bidi controls, soft hyphen, BOM),
   variation selectors, the combining grapheme joiner, Hangul fillers; other controls become spaces;
4. look-alike letters (Unicode TR39 confusables, from `confusable-homoglyphs`) become their ASCII twin in
   words that mix scripts (`Ignore` with a Cyrillic `o`) or consist only of look-alikes (`ignore` written
   in Cyrillic letters); a word in another script that does not pretend to be Latin is left alone.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

_TAGS = {cp: chr(cp - 0xE0000) for cp in range(0xE0020, 0xE007F)}
_INVISIBLE_EXTRA = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E),  # CGJ, Hangul fillers, Mongolian vowel separator
        *range(0xFE00, 0xFE10),  # variation selectors
        *range(0xE0100, 0xE01F0),  # variation selectors supplement
    ]
)
_WORD = re.compile(r"\w+")


@functools.cache
def _twins() -> dict[str, str]:
    """Each non-ASCII letter that looks like an ASCII letter or digit, mapped to it (case kept where the data
    knows the lower-case twin)."""
    from confusable_homoglyphs.confusables import confusables_data  # ~1 MB of data: loaded on first use

    def ascii_twin(char: str) -> str | None:
        for entry in confusables_data.get(char, []):
            twin = entry.get("c", "")
            if len(twin) == 1 and twin.isascii() and twin.isalnum():
                return str(twin)
        return None

    out: dict[str, str] = {}
    for char in confusables_data:
        if len(char) != 1 or char.isascii() or not char.isalnum():
            continue
        lower = char.lower()
        via_lower = ascii_twin(lower) if char.isupper() and lower != char else None
        twin = via_lower.upper() if via_lower else ascii_twin(char)
        if twin:
            out[char] = twin
    return out


def _deconfuse(match: re.Match[str]) -> str:
    word = match.group()
    if word.isascii():
        return word
    twins = _twins()
    foreign = [c for c in word if not c.isascii() and c.isalpha()]
    mixed = any(c.isascii() and c.isalpha() for c in word)
    if mixed or (foreign and all(c in twins for c in foreign)):
        return "".join(twins.get(c, c) for c in word)
    return word


@functools.cache
def _invisible() -> dict[int, str | None]:
    """A `str.translate` table: format characters and the extras removed, other controls made spaces."""
    table: dict[int, str | None] = dict.fromkeys(_INVISIBLE_EXTRA)
    for cp in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if category == "Cf":
            table[cp] = None
        elif category == "Cc" and chr(cp) not in "\t\n\r":
            table[cp] = " "
    return table


def for_detection(text: str) -> str:
    """`text` with tag characters decoded, NFKC-normalised, invisible characters removed and look-alike
    letters in disguised words mapped to ASCII."""
    if text.isascii():
        return text.translate(_invisible())
    text = unicodedata.normalize("NFKC", text.translate(_TAGS)).translate(_invisible())
    return _WORD.sub(_deconfuse, text)
