"""A deterministic stand-in for the scoring models, for fast tests of the pipeline and the proxy.

Embeddings are hashed bags of words; NLI is the share of the claim's content words found in the premise;
injection is 1.0 when the text contains "ignore previous instructions". Simple enough to predict by reading.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from numpy.typing import NDArray

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "of",
        "to",
        "in",
        "on",
        "at",
        "and",
        "or",
        "for",
        "with",
        "it",
        "this",
        "that",
        "be",
        "by",
        "as",
    ]
)
DIM = 64
WINDOW_WORDS = 50
WINDOW_OVERLAP = 8


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class FakeScorer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0
        self.injection_texts: list[str] = []  # every text the injection check scored

    async def injection_available(self) -> bool:
        return True

    async def ready(self) -> bool:
        return not self.fail

    def _check(self) -> None:
        from guardrail_sidecar.errors import BackendError

        self.calls += 1
        if self.fail:
            raise BackendError("fake", "scripted failure")

    async def embed(self, texts: list[str]) -> NDArray[np.float32]:
        self._check()
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0  # noqa: S324 - not security
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    async def nli(self, pairs: list[tuple[str, str]]) -> list[float]:
        self._check()
        scores = []
        for premise, claim in pairs:
            claim_words = words(claim)
            scores.append(len(claim_words & words(premise)) / len(claim_words) if claim_words else 1.0)
        return scores

    async def injection(self, texts: list[str]) -> list[float]:
        self._check()
        self.injection_texts.extend(texts)
        return [1.0 if "ignore previous instructions" in t.lower() else 0.0 for t in texts]

    def windows(self, text: str, limit: int) -> list[str]:
        """Windows of WINDOW_WORDS words (neighbours share WINDOW_OVERLAP), sliced from the text as is."""
        spans = [m.span() for m in re.finditer(r"\S+", text)]
        step = WINDOW_WORDS - WINDOW_OVERLAP
        starts = range(0, max(1, len(spans) - WINDOW_OVERLAP), step) if spans else range(0)
        return [text[spans[i][0] : spans[min(i + WINDOW_WORDS, len(spans)) - 1][1]] for i in starts]
