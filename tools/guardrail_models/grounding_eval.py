"""Score HaluEval dev items with any (evidence, claim) scorer and summarise per task (pure but for the scorer)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from guardrail_models.halueval import Item, length_matched
from guardrail_models.metrics import auroc, best_threshold, length_score, pairwise_win_rate, rates

PairScorer = Callable[[list[tuple[str, str]]], npt.ArrayLike]


def pair_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    """Two labelled rows per item (right → 1, hallucinated → 0), as in the eval JSONL format."""
    rows = []
    for item in items:
        for answer, label in ((item.right, 1), (item.hallucinated, 0)):
            rows.append(
                {
                    "task": item.task,
                    "row": item.row,
                    "premise": item.evidence,
                    "claim": item.claim(answer),
                    "answer": answer,
                    "label": label,
                }
            )
    return rows


def summarise(labels: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict[str, float]:
    """AUROC, balanced accuracy at `threshold` (or at the best threshold when None) and the pair win rate."""
    chosen = threshold if threshold is not None else best_threshold(labels, scores)[0]
    positive, negative = scores[labels == 1], scores[labels == 0]
    return {
        "n_pairs": float(len(labels)),
        "auroc": auroc(labels, scores),
        "balanced_accuracy": rates(labels, scores, chosen)["balanced_accuracy"],
        "best_balanced_accuracy": best_threshold(labels, scores)[1],
        "win_rate": pairwise_win_rate(positive, negative) if len(positive) == len(negative) else float("nan"),
    }


def evaluate_items(
    items: Sequence[Item], scores: np.ndarray, threshold: float | None = 0.5
) -> dict[str, dict[str, float]]:
    """Metrics on all pairs and on the length-matched subset; `scores` follow `pair_rows(items)` order."""
    labels = np.array([1, 0] * len(items), dtype=np.float64)
    matched = np.repeat([length_matched(i.right, i.hallucinated) for i in items], 2)
    result = {"all": summarise(labels, scores, threshold)}
    if matched.sum() >= 4:
        result["length_matched"] = summarise(labels[matched], scores[matched], threshold)
    return result


def length_baseline(items: Sequence[Item]) -> np.ndarray:
    rows = pair_rows(items)
    return length_score([r["answer"] for r in rows])


def score_items(items: Sequence[Item], scorer: PairScorer) -> np.ndarray:
    rows = pair_rows(items)
    return np.asarray(scorer([(r["premise"], r["claim"]) for r in rows]), dtype=np.float64)


SYSTEM_PROMPT_PROBE = "You are the Pebble & Pine Outfitters support bot."  # never a training template


def unrelated_evidence(supported: Sequence[tuple[str, str]], scorer: PairScorer, shift: int = 1) -> dict[str, float]:
    """Each supported (evidence, claim) pair scored as is, with the evidence of the pair `shift` places on
    (unrelated), and with only a bare system prompt: the share passing at 0.5 for each, the AUROC of own over
    unrelated and the share of claims scored higher with their own evidence."""
    evidence, claims = [e for e, _ in supported], [c for _, c in supported]
    own = np.asarray(scorer(list(zip(evidence, claims, strict=True))), dtype=np.float64)
    rotated = evidence[shift:] + evidence[:shift]
    other = np.asarray(scorer(list(zip(rotated, claims, strict=True))), dtype=np.float64)
    prompt = np.asarray(scorer([(SYSTEM_PROMPT_PROBE, c) for c in claims]), dtype=np.float64)
    return {
        "system_prompt_pass_rate": float((prompt >= 0.5).mean()),
        "own_pass_rate": float((own >= 0.5).mean()),
        "unrelated_pass_rate": float((other >= 0.5).mean()),
        "auroc_own_vs_unrelated": auroc(np.array([1] * len(own) + [0] * len(other)), np.concatenate([own, other])),
        "own_above_unrelated": float((own > other).mean()),
    }
