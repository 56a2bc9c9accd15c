"""Managed Qdrant children: a headless Service and a StatefulSet with a volume claim template. Pure.

An external Qdrant gets no children: the operator only health-checks it.
"""

from __future__ import annotations

from guardrail_operator.builders.common import Manifest, child_name, labels, metadata, selector_labels
from guardrail_operator.models import Guardrail, ManagedQdrant

HTTP_PORT = 6333
GRPC_PORT = 6334
STORAGE_PATH = "/qdrant/storage"


def qdrant_name(guardrail: Guardrail) -> str:
    return child_name(guardrail, "qdrant")


def qdrant_url(guardrail: Guardrail) -> str | None:
    """HTTP URL of the knowledge base's Qdrant (managed or external); None without a knowledge base."""
    kb = guardrail.spec.knowledge_base
    if kb is None:
        return None
    if kb.qdrant.external is not None:
        return kb.qdrant.external.url
    return f"http://{qdrant_name(guardrail)}.{guardrail.metadata['namespace']}.svc:{HTTP_PORT}"


def managed_qdrant(guardrail: Guardrail) -> ManagedQdrant | None:
    kb = guardrail.spec.knowledge_base
    return None if kb is None else kb.qdrant.managed


def build_qdrant_service(guardrail: Guardrail) -> Manifest:
    """Headless Service: stable DNS for the StatefulSet's pod."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(qdrant_name(guardrail), guardrail, labels(guardrail, "qdrant", "knowledge-base")),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(guardrail, "qdrant"),
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc"},
            ],
        },
    }


def build_qdrant_statefulset(guardrail: Guardrail, managed: ManagedQdrant) -> Manifest:
    """One-replica StatefulSet running Qdrant on its own PersistentVolumeClaim."""
    name = qdrant_name(guardrail)
    env: list[Manifest] = []
    if managed.api_key_secret_ref is not None:
        ref = managed.api_key_secret_ref
        env.append(
            {
                "name": "QDRANT__SERVICE__API_KEY",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    claim_spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": managed.storage}},
    }
    if managed.storage_class_name is not None:
        claim_spec["storageClassName"] = managed.storage_class_name
    container: Manifest = {
        "name": "qdrant",
        "image": managed.image,
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT},
            {"name": "grpc", "containerPort": GRPC_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 10},
        "volumeMounts": [{"name": "storage", "mountPath": STORAGE_PATH}],
    }
    if env:
        container["env"] = env
    object_labels = labels(guardrail, "qdrant", "knowledge-base")
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(name, guardrail, object_labels),
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": selector_labels(guardrail, "qdrant")},
            "template": {
                "metadata": {"labels": dict(object_labels)},
                "spec": {"containers": [container]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "storage"}, "spec": claim_spec}],
        },
    }
