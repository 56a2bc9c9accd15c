"""The contract tensors of the three default models, as `ModelInfo` records (pure)."""

from __future__ import annotations

from dataclasses import replace

from guardrail_contract import tensors
from guardrail_models.repository import ModelInfo, Tensor

EMBEDDING_DIM = 384


def _tokens(with_type_ids: bool) -> list[Tensor]:
    names = [tensors.INPUT_IDS, tensors.ATTENTION_MASK]
    if with_type_ids:
        names.append(tensors.TOKEN_TYPE_IDS)
    return [Tensor(name, "INT64", [-1]) for name in names]


def embedding_info(max_length: int = 256, precision: str = "int8") -> ModelInfo:
    return ModelInfo(
        name=tensors.EMBEDDING_MODEL,
        kind="embedding",
        inputs=_tokens(with_type_ids=False),
        output=Tensor(tensors.EMBEDDING_OUTPUT, "FP32", [EMBEDDING_DIM]),
        max_length=max_length,
        precision=precision,
    )


def nli_info(max_length: int = 256, precision: str = "int8") -> ModelInfo:
    return ModelInfo(
        name=tensors.NLI_MODEL,
        kind="nli",
        inputs=_tokens(with_type_ids=True),
        output=Tensor(tensors.SCORE_OUTPUT, "FP32"),
        max_length=max_length,
        precision=precision,
        extra={"pair_order": "evidence, claim", "truncation": "longest_first"},
    )


def injection_info(precision: str = "fp32") -> ModelInfo:
    """The injection detector is a small head on the embedding model's output, not a third encoder."""
    return ModelInfo(
        name=tensors.INJECTION_MODEL,
        kind="injection",
        inputs=[Tensor(tensors.INJECTION_INPUT, "FP32", [EMBEDDING_DIM])],
        output=Tensor(tensors.SCORE_OUTPUT, "FP32"),
        precision=precision,
        max_batch_size=256,
        extra={"input_model": tensors.EMBEDDING_MODEL},
    )


def injection_token_info(max_length: int = 128, precision: str = "int8") -> ModelInfo:
    """The injection detector as a fine-tuned encoder of its own: token ids in, P(injection) out."""
    return ModelInfo(
        name=tensors.INJECTION_MODEL,
        kind="injection",
        inputs=_tokens(with_type_ids=False),
        output=Tensor(tensors.SCORE_OUTPUT, "FP32"),
        max_length=max_length,
        precision=precision,
        extra={"truncation": "longest_first"},
    )


def info_for(kind: str, name: str | None = None, max_length: int = 256, tokens: bool = False) -> ModelInfo:
    """The contract of a model kind, optionally under another name (a user's own model). An injection model
    with `tokens` is an encoder of its own (ids and mask in); without, a head on the embedding."""
    if kind == "embedding":
        info = embedding_info(max_length)
    elif kind == "nli":
        info = nli_info(max_length)
    elif kind == "injection":
        info = injection_token_info(max_length) if tokens else injection_info()
    else:
        raise ValueError(f"unknown model kind {kind!r}: use embedding, nli or injection")
    return replace(info, name=name) if name else info
