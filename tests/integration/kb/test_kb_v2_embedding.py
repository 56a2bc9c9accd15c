"""Ingestion with embeddings from a real v2-protocol server: the same vectors as the in-process model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from guardrail_devcluster.cluster import free_port
from guardrail_kb.embedding import OnnxEmbedder, ServerEmbedder
from guardrail_kb.ingest import Options, ingest
from guardrail_kb.store import KnowledgeBaseStore
from guardrail_models.repository import default_repository
from tests.support.processes import PYTHON, running

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def v2_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`host:port` (gRPC) of a v2 server serving the project's model repository."""
    http, grpc = free_port(), free_port()
    args = [PYTHON, "-m", "guardrail_v2server", "--repository", str(default_repository())]
    args += ["--http-port", str(http), "--grpc-port", str(grpc)]
    log = tmp_path_factory.mktemp("v2") / "v2server.log"
    with running(args, f"http://127.0.0.1:{http}/v2/health/ready", log):
        yield f"127.0.0.1:{grpc}"


async def test_server_embeddings_match_the_embedded_model(
    v2_grpc: str, embedder: OnnxEmbedder, store: KnowledgeBaseStore, corpus: Path
) -> None:
    server = ServerEmbedder(v2_grpc, default_repository() / "embedding" / "1" / "tokenizer.json")
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
