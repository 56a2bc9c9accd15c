"""Names, labels and owner references shared by every child object. Pure."""

from __future__ import annotations

from typing import Any

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import (
    API_VERSION,
    GROUP,
    GUARDRAIL_LABEL,
    KIND,
    fit,
)

Manifest = dict[str, Any]

MANAGED_BY = "guardrail-operator"
PART_OF = "guardrail"
APPLIED_HASH_ANNOTATION = f"{GROUP}/applied-hash"


def child_name(guardrail: Guardrail, *parts: str) -> str:
    """`<guardrail>-<part>-...`, shortened to a DNS label when the Guardrail's name is long."""
    return fit("-".join([guardrail_name(guardrail), *parts]))


def guardrail_name(guardrail: Guardrail) -> str:
    return str(guardrail.metadata["name"])


def guardrail_namespace(guardrail: Guardrail) -> str:
    return str(guardrail.metadata["namespace"])


def owner_reference(guardrail: Guardrail) -> Manifest:
    """Controller reference to the Guardrail: deleting it garbage-collects the child."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": guardrail_name(guardrail),
        "uid": str(guardrail.metadata["uid"]),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_labels(guardrail: Guardrail, app: str, **extra: str) -> dict[str, str]:
    """The immutable labels a workload selects its pods by."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": fit(guardrail_name(guardrail)),
        **extra,
    }


def labels(guardrail: Guardrail, app: str, component: str, **extra: str) -> dict[str, str]:
    """Standard `app.kubernetes.io/*` labels plus the Guardrail (and, via `extra`, revision) label."""
    return {
        **selector_labels(guardrail, app),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        GUARDRAIL_LABEL: fit(guardrail_name(guardrail)),
        **extra,
    }


def metadata(name: str, guardrail: Guardrail, object_labels: dict[str, str], **more: Any) -> Manifest:
    """Object metadata: name, namespace, labels and the controller owner reference."""
    return {
        "name": name,
        "namespace": guardrail_namespace(guardrail),
        "labels": object_labels,
        "ownerReferences": [owner_reference(guardrail)],
        **more,
    }


def children_selector(guardrail: Guardrail) -> str:
    """Label selector matching every child of this Guardrail (used to find objects to prune)."""
    return f"app.kubernetes.io/managed-by={MANAGED_BY},{GUARDRAIL_LABEL}={fit(guardrail_name(guardrail))}"
