"""Embedding chunks with the project's embedding model: in-process (onnxruntime) or on a v2-protocol server.

The in-process embedder reuses the models engineer's loader (`guardrail_models.runtime`); the server embedder
reuses the sidecar's own tokeniser and v2 client (`guardrail_sidecar`), so what is stored is embedded exactly
as the sidecar embeds its queries. `identity` names the model for the knowledge-base version hash: vectors
from another model make another version.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from guardrail_contract import tensors
from guardrail_contract.sidecar_config import TritonBackend as TritonConfig
from guardrail_models.errors import RepositoryError
from guardrail_models.repository import default_repository
from guardrail_models.runtime import EmbeddingModel, load_embedding
from guardrail_sidecar.errors import BackendError
from guardrail_sidecar.scoring.backends.triton import TritonBackend
from guardrail_sidecar.scoring.encoder import Encoder

from .errors import EmbeddingError

Vectors = NDArray[np.float32]
BATCH = 32


class Embedder(Protocol):
    identity: str

    async def embed(self, texts: list[str]) -> Vectors: ...

    async def close(self) -> None: ...


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class OnnxEmbedder:
    """The embedding model of a model repository, run in-process."""

    def __init__(self, repository: Path | None = None) -> None:
        self.repository = repository or default_repository()
        try:
            self._model: EmbeddingModel = load_embedding(self.repository)
        except (RepositoryError, OSError) as exc:
            raise EmbeddingError(f"cannot load the embedding model from {self.repository}: {exc}") from exc
        onnx = self.repository / tensors.EMBEDDING_MODEL / "1" / tensors.MODEL_FILE
        self.identity = f"onnx:{file_digest(onnx)}"

    async def embed(self, texts: list[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._model.info.output.dims[0]), dtype=np.float32)
        return self._model.embed(texts, batch_size=BATCH)

    async def close(self) -> None:
        return None


class ServerEmbedder:
    """The embedding model on a Triton / KServe v2 server, tokenised here with its own tokenizer.json."""

    def __init__(self, url: str, tokenizer: Path, model: str = tensors.EMBEDDING_MODEL, version: str = "1") -> None:
        if not tokenizer.is_file():
            raise EmbeddingError(f"tokenizer {tokenizer} not found: pass the model's tokenizer.json")
        self._backend = TritonBackend(TritonConfig(url=url, protocol="grpc", timeout="30s"))
        self._encoder = Encoder(tokenizer, max_length=256)
        self._model = model
        self._version = version
        self.identity = f"v2:{model}:{version}"

    async def embed(self, texts: list[str]) -> Vectors:
        rows: list[Vectors] = []
        for start in range(0, len(texts), BATCH):
            inputs = self._encoder.encode(texts[start : start + BATCH])
            try:
                out = await self._backend.infer(self._model, self._version, inputs, tensors.EMBEDDING_OUTPUT)
            except BackendError as exc:
                raise EmbeddingError(f"embedding on the v2 server failed: {exc}") from exc
            rows.append(out)
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    async def close(self) -> None:
        await self._backend.close()
