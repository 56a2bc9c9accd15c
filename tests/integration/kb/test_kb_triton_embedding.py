"""Ingestion with embeddings from a real Triton server: the same vectors as the in-process model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from guardrail_kb.embedding import OnnxEmbedder, ServerEmbedder
from guardrail_kb.ingest import Options, ingest
from guardrail_kb.store import KnowledgeBaseStore
from guardrail_models.repository import default_repository
from tests.support.triton import triton_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def triton_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`host:port` (gRPC) of a real Triton serving the project's model repository."""
    with triton_server(tmp_path_factory.mktemp("triton")) as server:
        yield server.spec.ports.grpc_url


async def test_server_embeddings_match_the_embedded_model(
    triton_grpc: str, embedder: OnnxEmbedder, store: KnowledgeBaseStore, corpus: Path
) -> None:
    server = ServerEmbedder(triton_grpc, default_repository() / "embedding" / "1" / "tokenizer.json")
    try:
        report = await ingest(store, server, [corpus], Options())
    finally:
        await server.close()
    points = list((await store.points(report.version)).values())
    assert len(points) == report.chunks > 0
    texts = [str(p.payload["text"]) for p in points]
    local = await embedder.embed(texts)
    remote = np.asarray([p.vector for p in points], dtype=np.float32)
    assert np.allclose(local, remote, atol=2e-3)
