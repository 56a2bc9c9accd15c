"""The v2 backend's failure handling against a port where nothing listens: bounded retries, then the breaker."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from guardrail_contract.sidecar_config import TritonBackend as TritonConfig
from guardrail_sidecar.errors import BackendError, CircuitOpenError
from guardrail_sidecar.scoring.backends.triton import TritonBackend


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # released on exit: nothing listens there


async def test_retries_then_opens_the_circuit() -> None:
    config = TritonConfig(
        url=f"127.0.0.1:{closed_port()}",
        protocol="http",
        timeout="500ms",
        retries=1,
        backoff="1ms",
        circuit_breaker={"failureThreshold": 2, "resetTimeout": "60s"},
    )
    backend = TritonBackend(config)
    inputs = {"input_ids": np.ones((1, 3), dtype=np.int64)}
    try:
        with pytest.raises(BackendError, match="after 2 attempts"):
            await backend.infer("nli", "1", inputs, "score")
        assert backend.breaker.state == "open"
        with pytest.raises(CircuitOpenError):
            await backend.infer("nli", "1", inputs, "score")
        assert not await backend.ready([("nli", "1")])
    finally:
        await backend.close()


class _Result:
    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    def as_numpy(self, name: str) -> np.ndarray:
        return self._array


class _FakeGrpc:
    """A tritonclient.grpc.aio stand-in answering scores in the shape it is given, recording batch sizes."""

    def __init__(self, score_shape: str, max_batch_size: int = 64) -> None:
        self.score_shape = score_shape
        self.max_batch_size = max_batch_size
        self.batches: list[int] = []

    async def get_model_metadata(self, model: str, version: str, **_: object) -> dict[str, object]:
        return {"inputs": [{"name": "input_ids"}, {"name": "attention_mask"}]}

    async def get_model_config(self, model: str, version: str, **_: object) -> dict[str, object]:
        return {"config": {"max_batch_size": self.max_batch_size}}

    async def infer(self, model: str, inputs: list[object], **_: object) -> _Result:
        n = inputs[0].shape()[0]  # type: ignore[attr-defined]
        self.batches.append(n)
        scores = np.arange(n, dtype=np.float32) / 100
        return _Result(scores.reshape(n, 1) if self.score_shape == "n,1" else scores)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("shape", ["n,1", "n"])
async def test_scores_come_back_as_one_value_per_item_whichever_shape_the_server_sends(shape: str) -> None:
    client = _FakeGrpc(shape)
    backend = TritonBackend(TritonConfig(url="unused:1", protocol="grpc"), client=client)
    inputs = {"input_ids": np.ones((3, 5), dtype=np.int64), "attention_mask": np.ones((3, 5), dtype=np.int64)}
    out = await backend.infer("nli", "1", inputs, "score")
    assert out.shape == (3,)
    np.testing.assert_array_equal(out, np.array([0.0, 0.01, 0.02], dtype=np.float32))


async def test_a_call_above_max_batch_size_goes_in_chunks_and_keeps_the_order() -> None:
    client = _FakeGrpc("n,1", max_batch_size=4)
    backend = TritonBackend(TritonConfig(url="unused:1", protocol="grpc"), client=client)
    inputs = {"input_ids": np.ones((10, 5), dtype=np.int64), "unused": np.ones((10, 5), dtype=np.int64)}
    out = await backend.infer("nli", "1", inputs, "score")
    assert client.batches == [4, 4, 2]
    np.testing.assert_array_equal(out, np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1], dtype=np.float32) / 100)


class _NoConfigGrpc(_FakeGrpc):
    """A v2 server without Triton's model configuration extension."""

    async def get_model_config(self, model: str, version: str, **_: object) -> dict[str, object]:
        raise RuntimeError("unimplemented: ModelConfig")


async def test_a_server_without_model_config_gets_the_whole_call() -> None:
    client = _NoConfigGrpc("n")
    backend = TritonBackend(TritonConfig(url="unused:1", protocol="grpc"), client=client)
    inputs = {"input_ids": np.ones((100, 5), dtype=np.int64), "attention_mask": np.ones((100, 5), dtype=np.int64)}
    out = await backend.infer("nli", "1", inputs, "score")
    assert client.batches == [100]
    assert out.shape == (100,)
