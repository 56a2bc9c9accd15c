"""A user's own classifier as a detector: built as a real (tiny) ONNX model with its tokenizer, packaged by
`guardrail model package --kind classifier`, run by the sidecar's embedded backend (onnxruntime) through
`Scorer.classify`, deployed through spec.detectors, and blocking or flagging what it should."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from guardrail_cli.main import cli
from guardrail_contract.sidecar_config import Cache, Models
from guardrail_models.classifier import build_keyword_classifier
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend
from guardrail_sidecar.scoring.scorer import Scorer
from tests.support.fake_scorer import FakeScorer
from tests.unit.sidecar.server.test_proxy import Stack, chat, sse_events
from tests.unit.sidecar.server.test_proxy import stack as stack  # the in-process proxy fixture

FACTS = "Refunds are paid within 14 days. Shipping is free for orders above 50 euros."
RUDE = "Refunds are paid within 14 days, you idiot."
POLITE = "Refunds are paid within 14 days."


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("built")
    onnx_file, tokenizer = build_keyword_classifier(built, {"idiot": 4.0, "stupid": 4.0})
    out = tmp_path_factory.mktemp("repo")
    args = ["model", "package", "--kind", "classifier", "--name", "rudeness", "--onnx", str(onnx_file)]
    result = CliRunner().invoke(cli, [*args, "--tokenizer", str(tokenizer), "--max-length", "64", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "rudeness" / "1" / "model.onnx").is_file()
    assert 'name: "rudeness"' in (out / "rudeness" / "config.pbtxt").read_text()  # Triton's config rendered
    return out


class WithClassifier(FakeScorer):
    """Grounding by the fake scorer; classification by the real Scorer over the packaged repository."""

    def __init__(self, repository: Path) -> None:
        super().__init__()
        models = Models.model_validate({"backend": "embedded", "embedded": {"repository": str(repository)}})
        self.real = Scorer(EmbeddedBackend(repository), models, Cache(), Metrics(), "r1")

    async def classify(self, name: str, version: str, texts: list[str]) -> list[float]:
        return await self.real.classify(name, version, texts)


async def test_the_packaged_classifier_scores_texts(repository: Path) -> None:
    scores = await WithClassifier(repository).classify("rudeness", "1", [RUDE, POLITE, "STUPID idea"])
    assert scores[0] > 0.8
    assert scores[1] < 0.2
    assert scores[2] > 0.8


def routing(action: str, side: str = "answer") -> dict[str, Any]:
    detector = {
        "name": "rude",
        "kind": "classifier",
        "appliesTo": side,
        "action": action,
        "threshold": 0.5,
        "model": {"name": "rudeness", "version": "1"},
    }
    models = {"backend": "embedded", "embedded": {"repository": "/unused"}}
    return {"stable": {"revision": "stable1", "models": models, "detectors": [detector]}}


async def test_a_classifier_blocks_rude_answers_and_passes_polite_ones(stack: Stack, repository: Path) -> None:
    client, admin, _ = await stack(scorer=WithClassifier(repository), routing=routing("block"))
    rude = await client.post("/v1/chat/completions", json=chat(), headers={"x-fake-answer": quote(RUDE)})
    assert (rude.headers["x-guardrail-verdict"], rude.headers["x-guardrail-reason"]) == ("block", "detector_blocked")
    assert "idiot" not in await rude.text()
    polite = await client.post("/v1/chat/completions", json=chat(), headers={"x-fake-answer": quote(POLITE)})
    assert polite.headers["x-guardrail-verdict"] == "pass"
    assert (await polite.json())["choices"][0]["message"]["content"] == POLITE
    metrics = await (await admin.get("/metrics")).text()
    assert 'detector="rude",entity="classifier",revision="stable1",side="answer"} 1.0' in metrics


async def test_a_classifier_stops_a_stream_before_the_rude_sentence(stack: Stack, repository: Path) -> None:
    client, _, _ = await stack(scorer=WithClassifier(repository), routing=routing("block"))
    text = f"{POLITE} Shipping is free, you idiot. Shipping is free for orders above 50 euros."
    response = await client.post(
        "/v1/chat/completions", json=chat(stream=True), headers={"x-fake-answer": quote(text), "x-fake-chunk": "5"}
    )
    events = await sse_events(response)
    shown = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices"))
    assert "idiot" not in shown
    final = next(e for e in events if "guardrail" in e)
    assert final["guardrail"]["reason"] == "detector_blocked"


async def test_a_request_side_classifier_keeps_rude_requests_from_the_app(stack: Stack, repository: Path) -> None:
    client, _, _ = await stack(scorer=WithClassifier(repository), routing=routing("block", side="request"))
    refused = await client.post("/v1/chat/completions", json=chat("Why so stupid?"), headers={"x-request-id": "r1"})
    assert refused.headers["x-guardrail-reason"] == "detector_blocked"
    assert "r1" not in await (await client.get("/_seen")).json()


async def test_a_flag_classifier_only_counts(stack: Stack, repository: Path) -> None:
    client, admin, _ = await stack(scorer=WithClassifier(repository), routing=routing("flag"))
    rude = await client.post("/v1/chat/completions", json=chat(), headers={"x-fake-answer": quote(RUDE)})
    assert (await rude.json())["choices"][0]["message"]["content"] == RUDE
    assert rude.headers["x-guardrail-detectors"] == "rude"
    assert 'action="flag",detector="rude",entity="classifier"' in await (await admin.get("/metrics")).text()


async def test_an_unreachable_classifier_follows_on_backend_error(stack: Stack, tmp_path: Path) -> None:
    client, _, _ = await stack(scorer=WithClassifier(tmp_path), routing=routing("block"))  # no model there
    response = await client.post("/v1/chat/completions", json=chat(), headers={"x-fake-answer": quote(POLITE)})
    assert response.headers["x-guardrail-verdict"] == "block"  # fail-closed (the default)
    assert response.headers["x-guardrail-reason"] == "backend_unavailable"
