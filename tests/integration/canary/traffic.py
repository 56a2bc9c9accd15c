"""The scenario shared by the canary integration tests: a stable spec, a good and a bad canary spec, and the
synthetic traffic each revision gets at the exporter (keyed by the revisions those specs hash to)."""

from __future__ import annotations

import copy
from typing import Any

from guardrail_cases import example
from guardrail_contract.guardrail import GuardrailSpec
from guardrail_operator.reconcile.revision import guardrail_revision


def spec_with_threshold(threshold: float) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(example()["spec"])
    spec["policy"]["threshold"] = threshold
    return spec


def revision_of(spec: dict[str, Any]) -> str:
    return guardrail_revision(GuardrailSpec.model_validate(spec))


# The example Guardrail is stable; GOOD and BAD are policy changes whose revisions the exporter reports.
STABLE_SPEC, GOOD_SPEC, BAD_SPEC = example()["spec"], spec_with_threshold(0.55), spec_with_threshold(0.45)
STABLE, GOOD, BAD = revision_of(STABLE_SPEC), revision_of(GOOD_SPEC), revision_of(BAD_SPEC)
# revision -> synthetic traffic; the stable revision and one canary per scenario
PROFILE = {
    STABLE: {"rps": 150, "block": 0.05, "latency": 0.02},
    GOOD: {"rps": 50, "block": 0.06, "latency": 0.03},
    BAD: {"rps": 50, "block": 0.6, "latency": 0.03},
    "slow1": {"rps": 50, "block": 0.05, "latency": 0.8},
    "flaky1": {"rps": 50, "block": 0.05, "latency": 0.02, "errors": 0.2, "failOpen": 1},
    "quiet1": {"rps": 0.5, "block": 0.05, "latency": 0.02},
    "shifted1": {"rps": 50, "block": 0.05, "latency": 0.02, "score": 0.3},
}
