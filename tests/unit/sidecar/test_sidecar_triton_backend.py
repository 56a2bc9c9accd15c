"""The v2 backend's failure handling against a port where nothing listens: bounded retries, then the breaker."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from guardrail_sidecar.backends.triton import TritonBackend
from guardrail_sidecar.config import TritonBackend as TritonConfig
from guardrail_sidecar.errors import BackendError, CircuitOpenError


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
