"""A user's own text classifier for `spec.detectors` (kind classifier): its contract, and building a small one.

The contract: `input_ids` and `attention_mask` (INT64 [batch, seq], from the model's own `tokenizer.json`) in,
`score` (FP32 [batch], P(positive)) out; served like the shipped models, by Triton or the sidecar's embedded
backend. `guardrail model package --kind classifier --name NAME --onnx model.onnx --tokenizer tokenizer.json --out
REPO` places it in a Triton-ready repository.
"""

from __future__ import annotations

from pathlib import Path

from guardrail_contract import tensors
from guardrail_models.repository import ModelInfo, Tensor


def classifier_info(name: str = "classifier", max_length: int = 128) -> ModelInfo:
    return ModelInfo(
        name=name,
        kind="classifier",
        inputs=[Tensor(tensors.INPUT_IDS, "INT64", [-1]), Tensor(tensors.ATTENTION_MASK, "INT64", [-1])],
        output=Tensor(tensors.SCORE_OUTPUT, "FP32"),
        max_length=max_length,
        precision="fp32",
        extra={"output": "P(positive)"},
    )


def build_keyword_classifier(folder: Path, words: dict[str, float], bias: float = -2.0) -> tuple[Path, Path]:
    """A tiny real classifier (for tests and examples): score = sigmoid(bias + sum of the weights of its words),
    as an ONNX graph (Gather, masked ReduceSum, Sigmoid) with a word-level `tokenizer.json`. Needs the `onnx`
    package (the dev extra). Returns (model.onnx, tokenizer.json)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1} | {w: i + 2 for i, w in enumerate(sorted(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))  # noqa: S106 (a token, not a password)
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    weights = np.zeros((len(vocab), 1), dtype=np.float32)
    for word, weight in words.items():
        weights[vocab[word], 0] = weight
    nodes = [
        helper.make_node("Gather", ["weights", tensors.INPUT_IDS], ["per_token"]),  # [B, S, 1]
        helper.make_node("Squeeze", ["per_token", "last_axis"], ["token_weights"]),  # [B, S]
        helper.make_node("Cast", [tensors.ATTENTION_MASK], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["token_weights", "mask"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "sequence_axis"], ["total"], keepdims=0),  # [B]
        helper.make_node("Add", ["total", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [tensors.SCORE_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "keyword_classifier",
        [
            helper.make_tensor_value_info(tensors.INPUT_IDS, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(tensors.ATTENTION_MASK, TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info(tensors.SCORE_OUTPUT, TensorProto.FLOAT, ["batch"])],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "last_axis"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "sequence_axis"),
            numpy_helper.from_array(np.array(bias, dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_file, tokenizer_file = folder / tensors.MODEL_FILE, folder / tensors.TOKENIZER_FILE
    onnx.save(model, str(onnx_file))
    tokenizer.save(str(tokenizer_file))
    return onnx_file, tokenizer_file
