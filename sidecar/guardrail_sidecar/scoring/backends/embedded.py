"""The embedded backend: the same ONNX model files run in-process with onnxruntime (no server needed).

Batch-invariant: every row runs alone, trimmed to its attention-mask length (`guardrail_contract.batching`). The
INT8 models quantise activations per call, so a batched row's score depended on the rows and padding beside it
(up to 0.059 on dev pairs): a verdict near the threshold moved with other traffic, and the streaming and JSON
paths disagreed. Alone, a row scores the same in any request, order or cache state.

Memory is bounded under any load: at most `concurrency` model runs at once (a dedicated thread pool; other
calls wait their turn), each holding one row's activations. A call takes its turn `max_batch` rows at a time, so
a large request does not hold a worker for its whole length while small ones wait. Without these bounds, a few
concurrent maximum-size requests held one activation buffer each and pushed a sidecar past 1 GiB.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from guardrail_contract import tensors
from guardrail_contract.batching import alone, row_count
from guardrail_sidecar.errors import BackendError


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, repository: str | Path, threads: int = 1, concurrency: int = 2, max_batch: int = 16) -> None:
        if concurrency < 1 or max_batch < 1:
            raise ValueError("concurrency and max_batch must be at least 1")
        self._repository = Path(repository)
        self._threads = threads
        self._max_batch = max_batch
        self._sessions: dict[tuple[str, str], ort.InferenceSession] = {}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="onnxruntime")

    def session(self, model: str, version: str) -> ort.InferenceSession:
        key = (model, version)
        if key not in self._sessions:
            path = self._repository / model / version / tensors.MODEL_FILE
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
        """`output` for every row of `inputs`, each row computed alone (as a batch of one, without padding)."""
        session = self.session(model, version)
        feed = {i.name: inputs[i.name] for i in session.get_inputs() if i.name in inputs}
        try:
            if row_count(feed) == 0:  # nothing to score: the model's own empty output (its shape and dtype)
                return np.asarray(session.run([output], feed)[0], dtype=np.float32)
            parts = [np.asarray(session.run([output], row)[0], dtype=np.float32) for row in alone(feed)]
        except Exception as exc:  # onnxruntime raises its own unexported error types
            raise BackendError(self.name, f"{model} failed: {exc}") from exc
        return np.concatenate(parts, axis=0)

    async def infer(
        self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str
    ) -> NDArray[np.float32]:
        loop = asyncio.get_running_loop()
        rows = row_count(inputs)
        if rows <= self._max_batch:
            return await loop.run_in_executor(self._pool, self.run, model, version, inputs, output)
        parts = []
        for start in range(0, rows, self._max_batch):
            chunk = {name: value[start : start + self._max_batch] for name, value in inputs.items()}
            parts.append(await loop.run_in_executor(self._pool, self.run, model, version, chunk, output))
        return np.concatenate(parts, axis=0)

    async def ready(self, models: list[tuple[str, str]]) -> bool:
        try:
            for model, version in models:
                self.session(model, version)
        except BackendError:
            return False
        return True

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sessions.clear()
