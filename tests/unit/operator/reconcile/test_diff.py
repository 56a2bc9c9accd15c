"""Deciding what to write: only differences, no fights over HPA-owned replicas, prune only our own."""

from __future__ import annotations

import copy
from typing import Any

from guardrail_operator.reconcile.diff import is_subset, needs_apply, plan, with_applied_hash, yield_foreign_fields

UID = "owner-uid"


def deployment(replicas: int = 1, image: str = "triton:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns", "ownerReferences": [{"uid": UID, "controller": True}]},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "t", "image": image}]}}},
    }


def as_served(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns: our fields plus defaults and bookkeeping."""
    served = copy.deepcopy(manifest)
    served["metadata"].update(resourceVersion="7", uid="child", generation=1)
    served["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    served["spec"]["strategy"] = {"type": "RollingUpdate"}
    served["status"] = {"readyReplicas": 1}
    return served


def test_subset_ignores_server_defaults_but_not_changes() -> None:
    desired = deployment()
    assert is_subset(desired, as_served(desired))
    assert not is_subset(desired, as_served(deployment(image="triton:2")))
    assert not is_subset({"a": [1, 2]}, {"a": [1]})
    assert is_subset({"limits": {"nvidia.com/gpu": 1}}, {"limits": {"nvidia.com/gpu": "1"}})
    assert not is_subset({"enabled": True}, {"enabled": "True"})


def test_nothing_to_apply_when_observed_matches() -> None:
    desired = with_applied_hash(deployment())
    assert not needs_apply(desired, as_served(desired))


def test_apply_when_missing_edited_or_changed() -> None:
    desired = with_applied_hash(deployment())
    assert needs_apply(desired, None)
    edited = as_served(desired)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:latest"
    assert needs_apply(desired, edited)
    changed = with_applied_hash(deployment(replicas=1, image="triton:2"))
    assert needs_apply(changed, as_served(desired))


def test_removed_field_is_detected_through_the_hash() -> None:
    old = deployment()
    old["metadata"]["annotations"] = {"note": "x"}
    served = as_served(with_applied_hash(old))
    assert needs_apply(with_applied_hash(deployment()), served)


def test_replicas_scaled_by_hpa_are_left_alone() -> None:
    served = as_served(with_applied_hash(deployment(replicas=1)))
    served["spec"]["replicas"] = 5
    served["metadata"]["managedFields"] = [
        {"manager": "guardrail-operator", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "scale",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
    ]
    desired = yield_foreign_fields(deployment(replicas=1), served, "guardrail-operator")
    assert "replicas" not in desired["spec"]
    result = plan([deployment(replicas=1)], {("Deployment", "d"): served}, UID, "guardrail-operator")
    assert [m["spec"].get("replicas") for m in result.apply] == [None]  # one apply that gives replicas up


def test_replicas_edited_by_hand_are_repaired() -> None:
    served = as_served(with_applied_hash(deployment(replicas=1)))
    served["spec"]["replicas"] = 5
    served["metadata"]["managedFields"] = [
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ]
    result = plan([deployment(replicas=1)], {("Deployment", "d"): served}, UID, "guardrail-operator")
    assert [m["spec"]["replicas"] for m in result.apply] == [1]


def test_prune_only_children_of_this_owner() -> None:
    mine = as_served(deployment())
    mine["metadata"]["name"] = "old"
    foreign = copy.deepcopy(mine)
    foreign["metadata"].update(name="foreign", ownerReferences=[{"uid": "someone-else", "controller": True}])
    observed = {("Deployment", "old"): mine, ("Deployment", "foreign"): foreign}
    result = plan([deployment()], observed, UID, "guardrail-operator")
    assert result.prune == [("Deployment", "old")]
    assert [m["metadata"]["name"] for m in result.apply] == ["d"]
