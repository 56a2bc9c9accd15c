"""The labelled PII set: sentences an assistant or a user might write, each with its PII spans marked.

Seeded and deterministic: `generate(n, seed)` always returns the same samples. About a fifth of the samples hold no
PII but look-alikes (Luhn-invalid card numbers, IBANs with a wrong check, dates, versions, hashes, UUIDs, ISBNs,
prices, plain numbers), so precision is measured where detectors go wrong."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from guardrail_pii import values
from guardrail_pii.values import Maker

ENTITY_MAKERS: dict[str, Maker] = {
    "email": values.email,
    "phone": values.phone,
    "payment_card": values.payment_card,
    "iban": values.iban_value,
    "national_id": values.national_id,
    "ip_address": values.ip_address,
    "secret": values.secret,
}

_TEMPLATES: dict[str, list[str]] = {
    "email": ["You can reach our support team at {x}.", "Send the signed form to {x} before Friday.",
              "My email is {x}, please reply there.", "Contact: {x}"],
    "phone": ["Call us at {x} between 9 and 5.", "My number is {x}.", "For urgent issues dial {x} (24/7).",
              "Phone: {x}; fax is not available."],
    "payment_card": ["The card on file is {x}, expiring 09/27.", "Please charge {x} for the order.",
                     "card number: {x}", "I paid with my Visa {x} yesterday."],
    "iban": ["Transfer the refund to IBAN {x} please.", "Our bank account: {x} (Example Bank).",
             "Wire {x}, reference INV-2291.", "IBAN:{x}"],
    "national_id": ["My ID number is {x}.", "The applicant's identifier {x} was verified.",
                    "Tax identification: {x}", "Her number ({x}) is on the contract."],
    "ip_address": ["The request came from {x} at 10:42.", "Block {x} on the firewall.",
                   "Server address: {x}, port 8443.", "Login attempt from {x} failed twice."],
    "secret": ["Use the key {x} to authenticate.", "export API_KEY={x}", "token = \"{x}\"",
               "Here is the credential:\n{x}\nKeep it safe."],
}  # fmt: skip
_NEGATIVE = [
    "The order {x} shipped on time.",
    "Version {x} fixed the bug.",
    "We measured {x} in the second run.",
    "Reference {x} is listed in the appendix.",
    "The total came to {x} last quarter.",
    "See item {x}.",
]


@dataclass(frozen=True)
class Label:
    start: int
    end: int
    entity: str


@dataclass(frozen=True)
class Sample:
    text: str
    labels: tuple[Label, ...]

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "labels": [asdict(label) for label in self.labels]})

    @staticmethod
    def from_json(line: str) -> Sample:
        raw = json.loads(line)
        return Sample(raw["text"], tuple(Label(**label) for label in raw["labels"]))


def _fill(template: str, value: str, entity: str | None) -> tuple[str, list[Label]]:
    start = template.index("{x}")
    text = template[:start] + value + template[start + 3 :]
    return text, [Label(start, start + len(value), entity)] if entity else []


def sample(rng: random.Random) -> Sample:
    if rng.random() < 0.2:
        text, labels = _fill(rng.choice(_NEGATIVE), values.lookalike(rng), None)
        return Sample(text, ())
    parts: list[tuple[str, list[Label]]] = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        entity = rng.choice(sorted(ENTITY_MAKERS))
        parts.append(_fill(rng.choice(_TEMPLATES[entity]), ENTITY_MAKERS[entity](rng), entity))
    text, labels = "", []
    for part, found in parts:
        offset = len(text) + (1 if text else 0)
        text = f"{text} {part}" if text else part
        labels += [Label(x.start + offset, x.end + offset, x.entity) for x in found]
    return Sample(text, tuple(labels))


def generate(n: int, seed: int) -> Iterator[Sample]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    for _ in range(n):
        yield sample(rng)


def write(path: Path, n: int, seed: int) -> None:
    path.write_text("".join(s.to_json() + "\n" for s in generate(n, seed)))
