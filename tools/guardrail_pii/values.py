"""Random but valid PII values (every check digit right), and near misses that must not be detected."""

from __future__ import annotations

import base64
import ipaddress
import random
import string
from collections.abc import Callable

import phonenumbers
from stdnum import iban, luhn, verhoeff
from stdnum.br import cpf
from stdnum.de import idnr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel

Maker = Callable[[random.Random], str]

_FIRST = ["anna", "li", "omar", "sofia", "kenji", "maria", "jean", "priya", "lukas", "chloe", "diego", "fatima"]
_LAST = ["smith", "garcia", "muller", "rossi", "dubois", "tanaka", "kowalski", "silva", "nguyen", "jansen"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "uni-example.edu", "example.de", "shop.example.io"]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def email(rng: random.Random) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = rng.choice([f"{first}.{last}", f"{first}_{last}{rng.randint(1, 99)}", f"{first[0]}{last}", f"{first}+news"])
    return f"{local}@{rng.choice(_DOMAINS)}"


_PHONE_REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "ES", "IT", "NL", "CA"]
_PHONE_TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]


def phone(rng: random.Random) -> str:
    """A valid number: US ones in any common format, others in international format (+CC)."""
    region = rng.choice(_PHONE_REGIONS)
    example = phonenumbers.example_number_for_type(region, rng.choice(_PHONE_TYPES))
    assert example is not None
    national = str(example.national_number)
    for _ in range(100):
        keep = max(3, len(national) - 4)
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:keep]}{_digits(rng, len(national) - keep)}")
        if phonenumbers.is_valid_number(candidate):
            break
    else:
        candidate = example
    if region == "US" and rng.random() < 0.6:
        text = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.NATIONAL)
        dashed = text.replace("(", "").replace(") ", "-")
        return rng.choice([text, dashed, dashed.replace("-", ".")])
    style = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164])
    return phonenumbers.format_number(candidate, style)


_CARD_SHAPES = [("4", 16, (4, 4, 4, 4)), ("51", 16, (4, 4, 4, 4)), ("2221", 16, (4, 4, 4, 4)), ("37", 15, (4, 6, 5)),
                ("6011", 16, (4, 4, 4, 4)), ("3530", 16, (4, 4, 4, 4)), ("62", 19, (4, 4, 4, 4, 3))]  # fmt: skip


def _card_digits(rng: random.Random) -> tuple[str, tuple[int, ...]]:
    prefix, length, groups = rng.choice(_CARD_SHAPES)
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body), groups


def _grouped(digits: str, groups: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for g in groups:
        out.append(digits[pos : pos + g])
        pos += g
    return sep.join(out)


def payment_card(rng: random.Random) -> str:
    digits, groups = _card_digits(rng)
    return _grouped(digits, groups, rng.choice([" ", "-", ""]))


def card_bad_luhn(rng: random.Random) -> str:
    digits, groups = _card_digits(rng)
    wrong = str((int(digits[-1]) + rng.randint(1, 9)) % 10)
    return _grouped(digits[:-1] + wrong, groups, rng.choice([" ", "-"]))


_BBAN = {"DE": "18n", "GB": "4a14n", "NL": "4a10n", "AT": "16n", "CH": "17n", "PL": "24n", "SE": "20n"}


def _iban_compact(rng: random.Random) -> str:
    country = rng.choice(sorted(_BBAN))
    shape = _BBAN[country]
    for _ in range(100):
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) if shape[1] == "a" else ""
        bban += _digits(rng, int(shape.split("a")[-1].rstrip("n")) if "a" in shape else int(shape[:-1]))
        check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
        text = f"{country}{check:02d}{bban}"
        if iban.is_valid(text):
            return text
    raise RuntimeError("no valid IBAN generated")  # pragma: no cover


def iban_value(rng: random.Random) -> str:
    text = _iban_compact(rng)
    return text if rng.random() < 0.4 else " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def iban_bad_check(rng: random.Random) -> str:
    text = _iban_compact(rng)
    check = (int(text[2:4]) + rng.randint(1, 50)) % 97 + 2
    return " ".join((text[:2] + f"{check:02d}" + text[4:])[i : i + 4] for i in range(0, len(text), 4))


def _retry(rng: random.Random, make: Callable[[], str], valid: Callable[[str], bool]) -> str:
    for _ in range(10_000):
        text = make()
        if valid(text):
            return text
    raise RuntimeError("no valid value generated")  # pragma: no cover


def us_ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def de_idnr(rng: random.Random) -> str:
    text = _retry(rng, lambda: str(rng.randint(1, 9)) + _digits(rng, 10), idnr.is_valid)
    return text if rng.random() < 0.5 else f"{text[:2]} {text[2:5]} {text[5:8]} {text[8:]}"


def fr_nir(rng: random.Random) -> str:
    body = f"{rng.randint(1, 2)}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 95):02d}"
    body += f"{rng.randint(1, 990):03d}{rng.randint(1, 999):03d}"
    text = body + nir.calc_check_digits(body)
    assert nir.is_valid(text)
    if rng.random() < 0.5:
        return text
    return " ".join(text[a:b] for a, b in ((0, 1), (1, 3), (3, 5), (5, 7), (7, 10), (10, 13), (13, 15)))


def es_dni(rng: random.Random) -> str:
    body = _digits(rng, 8)
    return body + dni.calc_check_digit(body)


_CF_MONTHS = "ABCDEHLMPRST"


def it_codice_fiscale(rng: random.Random) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(6))
    day = rng.randint(1, 28) + rng.choice([0, 40])
    town = f"{rng.choice('ABCDEFGHILM')}{rng.randint(1, 999):03d}"
    body = f"{letters}{rng.randint(0, 99):02d}{rng.choice(_CF_MONTHS)}{day:02d}{town}"
    return body + codicefiscale.calc_check_digit(body)


def nl_bsn(rng: random.Random) -> str:
    text = _retry(rng, lambda: str(rng.randint(1, 9)) + _digits(rng, 8), bsn.is_valid)
    return text if rng.random() < 0.5 else f"{text[:4]}.{text[4:6]}.{text[6:]}"


def br_cpf(rng: random.Random) -> str:
    text = _retry(rng, lambda: _digits(rng, 11), cpf.is_valid)
    return f"{text[:3]}.{text[3:6]}.{text[6:9]}-{text[9:]}"


def in_aadhaar(rng: random.Random) -> str:
    body = str(rng.randint(2, 9)) + _digits(rng, 10)
    text = body + verhoeff.calc_check_digit(body)
    return f"{text[:4]} {text[4:8]} {text[8:]}"


def pl_pesel(rng: random.Random) -> str:
    body = f"{rng.randint(50, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{_digits(rng, 4)}"
    return body + pesel.calc_check_digit(body)


NATIONAL_IDS: dict[str, Maker] = {
    "us_ssn": us_ssn,
    "de_idnr": de_idnr,
    "fr_nir": fr_nir,
    "es_dni": es_dni,
    "it_codice_fiscale": it_codice_fiscale,
    "nl_bsn": nl_bsn,
    "br_cpf": br_cpf,
    "in_aadhaar": in_aadhaar,
    "pl_pesel": pl_pesel,
}


def national_id(rng: random.Random) -> str:
    return NATIONAL_IDS[rng.choice(sorted(NATIONAL_IDS))](rng)


def ssn_bad(rng: random.Random) -> str:
    area = rng.choice(["000", "666", f"9{rng.randint(0, 99):02d}"])
    return f"{area}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def ip_address(rng: random.Random) -> str:
    if rng.random() < 0.6:
        while True:
            address = ipaddress.IPv4Address(rng.getrandbits(32))
            if not (address.is_loopback or address.is_unspecified or address.is_multicast):
                return str(address)
    groups = [rng.getrandbits(16) for _ in range(8)]
    if rng.random() < 0.5:
        groups[3:6] = [0, 0, 0]
    return str(ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups)))


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


_ALNUM = string.ascii_letters + string.digits


def _pem(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = base64.b64encode(rng.randbytes(rng.randint(90, 300))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"


SECRETS: dict[str, Maker] = {
    "aws_access_key": lambda r: "AKIA" + _chars(r, string.ascii_uppercase + string.digits, 16),
    "github_token": lambda r: r.choice(["ghp_", "gho_", "ghs_"]) + _chars(r, _ALNUM, 36),
    "openai_key": lambda r: r.choice(["sk-", "sk-proj-"]) + _chars(r, _ALNUM + "_-", 48),
    "slack_token": lambda r: f"xoxb-{_digits(r, 12)}-{_digits(r, 12)}-{_chars(r, _ALNUM, 24)}",
    "stripe_key": lambda r: r.choice(["sk_live_", "rk_live_"]) + _chars(r, _ALNUM, 24),
    "google_api_key": lambda r: "AIza" + _chars(r, _ALNUM + "_-", 35),
    "high_entropy": lambda r: _chars(r, string.ascii_uppercase, 4) + _chars(r, _ALNUM, 36),
    "private_key": _pem,
}


def secret(rng: random.Random) -> str:
    return SECRETS[rng.choice(sorted(SECRETS))](rng)


# Text that looks like PII and is not: the false positives a detector must avoid.
def lookalike(rng: random.Random) -> str:
    makers: list[Maker] = [
        card_bad_luhn,
        iban_bad_check,
        ssn_bad,
        lambda r: f"{r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
        lambda r: f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
        lambda r: f"${r.randint(1, 999)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
        lambda r: f"{r.randint(1, 99)},{r.randint(0, 999):03d},{r.randint(0, 999):03d}",
        lambda r: str(r.randint(10_000, 99_999_999)),
        lambda r: f"978-{r.randint(0, 9)}-{r.randint(10, 99)}-{r.randint(100000, 999999)}-{r.randint(0, 9)}",
        lambda r: f"{r.getrandbits(160):040x}",
        lambda r: "-".join(f"{r.getrandbits(b):0{b // 4}x}" for b in (32, 16, 16, 16, 48)),
        lambda r: f"#{r.randint(100000, 999999)}",
        lambda r: f"{r.randint(1, 255)}.{r.randint(0, 255)}",
        lambda r: f"user_{r.choice(_FIRST)}@{r.choice(['home', 'work'])}",
        lambda r: f"std::{r.choice(['vector', 'map', 'string'])}",
        lambda r: f"{r.randint(1000, 9999)} {r.randint(1000, 9999)}",
        lambda r: r.choice(["getUserAccountSettingsHandlerFactory", "ThisIsAVeryLongCamelCaseIdentifierName"]),
    ]
    return rng.choice(makers)(rng)
