"""E-mail addresses, phone numbers (Google's libphonenumber, via `phonenumbers`) and IP addresses (`ipaddress`)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence

import phonenumbers

from guardrail_sidecar.detectors.entities import Entity, Match
from guardrail_sidecar.detectors.runs import RunFinder, glued

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9%+_-](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9%+_-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)


class EmailFinder(RunFinder):
    entity: Entity = "email"
    characters = r"A-Za-z0-9._%+@-"
    min_length = 6
    hint = "@"

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        if "@" not in run:
            return
        for m in _EMAIL.finditer(run):
            yield Match(m.start(), m.end(), "email", "email", 0.95)


class PhoneFinder(RunFinder):
    """Numbers `phonenumbers` finds and holds valid (Leniency.VALID): international ones (+CC) anywhere, national ones
    in the formats of `regions`."""

    entity: Entity = "phone"
    characters = r"0-9+()./ \t-"
    _DIGITS = re.compile(r"\d")
    min_length = 7
    hint = r"\d"

    def __init__(self, regions: Sequence[str] = ("US",)) -> None:
        super().__init__()
        self.regions = tuple(regions) or ("ZZ",)

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        if len(self._DIGITS.findall(run)) < 7:
            return
        seen: set[tuple[int, int]] = set()
        for region in self.regions:
            for m in phonenumbers.PhoneNumberMatcher(run, region, leniency=phonenumbers.Leniency.VALID):
                if (m.start, m.end) not in seen and not glued(run, m.start, m.end, before, after):
                    seen.add((m.start, m.end))
                    yield Match(m.start, m.end, "phone", f"phone_{phonenumbers.region_code_for_number(m.number)}", 0.8)


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\w)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")


class IpFinder(RunFinder):
    """IPv4 and IPv6 addresses, as `ipaddress` parses them (loopback and unspecified addresses are not PII)."""

    entity: Entity = "ip_address"
    characters = r"\w:.%"
    min_length = 4
    hint = r"\d\.\d|:[0-9A-Fa-f]*:"

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        for m in _IPV4.finditer(run):
            if _address(m.group(), ipaddress.IPv4Address):
                yield Match(m.start(), m.end(), "ip_address", "ipv4", 0.8)
        if run.count(":") >= 2:
            for m in _IPV6.finditer(run):
                text = m.group()
                if re.search(r"[0-9A-Fa-f]", text) and _address(text, ipaddress.IPv6Address):
                    yield Match(m.start(), m.end(), "ip_address", "ipv6", 0.8)


def _address(text: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        address = kind(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)
