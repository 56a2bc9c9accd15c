"""Claim-level training pairs: what the sidecar scores, one sentence of an answer against one passage of its context.

The sidecar does not score a whole answer against a whole document: it splits the answer into sentences and the
context into passages of a few sentences (`guardrail_sidecar.scoring.claims`), and an answer is as grounded as its
weakest sentence against that sentence's best passage. A model trained only on whole answers scores the sentences
of a grounded multi-sentence summary low, and the one policy threshold must sit below them. Here each sentence of a
right answer, against the passage of its own evidence that shares the most words with it, is a positive; the same
sentence made wrong (entity swap, number swap, negation: `halueval.synthetic_negative`) against the same passage is
its negative, and so is the differing sentence at the same position of the hallucinated answer when both answers
have as many sentences. Pure Python, seeded.
"""

from __future__ import annotations

import random
import re

from guardrail_models.halueval import Item, length_matched, synthetic_negative
from guardrail_sidecar.scoring import claims as sidecar_claims

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 2}


def best_passage(sentence: str, passages: list[str]) -> str:
    """The passage sharing the most words (longer than two letters, any case) with `sentence`; ties: the first."""
    words = _words(sentence)
    return max(passages, key=lambda p: len(words & _words(p)))


def claim_pairs(item: Item, rng: random.Random) -> tuple[str, str, tuple[str, ...]] | None:
    """(passage, supported sentence, unsupported sentences) for one sentence of the item's right answer, chosen at
    random among those of at least four words; None when the answer has fewer than two sentences (the whole answer is
    already a training claim) or no negative can be made."""
    right = sidecar_claims.claims(item.right)
    if len(right) < 2:
        return None
    usable = [i for i, s in enumerate(right) if len(s.split()) >= 4]
    passages = sidecar_claims.passages(item.evidence)
    if not usable or not passages:
        return None
    index = rng.choice(usable)
    sentence = right[index]
    negatives: list[str] = []
    made = synthetic_negative(Item(item.task, item.row, item.evidence, "", sentence, ""), rng)
    if made is not None:
        negatives.append(made)
    wrong = sidecar_claims.claims(item.hallucinated)
    if len(wrong) == len(right) and wrong[index] != sentence and length_matched(wrong[index], sentence, 0.3):
        negatives.append(wrong[index])
    if not negatives:
        return None
    return best_passage(sentence, passages), sentence, tuple(negatives)
