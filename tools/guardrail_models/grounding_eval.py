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
