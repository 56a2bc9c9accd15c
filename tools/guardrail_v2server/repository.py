"""The model repository: ONNX sessions per (name, version), tensor metadata, and inference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

# ONNX type string → KServe v2 datatype.
_DATATYPES = {
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
NUMPY_TYPES: dict[str, Any] = {
    "INT64": np.int64,
    "INT32": np.int32,
    "FP32": np.float32,
    "FP64": np.float64,
    "BOOL": np.bool_,
}


class ModelNotFound(LookupError):
    """No such model or version in the repository."""


class InferenceFailed(RuntimeError):
    """The inputs did not fit the model, or the model failed."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


def _spec(arg: Any) -> TensorSpec:
    shape = [d if isinstance(d, int) else -1 for d in arg.shape]
    return TensorSpec(arg.name, _DATATYPES.get(arg.type, "BYTES"), shape)


class Model:
    def __init__(self, name: str, version: str, path: Path, threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.name = name
        self.version = version
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [_spec(i) for i in self.session.get_inputs()]
        self.outputs = [_spec(o) for o in self.session.get_outputs()]

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": "onnxruntime_onnx",
            "inputs": [i.as_json() for i in self.inputs],
            "outputs": [o.as_json() for o in self.outputs],
        }

    def infer(self, inputs: dict[str, NDArray[Any]], outputs: list[str]) -> dict[str, NDArray[Any]]:
        wanted = outputs or [o.name for o in self.outputs]
        unknown = set(inputs) - {i.name for i in self.inputs}
        if unknown:
            raise InferenceFailed(f"unexpected inputs {sorted(unknown)} for model {self.name}")
        try:
            results = self.session.run(wanted, inputs)
        except Exception as exc:  # onnxruntime raises unexported error types
            raise InferenceFailed(f"{self.name}: {exc}") from exc
        return dict(zip(wanted, results, strict=True))


class Repository:
    """Every `<root>/<name>/<version>/model.onnx`, loaded at start-up."""

    def __init__(self, root: str | Path, threads: int = 1) -> None:
        self.models: dict[tuple[str, str], Model] = {}
        for path in sorted(Path(root).glob("*/*/model.onnx")):
            name, version = path.parent.parent.name, path.parent.name
            self.models[(name, version)] = Model(name, version, path, threads)

    def get(self, name: str, version: str = "") -> Model:
        if not version:
            versions = sorted((v for n, v in self.models if n == name), key=int)
            if not versions:
                raise ModelNotFound(f"model {name} not found")
            version = versions[-1]
        model = self.models.get((name, version))
        if model is None:
            raise ModelNotFound(f"model {name} version {version} not found")
        return model
