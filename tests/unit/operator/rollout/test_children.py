"""Children while a canary is in service: both revisions rendered alike, Triton shared or not."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import yaml

from guardrail_cases import example
from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import REVISION_KEY, SIDECAR_KEY
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.rollout.actions import RolloutObserved
from guardrail_operator.rollout.children import observe_rollout, rollout_children
from guardrail_operator.rollout.machine import step
from support.children import first_children

FETCHER = "busybox:1.37"


def guardrail(spec: dict[str, Any], status: dict[str, Any]) -> Guardrail:
    meta = {"name": "support-bot", "namespace": "shop", "uid": "0a1b2c3d-0000-4000-8000-000000000001", "generation": 2}
    return Guardrail.model_validate({"metadata": meta, "spec": spec, "status": status})


def stable_status(spec: dict[str, Any]) -> dict[str, Any]:
    parsed = Guardrail.model_validate({"spec": spec}).spec
    entry = {
        "revision": guardrail_revision(parsed),
        "modelRevision": model_revision(parsed),
        "promotedAt": "2026-01-01T00:00:00Z",
        "reason": "Initial",
        "scoring": scoring_fields(parsed),
    }
    return {"phase": "Healthy", "stableRevision": entry["revision"], "history": [entry]}


def names(children: list[dict[str, Any]], kind: str) -> list[str]:
    return [c["metadata"]["name"] for c in children if c["kind"] == kind]


def canary_children(change: str) -> tuple[Guardrail, list[dict[str, Any]]]:
    old = example()["spec"]
    new = copy.deepcopy(old)
    if change == "models":
        new["models"]["nli"]["version"] = "2"
    new["policy"]["threshold"] = 0.55
    g = guardrail(new, stable_status(old))
    decision = step(g, RolloutObserved(), None, datetime.now(UTC))
    return g, rollout_children(g, decision.actions, FETCHER)


def test_with_no_canary_the_children_are_those_of_the_first_reconcile() -> None:
    g = guardrail(example()["spec"], stable_status(example()["spec"]))
    decision = step(g, RolloutObserved(), None, datetime.now(UTC))
    fresh = Guardrail.model_validate({"metadata": g.metadata, "spec": example()["spec"]})
    assert rollout_children(g, decision.actions, FETCHER) == first_children(fresh, FETCHER)


def test_a_policy_canary_shares_the_stable_triton() -> None:
    _, children = canary_children("policy")
    assert len(names(children, "Deployment")) == 1
    assert len(names(children, "ConfigMap")) == 3  # two revision configs, one Triton model config


def test_a_model_canary_gets_its_own_triton_rendered_from_its_spec() -> None:
    g, children = canary_children("models")
    deployments = [c for c in children if c["kind"] == "Deployment"]
    assert len({d["metadata"]["name"] for d in deployments}) == 2
    canary_triton = next(d for d in deployments if model_revision(g.spec) in d["metadata"]["name"])
    assert "nli/2" in yaml.safe_dump(canary_triton)  # the canary's model version, not the stable's


def test_both_revision_configs_are_readable_and_each_serves_its_own_revision() -> None:
    g, children = canary_children("models")
    canary_rev = guardrail_revision(g.spec)
    stable_rev = g.status.stable_revision
    role = next(c for c in children if c["kind"] == "Role")
    readable = set(role["rules"][1]["resourceNames"])
    configs = {c["metadata"]["name"]: c for c in children if c["kind"] == "ConfigMap" and REVISION_KEY in c["data"]}
    assert set(configs) == readable
    by_revision = {yaml.safe_load(c["data"][REVISION_KEY])["revision"]: c for c in configs.values()}
    assert set(by_revision) == {stable_rev, canary_rev}
    assert yaml.safe_load(by_revision[stable_rev]["data"][REVISION_KEY])["policy"]["threshold"] == 0.5
    assert yaml.safe_load(by_revision[canary_rev]["data"][REVISION_KEY])["policy"]["threshold"] == 0.55
    for rev in (stable_rev, canary_rev):  # one road: sidecars reach a canary through the status watch
        routing = yaml.safe_load(by_revision[rev]["data"][SIDECAR_KEY])["routing"]
        assert (routing["stable"]["revision"], routing.get("canary")) == (rev, None)


def test_readiness_is_read_from_triton_deployments_by_model_revision() -> None:
    def deployment(model_rev: str, available: str) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"guardrails.dev/model-revision": model_rev}},
            "spec": {"replicas": 1},
            "status": {"conditions": [{"type": "Available", "status": available}]},
        }

    children = {
        ("Deployment", "t-aaa"): deployment("aaa", "True"),
        ("Deployment", "t-bbb"): deployment("bbb", "False"),
        ("ConfigMap", "t-ccc"): deployment("ccc", "True"),
    }
    assert observe_rollout(children).ready_model_revisions == {"aaa"}
