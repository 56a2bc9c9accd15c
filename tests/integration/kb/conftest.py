"""Fixtures for knowledge-base integration tests: the real embedding model and a copy of the example corpus."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from guardrail_kb.embedding import OnnxEmbedder
from guardrail_kb.injection import InjectionModel, load_injection
from guardrail_kb.store import KnowledgeBaseStore, connect

EXAMPLE_KB = Path(__file__).resolve().parents[3] / "examples" / "kb"


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    """The project's embedding model (ONNX, in-process): loaded once for the session."""
    return OnnxEmbedder()


@pytest.fixture(scope="session")
def injection() -> InjectionModel:
    """The repository's injection model (the knowledge base's check reads chunks with it)."""
    model = load_injection(OnnxEmbedder().repository)
    assert model is not None, "models/repository has no injection model"
    return model


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the bundled example knowledge base."""
    target = tmp_path / "corpus"
    shutil.copytree(EXAMPLE_KB, target)
    return target


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[KnowledgeBaseStore]:
    """The knowledge base `shop` in a fresh embedded Qdrant folder."""
    kb = KnowledgeBaseStore(connect(path=str(tmp_path / "qdrant")), "shop")
    yield kb
    await kb.client.close()
