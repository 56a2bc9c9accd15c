"""Triton inference children, one set per model revision: config ConfigMap, Deployment, Service. Pure.

The pod's model repository is an `emptyDir` that an init container fills with exactly the revision's model
versions (from the repository URI, PVC or ConfigMap) and overlays with the rendered `config.pbtxt` files
(dynamic batching, KIND_GPU instance group). Triton then runs with explicit model control, so it loads
those models and nothing else. Inputs and outputs are auto-completed by Triton from the ONNX files.

`spec.triton.device: cpu` renders the python-backend flavour instead (clusters without GPUs): `backend:
"python"`, KIND_CPU, and the ConfigMap's `model.py` (`guardrail_operator/builders/triton_cpu_model.py`, which runs the
same ONNX file with onnxruntime and auto-completes the tensors) copied beside each model; no GPU is requested.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlparse

from guardrail_contract.guardrail import Guardrail, ModelRef, ModelRepository
from guardrail_contract.names import MODEL_REVISION_LABEL
from guardrail_operator.builders.common import (
    Manifest,
    child_name,
    labels,
    metadata,
    selector_labels,
)
from guardrail_operator.builders.security import container_security_context, pod_security_context, scratch_volume
from guardrail_operator.builders.triton_cpu import CPU_MODEL_FILE, cpu_model_source
from guardrail_operator.reconcile.revision import short_hash

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002
MODELS_DIR = "/models"
SOURCE_DIR = "/source"
CONFIG_DIR = "/model-config"
GPU_RESOURCE = "nvidia.com/gpu"
TRITON_UID = 1000  # `triton-server` in NVIDIA's images
# Added to spec.triton.resources where the user set no value: Triton is scheduled with a CPU/memory share and
# cannot take a node's memory. The model-fetching init container gets FETCHER_RESOURCES.
DEFAULT_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}
FETCHER_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def triton_resources(configured: dict[str, dict[str, int | str]]) -> dict[str, dict[str, str]]:
    """The spec's resources (quantities as strings) with DEFAULT_RESOURCES filling what it leaves unset."""
    out = {kind: {k: str(v) for k, v in values.items()} for kind, values in configured.items()}
    for kind, values in DEFAULT_RESOURCES.items():
        for name, quantity in values.items():
            out.setdefault(kind, {}).setdefault(name, quantity)
    return out


def triton_name(guardrail: Guardrail, model_rev: str) -> str:
    """Name of the Deployment, Service and config ConfigMap serving one model revision."""
    return child_name(guardrail, "triton", model_rev)


def triton_grpc_url(guardrail: Guardrail, model_rev: str) -> str:
    """`host:port` of the revision's Triton gRPC endpoint, as the sidecar dials it."""
    namespace = guardrail.metadata["namespace"]
    return f"{triton_name(guardrail, model_rev)}.{namespace}.svc:{GRPC_PORT}"


def _models(guardrail: Guardrail) -> list[ModelRef]:
    models = guardrail.spec.models
    return [models.nli, models.embedding, models.injection]


def render_model_config(model: ModelRef, max_batch_size: int, max_queue_delay_us: int, device: str = "gpu") -> str:
    """The `config.pbtxt` of one model: the one version, dynamic batching; ONNX Runtime on the GPU, or (device
    cpu) the python backend's `model.py` running the same ONNX file on the CPU."""
    backend, kind = ("python", "KIND_CPU") if device == "cpu" else ("onnxruntime", "KIND_GPU")
    return (
        f'name: "{model.name}"\n'
        f'backend: "{backend}"\n'
        f"max_batch_size: {max_batch_size}\n"
        f"version_policy: {{ specific: {{ versions: [ {model.version} ] }} }}\n"
        f"dynamic_batching {{ max_queue_delay_microseconds: {max_queue_delay_us} }}\n"
        f"instance_group [ {{ kind: {kind}, count: 1 }} ]\n"
    )


def build_triton_configmap(guardrail: Guardrail, model_rev: str) -> Manifest:
    """ConfigMap with one `<model>.pbtxt` per model of the revision."""
    triton = guardrail.spec.triton
    data = {
        f"{m.name}.pbtxt": render_model_config(
            m, triton.max_batch_size, triton.max_queue_delay_microseconds, triton.device
        )
        for m in _models(guardrail)
    }
    if triton.device == "cpu":
        data[CPU_MODEL_FILE] = cpu_model_source()
    object_labels = labels(guardrail, "triton", "inference", **{MODEL_REVISION_LABEL: model_rev})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(triton_name(guardrail, model_rev), guardrail, object_labels),
        "data": data,
    }


def _fetch_script(repository: ModelRepository, models: list[ModelRef], device: str = "gpu") -> str:
    """Shell commands copying each model's version folder into MODELS_DIR, then its config.pbtxt (and, on the
    CPU, the python backend's model.py into the version folder)."""
    lines = ["set -eu"]
    for m in models:
        rel = f"{m.name}/{m.version}"
        dest = shlex.quote(f"{MODELS_DIR}/{rel}")
        lines.append(f"mkdir -p {dest}")
        if repository.uri is not None:
            lines.append(_remote_copy(repository.uri, rel, dest))
        elif repository.pvc is not None:
            sub = repository.pvc.sub_path.strip("/")
            src = shlex.quote(f"{SOURCE_DIR}/{sub + '/' if sub else ''}{rel}")
            lines.append(f"cp -R {src}/. {dest}/")
        else:  # configMap: keys are `<model>--<version>--<file>`
            prefix = f"{m.name}--{m.version}--"
            lines.append(f'for f in {SOURCE_DIR}/{prefix}*; do cp "$f" {dest}/"${{f#{SOURCE_DIR}/{prefix}}}"; done')
        lines.append(f"cp {CONFIG_DIR}/{m.name}.pbtxt {shlex.quote(f'{MODELS_DIR}/{m.name}/config.pbtxt')}")
        if device == "cpu":
            lines.append(f"cp {CONFIG_DIR}/{CPU_MODEL_FILE} {dest}/{CPU_MODEL_FILE}")
    return "\n".join(lines) + "\n"


def _remote_copy(uri: str, rel: str, dest: str) -> str:
    parsed = urlparse(uri)
    path = f"{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme == "file":
        local = parsed.path.rstrip("/")
        return f"cp -R {shlex.quote(f'{local}/{rel}')}/. {dest}/"
    if parsed.scheme in ("http", "https"):
        return f"rclone copy --http-url {shlex.quote(uri.rstrip('/'))} {shlex.quote(f':http:{rel}')} {dest}"
    backend = {"s3": ":s3,env_auth=true", "gs": ":gcs,env_auth=true"}[parsed.scheme]
    return f"rclone copy {shlex.quote(f'{backend}:{path}/{rel}')} {dest}"


def _source_volume(repository: ModelRepository) -> Manifest | None:
    if repository.pvc is not None:
        return {
            "name": "source",
            "persistentVolumeClaim": {"claimName": repository.pvc.claim_name, "readOnly": True},
        }
    if repository.config_map is not None:
        return {"name": "source", "configMap": {"name": repository.config_map.name}}
    return None


def build_triton_deployment(guardrail: Guardrail, model_rev: str, fetcher_image: str) -> Manifest:
    """Deployment running Triton for one model revision."""
    spec = guardrail.spec
    triton = spec.triton
    name = triton_name(guardrail, model_rev)
    models = _models(guardrail)
    pod_selector = selector_labels(guardrail, "triton", **{MODEL_REVISION_LABEL: model_rev})
    object_labels = labels(guardrail, "triton", "inference", **{MODEL_REVISION_LABEL: model_rev})
    config_checksum = short_hash(build_triton_configmap(guardrail, model_rev)["data"])
    source = _source_volume(spec.models.repository)
    volumes: list[Manifest] = [
        {"name": "models", "emptyDir": {}},
        scratch_volume("tmp"),
        {"name": "model-config", "configMap": {"name": name}},
        *([source] if source else []),
    ]
    init_mounts: list[Manifest] = [
        {"name": "models", "mountPath": MODELS_DIR},
        {"name": "model-config", "mountPath": CONFIG_DIR, "readOnly": True},
        *([{"name": "source", "mountPath": SOURCE_DIR, "readOnly": True}] if source else []),
    ]
    args = [
        f"--model-repository={MODELS_DIR}",
        "--model-control-mode=explicit",
        *(f"--load-model={m.name}" for m in models),
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        "--strict-readiness=true",
        "--exit-on-error=true",
    ]
    resources = triton_resources(triton.resources)
    if triton.device == "cpu":  # the CPU flavour never uses a GPU: do not hold one (the default requests one)
        resources = {kind: {k: v for k, v in values.items() if k != GPU_RESOURCE} for kind, values in resources.items()}
    pod_spec: Manifest = {
        "automountServiceAccountToken": False,  # Triton and the fetcher never call the API server
        "securityContext": pod_security_context(TRITON_UID),
        "initContainers": [
            {
                "name": "fetch-models",
                "image": fetcher_image,
                "command": ["sh", "-c", _fetch_script(spec.models.repository, models, triton.device)],
                "volumeMounts": init_mounts,
                "resources": FETCHER_RESOURCES,
                "securityContext": container_security_context(),
            }
        ],
        "containers": [
            {
                "name": "triton",
                "image": triton.image,
                "command": ["tritonserver"],
                "args": args,
                "ports": [
                    {"name": "http", "containerPort": HTTP_PORT},
                    {"name": "grpc", "containerPort": GRPC_PORT},
                    {"name": "metrics", "containerPort": METRICS_PORT},
                ],
                "resources": resources,
                "readinessProbe": _probe("/v2/health/ready", period=5, failures=3),
                "livenessProbe": _probe("/v2/health/live", period=10, failures=3),
                "startupProbe": _probe("/v2/health/live", period=5, failures=120),
                "securityContext": container_security_context(),
                "volumeMounts": [
                    {"name": "models", "mountPath": MODELS_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
                ],
            }
        ],
        "volumes": volumes,
    }
    if triton.node_selector:
        pod_spec["nodeSelector"] = dict(triton.node_selector)
    if triton.tolerations:
        pod_spec["tolerations"] = list(triton.tolerations)
    if triton.affinity:
        pod_spec["affinity"] = dict(triton.affinity)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, guardrail, object_labels),
        "spec": {
            "replicas": triton.replicas,
            "selector": {"matchLabels": pod_selector},
            "template": {
                "metadata": {
                    "labels": dict(object_labels),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                        "prometheus.io/path": "/metrics",
                        "guardrails.dev/config-checksum": config_checksum,
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def _probe(path: str, period: int, failures: int) -> Manifest:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures}


def build_triton_service(guardrail: Guardrail, model_rev: str) -> Manifest:
    """ClusterIP Service in front of one model revision's Triton pods (HTTP, gRPC, metrics)."""
    object_labels = labels(guardrail, "triton", "inference", **{MODEL_REVISION_LABEL: model_rev})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(triton_name(guardrail, model_rev), guardrail, object_labels),
        "spec": {
            "selector": selector_labels(guardrail, "triton", **{MODEL_REVISION_LABEL: model_rev}),
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"},
            ],
        },
    }
