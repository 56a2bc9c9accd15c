"""Triton python-backend `model.py`: runs the version folder's `model.onnx` with onnxruntime on the CPU.

This file is copied verbatim as `<model>/<version>/model.py` by `guardrail model package --backend python`; it is
never imported by the project. It serves the same tensors as the ONNX Runtime backend (see
`guardrail_sidecar.contract`): inputs by name, one FP32 output per request, shaped as `config.pbtxt` declares it
(a per-item score is `[n, 1]`, as Triton returns `dims: [1]` outputs).

The python backend stub embeds the system libpython and ignores `PYTHONPATH`, so the folder holding numpy<2 and
onnxruntime is put on `sys.path` here, from `$GUARDRAIL_TRITON_PYTHON_SITE` (the launcher sets it). In an image
that already has both installed, leave it unset.
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


class TritonPythonModel:
    """One onnxruntime session per model instance; a dynamic batch is run as one session call."""

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
        feeds: dict[str, list[Any]] = {name: [] for name in self.inputs}
        sizes = []
        for request in requests:
            for name in self.inputs:
                feeds[name].append(pb_utils.get_input_tensor_by_name(request, name).as_numpy())
            sizes.append(len(feeds[self.inputs[0]][-1]))
        batch = {name: _concatenate(arrays) for name, arrays in feeds.items()}
        names = [name for name, _ in self.outputs]
        results = self.session.run(names, batch)
        responses = []
        start = 0
        for size in sizes:
            tensors = []
            for (name, dims), result in zip(self.outputs, results, strict=True):
                part = np.ascontiguousarray(result[start : start + size], dtype=np.float32)
                tensors.append(pb_utils.Tensor(name, part.reshape([size, *dims])))
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
