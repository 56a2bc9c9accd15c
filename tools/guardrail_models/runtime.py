"""Load a model of the repository into onnxruntime with its tokenizer; score text with it.

No torch here: this is what the embedded scorer and `guardrail eval` run. Every row runs alone, without padding
(`guardrail_contract.batching`), as the sidecar runs it: the INT8 models quantise activations per call, so a
batched row's score depended on its neighbours; alone, `guardrail eval` and the sidecar score a pair the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from guardrail_contract import tensors
from guardrail_contract.batching import alone
from guardrail_models.errors import RepositoryError
from guardrail_models.repository import ModelInfo, default_repository, model_dir, read_info

FloatArray = npt.NDArray[np.float32]


def open_session(path: Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session; `threads=0` lets onnxruntime choose."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def load_tokenizer(version_dir: Path, info: ModelInfo) -> Tokenizer:
    """The model's tokenizer, truncating to `max_length` and padding each batch to its longest item."""
    path = version_dir / tensors.TOKENIZER_FILE
    if not path.is_file():
        raise RepositoryError(f"{path} not found: a token model needs its tokenizer.json beside model.onnx")
    tokenizer = Tokenizer.from_file(str(path))
    # longest_first trims the longer text (the evidence, for nli) first and never fails on a long claim
    tokenizer.enable_truncation(max_length=info.max_length, strategy="longest_first")
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token, not a secret
    return tokenizer


def batched(count: int, lengths: list[int], batch_size: int) -> list[npt.NDArray[np.intp]]:
    """Index batches of similar length (sorted), so padding stays small and memory stays bounded (the tokenizer
    pads a batch; its rows then run alone)."""
    order = np.argsort(lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]


def run_alone(session: Any, output: str, feeds: dict[str, npt.NDArray[Any]]) -> FloatArray:
    """`output` for every row of `feeds`, each row run alone, trimmed to its attention-mask length."""
    parts = [np.asarray(session.run([output], row)[0], dtype=np.float32) for row in alone(feeds)]
    return np.concatenate(parts, axis=0) if parts else np.asarray(session.run([output], feeds)[0], dtype=np.float32)


def _feeds(encodings: list[Any], with_type_ids: bool) -> dict[str, npt.NDArray[np.int64]]:
    feeds = {
        tensors.INPUT_IDS: np.array([e.ids for e in encodings], dtype=np.int64),  # right-padded to the longest
        tensors.ATTENTION_MASK: np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }
    if with_type_ids:
        feeds[tensors.TOKEN_TYPE_IDS] = np.array([e.type_ids for e in encodings], dtype=np.int64)
    return feeds


@dataclass
class EmbeddingModel:
    """Sentence embeddings, L2-normalised, [n, 384]."""

    session: Any
    tokenizer: Tokenizer
    info: ModelInfo

    def embed(self, texts: list[str], batch_size: int = 32) -> FloatArray:
        out = np.zeros((len(texts), self.info.output.dims[0]), dtype=np.float32)
        for index in batched(len(texts), [len(t) for t in texts], batch_size):
            feeds = _feeds(self.tokenizer.encode_batch([texts[i] for i in index]), with_type_ids=False)
            out[index] = run_alone(self.session, tensors.EMBEDDING_OUTPUT, feeds)
        return out


@dataclass
class NliModel:
    """P(claim supported by evidence) for (evidence, claim) pairs."""

    session: Any
    tokenizer: Tokenizer
    info: ModelInfo

    def score(self, pairs: list[tuple[str, str]], batch_size: int = 16) -> FloatArray:
        out = np.zeros(len(pairs), dtype=np.float32)
        for index in batched(len(pairs), [len(e) + len(c) for e, c in pairs], batch_size):
            feeds = _feeds(self.tokenizer.encode_batch([pairs[i] for i in index]), with_type_ids=True)
            out[index] = run_alone(self.session, tensors.SCORE_OUTPUT, feeds).reshape(-1)
        return out


@dataclass
class InjectionModel:
    """P(injection) per text. Two shapes, told apart by model.json: a fine-tuned encoder of its own (`tokenizer`
    set, fed token ids) or a head on the embedding model (`embedding` set, texts embedded first)."""

    session: Any
    embedding: EmbeddingModel
    info: ModelInfo
    tokenizer: Tokenizer | None = None

    def score_embeddings(self, vectors: FloatArray) -> FloatArray:
        if self.tokenizer is not None:
            raise RepositoryError("this injection model reads tokens, not embeddings: call score(texts)")
        if len(vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        feeds = {tensors.INJECTION_INPUT: vectors.astype(np.float32)}
        return run_alone(self.session, tensors.SCORE_OUTPUT, feeds)

    def score(self, texts: list[str], batch_size: int = 32) -> FloatArray:
        if self.tokenizer is None:
            return self.score_embeddings(self.embedding.embed(texts))
        out = np.zeros(len(texts), dtype=np.float32)
        for index in batched(len(texts), [len(t) for t in texts], batch_size):
            feeds = _feeds(self.tokenizer.encode_batch([texts[i] for i in index]), with_type_ids=False)
            out[index] = run_alone(self.session, tensors.SCORE_OUTPUT, feeds).reshape(-1)
        return out


def _open(repository: Path | None, name: str, model_file: str) -> tuple[Path, ModelInfo, Any]:
    version_dir = model_dir(repository or default_repository(), name)
    info = read_info(version_dir)
    return version_dir, info, open_session(version_dir / model_file)


def load_embedding(repository: Path | None = None, model_file: str = tensors.MODEL_FILE) -> EmbeddingModel:
    version_dir, info, session = _open(repository, tensors.EMBEDDING_MODEL, model_file)
    return EmbeddingModel(session, load_tokenizer(version_dir, info), info)


def load_nli(repository: Path | None = None, model_file: str = tensors.MODEL_FILE) -> NliModel:
    version_dir, info, session = _open(repository, tensors.NLI_MODEL, model_file)
    return NliModel(session, load_tokenizer(version_dir, info), info)


def load_injection(repository: Path | None = None) -> InjectionModel:
    version_dir, info, session = _open(repository, tensors.INJECTION_MODEL, tensors.MODEL_FILE)
    tokenizer = load_tokenizer(version_dir, info) if info.max_length else None
    return InjectionModel(session, load_embedding(repository), info, tokenizer)
