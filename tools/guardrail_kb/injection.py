"""The project's prompt-injection model, applied to chunks at ingestion (when the repository has one).

Two shapes are accepted, told apart by the model's `model.json`: a head on the embedding (`max_length` 0,
fed the chunk vectors already computed) or a token classifier (fed the chunk texts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail_contract import tensors
from guardrail_models.errors import RepositoryError
from guardrail_models.repository import model_dir, read_info
from guardrail_models.runtime import load_tokenizer, open_session

from .errors import EmbeddingError

BATCH = 32


class InjectionModel:
    def __init__(self, version_dir: Path) -> None:
        self.info = read_info(version_dir)
        self._session: Any = open_session(version_dir / tensors.MODEL_FILE)
        self._tokenizer = load_tokenizer(version_dir, self.info) if self.info.max_length else None

    def score(self, texts: list[str], vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """P(injection) per chunk."""
        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            end = min(start + BATCH, len(texts))
            if self._tokenizer is None:
                feeds = {tensors.EMBEDDING_OUTPUT: vectors[start:end].astype(np.float32)}
            else:
                encodings = self._tokenizer.encode_batch(texts[start:end])
                feeds = {
                    tensors.INPUT_IDS: np.array([e.ids for e in encodings], dtype=np.int64),
                    tensors.ATTENTION_MASK: np.array([e.attention_mask for e in encodings], dtype=np.int64),
                }
                names = {i.name for i in self._session.get_inputs()}
                feeds = {k: v for k, v in feeds.items() if k in names}
            out[start:end] = np.asarray(self._session.run([tensors.SCORE_OUTPUT], feeds)[0]).reshape(-1)
        return out


def load_injection(repository: Path) -> InjectionModel | None:
    """The repository's injection model, or None when it has none (the pattern check still runs)."""
    try:
        version_dir = model_dir(repository, tensors.INJECTION_MODEL)
    except RepositoryError:
        return None
    try:
        return InjectionModel(version_dir)
    except Exception as exc:  # onnxruntime raises unexported error types
        raise EmbeddingError(f"cannot load the injection model in {version_dir}: {exc}") from exc
