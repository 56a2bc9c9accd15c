"""Class 9: every outcome is counted for the revision that handled the request, so canary analysis sees the
canary's own errors and refusals. The client's view (the `x-guardrail-revision` of each answer, error answers
included) must add up to the metrics per revision."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from .conftest import QUESTION, Calibration, Sidecar, StartSidecar, base_policy, chat, metric, revision

pytestmark = pytest.mark.integration

ROUNDS = 40


@pytest.fixture(scope="module")
def half(start_sidecar: StartSidecar, calibration: Calibration) -> Sidecar:
    canary = revision("canary", base_policy(calibration))
    return start_sidecar({"routing": {"canary": canary, "canaryWeight": 50}}, name="half")


def _invalid(sidecar: Sidecar) -> httpx.Response:
    return httpx.post(sidecar.url + "/v1/chat/completions", json={"messages": []}, timeout=30)


OUTCOMES: dict[str, tuple[Callable[[Sidecar], httpx.Response], str, dict[str, str]]] = {
    # name: (request, metric, extra labels)
    "upstream-error": (
        lambda s: chat(s, "status", headers={"x-hostile-status": "500"}),
        "guardrail_upstream_errors_total",
        {},
    ),
    "refused-invalid": (_invalid, "guardrail_refused_requests_total", {"reason": "invalid"}),
    "unreadable": (lambda s: chat(s, "invalid-json"), "guardrail_unreadable_answers_total", {"action": "block"}),
    "blocked": (lambda s: chat(s, "plain"), "guardrail_requests_total", {"verdict": "block"}),
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_each_outcome_is_counted_for_the_revision_that_handled_it(half: Sidecar, outcome: str) -> None:
    send, name, labels = OUTCOMES[outcome]
    before = {r: metric(half.admin, name, revision=r, **labels) for r in ("stable", "canary")}
    seen = Counter(send(half).headers["x-guardrail-revision"] for _ in range(ROUNDS))
    assert set(seen) == {"stable", "canary"}  # at 50 %, 40 requests see both (p of not: 2e-12)
    for rev in ("stable", "canary"):
        assert metric(half.admin, name, revision=rev, **labels) - before[rev] == seen[rev], rev


def test_added_latency_is_observed_per_revision(half: Sidecar) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}
    name = "guardrail_added_latency_seconds_count"
    before = {r: metric(half.admin, name, revision=r) for r in ("stable", "canary")}
    seen = Counter(chat(half, answer="grounded", body=body).headers["x-guardrail-revision"] for _ in range(ROUNDS))
    for rev in ("stable", "canary"):
        assert metric(half.admin, name, revision=rev) - before[rev] == seen[rev], rev
