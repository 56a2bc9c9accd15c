"""Triton python-backend `model.py`: runs the version folder's `model.onnx` with onnxruntime on the CPU.

Copied verbatim as `<model>/<version>/model.py` by `guardrail model package --backend python`, by the local
launcher (`guardrail triton serve`) and, for `spec.triton.device: cpu`, by the operator's model-fetching init
container; never imported by the project itself. It serves the same tensors as the ONNX Runtime backend (see
`guardrail_contract.tensors`): inputs by name, one FP32 output per request, shaped as `config.pbtxt` declares it
(a per-item score is `[n, 1]`, as Triton returns `dims: [1]` outputs). Where `config.pbtxt` declares no tensors
(the operator's CPU flavour), `auto_complete_config` declares the ONNX file's, as the ONNX Runtime backend does.

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


def _concatenate(arrays: list[Any]) -> Any:
    """Join request tensors along the batch; token tensors of unequal length are right-padded with 0.

    Triton's dynamic batcher only joins requests of equal shape, so padding is a safety net, not the rule.
    """
    if len(arrays) == 1:
        return arrays[0]
    if arrays[0].ndim == 2 and arrays[0].dtype == np.int64:
        width = max(a.shape[1] for a in arrays)
        arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in arrays]
    return np.concatenate(arrays, axis=0)


_TRITON_TYPES = {"tensor(int64)": "TYPE_INT64", "tensor(float)": "TYPE_FP32", "tensor(int32)": "TYPE_INT32"}


def _onnx_beside() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx")


class TritonPythonModel:
    """One onnxruntime session per model instance; a dynamic batch is run as one session call."""

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
        """One session call for the whole dynamic batch; if it fails, each request alone, so one malformed request
        gets its own error and the others their results."""
        try:
            return self._run([self._inputs(r) for r in requests])
        except Exception:
            responses = []
            for request in requests:
                try:
                    responses += self._run([self._inputs(request)])
                except Exception as exc:
                    responses.append(
                        pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}"))
                    )
            return responses

    def _inputs(self, request: Any) -> dict[str, Any]:
        out = {}
        for name in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise ValueError(f"input {name!r} is missing")
            out[name] = tensor.as_numpy()
        return out

    def _run(self, feeds: list[dict[str, Any]]) -> list[Any]:
        batch = {name: _concatenate([f[name] for f in feeds]) for name in self.inputs}
        results = self.session.run([name for name, _ in self.outputs], batch)
        responses = []
        start = 0
        for size in (len(f[self.inputs[0]]) for f in feeds):
            tensors = []
            for (name, dims), result in zip(self.outputs, results, strict=True):
                part = np.ascontiguousarray(result[start : start + size], dtype=np.float32)
                tensors.append(pb_utils.Tensor(name, part.reshape([size, *dims])))
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
