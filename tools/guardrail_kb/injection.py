"""The project's prompt-injection model, applied to chunks at ingestion (when the repository has one).

Two shapes are accepted, told apart by the model's `model.json`: a head on the embedding (`max_length` 0,
fed embeddings of the pieces it reads) or a token classifier (fed the pieces' texts).

A chunk is read as the sidecar's injection check reads a request (`Scorer.windows`): every view of it
(`guardrail_sidecar.scoring.decoding.views`: normalised, with confusables folded and invisible characters
removed, and decoded when something was encoded), sentence by sentence, a long sentence in overlapping windows of
`WINDOW_TOKENS` tokens. Its score is the highest over those windows. The model was trained on short messages: on a
whole 600-character chunk it misses an instruction planted between benign sentences and flags ordinary news prose
(docs/knowledge-base.md). A chunk gives at most `MAX_WINDOWS` sentence windows; one that would give more (many
short sentences) is read in consecutive token windows of each view instead, so nothing is left unread and the
count follows the chunk's length.
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
from guardrail_models.runtime import load_tokenizer, open_session, run_alone
from guardrail_sidecar.scoring.claims import sentences
from guardrail_sidecar.scoring.decoding import views
from guardrail_sidecar.scoring.encoder import Encoder
from guardrail_sidecar.scoring.scorer import WINDOW_MIN_WORDS, WINDOW_OVERLAP, WINDOW_TOKENS

from .embedding import file_digest
from .errors import EmbeddingError

BATCH = 32
MAX_WINDOWS = 32  # sentence windows per chunk; a 600-character chunk of prose gives about 5 (10 with a decoded view)
WINDOW_BLOCK = 256  # chunks whose windows are embedded together (at most WINDOW_BLOCK * MAX_WINDOWS vectors held)
ENCODER_LENGTH = 256  # tokens the embedding model reads (a window is at most WINDOW_TOKENS of them)
Embed = Callable[[list[str]], Awaitable[NDArray[np.float32]]]
Progress = Callable[[int, int], None]  # (chunks screened, total)


def chunk_windows(text: str, encoder: Encoder) -> list[str]:
    """The pieces of `text` the injection model reads, each once: every sentence of every view (a long one in
    overlapping token windows of `encoder`), as `Scorer.windows` reads a request. Past MAX_WINDOWS sentence
    windows, each view in consecutive overlapping token windows instead."""
    found: dict[str, None] = {}
    readings = views(text)
    for view in readings:
        for sentence in sentences(view, WINDOW_MIN_WORDS):
            found.update(dict.fromkeys(encoder.windows(sentence, WINDOW_TOKENS, WINDOW_OVERLAP)))
    if len(found) <= MAX_WINDOWS:
        return list(found)
    return list(dict.fromkeys(w for view in readings for w in encoder.windows(view, WINDOW_TOKENS, WINDOW_OVERLAP)))


class InjectionModel:
    """`window_tokenizer`: the embedding model's tokenizer.json when the model is a head on the embedding (the
    windows are cut in its tokens, as the sidecar cuts them); a token classifier uses its own."""

    def __init__(self, version_dir: Path, window_tokenizer: Path) -> None:
        self.info = read_info(version_dir)
        self._session: Any = open_session(version_dir / tensors.MODEL_FILE)
        self._tokenizer = load_tokenizer(version_dir, self.info) if self.info.max_length else None
        if self._tokenizer is not None:
            window_tokenizer = version_dir / tensors.TOKENIZER_FILE
        self.encoder = Encoder(window_tokenizer, self.info.max_length or ENCODER_LENGTH)
        self.identity = f"{self.info.name}:{file_digest(version_dir / tensors.MODEL_FILE)}"  # for the KB version

    def score(self, texts: list[str], vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """P(injection) per text, read whole (`vectors`: their embeddings, for a head on the embedding)."""
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
            out[start:end] = run_alone(self._session, tensors.SCORE_OUTPUT, feeds).reshape(-1)  # as the sidecar
        return out

    async def score_chunks(
        self, texts: list[str], embed: Embed, progress: Progress | None = None
    ) -> NDArray[np.float32]:
        """P(injection) per chunk: the highest over its windows (`chunk_windows`), embedded with `embed` when the
        model is a head on the embedding. A window shared by neighbouring chunks (their overlap) is read once."""
        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(texts), WINDOW_BLOCK):
            end = min(start + WINDOW_BLOCK, len(texts))
            rows: dict[str, int] = {}
            owners: list[int] = []
            which: list[int] = []
            for i in range(start, end):
                for piece in chunk_windows(texts[i], self.encoder):
                    owners.append(i)
                    which.append(rows.setdefault(piece, len(rows)))
            if rows:
                pieces = list(rows)
                vectors = await embed(pieces) if self._tokenizer is None else np.zeros((len(pieces), 0), np.float32)
                np.maximum.at(out, np.asarray(owners), self.score(pieces, vectors)[np.asarray(which)])
            if progress is not None:
                progress(end, len(texts))
        return out


def load_injection(repository: Path, window_tokenizer: Path | None = None) -> InjectionModel | None:
    """The repository's injection model, or None when it has none (the pattern check still runs).
    `window_tokenizer` [default: the repository's embedding tokenizer]: see `InjectionModel`."""
    try:
        version_dir = model_dir(repository, tensors.INJECTION_MODEL)
    except RepositoryError:
        return None
    tokenizer = window_tokenizer or repository / tensors.EMBEDDING_MODEL / "1" / tensors.TOKENIZER_FILE
    try:
        return InjectionModel(version_dir, tokenizer)
    except Exception as exc:  # onnxruntime and tokenizers raise unexported error types
        raise EmbeddingError(f"cannot load the injection model in {version_dir}: {exc}") from exc
