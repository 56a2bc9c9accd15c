"""Inference backends serving the scoring contract: a v2-protocol server (Triton) or onnxruntime."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray


class InferenceBackend(Protocol):
    """Runs one model on named tensors (INT64 tokens, or FP32 embeddings) and returns its one FP32 output."""

    name: str

    async def infer(
        self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str
    ) -> NDArray[np.float32]: ...

    async def ready(self, models: list[tuple[str, str]]) -> bool: ...

    async def close(self) -> None: ...
