"""Triton python-backend `model.py`: runs the version folder's `model.onnx` with onnxruntime on the CPU.

Copied verbatim as `<model>/<version>/model.py` by `guardrail model package --backend python`, by the local
launcher (`guardrail triton serve`) and, for `spec.triton.device: cpu`, by the operator's model-fetching init
container; never imported by the project itself. It serves the same tensors as the ONNX Runtime backend (see
`guardrail_contract.tensors`): inputs by name, one FP32 output per request, shaped as `config.pbtxt` declares it
(a per-item score is `[n, 1]`, as Triton returns `dims: [1]` outputs). Where `config.pbtxt` declares no tensors
(the operator's CPU flavour), `auto_complete_config` declares the ONNX file's, as the ONNX Runtime backend does.

Batch-invariant: every row of every request runs alone, trimmed to its attention-mask length (tokenizers pad on
the right), as the embedded scorer runs it (`guardrail_contract.batching`, repeated here: this file imports nothing
of the project). The INT8 models quantise activations per call, so a row batched with other rows, of the same or
another request, would score differently depending on them and on their padding.

The python backend stub embeds the system libpython and ignores `PYTHONPATH`, so the folder holding numpy<2 and
onnxruntime is put on `sys.path` here, from `$GUARDRAIL_TRITON_PYTHON_SITE` (the local launcher sets it). In an
image that already has both installed (see docker/triton-cpu.Dockerfile), leave it unset.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_SITE = os.environ.get("GUARDRAIL_TRITON_PYTHON_SITE", "")
if _SITE and _SITE not in sys.path:
    sys.path.insert(0, _SITE)

import numpy as np  # noqa: E402  (after the sys.path set-up above)
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]  # noqa: E402  (inside Triton only)


def _alone(feed: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row of one request's `feed` as a feed of one row; with an `attention_mask`, every tensor of its shape
    (the token tensors) trimmed to the row's length. Tensors without a sequence axis are split by row only."""
    rows = min(len(v) for v in feed.values())
    mask = feed.get("attention_mask")
    out = []
    for row in range(rows):
        if mask is None or mask.ndim != 2:
            out.append({name: value[row : row + 1] for name, value in feed.items()})
            continue
        attended = np.flatnonzero(mask[row])
        width = int(attended[-1]) + 1 if len(attended) else 1
        out.append(
            {
                name: value[row : row + 1, :width] if value.shape == mask.shape else value[row : row + 1]
                for name, value in feed.items()
            }
        )
    return out


_TRITON_TYPES = {"tensor(int64)": "TYPE_INT64", "tensor(float)": "TYPE_FP32", "tensor(int32)": "TYPE_INT32"}


def _onnx_beside() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx")


class TritonPythonModel:
    """One onnxruntime session per model instance; each row of a dynamic batch is run alone."""

    @staticmethod
    def auto_complete_config(auto_complete_model_config: Any) -> Any:
        """Declare the ONNX file's tensors when `config.pbtxt` does not (as Triton's ONNX Runtime backend does).

        The batch dimension is left out; a per-item output (`[batch]` in ONNX) is declared `dims: [1]`.
        """
        config = auto_complete_model_config.as_dict()
        declared = {t["name"] for t in config.get("input", []) + config.get("output", [])}
        session = ort.InferenceSession(_onnx_beside(), providers=["CPUExecutionProvider"])
        for tensor, add in (
            *((t, auto_complete_model_config.add_input) for t in session.get_inputs()),
            *((t, auto_complete_model_config.add_output) for t in session.get_outputs()),
        ):
            if tensor.name in declared:
                continue
            dims = [d if isinstance(d, int) else -1 for d in tensor.shape[1:]] or [1]
            add({"name": tensor.name, "data_type": _TRITON_TYPES[tensor.type], "dims": dims})
        return auto_complete_model_config

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        parameters = config.get("parameters", {})
        threads = int(parameters.get("intra_op_threads", {}).get("string_value", "1"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.path.join(folder, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [(o["name"], list(o["dims"])) for o in config["output"]]

    def execute(self, requests: list[Any]) -> list[Any]:
        """Every row of every request of the dynamic batch run alone; a malformed request gets its own error and
        the others their results."""
        responses = []
        for request in requests:
            try:
                responses.append(self._respond(self._inputs(request)))
            except Exception as exc:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses

    def _inputs(self, request: Any) -> dict[str, Any]:
        out = {}
        for name in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise ValueError(f"input {name!r} is missing")
            out[name] = tensor.as_numpy()
        return out

    def _respond(self, feed: dict[str, Any]) -> Any:
        names = [name for name, _ in self.outputs]
        rows = [self.session.run(names, row) for row in _alone(feed)]
        if not rows:  # an empty request: the model's own empty outputs
            rows = [self.session.run(names, feed)]
        size = len(feed[self.inputs[0]])
        tensors = []
        for index, (name, dims) in enumerate(self.outputs):
            part = np.concatenate([np.asarray(r[index], dtype=np.float32) for r in rows], axis=0)
            tensors.append(pb_utils.Tensor(name, np.ascontiguousarray(part).reshape([size, *dims])))
        return pb_utils.InferenceResponse(output_tensors=tensors)
