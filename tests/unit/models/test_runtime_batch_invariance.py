"""`guardrail eval` scores what the sidecar scores: the evaluation runtime runs every row alone, unpadded, as the
embedded backend does, so a pair's score depends neither on the batch nor on which of the two scored it."""

from __future__ import annotations

import asyncio
import json
import random

import numpy as np
import pytest

from guardrail_contract import tensors
from guardrail_contract.sidecar_config import Cache, EmbeddedBackend, Models
from guardrail_models.repository import default_repository
from guardrail_models.runtime import load_injection, load_nli
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend as Backend
from guardrail_sidecar.scoring.scorer import Scorer

REPOSITORY = default_repository()
DEV = REPOSITORY.parent / "eval" / "e2e_dev_sample.jsonl"  # HaluEval dev rows: dialogue, qa, summarization
pytestmark = pytest.mark.skipif(
    not (REPOSITORY / tensors.INJECTION_MODEL / "1" / tensors.MODEL_FILE).is_file(), reason="models not built"
)


def _pairs(count: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    random.Random(4).shuffle(rows)
    return list(dict.fromkeys((r["evidence"], r["answer"]) for r in rows))[:count]


def test_nli_scores_a_pair_the_same_alone_in_any_batch_and_order() -> None:
    nli = load_nli()
    pairs = _pairs(36)
    alone = np.array([nli.score([p])[0] for p in pairs])
    np.testing.assert_array_equal(nli.score(pairs, batch_size=16), alone)  # sorted batches: longer, shorter rows
    np.testing.assert_array_equal(nli.score(pairs, batch_size=36), alone)
    np.testing.assert_array_equal(nli.score(pairs[::-1], batch_size=5), alone[::-1])


def test_embeddings_and_injection_scores_do_not_depend_on_the_batch() -> None:
    injection = load_injection()
    texts = [t for pair in _pairs(10) for t in pair]
    alone = np.concatenate([injection.embedding.embed([t]) for t in texts])
    np.testing.assert_array_equal(injection.embedding.embed(texts, batch_size=7), alone)
    scores = np.array([injection.score([t])[0] for t in texts])
    np.testing.assert_array_equal(injection.score(texts, batch_size=7), scores)  # padded beside longer texts
    np.testing.assert_array_equal(injection.score(texts[::-1]), scores[::-1])
    if injection.tokenizer is None:  # a head on the embedding: fed embeddings, one row or many
        np.testing.assert_array_equal(injection.score_embeddings(alone), scores)


def test_the_runtime_scores_exactly_what_the_sidecar_scores() -> None:
    pairs = _pairs(36)
    texts = [t for pair in pairs[:10] for t in pair]
    models = Models(backend="embedded", embedded=EmbeddedBackend(repository=str(REPOSITORY)))

    async def sidecar() -> tuple[list[float], np.ndarray, list[float]]:
        scorer = Scorer(Backend(REPOSITORY), models, Cache(max_entries=0), Metrics(), "test")
        out = await scorer.nli(pairs), await scorer.embed(texts), await scorer.injection(texts)
        await scorer.backend.close()
        return out

    nli_scores, vectors, injection_scores = asyncio.run(sidecar())
    injection = load_injection()
    np.testing.assert_array_equal(load_nli().score(pairs), np.array(nli_scores, dtype=np.float32))
    np.testing.assert_array_equal(injection.embedding.embed(texts), vectors)
    np.testing.assert_array_equal(injection.score(texts), np.array(injection_scores, dtype=np.float32))
