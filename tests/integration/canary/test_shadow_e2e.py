"""The shadow stage end to end on the real control plane: the operator moves a candidate into `Shadow`, two real
sidecars (local processes following the Guardrail through their watch, the project's models embedded) score a
sample of real answers with the candidate too, off the response path, a real Prometheus scrapes them, and the
shadow analysis gates the first traffic step.

- A candidate that would block every answer (threshold 1.0) is stopped in the shadow stage: rolled back with its
  figures in status and an Event, and no client ever received one of its verdicts (asserted from every response
  the sidecars sent: the revision header, the verdict header and the answer text).
- A good candidate passes the shadow stage, then the canary steps (50 -> 100), and is promoted.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from guardrail_contract import tensors
from guardrail_devcluster.cluster import LocalCluster, free_port
from tests.integration.canary.promtools import prometheus
from tests.integration.canary.test_canary_e2e import (
    ANSWER,
    CONTEXT,
    apply,
    guardrail,
    revision_of,
    revision_yaml,
    spec,
    stable_revision,
)
from tests.integration.operator.helpers import OperatorProcess, wait_for
from tests.support.processes import PYTHON, REPO, running

pytestmark = pytest.mark.integration

REPOSITORY = REPO / "models" / "repository"
RPS = 20
SHADOW = {"duration": "10s", "sampleRate": 1.0, "maxDisagreement": 0.1, "maxWouldBlockIncrease": 0.1, "minRequests": 20}


def gated(threshold: float, prometheus_url: str) -> dict[str, Any]:
    out = spec(threshold, prometheus_url)
    out["rollout"]["steps"] = [50, 100]
    out["rollout"]["shadow"] = SHADOW
    return out


@dataclass
class Seen:
    # (sent at, revision header, verdict header, status, answer text)
    responses: list[tuple[float, str, str, int, str]] = field(default_factory=list)
    statuses: list[tuple[float, dict[str, Any], str, str]] = field(default_factory=list)  # (at, canary, phase, stable)
    stop: threading.Event = field(default_factory=threading.Event)

    def states(self, revision: str) -> list[str]:
        return [c.get("state", "") for _, c, _, _ in self.statuses if c.get("revision") == revision]


def send(url: str, seen: Seen) -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": CONTEXT}, {"role": "user", "content": "Refunds?"}]}
    with httpx.Client(timeout=10) as client:
        while not seen.stop.is_set():
            sent = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                r = client.post(f"{url}/v1/chat/completions", json=body, headers={"x-fake-answer": ANSWER})
                text = ""
                with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                    text = r.json()["choices"][0]["message"]["content"]
                seen.responses.append(
                    (
                        sent,
                        r.headers.get("x-guardrail-revision", ""),
                        r.headers.get("x-guardrail-verdict", ""),
                        r.status_code,
                        text,
                    )
                )
            time.sleep(max(0.0, 1 / RPS - (time.monotonic() - sent)))


def poll(cluster: LocalCluster, namespace: str, seen: Seen) -> None:
    while not seen.stop.is_set():
        out = cluster.kubectl("get", "gr", "support-bot", "-n", namespace, "-o", "json", check=False)
        if out.returncode == 0:
            status = json.loads(out.stdout).get("status", {})
            seen.statuses.append(
                (
                    time.monotonic(),
                    status.get("canary") or {},
                    status.get("phase", ""),
                    status.get("stableRevision", ""),
                )
            )
        time.sleep(0.2)


@pytest.fixture
def stack(
    cluster: LocalCluster, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """Prometheus, a fake LLM app, the operator and two sidecars (embedded models) following the Guardrail."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    if not all((REPOSITORY / m / "1" / tensors.MODEL_FILE).is_file() for m in ("nli", "embedding")):
        pytest.skip(f"embedded models not built under {REPOSITORY}")
    admins = [free_port(), free_port()]
    app_port = free_port()
    with contextlib.ExitStack() as stack:
        prom = stack.enter_context(prometheus([f"127.0.0.1:{p}" for p in admins], tmp_path))
        app = [PYTHON, str(REPO / "tests/support/fake_llm.py"), "--port", str(app_port)]
        stack.enter_context(running(app, f"http://127.0.0.1:{app_port}/_seen", tmp_path / "llm.log", timeout=30))
        operator = OperatorProcess(cluster, namespace, "op-a", tmp_path)
        stack.callback(operator.stop)
        stable_spec = gated(0.05, prom)
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
                "modelsOverride": {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}},
                "routing": {"stable": revision_yaml(cluster, namespace, stable)},
            }
            path = tmp_path / f"sidecar-{index}.yaml"
            path.write_text(yaml.safe_dump(config))
            cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(path)]
            stack.enter_context(
                running(cmd, f"http://127.0.0.1:{admin}/readyz", tmp_path / f"sidecar-{index}.log", timeout=90)
            )
            urls.append(f"http://127.0.0.1:{listen}")
        yield {"prometheus": prom, "urls": urls, "admins": [f"127.0.0.1:{p}" for p in admins], "stable": stable}


def shadow_metric(admins: list[str], name: str, **labels: str) -> float:
    total = 0.0
    for admin in admins:
        for line in httpx.get(f"http://{admin}/metrics", timeout=5).text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_shadow_stops_a_blocking_candidate_unseen_and_passes_a_good_one(
    cluster: LocalCluster, namespace: str, stack: dict[str, Any]
) -> None:
    seen = Seen()
    threads = [
        *(threading.Thread(target=send, args=(url, seen), daemon=True) for url in stack["urls"]),
        threading.Thread(target=poll, args=(cluster, namespace, seen), daemon=True),
    ]
    for thread in threads:
        thread.start()
    stable, admins = stack["stable"], stack["admins"]
    try:
        wait_for("traffic through both sidecars", lambda: len(seen.responses) > 40, 30)
        bad_spec = gated(1.0, stack["prometheus"])  # would block every answer
        bad = revision_of(bad_spec)
        applied_bad = time.monotonic()
        apply(cluster, namespace, bad_spec)
        wait_for(
            "the blocking candidate rolled back",
            lambda: any(c.get("revision") == bad and p == "RolledBack" for _, c, p, _ in seen.statuses),
            120,
        )
        rolled_back_at = next(t for t, c, p, _ in seen.statuses if c.get("revision") == bad and p == "RolledBack")
        time.sleep(2)
        states = seen.states(bad)
        assert "Shadow" in states, states
        assert not {"Progressing", "Promoting"} & set(states), "the blocking candidate never reached a traffic step"
        assert all(c.get("weight", 0) == 0 for _, c, _, _ in seen.statuses if c.get("revision") == bad)

        status = guardrail(cluster, namespace)["status"]
        canary = status["canary"]
        assert (canary["revision"], canary["state"], canary["weight"]) == (bad, "RolledBack", 0)
        assert status["stableRevision"] == stable
        figures = canary["shadow"]
        print("blocking candidate in shadow:", figures)
        assert figures["requests"] >= SHADOW["minRequests"]
        assert figures["candidateWouldBlock"] > 0.9
        assert figures["disagreement"] > 0.9
        assert figures["stableBlock"] == 0
        rollout = next(c for c in status["conditions"] if c["type"] == "RolloutHealthy")
        assert (rollout["status"], rollout["reason"]) == ("False", "ShadowFailed")
        events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=RolledBack").stdout
        assert "shadow" in events

        # the candidate decided (its verdicts are in the sidecars' own shadow metrics)...
        blocked = shadow_metric(admins, "guardrail_shadow_answers_total", revision=bad, candidate_verdict="block")
        assert blocked >= SHADOW["minRequests"]
        # ...and no client received one of its verdicts: every response, from before the candidate until after the
        # rollback, was stable's pass with the app's answer
        during = [r for r in seen.responses if applied_bad - 1 <= r[0] <= rolled_back_at + 2]
        assert len(during) > 100
        assert {(rev, verdict, code, text) for _, rev, verdict, code, text in during} == {(stable, "pass", 200, ANSWER)}
        assert shadow_metric(admins, "guardrail_requests_total", revision=bad) == 0

        good_spec = gated(0.02, stack["prometheus"])
        good = revision_of(good_spec)
        apply(cluster, namespace, good_spec)
        wait_for("the good candidate promoted", lambda: stable_revision(cluster, namespace) == good, 180)
        time.sleep(1)
        states = seen.states(good)
        assert "Shadow" in states, states
        assert states.index("Shadow") < states.index("Progressing"), "shadow before the first step"
        shadowed = [c for _, c, _, _ in seen.statuses if c.get("revision") == good and c.get("state") == "Progressing"]
        passed = shadowed[0]["shadow"]
        print("good candidate in shadow:", passed)
        assert passed["disagreement"] == 0
        assert passed["requests"] >= SHADOW["minRequests"]
        assert sorted({c["weight"] for c in shadowed}) == [50]
        in_shadow = [t for t, c, _, _ in seen.statuses if c.get("revision") == good and c.get("state") == "Shadow"]
        window = [r for r in seen.responses if in_shadow[0] + 1 <= r[0] <= in_shadow[-1]]
        assert window, "traffic during the shadow stage"
        assert {rev for _, rev, _, _, _ in window} == {stable}, "during shadow, users get only stable's verdicts"
        history = guardrail(cluster, namespace)["status"]["history"]
        assert [h["revision"] for h in history][-2:] == [stable, good]
    finally:
        seen.stop.set()
        for thread in threads:
            thread.join(timeout=5)
