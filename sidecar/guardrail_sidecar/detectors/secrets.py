"""Secrets: API keys with well-known prefixes, private key blocks, and long high-entropy tokens."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from guardrail_sidecar.detectors.entities import Entity, Match, Span
from guardrail_sidecar.detectors.runs import RunFinder

# Issuer-documented token formats (prefix + alphabet + length).
_PREFIXED = (
    ("aws_access_key", r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}"),
    ("github_token", r"gh[pousr]_[A-Za-z0-9]{36,255}"),
    ("github_pat", r"github_pat_[A-Za-z0-9_]{60,255}"),
    ("gitlab_token", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("openai_key", r"sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,}"),
    ("stripe_key", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("slack_token", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    ("google_api_key", r"AIza[0-9A-Za-z_-]{35}"),
    ("huggingface_token", r"hf_[A-Za-z0-9]{30,}"),
    ("npm_token", r"npm_[A-Za-z0-9]{36}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
)
_PREFIXED_RE = [(name, re.compile(f"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])")) for name, pattern in _PREFIXED]
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}")
MIN_ENTROPY = 4.0  # bits per character; English words and ids such as UUIDs or hashes in hex stay below it


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(token: str) -> bool:
    pieces = re.split(r"[-/_.+]", token)
    if len(pieces) >= 3 and sum(p.isalpha() for p in pieces) * 2 >= len(pieces):
        return False  # words joined by separators: a URL path, a slug, an identifier
    classes = sum(bool(re.search(c, token)) for c in ("[a-z]", "[A-Z]", "[0-9]"))
    return classes == 3 and entropy(token) >= MIN_ENTROPY


class TokenFinder(RunFinder):
    entity: Entity = "secret"
    characters = r"A-Za-z0-9_+/=.:-"
    min_length = 20

    def find_in_run(self, run: str, before: str, after: str) -> Iterator[Match]:
        taken: list[tuple[int, int]] = []
        for name, pattern in _PREFIXED_RE:
            for m in pattern.finditer(run):
                taken.append((m.start(), m.end()))
                yield Match(m.start(), m.end(), "secret", name, 1.0)
        if "://" in run or run.startswith("www."):
            return  # a URL: only the prefixed keys above count in it
        for m in _TOKEN.finditer(run):
            token = m.group().rstrip("=")
            if _random_looking(token) and all(m.end() <= s or m.start() >= e for s, e in taken):
                # 4.0 bits/char -> 0.5, 5.0 -> 0.9: a threshold above 0.5 keeps only the most random tokens
                yield Match(m.start(), m.end(), "secret", "high_entropy", min(0.99, 0.5 + 0.4 * (entropy(token) - 4.0)))


_BEGIN = "-----BEGIN"
_HEADER = re.compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY-----")
_FOOTER = re.compile(r"-----END[ A-Z0-9]{0,40}PRIVATE KEY-----")
_HEADER_TAIL = "PRIVATE KEY-----"
_KEY_TYPE = re.compile(r"[ A-Z0-9]{0,40}")
_MAX_HEADER = len(_BEGIN) + 40 + len(_HEADER_TAIL)


def _could_become_header(tail: str) -> bool:
    """True when `tail` (the end of the text so far) may still grow into a private key header."""
    if len(tail) <= len(_BEGIN):
        return _BEGIN.startswith(tail)
    if not tail.startswith(_BEGIN) or len(tail) > _MAX_HEADER:
        return False
    rest = tail[len(_BEGIN) :]
    # the characters after BEGIN are the key type, then the start of "PRIVATE KEY-----"
    return any(_KEY_TYPE.fullmatch(rest[:cut]) and _HEADER_TAIL.startswith(rest[cut:]) for cut in range(len(rest) + 1))


class PrivateKeyFinder:
    """PEM private key blocks, header to footer. A block with no footer yet is open: held back whole; a block that
    never ends is redacted to the end of the text."""

    entity: Entity = "secret"

    def spans(self, text: str) -> Iterator[Span]:
        pos = 0
        for header in _HEADER.finditer(text):
            if header.start() < pos:
                continue
            footer = _FOOTER.search(text, header.end())
            if footer is None:
                yield Span(header.start(), len(text), True)
                return
            yield Span(header.start(), footer.end(), False)
            pos = footer.end()
        # the tail may be the beginning of a header: hold it back from there
        for i in range(max(pos, len(text) - _MAX_HEADER), len(text)):
            if text[i] == "-" and _could_become_header(text[i:]):
                yield Span(i, len(text), True)
                return

    def find(self, text: str) -> list[Match]:
        return [
            Match(s.start, s.end, "secret", "private_key", 1.0)
            for s in self.spans(text)
            if _HEADER.match(text, s.start)
        ]
