"""A user's classifier served by a real Triton (nvidia-pytriton's `tritonserver`, python backend on the CPU): packaged
by `guardrail model package --kind classifier --backend python`, the same scores as the embedded backend, and a
sidecar whose classifier detector scores through Triton blocking a rude answer and passing a polite one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from guardrail_cli.main import cli
from guardrail_contract.sidecar_config import Cache, Models
from guardrail_contract.sidecar_config import TritonBackend as TritonConfig
from guardrail_models.classifier import build_keyword_classifier
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend
from guardrail_sidecar.scoring.backends.triton import TritonBackend
from guardrail_sidecar.scoring.scorer import Scorer
from guardrail_triton.server import TritonProcess
from tests.support.fake_scorer import FakeScorer
from tests.support.triton import triton_server
from tests.unit.sidecar.server.test_proxy import Stack, chat
from tests.unit.sidecar.server.test_proxy import stack as stack  # the in-process proxy fixture

pytestmark = pytest.mark.integration

TEXTS = ["Refunds are paid within 14 days, you idiot.", "Refunds are paid within 14 days.", "a stupid stupid plan"]


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    onnx_file, tokenizer = build_keyword_classifier(tmp_path_factory.mktemp("built"), {"idiot": 4.0, "stupid": 4.0})
    out = tmp_path_factory.mktemp("repo")
    args = ["model", "package", "--kind", "classifier", "--name", "rudeness", "--onnx", str(onnx_file)]
    result = CliRunner().invoke(cli, [*args, "--tokenizer", str(tokenizer), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    with triton_server(tmp_path_factory.mktemp("triton"), source=repository) as server:
        yield server


def served_scorer(triton: TritonProcess, repository: Path) -> Scorer:
    config = TritonConfig(url=triton.spec.ports.grpc_url, protocol="grpc", timeout="30s", retries=0)
    models = Models(backend="triton", triton=config, tokenizer_repository=str(repository))
    return Scorer(TritonBackend(config), models, Cache(max_entries=0), Metrics(), "served")


def test_triton_serves_the_classifier_with_the_embedded_scores(triton: TritonProcess, repository: Path) -> None:
    embedded_models = Models.model_validate({"backend": "embedded", "embedded": {"repository": str(repository)}})
    local = Scorer(EmbeddedBackend(repository), embedded_models, Cache(max_entries=0), Metrics(), "local")

    async def run() -> tuple[list[float], list[float]]:
        served = served_scorer(triton, repository)
        try:
            return await served.classify("rudeness", "1", TEXTS), await local.classify("rudeness", "1", TEXTS)
        finally:
            await served.backend.close()

    remote, embedded = asyncio.run(run())
    assert remote == pytest.approx(embedded, abs=1e-6)
    assert remote[0] > 0.8
    assert remote[1] < 0.2
    assert remote[2] > 0.8


class ServedClassifier(FakeScorer):
    def __init__(self, scorer: Scorer) -> None:
        super().__init__()
        self.served = scorer

    async def classify(self, name: str, version: str, texts: list[str]) -> list[float]:
        return await self.served.classify(name, version, texts)


async def test_a_sidecar_blocks_through_the_triton_served_classifier(
    stack: Stack, triton: TritonProcess, repository: Path
) -> None:
    detector = {"name": "rude", "kind": "classifier", "action": "block", "model": {"name": "rudeness"}}
    models = {"backend": "embedded", "embedded": {"repository": "/unused"}}
    routing = {"stable": {"revision": "stable1", "models": models, "detectors": [detector]}}
    scorer = served_scorer(triton, repository)
    client, _, _ = await stack(scorer=ServedClassifier(scorer), routing=routing)
    try:
        rude = await client.post("/v1/chat/completions", json=chat(), headers={"x-fake-answer": quote(TEXTS[0])})
        polite = await client.post("/v1/chat/completions", json=chat(), headers={"x-fake-answer": quote(TEXTS[1])})
        assert rude.headers["x-guardrail-reason"] == "detector_blocked"
        assert "idiot" not in await rude.text()
        assert (await polite.json())["choices"][0]["message"]["content"] == TEXTS[1]
    finally:
        await scorer.backend.close()
