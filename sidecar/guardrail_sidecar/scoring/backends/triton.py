"""The Triton / KServe v2 backend: `tritonclient` over gRPC (preferred) or HTTP.

Each call has a deadline, bounded retries with exponential backoff and a circuit breaker. The same code talks
to Triton's production flavour (ONNX Runtime backend) and its python-backend flavour (CPU). A call larger than
the model's `max_batch_size` is sent in chunks. Outputs are returned in the contract's shapes: Triton answers a
per-item score (`dims: [1]`) as `[n, 1]`, other v2 servers as `[n]`; both become `[n]`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient
import tritonclient.http.aio as httpclient
from numpy.typing import NDArray
from tenacity import AsyncRetrying, RetryError, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from guardrail_contract import tensors
from guardrail_contract.durations import duration_seconds
from guardrail_contract.sidecar_config import TritonBackend as TritonConfig
from guardrail_sidecar.errors import BackendError, CircuitOpenError
from guardrail_sidecar.scoring.breaker import CircuitBreaker

_DATATYPES = {np.dtype(np.int64): tensors.TOKEN_DTYPE, np.dtype(np.float32): tensors.OUTPUT_DTYPE}


@dataclass(frozen=True)
class _ModelInfo:
    inputs: frozenset[str]
    max_batch_size: int  # 0: the model takes no batch dimension limit we know of


def as_contract_shape(output: str, array: NDArray[Any]) -> NDArray[np.float32]:
    """A per-item score as `[n]` whether the server sent `[n, 1]` (Triton) or `[n]`; other outputs unchanged."""
    out = np.asarray(array, dtype=np.float32)
    if output == tensors.SCORE_OUTPUT and out.ndim == 2 and out.shape[1] == 1:
        return out.reshape(-1)
    return out


def _datatype(array: NDArray[Any]) -> str:
    """The v2 datatype of an input: INT64 tokens or FP32 embeddings (the injection head's input)."""
    try:
        return _DATATYPES[array.dtype]
    except KeyError:
        raise BackendError("triton", f"unsupported input dtype {array.dtype}") from None


class TritonBackend:
    name = "triton"

    def __init__(self, config: TritonConfig, client: Any = None) -> None:
        """`client`: an already built tritonclient (aio) client for `config.protocol`, e.g. in tests."""
        self._config = config
        self._timeout = duration_seconds(config.timeout)
        self._backoff = duration_seconds(config.backoff)
        self.breaker = CircuitBreaker(
            config.circuit_breaker.failure_threshold, duration_seconds(config.circuit_breaker.reset_timeout)
        )
        self._grpc: grpcclient.InferenceServerClient | None = client if config.protocol == "grpc" else None
        self._http: httpclient.InferenceServerClient | None = client if config.protocol == "http" else None
        self._models: dict[tuple[str, str], _ModelInfo] = {}

    def _client(self) -> Any:
        if self._config.protocol == "grpc":
            if self._grpc is None:
                self._grpc = grpcclient.InferenceServerClient(self._config.url)
            return self._grpc
        if self._http is None:
            self._http = httpclient.InferenceServerClient(self._config.url, conn_timeout=self._timeout)
        return self._http

    async def _model_info(self, model: str, version: str) -> _ModelInfo:
        key = (model, version)
        if key not in self._models:
            client = self._client()
            if self._config.protocol == "grpc":
                meta = await client.get_model_metadata(model, version, as_json=True, client_timeout=self._timeout)
                config_call = client.get_model_config(model, version, as_json=True, client_timeout=self._timeout)
            else:
                meta = await asyncio.wait_for(client.get_model_metadata(model, version), self._timeout)
                config_call = asyncio.wait_for(client.get_model_config(model, version), self._timeout)
            try:  # Triton's model configuration extension; other v2 servers may not have it: no chunking then
                config = await config_call
            except Exception:  # tritonclient, grpc and aiohttp errors alike
                config = {}
            config = config.get("config", config)
            names = frozenset(i["name"] for i in meta["inputs"])
            self._models[key] = _ModelInfo(names, int(config.get("max_batch_size", 0) or 0))
        return self._models[key]

    async def _infer_once(
        self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str
    ) -> NDArray[np.float32]:
        info = await self._model_info(model, version)
        feeds = {name: array for name, array in inputs.items() if name in info.inputs}
        total = len(next(iter(feeds.values()))) if feeds else 0
        step = info.max_batch_size or max(total, 1)
        parts = []
        for start in range(0, max(total, 1), step):
            chunk = {name: array[start : start + step] for name, array in feeds.items()}
            parts.append(await self._infer_chunk(model, version, chunk, output))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    async def _infer_chunk(
        self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str
    ) -> NDArray[np.float32]:
        if self._config.protocol == "grpc":
            g_inputs = []
            for name, array in inputs.items():
                item = grpcclient.InferInput(name, list(array.shape), _datatype(array))
                item.set_data_from_numpy(array)
                g_inputs.append(item)
            result = await self._client().infer(
                model,
                g_inputs,
                model_version=version,
                outputs=[grpcclient.InferRequestedOutput(output)],
                client_timeout=self._timeout,
            )
        else:
            h_inputs = []
            for name, array in inputs.items():
                item = httpclient.InferInput(name, list(array.shape), _datatype(array))
                item.set_data_from_numpy(array, binary_data=False)
                h_inputs.append(item)
            call = self._client().infer(
                model,
                h_inputs,
                model_version=version,
                outputs=[httpclient.InferRequestedOutput(output, binary_data=False)],
            )
            result = await asyncio.wait_for(call, self._timeout)
        array = result.as_numpy(output)
        if array is None:
            raise BackendError(self.name, f"{model} returned no `{output}` output")
        return as_contract_shape(output, array)

    async def infer(
        self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str
    ) -> NDArray[np.float32]:
        attempts = self._config.retries + 1
        last: BaseException | None = None
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self._backoff),  # backoff, 2x, 4x... between attempts
            retry=retry_if_not_exception_type(CircuitOpenError),  # an open circuit is answered at once
            sleep=asyncio.sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if not self.breaker.allow():
                        raise CircuitOpenError(self.name, f"circuit open after repeated failures ({last or 'earlier'})")
                    try:
                        out = await self._infer_once(model, version, inputs, output)
                    except Exception as exc:  # tritonclient, grpc, aiohttp and timeouts alike: retried, translated
                        self.breaker.failure()
                        last = exc
                        raise
                    self.breaker.success()
                    return out
        except RetryError:
            pass
        raise BackendError(self.name, f"{model} failed after {attempts} attempts: {last}")

    async def ready(self, models: list[tuple[str, str]]) -> bool:
        try:
            for model, version in models:
                client = self._client()
                if self._config.protocol == "grpc":
                    ok = await client.is_model_ready(model, version, client_timeout=self._timeout)
                else:
                    ok = await asyncio.wait_for(client.is_model_ready(model, version), self._timeout)
                if not ok:
                    return False
        except Exception:  # any failure to answer means not ready
            return False
        return True

    async def close(self) -> None:
        if self._grpc is not None:
            await self._grpc.close()
        if self._http is not None:
            await self._http.close()
