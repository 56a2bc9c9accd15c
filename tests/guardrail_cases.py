"""Valid and invalid Guardrail specs shared by the unit tests (typed model) and the API-server tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guardrail.yaml"


def example() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return doc


def _with(path: str, value: Any) -> dict[str, Any]:
    """The example with `value` at dotted `path` under spec (a value of DELETE removes the key)."""
    doc = copy.deepcopy(example())
    node = doc["spec"]
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


DELETE = object()

# (id, document, the field path the API server's message must name)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("threshold-wrong-type", _with("policy.threshold", "high"), "spec.policy.threshold"),
    ("threshold-out-of-range", _with("policy.threshold", 1.5), "spec.policy.threshold"),
    ("soft-limit-below-threshold", _with("policy.softLimit", 0.3), "spec.policy.softLimit"),
    ("mode-not-in-enum", _with("policy.mode", "block"), "spec.policy.mode"),
    ("steps-not-increasing", _with("rollout.steps", [50, 10, 100]), "spec.rollout.steps"),
    ("steps-not-ending-at-100", _with("rollout.steps", [10, 50]), "spec.rollout.steps"),
    ("steps-repeated", _with("rollout.steps", [10, 10, 100]), "spec.rollout.steps"),
    ("step-interval-not-a-duration", _with("rollout.stepInterval", "5 minutes"), "spec.rollout.stepInterval"),
    ("unknown-field", _with("polcy", {"mode": "enforce"}), "spec.polcy"),
    ("missing-selector", _with("selector", DELETE), "spec.selector"),
    ("empty-selector", _with("selector", {}), "spec.selector"),
    ("ports-equal", _with("proxy.upstreamPort", 8000), "spec.proxy.listenPort"),
    (
        "two-model-repositories",
        _with("models.repository", {"uri": "s3://m/g", "pvc": {"claimName": "m"}}),
        "spec.models.repository",
    ),
    (
        "qdrant-managed-and-external",
        _with("knowledgeBase.qdrant", {"managed": {}, "external": {"url": "http://q:6333"}}),
        "spec.knowledgeBase.qdrant",
    ),
    ("top-k-too-large", _with("knowledgeBase.topK", 500), "spec.knowledgeBase.topK"),
]
