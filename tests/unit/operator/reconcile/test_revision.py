"""Revision hashing: exactly the scoring fields count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from guardrail_contract.guardrail import GuardrailSpec
from guardrail_operator.reconcile.revision import canonical_json, guardrail_revision, model_revision

MakeBody = Callable[..., dict[str, Any]]


def spec_with(make_body: MakeBody, path: str, value: Any) -> GuardrailSpec:
    body = make_body()
    node = body["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return GuardrailSpec.model_validate(body["spec"])


@pytest.fixture
def base(make_body: MakeBody) -> GuardrailSpec:
    return GuardrailSpec.model_validate(make_body()["spec"])


def test_revision_is_short_stable_hex(base: GuardrailSpec, make_body: MakeBody) -> None:
    rev = guardrail_revision(base)
    assert len(rev) == 10
    assert int(rev, 16) >= 0
    assert guardrail_revision(GuardrailSpec.model_validate(make_body()["spec"])) == rev


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("rollout.steps", [25, 100]),
        ("rollout.stepInterval", "1m"),
        ("triton.replicas", 3),
        ("triton.resources", {"limits": {"nvidia.com/gpu": 2}}),
        ("knowledgeBase.qdrant", {"managed": {"storage": "50Gi"}}),
        ("proxy.listenPort", 9000),
        ("selector", {"matchLabels": {"app": "other"}}),
    ],
)
def test_non_scoring_changes_keep_the_revision(path: str, value: Any, base: GuardrailSpec, make_body: MakeBody) -> None:
    assert guardrail_revision(spec_with(make_body, path, value)) == guardrail_revision(base)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("policy.threshold", 0.4),
        ("policy.mode", "monitor"),
        ("policy.promptInjection", {"enabled": False}),
        ("models.nli", {"name": "nli", "version": "2"}),
        ("models.repository", {"uri": "s3://models/other"}),
        ("knowledgeBase.collection", "other-facts"),
        ("knowledgeBase.topK", 8),
        ("knowledgeBase.scoreThreshold", 0.3),
    ],
)
def test_scoring_changes_make_a_new_revision(path: str, value: Any, base: GuardrailSpec, make_body: MakeBody) -> None:
    assert guardrail_revision(spec_with(make_body, path, value)) != guardrail_revision(base)


def test_model_revision_follows_models_only(base: GuardrailSpec, make_body: MakeBody) -> None:
    assert model_revision(spec_with(make_body, "policy.threshold", 0.4)) == model_revision(base)
    assert model_revision(
        spec_with(make_body, "models.embedding", {"name": "embedding", "version": "7"})
    ) != model_revision(base)


def test_explicit_default_equals_omitted_default(base: GuardrailSpec, make_body: MakeBody) -> None:
    assert guardrail_revision(spec_with(make_body, "policy.citations", True)) == guardrail_revision(base)
