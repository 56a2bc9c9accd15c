"""RBAC children: the selected pods' service account may read the Guardrail and its revision ConfigMaps.

`resourceNames` limits every rule to exactly those objects: `list` and `watch` then work only with a
`metadata.name` field selector, which is how the sidecar watches its Guardrail.
"""

from __future__ import annotations

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import GROUP, PLURAL
from guardrail_operator.builders.common import Manifest, child_name, guardrail_name, labels, metadata

READ = ("get", "list", "watch")


def rbac_name(guardrail: Guardrail) -> str:
    return child_name(guardrail, "reader")


def build_role(guardrail: Guardrail, configmap_names: list[str]) -> Manifest:
    """Role granting read access to this Guardrail and the named revision ConfigMaps only."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(rbac_name(guardrail), guardrail, labels(guardrail, "guardrail-rbac", "rbac")),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [PLURAL],
                "resourceNames": [guardrail_name(guardrail)],
                "verbs": list(READ),
            },
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": sorted(configmap_names),
                "verbs": list(READ),
            },
        ],
    }


def build_role_binding(guardrail: Guardrail) -> Manifest:
    """RoleBinding of that Role to `spec.serviceAccountName` in the Guardrail's namespace."""
    name = rbac_name(guardrail)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(name, guardrail, labels(guardrail, "guardrail-rbac", "rbac")),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": guardrail.spec.service_account_name,
                "namespace": str(guardrail.metadata["namespace"]),
            }
        ],
    }
