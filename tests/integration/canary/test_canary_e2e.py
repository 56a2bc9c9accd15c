"""Canary end to end on the real control plane: the operator drives the rollout from status, real sidecars follow
`status.canary.weight` through their watch and score through a real Triton (the project's models, CPU), a real
Prometheus scrapes them and Triton's metrics port, and the analysis promotes a good revision (10 -> 50 -> 100,
surviving an operator restart) and rolls back a bad one with the failed check in status and an Event.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from guardrail_cases import example
from guardrail_contract import tensors
from guardrail_contract.guardrail import GuardrailSpec
from guardrail_devcluster.cluster import LocalCluster, free_port
from guardrail_operator.clients.prometheus import Prometheus
from guardrail_operator.reconcile.revision import guardrail_revision
from tests.integration.canary.promtools import prometheus
from tests.integration.operator.helpers import OperatorProcess, wait_for
from tests.support.processes import PYTHON, REPO, running
from tests.support.triton import triton_server

pytestmark = pytest.mark.integration

REPOSITORY = REPO / "models" / "repository"
STEP = "8s"
RPS = 20  # requests per second to each sidecar (one sender thread each)
CONTEXT = "Refunds are paid within 14 days of receiving the returned item."
ANSWER = "Refunds are paid within 14 days."


def spec(threshold: float, prometheus_url: str) -> dict[str, Any]:
    """The example spec without a knowledge base (the request carries the context), scoring at `threshold`.

    Thresholds are chosen so verdicts don't depend on the model's exact scores: near 0 nothing is blocked,
    1.0 blocks every answer."""
    out: dict[str, Any] = copy.deepcopy(example()["spec"])
    del out["knowledgeBase"]
    out["policy"].update(threshold=threshold, softLimit=threshold, promptInjection={"enabled": False})
    out["rollout"] = {
        "steps": [10, 50, 100],
        "stepInterval": STEP,
        "analysis": {
            "prometheus": {"url": prometheus_url},
            "minRequests": 5,
            "maxErrorRate": 0.05,
            "maxP95LatencyMs": 5000,
            "maxBlockRateIncrease": 0.2,
            "failureLimit": 1,
        },
    }
    return out


def revision_of(raw: dict[str, Any]) -> str:
    return guardrail_revision(GuardrailSpec.model_validate(raw))


@dataclass
class Observations:
    """What the test saw, each stamped with time.monotonic()."""

    responses: list[tuple[float, str, int]] = field(default_factory=list)  # (sent at, revision, status)
    statuses: list[tuple[float, str | None, int, str]] = field(default_factory=list)  # (at, canary, weight, phase)
    sidecar_weights: list[tuple[float, int, int]] = field(default_factory=list)  # (at, sidecar index, weight)
    stop: threading.Event = field(default_factory=threading.Event)

    def share(self, revision: str, start: float, end: float) -> tuple[float, int]:
        window = [r for t, r, _ in self.responses if start <= t < end]
        return (100 * sum(r == revision for r in window) / len(window) if window else float("nan")), len(window)


def send_traffic(url: str, seen: Observations, prefix: str) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": CONTEXT}, {"role": "user", "content": "How do refunds work?"}],
    }
    with httpx.Client(timeout=10) as client:
        i = 0
        while not seen.stop.is_set():
            sent = time.monotonic()
            headers = {"x-request-id": f"{prefix}-{i}", "x-fake-answer": ANSWER}
            with contextlib.suppress(httpx.HTTPError):
                response = client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
                seen.responses.append((sent, response.headers.get("x-guardrail-revision", ""), response.status_code))
            i += 1
            time.sleep(max(0.0, 1 / RPS - (time.monotonic() - sent)))


def watch_status(cluster: LocalCluster, namespace: str, seen: Observations) -> None:
    while not seen.stop.is_set():
        out = cluster.kubectl("get", "gr", "support-bot", "-n", namespace, "-o", "json", check=False)
        if out.returncode == 0:
            status = json.loads(out.stdout).get("status", {})
            canary = status.get("canary") or {}
            seen.statuses.append(
                (time.monotonic(), canary.get("revision"), int(canary.get("weight", 0)), status.get("phase", ""))
            )
        time.sleep(0.1)


def watch_sidecar_weights(admins: list[str], seen: Observations) -> None:
    with httpx.Client(timeout=2) as client:
        while not seen.stop.is_set():
            for index, admin in enumerate(admins):
                with contextlib.suppress(httpx.HTTPError):
                    text = client.get(f"http://{admin}/metrics").text
                    weights = [
                        float(line.rsplit(" ", 1)[1])
                        for line in text.splitlines()
                        if line.startswith("guardrail_canary_weight{")
                    ]
                    percent = round(100 * max(weights, default=0))  # the gauge is a 0-1 ratio
                    seen.sidecar_weights.append((time.monotonic(), index, percent))
            time.sleep(0.05)


def first_status(seen: Observations, revision: str, weight: int) -> float:
    return next(t for t, rev, w, _ in seen.statuses if rev == revision and w == weight)


def propagation(seen: Observations, revision: str, weight: int, sidecars: int) -> float:
    """Seconds from the status showing `weight` to every sidecar routing by it."""
    since = first_status(seen, revision, weight)
    reached = [
        next((t for t, i, w in seen.sidecar_weights if i == index and t >= since - 1 and w == weight), float("inf"))
        for index in range(sidecars)
    ]
    return max(0.0, max(reached) - since)


@pytest.fixture
def stack(
    cluster: LocalCluster, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """Triton, Prometheus, a fake LLM app, the operator and two sidecars following the Guardrail in `namespace`."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))  # the sidecars watch the Guardrail with it
    if not all((REPOSITORY / m / "1" / tensors.MODEL_FILE).is_file() for m in ("nli", "embedding")):
        pytest.skip(f"embedded models not built under {REPOSITORY}")
    admins = [free_port(), free_port()]
    app_port = free_port()
    with contextlib.ExitStack() as stack:
        triton = stack.enter_context(triton_server(tmp_path)).spec.ports
        metrics = f"127.0.0.1:{triton.metrics}"
        prom = stack.enter_context(prometheus([f"127.0.0.1:{p}" for p in admins], tmp_path, triton=[metrics]))
        app = [PYTHON, str(REPO / "tests/support/fake_llm.py"), "--port", str(app_port)]
        stack.enter_context(running(app, f"http://127.0.0.1:{app_port}/_seen", tmp_path / "llm.log", timeout=30))
        operators: list[OperatorProcess] = []
        stack.callback(lambda: [op.stop() for op in operators])
        operators.append(OperatorProcess(cluster, namespace, "op-a", tmp_path))
        stable_spec = spec(0.05, prom)
        apply(cluster, namespace, stable_spec)
        stable = revision_of(stable_spec)
        wait_for("the first revision to be stable", lambda: stable_revision(cluster, namespace) == stable, 60)
        urls = []
        for index, admin in enumerate(admins):
            listen = free_port()
            config = {
                "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": app_port},
                "adminPort": admin,
                "watch": {"namespace": namespace, "name": "support-bot"},
                "modelsOverride": {
                    "backend": "triton",
                    "triton": {"url": triton.grpc_url, "protocol": "grpc", "timeout": "5s"},
                    "tokenizerRepository": str(REPOSITORY),
                },
                "routing": {"stable": revision_yaml(cluster, namespace, stable)},
            }
            path = tmp_path / f"sidecar-{index}.yaml"
            path.write_text(yaml.safe_dump(config))
            cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(path)]
            log = tmp_path / f"sidecar-{index}.log"
            stack.enter_context(running(cmd, f"http://127.0.0.1:{admin}/readyz", log, timeout=90))
            urls.append(f"http://127.0.0.1:{listen}")
        yield {
            "prometheus": prom,
            "urls": urls,
            "admins": [f"127.0.0.1:{p}" for p in admins],
            "operators": operators,
            "stable": stable,
            "tmp": tmp_path,
        }


def apply(cluster: LocalCluster, namespace: str, raw_spec: dict[str, Any]) -> None:
    body = {**example(), "spec": raw_spec}
    body["metadata"] = {"name": "support-bot", "namespace": namespace}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))


def guardrail(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cluster.kubectl("get", "gr", "support-bot", "-n", namespace, "-o", "json").stdout)
    return out


def stable_revision(cluster: LocalCluster, namespace: str) -> str:
    return str(guardrail(cluster, namespace).get("status", {}).get("stableRevision", ""))


def revision_yaml(cluster: LocalCluster, namespace: str, revision: str) -> dict[str, Any]:
    """The revision config the operator rendered (what a pod mounts), as a dict."""
    selector = f"guardrails.dev/guardrail=support-bot,guardrails.dev/revision={revision}"
    items = json.loads(cluster.kubectl("get", "configmap", "-n", namespace, "-l", selector, "-o", "json").stdout)
    loaded: dict[str, Any] = yaml.safe_load(items["items"][0]["data"]["revision.yaml"])
    return loaded


def test_good_canary_is_promoted_and_bad_one_rolled_back(
    cluster: LocalCluster, namespace: str, stack: dict[str, Any]
) -> None:
    seen = Observations()
    threads = [
        *(
            threading.Thread(target=send_traffic, args=(url, seen, f"s{i}"), daemon=True)
            for i, url in enumerate(stack["urls"])
        ),
        threading.Thread(target=watch_status, args=(cluster, namespace, seen), daemon=True),
        threading.Thread(target=watch_sidecar_weights, args=(stack["admins"], seen), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        good_spec = spec(0.02, stack["prometheus"])
        good = revision_of(good_spec)
        apply(cluster, namespace, good_spec)
        # Mid-canary the operator dies; a new one continues from status (50 -> 100), never back to 10.
        wait_for("the good canary at 50%", lambda: any(r == good and w == 50 for _, r, w, _ in seen.statuses), 90)
        operators: list[OperatorProcess] = stack["operators"]
        operators[0].kill()
        killed_at = time.monotonic()
        operators.append(OperatorProcess(cluster, namespace, "op-b", stack["tmp"]))
        wait_for("the good revision promoted", lambda: stable_revision(cluster, namespace) == good, 120)
        # the status poller, not just this check, must have seen the promotion before windows are cut from it
        wait_for("the poller to see the promotion", lambda: any(r != good for t, r, _, _ in seen.statuses[-3:]), 10)
        after_restart = [w for t, r, w, _ in seen.statuses if t > killed_at and r == good]
        assert 10 not in after_restart, "the restarted operator began the canary again"

        for weight in (10, 50):
            start = first_status(seen, good, weight) + 1.5  # past the propagation to the sidecars
            end = next(t for t, r, w, _ in seen.statuses if t > start and not (r == good and w == weight))
            share, count = seen.share(good, start, end)
            # Request ids are hashed, so the share is binomial: allow 3.5 standard deviations (at least 5 points).
            tolerance = max(5.0, 350 * math.sqrt(weight / 100 * (1 - weight / 100) / max(count, 1)))
            print(f"weight {weight}%: canary scored {share:.1f}% of {count} requests (tolerance {tolerance:.1f})")
            assert count >= 40, (weight, count)
            assert abs(share - weight) <= tolerance, (weight, share, count)
        delays = [propagation(seen, good, w, len(stack["admins"])) for w in (10, 50)]
        print(f"weight change reached every sidecar after {', '.join(f'{d:.2f}s' for d in delays)}")
        assert max(delays) < 2.0

        status = guardrail(cluster, namespace)["status"]
        assert status["phase"] == "Healthy"
        assert [h["revision"] for h in status["history"]][-2:] == [stack["stable"], good]

        bad_spec = spec(1.0, stack["prometheus"])
        bad = revision_of(bad_spec)
        apply(cluster, namespace, bad_spec)
        wait_for(
            "the poller to see the bad canary rolled back",
            lambda: any(r == bad and phase == "RolledBack" for _, r, _, phase in seen.statuses),
            90,
        )
        status = guardrail(cluster, namespace)["status"]
        assert status["stableRevision"] == good
        assert status["canary"]["revision"] == bad
        assert status["canary"]["weight"] == 0
        rollout = next(c for c in status["conditions"] if c["type"] == "RolloutHealthy")
        assert rollout["status"] == "False"
        assert "blockRateIncrease" in rollout["message"]
        events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=RolledBack").stdout
        assert "blockRateIncrease" in events
        rolled_back_at = next(t for t, r, _, phase in seen.statuses if r == bad and phase == "RolledBack")
        time.sleep(2)
        tail = [r for t, r, _ in seen.responses if t > rolled_back_at + 1.5]
        assert tail, "no traffic after the rollback"
        assert set(tail) == {good}, "after the rollback every request is scored by the stable revision"

        # the answers were scored by Triton (the same answer each time: the sidecars' caches answer the repeats),
        # and Prometheus scraped Triton's own series
        with Prometheus(stack["prometheus"]) as prom:
            for model in (tensors.NLI_MODEL, tensors.EMBEDDING_MODEL):
                served = prom.query(f'sum(nv_inference_request_success{{job="triton",model="{model}"}})') or 0
                assert served >= 1, (model, served)
            assert (prom.query('sum(nv_inference_request_failure{job="triton"})') or 0) == 0
    finally:
        seen.stop.set()
        for thread in threads:
            thread.join(timeout=5)
