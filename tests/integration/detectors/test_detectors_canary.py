"""spec.detectors roll out like any other change, on the real control plane: adding a PII detector is a new revision
that the operator takes through the canary (10 -> 50 -> 100) with real sidecars following status, scoring through a
real Triton, a real Prometheus feeding the analysis. While it runs, answers scored by the candidate come back
redacted and those scored by stable do not; once promoted, every answer is redacted and the findings are counted."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
import pytest

from guardrail_devcluster.cluster import LocalCluster
from tests.integration.canary.test_canary_e2e import apply, guardrail, revision_of, spec, stable_revision
from tests.integration.canary.test_canary_e2e import stack as stack  # Triton, Prometheus, operator, two sidecars
from tests.integration.operator.helpers import wait_for

pytestmark = pytest.mark.integration

EMAIL = "refunds@example.com"
CONTEXT = f"Refunds are paid within 14 days of receiving the returned item. Write to {EMAIL} about refunds."
ANSWER = f"Refunds are paid within 14 days. Write to {EMAIL} about refunds."
REDACTED = ANSWER.replace(EMAIL, "[EMAIL]")


def send(url: str, stop: threading.Event, seen: list[tuple[str, str]]) -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": CONTEXT}, {"role": "user", "content": "Refunds?"}]}
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                response = client.post(f"{url}/v1/chat/completions", json=body, headers={"x-fake-answer": ANSWER})
                content = response.json()["choices"][0]["message"]["content"]
                seen.append((response.headers.get("x-guardrail-revision", ""), content))
            time.sleep(0.05)


def test_adding_a_pii_detector_is_a_canary_that_is_promoted(
    cluster: LocalCluster, namespace: str, stack: dict[str, Any]
) -> None:
    stop, seen = threading.Event(), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=send, args=(url, stop, seen), daemon=True) for url in stack["urls"]]
    for thread in threads:
        thread.start()
    try:
        candidate = spec(0.05, stack["prometheus"])
        candidate["detectors"] = [{"name": "pii-out", "kind": "pii", "action": "redact", "entities": ["email"]}]
        revision = revision_of(candidate)
        assert revision != stack["stable"]  # the detector alone makes a new revision
        apply(cluster, namespace, candidate)
        wait_for("the detector revision promoted", lambda: stable_revision(cluster, namespace) == revision, 150)
        status = guardrail(cluster, namespace)["status"]
        assert status["phase"] == "Healthy"
        assert [h["revision"] for h in status["history"]][-2:] == [stack["stable"], revision]
        time.sleep(2)  # past the propagation of the promotion to the sidecars
        after = len(seen)
        wait_for("answers after the promotion", lambda: len(seen) > after + 20, 30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    by_revision = {rev: {content for r, content in seen if r == rev} for rev, _ in seen}
    assert by_revision[stack["stable"]] == {ANSWER}  # the old revision has no detector
    assert by_revision[revision] == {REDACTED}  # the candidate redacts, during the canary and after it
    assert {content for _, content in seen[after:]} == {REDACTED}  # promoted: every answer is redacted
    counted = 0.0
    with httpx.Client(timeout=5) as client:
        for admin in stack["admins"]:
            for line in client.get(f"http://{admin}/metrics").text.splitlines():
                if line.startswith("guardrail_detector_findings_total{") and f'revision="{revision}"' in line:
                    counted += float(line.rsplit(" ", 1)[1])
    assert counted >= sum(r == revision for r, _ in seen)
    print(json.dumps({rev: sum(r == rev for r, _ in seen) for rev in by_revision}))
