"""Pure builders: a Guardrail (and its revisions) in, the child manifests it needs out.

Each `build_<kind>` function returns one manifest; `desired_children` lists every child of a Guardrail in
apply order. No clock, environment or network is read here.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.common import Manifest
from guardrail_operator.builders.config import build_revision_configmap, config_name
from guardrail_operator.builders.networkpolicy import build_network_policy
from guardrail_operator.builders.qdrant import build_qdrant_service, build_qdrant_statefulset, managed_qdrant
from guardrail_operator.builders.rbac import build_role, build_role_binding
from guardrail_operator.builders.triton import (
    build_triton_configmap,
    build_triton_deployment,
    build_triton_service,
)
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision

__all__ = ["Manifest", "Revisions", "desired_children", "revisions_of"]


@dataclass(frozen=True)
class Revisions:
    """The revision of the whole scoring config and of the models alone (one Triton per model revision)."""

    revision: str
    model_revision: str


def revisions_of(guardrail: Guardrail) -> Revisions:
    return Revisions(guardrail_revision(guardrail.spec), model_revision(guardrail.spec))


def desired_children(guardrail: Guardrail, revisions: Revisions, fetcher_image: str) -> list[Manifest]:
    """Every child the Guardrail needs for `revisions`, in apply order (RBAC and config before workloads)."""
    rev, model_rev = revisions.revision, revisions.model_revision
    children = [
        build_role(guardrail, [config_name(guardrail, rev)]),
        build_role_binding(guardrail),
        build_revision_configmap(guardrail, rev, model_rev),
    ]
    if guardrail.spec.network_policy.enabled:
        children.append(build_network_policy(guardrail))
    managed = managed_qdrant(guardrail)
    if managed is not None:
        children += [build_qdrant_service(guardrail), build_qdrant_statefulset(guardrail, managed)]
    children += [
        build_triton_configmap(guardrail, model_rev),
        build_triton_service(guardrail, model_rev),
        build_triton_deployment(guardrail, model_rev, fetcher_image),
    ]
    return children
