"""A real `tritonserver` (nvidia-pytriton's, python backend on the CPU) serving the project's models: the same
scores as the embedded scorer, through gRPC and HTTP, and `guardrail triton serve` as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from guardrail_contract.sidecar_config import Cache, Models
from guardrail_contract.sidecar_config import EmbeddedBackend as EmbeddedConfig
from guardrail_contract.sidecar_config import TritonBackend as TritonConfig
from guardrail_models.evalset import read_jsonl
from guardrail_models.repository import default_repository
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend
from guardrail_sidecar.scoring.backends.triton import TritonBackend
from guardrail_sidecar.scoring.scorer import Scorer
from guardrail_triton.install import SERVER_VERSION
from guardrail_triton.server import Ports, TritonProcess
from tests.support.processes import REPO, wait_http
from tests.support.triton import triton_server

pytestmark = pytest.mark.integration

REPOSITORY = default_repository()
DEV_SET = REPOSITORY.parent / "eval" / "halueval_dev.jsonl"
PAIRS = 200
BATCH = 16


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    with triton_server(tmp_path_factory.mktemp("triton")) as server:
        yield server


def _scores(scorer: Scorer, pairs: list[tuple[str, str]], batch: int = BATCH) -> np.ndarray:
    async def run() -> list[float]:
        out: list[float] = []
        for start in range(0, len(pairs), batch):
            out += await scorer.nli(pairs[start : start + batch])
        await scorer.backend.close()
        return out

    return np.array(asyncio.run(run()), dtype=np.float32)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_scores_equal_the_embedded_scorer_on_the_dev_set(triton: TritonProcess, protocol: str) -> None:
    data = read_jsonl(DEV_SET, PAIRS)
    pairs = data.pairs
    assert len(pairs) == PAIRS
    url = triton.spec.ports.grpc_url if protocol == "grpc" else triton.spec.ports.http_url
    config = TritonConfig(url=url, protocol=protocol, timeout="30s", retries=0)
    served = Models(backend="triton", triton=config, tokenizer_repository=str(REPOSITORY))
    embedded = Models(backend="embedded", embedded=EmbeddedConfig(repository=str(REPOSITORY)))
    no_cache = Cache(max_entries=0)
    remote = _scores(Scorer(TritonBackend(config), served, no_cache, Metrics(), "served"), pairs)
    local = _scores(Scorer(EmbeddedBackend(REPOSITORY), embedded, no_cache, Metrics(), "embedded"), pairs)
    assert remote.shape == local.shape == (PAIRS,)
    # the same ONNX file, onnxruntime version and threads, each row run alone: bit-identical, not merely close
    np.testing.assert_array_equal(remote, local)
    # and batch-invariant: a pair sent alone scores what it scored in a padded batch of 16 (model.py trims it)
    remote_alone = _scores(Scorer(TritonBackend(config), served, no_cache, Metrics(), "served"), pairs[:48], 1)
    np.testing.assert_array_equal(remote_alone, remote[:48])


def test_triton_reports_its_version_and_per_model_metrics(triton: TritonProcess) -> None:
    client = grpcclient.InferenceServerClient(triton.spec.ports.grpc_url)
    assert client.get_server_metadata(as_json=True)["version"] == SERVER_VERSION
    for model in ("nli", "embedding", "injection"):
        assert client.is_model_ready(model)
        assert client.get_model_metadata(model, as_json=True)["platform"] == "python"
    client.close()
    metrics = httpx.get(triton.spec.ports.metrics_url).text
    for series in ("nv_inference_request_success", "nv_inference_queue_duration_us", "nv_inference_count"):
        assert f'{series}{{model="nli",version="1"}}' in metrics


def test_guardrail_triton_serve_runs_until_sigterm(tmp_path: Path) -> None:
    ports = Ports()
    command = [str(REPO / ".venv" / "bin" / "guardrail"), "triton", "serve"]
    command += ["--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--metrics-port", str(ports.metrics)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=os.environ.copy())
    try:
        wait_http(ports.ready_url, proc, timeout=120)
        assert httpx.get(ports.metrics_url).status_code == 200
        proc.send_signal(signal.SIGTERM)  # the command became tritonserver: the signal reaches the server
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert f"tritonserver {SERVER_VERSION}: http {ports.http_url}" in text
    assert "Started GRPCInferenceService at 127.0.0.1:" in text


def test_a_malformed_request_gets_its_own_error_and_triton_keeps_serving(triton: TritonProcess) -> None:
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(triton.spec.ports.grpc_url)

    def request(ids_length: int, mask_length: int) -> list[grpcclient.InferInput]:
        inputs = []
        for name, length in (
            ("input_ids", ids_length),
            ("attention_mask", mask_length),
            ("token_type_ids", ids_length),
        ):
            array = np.ones((1, length), dtype=np.int64)
            item = grpcclient.InferInput(name, list(array.shape), "INT64")
            item.set_data_from_numpy(array)
            inputs.append(item)
        return inputs

    with pytest.raises(InferenceServerException):
        client.infer("nli", request(8, 5))  # the mask does not fit the tokens: onnxruntime refuses it
    score = client.infer("nli", request(8, 8)).as_numpy("score")
    assert score is not None
    assert score.shape == (1, 1)  # Triton's [n, 1] for dims [1]
    client.close()
