"""Default scoring models: where they live, how to load them, how they were built and measured.

Runtime helpers (`default_repository`, `load_embedding`, `load_nli`, `load_injection`) need only
onnxruntime, tokenizers and numpy. The training and export scripts (`train_nli`, `export_embedding`,
`train_injection`) import torch and run in the separate training environment described in docs/models.md.
"""

from __future__ import annotations

from guardrail_models.errors import ChecksumError, DatasetError, ModelError, RepositoryError
from guardrail_models.repository import default_repository, model_dir
from guardrail_models.runtime import (
    EmbeddingModel,
    InjectionModel,
    NliModel,
    load_embedding,
    load_injection,
    load_nli,
)

__all__ = [
    "ChecksumError",
    "DatasetError",
    "EmbeddingModel",
    "InjectionModel",
    "ModelError",
    "NliModel",
    "RepositoryError",
    "default_repository",
    "load_embedding",
    "load_injection",
    "load_nli",
    "model_dir",
]
