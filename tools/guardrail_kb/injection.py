"""The project's prompt-injection model, applied to chunks at ingestion (when the repository has one).

Two shapes are accepted, told apart by the model's `model.json`: a head on the embedding (`max_length` 0,
fed the chunk vectors already computed) or a token classifier (fed the chunk texts).

A chunk is read as the sidecar's injection check reads a request (`guardrail_sidecar.scoring.decoding.views`):
as written, normalised (confusables folded, invisible characters removed) and, when something was encoded,
decoded; its score is the highest. Only views that differ from the chunk text are embedded again: at most
`MAX_VIEWS` per chunk, so a clean ASCII chunk usually costs nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrail_contract import tensors
from guardrail_models.errors import RepositoryError
from guardrail_models.repository import model_dir, read_info
from guardrail_models.runtime import load_tokenizer, open_session
from guardrail_sidecar.scoring.decoding import views

from .errors import EmbeddingError

BATCH = 32
MAX_VIEWS = 2  # views scored besides the chunk text itself (`views` gives the normalised and the decoded text)
VIEW_BLOCK = 1024  # chunks whose views are embedded together
Embed = Callable[[list[str]], Awaitable[NDArray[np.float32]]]


def extra_views(text: str) -> list[str]:
    """The views of `text` the sidecar scores (`decoding.views`) that differ from `text`, at most MAX_VIEWS."""
    return [view for view in dict.fromkeys(views(text)) if view != text][:MAX_VIEWS]


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

    async def score_views(self, texts: list[str], vectors: NDArray[np.float32], embed: Embed) -> NDArray[np.float32]:
        """P(injection) per chunk: the highest over the chunk (its vector from `vectors`) and its other views
        (`extra_views`, embedded with `embed` when the model is a head on the embedding)."""
        out = self.score(texts, vectors)
        for start in range(0, len(texts), VIEW_BLOCK):  # at most VIEW_BLOCK * MAX_VIEWS view vectors held at once
            owners: list[int] = []
            extra: list[str] = []
            for i in range(start, min(start + VIEW_BLOCK, len(texts))):
                found = extra_views(texts[i])
                owners += [i] * len(found)
                extra += found
            if extra:
                extra_vectors = await embed(extra) if self._tokenizer is None else np.zeros((len(extra), 0), np.float32)
                np.maximum.at(out, np.asarray(owners), self.score(extra, extra_vectors))
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
