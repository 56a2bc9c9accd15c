"""Managed Qdrant children: a headless Service and a StatefulSet with a volume claim template. Pure.

An external Qdrant gets no children: the operator only health-checks it. A managed Qdrant without
`apiKeySecretRef` requires the API key in the Secret `<guardrail>-qdrant-api-key`, which the reconciler
creates once with a random key (`build_qdrant_api_key_secret`, unless `generateApiKey: false`); everything
that talks to Qdrant (the StatefulSet, the sidecar, the ingestion Job) references it by `secretKeyRef`.
"""

from __future__ import annotations

from guardrail_contract.guardrail import Guardrail, ManagedQdrant, SecretKeyRef
from guardrail_operator.builders.common import Manifest, child_name, labels, metadata, selector_labels
from guardrail_operator.builders.security import container_security_context, pod_security_context, scratch_volume

HTTP_PORT = 6333
GRPC_PORT = 6334
STORAGE_PATH = "/qdrant/storage"
SNAPSHOTS_PATH = "/qdrant/snapshots"
INIT_PATH = "/qdrant/init"  # Qdrant writes its `.qdrant-initialized` marker here (the root is read-only)
QDRANT_UID = 1000  # the user of Qdrant's unprivileged image
GENERATED_API_KEY = "api-key"  # key of the generated Secret


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


def generated_api_key_name(guardrail: Guardrail) -> str:
    return child_name(guardrail, "qdrant-api-key")


def generates_api_key(guardrail: Guardrail) -> bool:
    """Whether the operator creates the managed Qdrant's API key Secret (managed, no reference given)."""
    managed = managed_qdrant(guardrail)
    return managed is not None and managed.api_key_secret_ref is None and managed.generate_api_key


def qdrant_api_key_ref(guardrail: Guardrail) -> SecretKeyRef | None:
    """The Secret key holding the Qdrant API key: the spec's reference, else the generated one, else None."""
    kb = guardrail.spec.knowledge_base
    if kb is None:
        return None
    server = kb.qdrant.external or kb.qdrant.managed
    if server is not None and server.api_key_secret_ref is not None:
        return server.api_key_secret_ref
    if generates_api_key(guardrail):
        return SecretKeyRef(name=generated_api_key_name(guardrail), key=GENERATED_API_KEY)
    return None


def build_qdrant_api_key_secret(guardrail: Guardrail, api_key: str) -> Manifest:
    """The generated API key Secret (created once by the reconciler: never applied again, never read back)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(
            generated_api_key_name(guardrail), guardrail, labels(guardrail, "qdrant", "knowledge-base")
        ),
        "stringData": {GENERATED_API_KEY: api_key},
    }


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
    env: list[Manifest] = [
        {"name": "QDRANT_INIT_FILE_PATH", "value": f"{INIT_PATH}/.qdrant-initialized"},
        {"name": "QDRANT__STORAGE__SNAPSHOTS_PATH", "value": SNAPSHOTS_PATH},
    ]
    ref = qdrant_api_key_ref(guardrail)
    if ref is not None:
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
        "env": env,
        "resources": {kind: {k: str(v) for k, v in values.items()} for kind, values in managed.resources.items()},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 10},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "storage", "mountPath": STORAGE_PATH},
            {"name": "snapshots", "mountPath": SNAPSHOTS_PATH},
            {"name": "init", "mountPath": INIT_PATH},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        ],
    }
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
                "spec": {
                    "automountServiceAccountToken": False,  # Qdrant never calls the API server
                    "securityContext": pod_security_context(QDRANT_UID),
                    "containers": [container],
                    "volumes": [
                        scratch_volume("snapshots", "1Gi"),
                        scratch_volume("init", "1Mi"),
                        scratch_volume("tmp"),
                    ],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "storage"}, "spec": claim_spec}],
        },
    }
