"""The knowledge base: evidence passages retrieved from Qdrant (embedded local mode or a server)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from qdrant_client import AsyncQdrantClient, models

from guardrail_contract.durations import duration_seconds
from guardrail_contract.sidecar_config import KnowledgeBase as KnowledgeBaseConfig
from guardrail_contract.sidecar_config import QdrantConfig
from guardrail_sidecar.errors import BackendError
from guardrail_sidecar.scoring.verdict import Evidence
from guardrail_sidecar.settings import secret

TEXT_FIELD = "text"


def connect(config: QdrantConfig) -> AsyncQdrantClient:
    """A client for the configured Qdrant; the API key comes from the named environment variable."""
    if config.path is not None:
        return AsyncQdrantClient(path=config.path)
    api_key = secret(config.api_key_env) if config.api_key_env else None
    return AsyncQdrantClient(url=config.url, api_key=api_key, timeout=int(duration_seconds(config.timeout)) or 1)


class KnowledgeStore:
    def __init__(self, client: AsyncQdrantClient, config: KnowledgeBaseConfig) -> None:
        self._client = client
        self._config = config

    async def search(self, vector: NDArray[np.float32], top_k: int | None = None) -> list[Evidence]:
        try:
            result = await self._client.query_points(
                self._config.collection,
                query=vector.tolist(),
                limit=top_k or self._config.top_k,
                score_threshold=self._config.score_threshold,
                with_payload=True,
            )
        except Exception as exc:  # qdrant-client raises transport- and mode-specific errors
            raise BackendError("qdrant", f"search in {self._config.collection} failed: {exc}") from exc
        out = []
        for point in result.points:
            payload = point.payload or {}
            text = payload.get(TEXT_FIELD)
            if isinstance(text, str):
                out.append(Evidence(str(payload.get("id", point.id)), text, "kb", float(point.score)))
        return out

    async def ready(self) -> bool:
        try:
            return bool(await self._client.collection_exists(self._config.collection))
        except Exception:  # unreachable means not ready
            return False


async def upsert_passages(
    client: AsyncQdrantClient,
    collection: str,
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: NDArray[np.float32],
) -> None:
    """Create the collection if needed and store passages (payload `id`, `text`) with their embeddings."""
    if not await client.collection_exists(collection):
        await client.create_collection(
            collection,
            vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE),
        )
    points = [
        models.PointStruct(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, pid)),
            vector=vec.tolist(),
            payload={"id": pid, TEXT_FIELD: text},
        )
        for pid, text, vec in zip(ids, texts, vectors, strict=True)
    ]
    await client.upsert(collection, points=points)
