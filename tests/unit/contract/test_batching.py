"""`batching.alone` splits a model feed into rows of one, each cut to its own tokens (the tokenizers pad right)."""

from __future__ import annotations

import numpy as np

from guardrail_contract import tensors
from guardrail_contract.batching import alone, row_count


def test_token_rows_are_cut_to_their_attention_mask_and_other_tensors_only_split() -> None:
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=np.int64)
    ids = np.arange(15, dtype=np.int64).reshape(3, 5) * mask
    feed = {tensors.INPUT_IDS: ids, tensors.ATTENTION_MASK: mask, "extra": np.ones((3, 2), dtype=np.float32)}
    rows = list(alone(feed))
    assert [r[tensors.INPUT_IDS].tolist() for r in rows] == [[[0, 1, 2]], [[5, 6, 7, 8, 9]], [[10]]]
    assert [r[tensors.ATTENTION_MASK].tolist() for r in rows] == [[[1, 1, 1]], [[1, 1, 1, 1, 1]], [[1]]]
    assert all(r["extra"].shape == (1, 2) for r in rows)  # not a token tensor: split, never cut


def test_a_feed_without_a_mask_is_split_by_row() -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    rows = list(alone({tensors.INJECTION_INPUT: vectors}))
    assert [r[tensors.INJECTION_INPUT].tolist() for r in rows] == [[v.tolist()] for v in vectors]
    assert row_count({}) == 0
    assert list(alone({tensors.INJECTION_INPUT: vectors[:0]})) == []
