"""Sidecar injection, pure: which Guardrail selects a Pod, and the Pod with the scoring sidecar added.

No I/O and no kopf here: `webhook.py` feeds admission requests in and turns the result into a JSON patch.
`inject` is idempotent: a Pod that already carries the sidecar comes back unchanged.

In a namespace labelled `guardrails.dev/allow-opt-out=false` (the API server sends its Pods to the strict
webhook path, `allow_opt_out=False`) a selected Pod runs with its sidecar or is refused: the opt-out
annotation is ignored, the `injected` annotation alone proves nothing, and a Pod the sidecar cannot be added
to (a port or volume clash, a look-alike `guardrail-sidecar` container) is denied instead of admitted as is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch

from guardrail_contract.guardrail import Guardrail, LabelSelector
from guardrail_contract.names import GUARDRAIL_LABEL, SIDECAR_KEY
from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_operator.builders.config import QDRANT_API_KEY_ENV, config_name
from guardrail_operator.builders.qdrant import qdrant_api_key_ref
from guardrail_operator.kb.ingestion import pin
from guardrail_operator.reconcile.diff import is_subset
from guardrail_operator.reconcile.revision import guardrail_revision

Pod = dict[str, Any]

INJECT_ANNOTATION = "guardrails.dev/inject"  # "false" opts a Pod out
INJECTED_ANNOTATION = "guardrails.dev/injected"  # set on injection: the Guardrail that selected the Pod
NAMESPACE_LABEL = "guardrails.dev/injection"  # namespaces labelled "enabled" are sent to the webhook
ALLOW_OPT_OUT_LABEL = "guardrails.dev/allow-opt-out"  # "false" on a namespace: the strict webhook path
SIDECAR_NAME = "guardrail-sidecar"
CONFIG_VOLUME = "guardrail-config"
TMP_VOLUME = "guardrail-tmp"
CONFIG_MOUNT_PATH = "/etc/guardrail"
PORT_NAME = "guardrail"  # the port an app's Service targets to put the guardrail in front of the app
ADMIN_PORT_NAME = "guardrail-admin"  # /metrics, /healthz, /readyz
ADMIN_PORT: int = SidecarConfig.model_fields["admin_port"].default
SERVICE_ACCOUNT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # noqa: S105 - a path, no secret
# Container fields the API server fills in; any other field we did not render makes a look-alike sidecar.
SERVER_DEFAULTED_FIELDS = frozenset({"terminationMessagePath", "terminationMessagePolicy"})
SIDECAR_UID = 65532  # "nonroot" in distroless images; the sidecar image runs as it too


@dataclass(frozen=True)
class Target:
    """What injection needs to know about one Guardrail."""

    name: str
    selector: LabelSelector
    listen_port: int
    config_map: str
    service_account: str = "default"
    api_key_secret: tuple[str, str] | None = None  # (Secret name, key) of the Qdrant API key

    @classmethod
    def from_guardrail(cls, guardrail: Guardrail) -> Target:
        """The stable revision's config (the current spec's before anything is stable)."""
        spec = guardrail.spec
        # Before anything is stable: the current spec's revision, with its ingested knowledge-base version pinned.
        revision = guardrail.status.stable_revision or guardrail_revision(
            pin(guardrail, guardrail.status.knowledge_base).spec
        )
        ref = qdrant_api_key_ref(guardrail)
        return cls(
            name=str(guardrail.metadata["name"]),
            selector=spec.selector,
            listen_port=spec.proxy.listen_port,
            config_map=config_name(guardrail, revision),
            service_account=spec.service_account_name,
            api_key_secret=(ref.name, ref.key) if ref else None,
        )


@dataclass(frozen=True)
class SidecarSettings:
    """Cluster-wide shape of the injected container (chart values `sidecar.*`)."""

    image: str = "ghcr.io/guardrails-dev/guardrail-sidecar:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    resources: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: {
            "requests": {"cpu": "100m", "memory": "256Mi"},  # the chart's defaults; see docs/webhook.md#memory
            "limits": {"cpu": "1", "memory": "768Mi"},
        }
    )
    native: bool = True  # an init container with restartPolicy Always: ready before the app, stops after it
    otel_env: Mapping[str, str] = field(default_factory=dict)  # OTEL_* variables: tracing (docs/tracing.md)


@dataclass(frozen=True)
class Decision:
    """The outcome for one Pod: the mutated Pod (None when nothing changes) and why."""

    pod: Pod | None
    reason: str
    guardrail: str | None = None
    warnings: tuple[str, ...] = ()
    denied: bool = False  # refuse the Pod (strict namespaces only): `reason` says why


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches nothing (never inject everywhere)."""
    if not selector.match_labels and not selector.match_expressions:
        return False
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator == "In" and not (present and labels[req.key] in req.values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in req.values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


def _containers(pod: Pod) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _used_ports(pod: Pod) -> set[int]:
    return {p.get("containerPort") for c in _containers(pod) for p in c.get("ports") or []}


def sidecar_container(target: Target, settings: SidecarSettings) -> dict[str, Any]:
    """The injected container: restricted security context, bounded resources, ready on /readyz."""
    container: dict[str, Any] = {
        "name": SIDECAR_NAME,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "ports": [
            {"name": PORT_NAME, "containerPort": target.listen_port, "protocol": "TCP"},
            {"name": ADMIN_PORT_NAME, "containerPort": ADMIN_PORT, "protocol": "TCP"},
        ],
        "env": sidecar_env(target) + [{"name": k, "value": v} for k, v in sorted(settings.otel_env.items())],
        "resources": {k: dict(v) for k, v in settings.resources.items()},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": ADMIN_PORT_NAME},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        # A wedged sidecar is restarted; the generous threshold rides out a slow model load or a busy node.
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": ADMIN_PORT_NAME},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SIDECAR_UID,
            "runAsGroup": SIDECAR_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": CONFIG_MOUNT_PATH, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        ],
    }
    if settings.native:
        container["restartPolicy"] = "Always"
    return container


def sidecar_env(target: Target) -> list[dict[str, Any]]:
    """The config file (the revision ConfigMap's sidecar.yaml), the pod's identity and the Qdrant API key."""
    env: list[dict[str, Any]] = [
        {"name": "GUARDRAIL_CONFIG", "value": f"{CONFIG_MOUNT_PATH}/{SIDECAR_KEY}"},
        {"name": "GUARDRAIL_NAME", "value": target.name},
        {"name": "GUARDRAIL_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "GUARDRAIL_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if target.api_key_secret:
        name, key = target.api_key_secret
        env.append({"name": QDRANT_API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
    return env


def sidecar_volumes(target: Target) -> list[dict[str, Any]]:
    return [
        {"name": CONFIG_VOLUME, "configMap": {"name": target.config_map}},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}},
    ]


def choose_target(pod: Pod, targets: Iterable[Target]) -> tuple[Target | None, tuple[str, ...]]:
    """The Guardrail selecting the Pod: the first by name when several do (with a warning)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    matching = sorted((t for t in targets if selector_matches(t.selector, labels)), key=lambda t: t.name)
    if len(matching) > 1:
        names = ", ".join(t.name for t in matching)
        return matching[0], (f"several Guardrails select this pod ({names}); injecting {matching[0].name}",)
    return (matching[0] if matching else None), ()


def _not_injected(msg: str, target: Target, warnings: tuple[str, ...], allow_opt_out: bool) -> Decision:
    """A selected Pod the sidecar cannot be added to: admitted with a warning, or denied when strict."""
    if not allow_opt_out:
        return Decision(None, msg, target.name, warnings, denied=True)
    return Decision(None, msg, target.name, (*warnings, f"sidecar not injected: {msg}"))


def _already_injected(pod: Pod, target: Target | None, settings: SidecarSettings, allow_opt_out: bool) -> bool:
    """Re-invocation, or a Pod re-created from an injected one.

    Strict: only our own sidecar counts, exactly as we render it for `target` (the API server's defaults
    aside) with its config volume; a container that merely carries the name or the annotation does not.
    """
    sidecars = [c for c in _containers(pod) if c.get("name") == SIDECAR_NAME]
    if allow_opt_out:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        return bool(sidecars) or INJECTED_ANNOTATION in annotations
    if target is None or len(sidecars) != 1:
        return False
    # The API server's ServiceAccount admission mounts the token into every container, ours included (and
    # that change is why it calls us again): the one mount we allow beyond our own.
    existing = dict(sidecars[0])
    existing["volumeMounts"] = [
        m for m in existing.get("volumeMounts") or [] if m.get("mountPath") != SERVICE_ACCOUNT_TOKEN_PATH
    ]
    want = sidecar_container(target, settings)
    if set(existing) - set(want) - SERVER_DEFAULTED_FIELDS:  # e.g. a `command` or `envFrom` of its own
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    return is_subset(want, existing) and all(is_subset(v, volumes.get(v["name"])) for v in sidecar_volumes(target))


def inject(pod: Pod, targets: Iterable[Target], settings: SidecarSettings, allow_opt_out: bool = True) -> Decision:
    """Decide and build: the Pod with the sidecar, or `pod=None` with the reason nothing was injected.

    `allow_opt_out=False` (a namespace labelled `guardrails.dev/allow-opt-out=false`): the opt-out annotation
    is ignored and a selected Pod that cannot get the sidecar is denied (`Decision.denied`).
    """
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    opted_out = str(annotations.get(INJECT_ANNOTATION, "")).lower() == "false"
    if opted_out and allow_opt_out:
        return Decision(None, f"opted out by annotation {INJECT_ANNOTATION}=false")
    if allow_opt_out and _already_injected(pod, None, settings, allow_opt_out):
        return Decision(None, "sidecar already injected")
    target, warnings = choose_target(pod, targets)
    if target is None:
        return Decision(None, "no Guardrail selects this pod")
    if not allow_opt_out and _already_injected(pod, target, settings, allow_opt_out):
        return Decision(None, "sidecar already injected", target.name)
    if opted_out:
        warnings = (
            *warnings,
            f"annotation {INJECT_ANNOTATION}=false ignored: this namespace does not allow opting out "
            f"({ALLOW_OPT_OUT_LABEL}=false)",
        )
    if any(c.get("name") == SIDECAR_NAME for c in _containers(pod)):
        msg = f"the pod has a container named {SIDECAR_NAME} that is not the guardrail sidecar {target.name} needs"
        return _not_injected(msg, target, warnings, allow_opt_out)
    clash = sorted({target.listen_port, ADMIN_PORT} & _used_ports(pod))
    if clash:
        msg = f"port {clash[0]} is already used in the pod (the sidecar listens on {target.listen_port} "
        msg += f"from Guardrail {target.name} spec.proxy.listenPort, and {ADMIN_PORT} for health and metrics)"
        return _not_injected(msg, target, warnings, allow_opt_out)
    account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    if account != target.service_account:
        warnings = (
            *warnings,
            f"pod runs as service account {account!r} but Guardrail {target.name} grants read access to "
            f"{target.service_account!r} (spec.serviceAccountName): the sidecar cannot follow canaries",
        )
    volumes = {v.get("name") for v in (pod.get("spec") or {}).get("volumes") or []}
    if volumes & {CONFIG_VOLUME, TMP_VOLUME}:
        msg = f"the pod already has a volume named {CONFIG_VOLUME} or {TMP_VOLUME}"
        return _not_injected(msg, target, warnings, allow_opt_out)

    out = copy.deepcopy(pod)
    out_meta = out.setdefault("metadata", {})
    out_meta.setdefault("annotations", {})[INJECTED_ANNOTATION] = target.name
    out_meta.setdefault("labels", {})[GUARDRAIL_LABEL] = target.name
    spec = out.setdefault("spec", {})
    key = "initContainers" if settings.native else "containers"
    spec[key] = [*(spec.get(key) or []), sidecar_container(target, settings)]
    spec["volumes"] = [*(spec.get("volumes") or []), *sidecar_volumes(target)]
    return Decision(out, f"injected for Guardrail {target.name}", target.name, warnings)


def sidecar_update_refusal(old: Pod, new: Pod) -> str | None:
    """Why an UPDATE of a Pod must be refused in a strict namespace, or None: its sidecar container may not
    change (a container's image is the one field of a running Pod's containers an update can change)."""
    before = [c for c in _containers(old) if c.get("name") == SIDECAR_NAME]
    after = [c for c in _containers(new) if c.get("name") == SIDECAR_NAME]
    if before != after:
        return f"the {SIDECAR_NAME} container of a running pod may not be changed"
    return None


def json_patch(before: Pod, after: Pod) -> list[dict[str, Any]]:
    """RFC 6902 operations turning `before` into `after` (what the admission response carries)."""
    ops: list[dict[str, Any]] = jsonpatch.JsonPatch.from_diff(before, after).patch
    return ops
