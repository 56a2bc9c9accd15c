"""Payment cards (Luhn plus the card networks' number ranges), IBANs and national identifiers that carry a check
digit, all validated by `python-stdnum`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.us import ssn

from guardrail_sidecar.detectors.entities import Entity, Match
from guardrail_sidecar.detectors.runs import RunFinder, glued, group_windows, pick_longest

_NUMERIC_CHAIN = re.compile(r"\d+(?:[ .\-/]\d+)*")

# Issuer ranges of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro): a Luhn-valid
# number outside them is far more often an order or tracking number than a card.
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)|3[47]|6(?:011|4[4-9]|5|2)|35(?:2[89]|[3-8])|3(?:0[0-5]|[68])|5[06-8]|6[37]"
)


class CardFinder(RunFinder):
    entity: Entity = "payment_card"
    characters = r"0-9 -"
    min_length = 13
    hint = r"\d{4}"

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        found: list[Match] = []
        for chain in _NUMERIC_CHAIN.finditer(run):
            if glued(run, chain.start(), chain.end(), before, after):
                continue
            for start, end, text in group_windows(chain.group(), " -", 23):
                if start:  # a card number starts its group of digits (it may be followed by others: "... 12/27")
                    break
                digits = re.sub(r"\D", "", text)
                if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
                    found.append(Match(chain.start() + start, chain.start() + end, "payment_card", "card", 0.95))
        yield from pick_longest(found)


_IBAN_START = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}")


class IbanFinder(RunFinder):
    """IBANs in capitals, compact or in groups of four (`stdnum.iban`: country length and ISO 7064 mod 97-10)."""

    entity: Entity = "iban"
    characters = r"A-Z0-9 "
    min_length = 15
    hint = r"[A-Z]{2}\d{2}"

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        found: list[Match] = []
        for m in _IBAN_START.finditer(run):
            tail = run[m.start() :]
            for start, end, text in group_windows(tail, " ", 42):
                if start == 0 and 15 <= len(text.replace(" ", "")) <= 34 and iban.is_valid(text):
                    found.append(Match(m.start(), m.start() + end, "iban", "iban", 0.99))
                    break
        yield from pick_longest(found)


@dataclass(frozen=True)
class _Kind:
    name: str
    shape: re.Pattern[str]
    valid: Callable[[str], bool]
    score: float


# Numeric identifiers, as written (digits in their usual groups). A window of a run must match the shape whole.
_NUMERIC_IDS = (
    _Kind("us_ssn", re.compile(r"\d{3}-\d{2}-\d{4}"), ssn.is_valid, 0.85),
    _Kind("de_idnr", re.compile(r"\d{11}|\d{2} \d{3} \d{3} \d{3}"), idnr.is_valid, 0.7),
    _Kind("fr_nir", re.compile(r"[12]\d{14}|[12] \d{2} \d{2} \d{2} \d{3} \d{3} \d{2}"), nir.is_valid, 0.95),
    _Kind("nl_bsn", re.compile(r"\d{9}|\d{4}\.\d{2}\.\d{3}"), bsn.is_valid, 0.6),
    _Kind("br_cpf", re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}"), cpf.is_valid, 0.9),
    _Kind("in_aadhaar", re.compile(r"[2-9]\d{3} \d{4} \d{4}|[2-9]\d{11}"), aadhaar.is_valid, 0.7),
    _Kind("pl_pesel", re.compile(r"\d{11}"), pesel.is_valid, 0.7),
)
# Identifiers with letters, read as whole words.
_WORD_IDS = (
    _Kind("es_dni", re.compile(r"\d{8}-?[A-Z]"), dni.is_valid, 0.95),
    _Kind("es_nie", re.compile(r"[XYZ]-?\d{7}-?[A-Z]"), nie.is_valid, 0.95),
    _Kind(
        "it_codice_fiscale",
        re.compile(r"[A-Z]{6}[0-9LMNP-V]{2}[A-EHLMPR-T][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]"),
        codicefiscale.is_valid,
        0.95,
    ),
)
_WORD = re.compile(r"[A-Za-z0-9-]+")


def _valid(kind: _Kind, text: str) -> bool:
    try:
        return kind.valid(text)
    except Exception:  # a validator's internal error on odd input means "not this identifier"
        return False


class NumericIdFinder(RunFinder):
    entity: Entity = "national_id"
    characters = r"0-9 .\-/"
    min_length = 9
    hint = r"\d{3}"

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        for chain in _NUMERIC_CHAIN.finditer(run):
            text = chain.group()  # an identifier is written alone: the whole group of digits, not a part of it
            if len(text) > 24 or glued(run, chain.start(), chain.end(), before, after):
                continue
            for kind in _NUMERIC_IDS:
                if kind.shape.fullmatch(text) and _valid(kind, text):
                    yield Match(chain.start(), chain.end(), "national_id", kind.name, kind.score)
                    break


class WordIdFinder(RunFinder):
    entity: Entity = "national_id"
    characters = r"A-Za-z0-9-"
    min_length = 9
    hint = r"\d\d"

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        for word in _WORD.finditer(run):
            text = word.group()
            for kind in _WORD_IDS:
                if kind.shape.fullmatch(text.upper()) and _valid(kind, text.upper()):
                    yield Match(word.start(), word.end(), "national_id", kind.name, kind.score)
                    break
