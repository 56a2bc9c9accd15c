"""The embedded backend: the same ONNX model files run in-process with onnxruntime (no server needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from .. import contract
from ..errors import BackendError


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, repository: str | Path, threads: int = 1) -> None:
        self._repository = Path(repository)
        self._threads = threads
        self._sessions: dict[tuple[str, str], ort.InferenceSession] = {}

    def session(self, model: str, version: str) -> ort.InferenceSession:
        key = (model, version)
        if key not in self._sessions:
            path = self._repository / model / version / contract.MODEL_FILE
            if not path.is_file():
                raise BackendError(self.name, f"model file {path} not found")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            try:
                self._sessions[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own unexported error types
                raise BackendError(self.name, f"cannot load {path}: {exc}") from exc
        return self._sessions[key]

    def run(self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str) -> NDArray[np.float32]:
        session = self.session(model, version)
        feed = {i.name: inputs[i.name] for i in session.get_inputs() if i.name in inputs}
        try:
            result = session.run([output], feed)[0]
        except Exception as exc:
            raise BackendError(self.name, f"{model} failed: {exc}") from exc
        return np.asarray(result, dtype=np.float32)

    async def infer(
        self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str
    ) -> NDArray[np.float32]:
        return await asyncio.to_thread(self.run, model, version, inputs, output)

    async def ready(self, models: list[tuple[str, str]]) -> bool:
        try:
            for model, version in models:
                self.session(model, version)
        except BackendError:
            return False
        return True

    async def close(self) -> None:
        self._sessions.clear()
