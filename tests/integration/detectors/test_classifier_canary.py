"""A user's classifier deployed through spec.detectors, served by a real Triton, rolled out as a canary on the real
control plane: the operator takes the new revision 10 -> 50 -> 100 with real sidecars following status; rude answers
scored by the candidate are blocked (reason detector_blocked) through the Triton-served classifier, those scored by
stable pass, polite answers pass everywhere, and after the promotion every rude answer is blocked."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import tests.integration.canary.test_canary_e2e as canary_e2e
import tests.support.triton as support_triton
from guardrail_cli.main import cli
from guardrail_devcluster.cluster import LocalCluster
from guardrail_models.classifier import build_keyword_classifier
from tests.integration.canary.test_canary_e2e import apply, guardrail, revision_of, spec, stable_revision
from tests.integration.canary.test_canary_e2e import stack as stack  # Triton, Prometheus, operator, two sidecars
from tests.integration.operator.helpers import wait_for

pytestmark = pytest.mark.integration

CONTEXT = "Refunds are paid within 14 days of receiving the returned item."
POLITE = "Refunds are paid within 14 days."
RUDE = "Refunds are paid within 14 days, you idiot."


@pytest.fixture
def with_classifier(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's models plus the packaged classifier in one repository, which the stack's Triton serves and
    its sidecars read tokenizers from."""
    repo = tmp_path_factory.mktemp("repository")
    for model in canary_e2e.REPOSITORY.iterdir():
        (repo / model.name).symlink_to(model)
    onnx_file, tokenizer = build_keyword_classifier(tmp_path_factory.mktemp("built"), {"idiot": 4.0})
    args = ["model", "package", "--kind", "classifier", "--name", "rudeness", "--onnx", str(onnx_file)]
    result = CliRunner().invoke(cli, [*args, "--tokenizer", str(tokenizer), "--out", str(repo)])
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(canary_e2e, "REPOSITORY", repo)
    monkeypatch.setattr(support_triton, "default_repository", lambda: repo)
    return repo


def send(url: str, stop: threading.Event, seen: list[tuple[str, bool, str]]) -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": CONTEXT}, {"role": "user", "content": "Refunds?"}]}
    with httpx.Client(timeout=10) as client:
        i = 0
        while not stop.is_set():
            rude = i % 10 == 0  # few enough that the candidate's block rate stays within the analysis' bound
            with contextlib.suppress(httpx.HTTPError):
                response = client.post(
                    f"{url}/v1/chat/completions", json=body, headers={"x-fake-answer": RUDE if rude else POLITE}
                )
                seen.append(
                    (
                        response.headers.get("x-guardrail-revision", ""),
                        rude,
                        response.headers.get("x-guardrail-reason", ""),
                    )
                )
            i += 1
            time.sleep(0.05)


def test_a_classifier_detector_rolls_out_as_a_canary(
    with_classifier: Path, cluster: LocalCluster, namespace: str, stack: dict[str, Any]
) -> None:
    stop, seen = threading.Event(), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=send, args=(url, stop, seen), daemon=True) for url in stack["urls"]]
    for thread in threads:
        thread.start()
    try:
        candidate = spec(0.05, stack["prometheus"])
        candidate["rollout"]["analysis"]["maxBlockRateIncrease"] = 0.5
        candidate["detectors"] = [
            {"name": "rude", "kind": "classifier", "action": "block", "model": {"name": "rudeness"}}
        ]
        revision = revision_of(candidate)
        apply(cluster, namespace, candidate)
        wait_for("the classifier revision promoted", lambda: stable_revision(cluster, namespace) == revision, 150)
        assert guardrail(cluster, namespace)["status"]["phase"] == "Healthy"
        time.sleep(2)
        after = len(seen)
        wait_for("answers after the promotion", lambda: len(seen) > after + 40, 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    old = stack["stable"]
    assert {reason for rev, rude, reason in seen if rev == old and rude} == {"grounded"}  # stable: no detector
    assert {reason for rev, rude, reason in seen if rev == revision and rude} == {"detector_blocked"}
    assert {reason for rev, rude, reason in seen if not rude} == {"grounded"}  # polite answers pass everywhere
    assert {(rev, reason) for rev, rude, reason in seen[after:] if rude} == {(revision, "detector_blocked")}
    with httpx.Client(timeout=5) as client:  # the classifier ran on Triton
        query = {"query": 'sum(nv_inference_request_success{model="rudeness"})'}
        text = client.get(f"{stack['prometheus']}/api/v1/query", params=query).json()
    assert float(text["data"]["result"][0]["value"][1]) >= 1
