"""Batch-invariant scoring: every row of a model input run alone, without the padding of its batch.

The shipped models are INT8 with dynamic quantisation (`DynamicQuantizeLinear`: one activation scale per tensor),
so a row's output depends on the other rows of its onnxruntime call and on the padding to the longest of them: on
192 dev (passage, claim) pairs a score moved by up to 0.059 between a batch of 16 and a batch of one. Run each row
as a batch of one, trimmed to its attention-mask length (tokenizers pad on the right), and its output is the same
whatever the traffic beside it. The Triton python backend's `model.py` does the same inline (it stands alone).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail_contract import tensors


def row_count(feed: Mapping[str, NDArray[Any]]) -> int:
    """The rows of a feed (its shortest tensor; 0 for an empty feed)."""
    return min((len(v) for v in feed.values()), default=0)


def row_length(mask: NDArray[Any]) -> int:
    """Tokens of a right-padded row: one past its last attended position (at least 1)."""
    attended = np.flatnonzero(mask)
    return int(attended[-1]) + 1 if len(attended) else 1


def alone(feed: Mapping[str, NDArray[Any]]) -> Iterator[dict[str, NDArray[Any]]]:
    """Each row of `feed` as a feed of one row; where the feed has an attention mask, every tensor of the mask's
    shape (the token tensors) is trimmed to the row's length. Tensors without a sequence axis (the injection head's
    [n, 384] embeddings) are split by row only."""
    mask = feed.get(tensors.ATTENTION_MASK)
    for row in range(row_count(feed)):
        if mask is None or mask.ndim != 2:
            yield {name: value[row : row + 1] for name, value in feed.items()}
            continue
        width = row_length(mask[row])
        yield {
            name: value[row : row + 1, :width] if value.shape == mask.shape else value[row : row + 1]
            for name, value in feed.items()
        }
