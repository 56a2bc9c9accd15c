"""The embedded backend bounds its memory: runs at once and rows per run, with unchanged scores."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrail_contract import tensors
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend

REPOSITORY = Path(__file__).resolve().parents[4] / "models" / "repository"
pytestmark = pytest.mark.skipif(
    not (REPOSITORY / tensors.INJECTION_MODEL / "1" / tensors.MODEL_FILE).is_file(), reason="models not built"
)


def _tokens(rows: int) -> dict[str, NDArray[Any]]:
    """Token rows for the injection model (an encoder reading ids): [CLS] words [SEP], some padded."""
    rng = np.random.default_rng(7)
    ids = np.zeros((rows, 14), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row in range(rows):
        length = int(rng.integers(4, 15))
        ids[row, :length] = [101, *rng.integers(2000, 20000, length - 2), 102]
        mask[row, :length] = 1
    return {tensors.INPUT_IDS: ids, tensors.ATTENTION_MASK: mask}


async def test_chunked_runs_give_the_unchunked_scores() -> None:
    inputs = _tokens(37)
    whole = EmbeddedBackend(REPOSITORY, max_batch=64)
    chunked = EmbeddedBackend(REPOSITORY, max_batch=5)
    expected = await whole.infer(tensors.INJECTION_MODEL, "1", inputs, tensors.SCORE_OUTPUT)
    got = await chunked.infer(tensors.INJECTION_MODEL, "1", inputs, tensors.SCORE_OUTPUT)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    await whole.close()
    await chunked.close()


async def test_at_most_concurrency_runs_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = EmbeddedBackend(REPOSITORY, concurrency=2)
    running, peak, lock = 0, 0, threading.Lock()
    real_run = backend.run

    def counting_run(*args: Any) -> NDArray[np.float32]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        try:
            return real_run(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(backend, "run", counting_run)
    calls = [backend.infer(tensors.INJECTION_MODEL, "1", _tokens(3), tensors.SCORE_OUTPUT) for _ in range(12)]
    results = await asyncio.gather(*calls)
    assert all(r.shape[0] == 3 for r in results)
    assert peak == 2
    await backend.close()


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EmbeddedBackend(REPOSITORY, concurrency=0)
