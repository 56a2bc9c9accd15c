"""Canary analysis over real `guardrail-sidecar` processes (embedded models, a fake LLM app behind them) scraped
by a real Prometheus: the sidecar splits traffic by the canary weight, a canary that scores like stable passes,
one that blocks every answer fails on `blockRateIncrease`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from guardrail_contract import tensors
from guardrail_contract.guardrail import Analysis
from guardrail_devcluster.cluster import free_port
from guardrail_operator.clients.prometheus import Prometheus
from guardrail_operator.rollout.actions import AnalysisWindow
from guardrail_operator.rollout.analysis import Failed, Passed, analyse
from tests.integration.canary.promtools import prometheus, wait_until
from tests.support.processes import PYTHON, REPO, running

pytestmark = pytest.mark.integration

REPOSITORY = REPO / "models" / "repository"
WEIGHT = 50
REQUESTS = 400  # per sidecar, after a warm-up that makes every series known to Prometheus
WARM_UP = 20
SHARE_TOLERANCE = 7.5  # percentage points; 400 hashed request ids at 50 % give about +-2.5 (one sigma)
LIMITS = Analysis(min_requests=100, max_error_rate=0.01, max_p95_latency_ms=250, max_block_rate_increase=0.05)


def revision(name: str, threshold: float) -> dict[str, Any]:
    return {
        "revision": name,
        "policy": {"threshold": threshold, "softLimit": threshold, "promptInjection": {"enabled": False}},
        "models": {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}},
    }


@dataclass
class Sidecar:
    url: str
    canary: str
    served: dict[str, int]  # revision (x-guardrail-revision) -> requests it scored

    def send(self, client: httpx.Client, count: int, prefix: str) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": "How do refunds work?"}]}
        headers = {"x-fake-answer": "Refunds are paid within 14 days."}
        for i in range(count):
            response = client.post(
                f"{self.url}/v1/chat/completions", json=body, headers=headers | {"x-request-id": f"{prefix}-{i}"}
            )
            assert response.status_code == 200, response.text
            rev = response.headers["x-guardrail-revision"]
            self.served[rev] = self.served.get(rev, 0) + 1


@dataclass
class Scenario:
    prometheus_url: str
    sidecars: dict[str, Sidecar]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    if not all((REPOSITORY / m / "1" / tensors.MODEL_FILE).is_file() for m in ("nli", "embedding")):
        pytest.skip(f"embedded models not built under {REPOSITORY}")
    tmp = tmp_path_factory.mktemp("sidecars")
    app_port = free_port()
    canaries = {"good": revision("good-b", 0.0), "bad": revision("bad-c", 1.0)}  # 1.0: every answer blocked
    with contextlib.ExitStack() as stack:
        app = [PYTHON, str(REPO / "tests/support/fake_llm.py"), "--port", str(app_port)]
        procs = [stack.enter_context(running(app, f"http://127.0.0.1:{app_port}/_seen", tmp / "llm.log", timeout=30))]
        sidecars, admins = {}, []
        for name, canary in canaries.items():
            listen, admin = free_port(), free_port()
            config = {
                "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": app_port},
                "adminPort": admin,
                # opt-in sticky routing (the default split is a random draw per request, which the adversarial
                # suite tests): the same request ids must pick the same side in every sidecar process
                "routing": {
                    "stable": revision("stable-a", 0.0),
                    "canary": canary,
                    "canaryWeight": WEIGHT,
                    "stickyHeader": "x-request-id",
                },
            }
            path = tmp / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config))
            cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(path)]
            procs.append(
                stack.enter_context(running(cmd, f"http://127.0.0.1:{admin}/readyz", tmp / f"{name}.log", timeout=90))
            )
            sidecars[name] = Sidecar(f"http://127.0.0.1:{listen}", canary["revision"], {})
            admins.append(f"127.0.0.1:{admin}")
        stack.callback(lambda: [p.terminate() for p in procs if p.poll() is None])  # all stop at once, not in turn
        url = stack.enter_context(prometheus(admins, tmp))
        client = stack.enter_context(httpx.Client(timeout=30))
        for name, sidecar in sidecars.items():
            sidecar.send(client, WARM_UP, f"warm-{name}")
        wait_until(url, "sum(guardrail_requests_total)", WARM_UP * len(sidecars))
        for sidecar in sidecars.values():
            sidecar.served.clear()
            sidecar.send(client, REQUESTS, "req")
        wait_until(url, "sum(guardrail_requests_total)", (WARM_UP + REQUESTS) * len(sidecars))
        yield Scenario(url, sidecars)


def run(scenario: Scenario, canary: str) -> Passed | Failed:
    with Prometheus(scenario.prometheus_url) as prom:
        result = analyse(prom.query, AnalysisWindow(canary, "stable-a", "1m"), LIMITS)
    assert isinstance(result, Passed | Failed), result
    return result


def test_the_sidecar_scores_the_canary_share_it_is_given(scenario: Scenario) -> None:
    for sidecar in scenario.sidecars.values():
        share = 100 * sidecar.served.get(sidecar.canary, 0) / REQUESTS
        assert abs(share - WEIGHT) <= SHARE_TOLERANCE, sidecar.served


def test_a_canary_scoring_like_stable_passes(scenario: Scenario) -> None:
    result = run(scenario, "good-b")
    assert isinstance(result, Passed), result
    values = {c.name: c.value for c in result.checks}
    assert values["blockRateIncrease"] == pytest.approx(0.0, abs=0.01)
    assert values["p95AddedLatencyMs"] < LIMITS.max_p95_latency_ms


def test_a_canary_blocking_every_answer_fails_on_block_rate(scenario: Scenario) -> None:
    result = run(scenario, "bad-c")
    assert isinstance(result, Failed), result
    assert result.check == "blockRateIncrease"
    assert result.value == pytest.approx(1.0, abs=0.01)


def test_a_canary_share_is_the_same_request_ids_every_time(scenario: Scenario) -> None:
    """With `stickyHeader`, the split hashes that header: both sidecars route the same ids to the canary (no
    per-process state)."""
    good, bad = scenario.sidecars["good"], scenario.sidecars["bad"]
    assert good.served.get("good-b") == bad.served.get("bad-c")
