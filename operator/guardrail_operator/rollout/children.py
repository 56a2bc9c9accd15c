"""The children of a Guardrail while revisions are in service, from the rollout's `EnsureRevision` actions. Pure.

What the reconciler applies: shared children once (RBAC naming every
served revision's ConfigMap, the managed Qdrant), one revision ConfigMap per served revision, and one Triton
(model ConfigMap, Service, Deployment) per distinct model revision, each rendered from that revision's spec.
Every revision's ConfigMap is rendered alike (`revision.yaml`, and a `sidecar.yaml` serving that revision alone):
the webhook mounts the stable's, and sidecars reach a canary through the status watch (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import MODEL_REVISION_LABEL
from guardrail_operator.builders import Manifest
from guardrail_operator.builders.config import (
    build_revision_configmap,
    config_name,
)
from guardrail_operator.builders.networkpolicy import build_network_policy
from guardrail_operator.builders.qdrant import build_qdrant_service, build_qdrant_statefulset, managed_qdrant
from guardrail_operator.builders.rbac import build_role, build_role_binding
from guardrail_operator.builders.triton import build_triton_configmap, build_triton_deployment, build_triton_service
from guardrail_operator.reconcile.observed import workload_state
from guardrail_operator.rollout.actions import Action, EnsureRevision, RolloutObserved


def observe_rollout(children: Mapping[tuple[str, str], Mapping[str, Any]]) -> RolloutObserved:
    """Readiness for the rollout from the listed children ((kind, name) -> object): the model revisions whose
    Triton Deployment is serving."""
    ready = set()
    for (kind, name), obj in children.items():
        model_rev = (obj.get("metadata", {}).get("labels") or {}).get(MODEL_REVISION_LABEL)
        if kind == "Deployment" and model_rev and workload_state(name, dict(obj)).available:
            ready.add(str(model_rev))
    return RolloutObserved(frozenset(ready))


def served(actions: Sequence[Action]) -> list[EnsureRevision]:
    return [a for a in actions if isinstance(a, EnsureRevision)]


def rollout_children(guardrail: Guardrail, actions: Sequence[Action], fetcher_image: str) -> list[Manifest]:
    """Every child the Guardrail needs for the revisions in service, in apply order."""
    revisions = served(actions)
    children = [
        build_role(guardrail, [config_name(guardrail, e.revision) for e in revisions]),
        build_role_binding(guardrail),
    ]
    for e in revisions:
        children.append(build_revision_configmap(_at(guardrail, e), e.revision, e.model_revision))
    if guardrail.spec.network_policy.enabled:
        children.append(build_network_policy(guardrail))
    managed = managed_qdrant(guardrail)
    if managed is not None:
        children += [build_qdrant_service(guardrail), build_qdrant_statefulset(guardrail, managed)]
    seen: set[str] = set()
    for e in revisions:
        if e.model_revision in seen:
            continue
        seen.add(e.model_revision)
        g = _at(guardrail, e)
        children += [
            build_triton_configmap(g, e.model_revision),
            build_triton_service(g, e.model_revision),
            build_triton_deployment(g, e.model_revision, fetcher_image),
        ]
    return children


def _at(guardrail: Guardrail, revision: EnsureRevision) -> Guardrail:
    return guardrail.model_copy(update={"spec": revision.spec})
