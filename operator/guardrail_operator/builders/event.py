"""Kubernetes Event manifests about a Guardrail (core/v1, readable by `kubectl describe`). Pure."""

from __future__ import annotations

from guardrail_contract.names import GROUP, KIND, VERSION, fit
from guardrail_operator.builders.common import Manifest

COMPONENT = "guardrail-operator"


def build_event(
    namespace: str, name: str, uid: str, kind: str, reason: str, message: str, now: str, instance: str
) -> Manifest:
    """One Event of `kind` (Normal or Warning) about the Guardrail `namespace/name`; `now` is RFC 3339."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": fit(f"{name}.", 200), "namespace": namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": kind,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": fit(instance, 128),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
