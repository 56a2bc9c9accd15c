"""The scoring contract: model names and tensors shared by Triton (both flavours) and the embedded scorer.

Tokenisation happens in the client (the `tokenizers` library with the model's own `tokenizer.json`), so Triton
serves plain ONNX: with its ONNX Runtime backend in production (GPU), or, on a CPU-only Triton, with a python
backend `model.py` running the same ONNX files with onnxruntime (`guardrail model package --backend python`).
Every model takes token tensors (or, for an injection model that is a head on the embedding, FP32 embeddings)
and returns one FP32 output; this module is the only place that names them. Triton returns a per-item score
as `[batch, 1]`.
"""

from __future__ import annotations

from typing import Final

EMBEDDING_MODEL: Final = "embedding"
NLI_MODEL: Final = "nli"
INJECTION_MODEL: Final = "injection"

INPUT_IDS: Final = "input_ids"  # INT64 [batch, seq]
ATTENTION_MASK: Final = "attention_mask"  # INT64 [batch, seq]
TOKEN_TYPE_IDS: Final = "token_type_ids"  # noqa: S105 (a tensor name, not a secret); INT64 [batch, seq]; cross-encoder (premise, hypothesis) pairs

EMBEDDING_OUTPUT: Final = "embedding"  # FP32 [batch, dim], L2-normalised
INJECTION_INPUT: Final = "embedding"  # FP32 [batch, 384]: input of an injection model that is a head on the embedding
SCORE_OUTPUT: Final = "score"  # FP32 [batch]; nli: P(claim supported by evidence); injection: P(injection)

TOKEN_DTYPE: Final = "INT64"  # noqa: S105 (a tensor dtype, not a secret)
OUTPUT_DTYPE: Final = "FP32"
TOKENIZER_FILE: Final = "tokenizer.json"
MODEL_FILE: Final = "model.onnx"
