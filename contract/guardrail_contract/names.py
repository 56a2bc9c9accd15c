"""Names both sides rely on: the API group, labels and annotations, ConfigMap keys and object names.

The operator's Role grants the sidecar access to its revision ConfigMaps by name (`resourceNames`), so the
sidecar must fetch them by the very name the operator rendered, never by a label query. Each rule here is
written once; the operator, the sidecar, the kubectl plugin and the tools import it.
"""

from __future__ import annotations

import hashlib

# The Guardrail resource.
GROUP = "guardrails.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Guardrail"
PLURAL = "guardrails"

# Labels and annotations on the objects the operator manages.
GUARDRAIL_LABEL = f"{GROUP}/guardrail"
REVISION_LABEL = f"{GROUP}/revision"
MODEL_REVISION_LABEL = f"{GROUP}/model-revision"
ACTION_ANNOTATION = f"{GROUP}/rollout-action"  # `kubectl guardrail` writes it, the rollout reads it
REQUEST_ID_ANNOTATION = f"{GROUP}/rollout-request-id"

# Keys of a revision ConfigMap (`<guardrail>-config-<revision>`).
REVISION_KEY = "revision.yaml"  # a RevisionConfig: what the revision hash covers
SIDECAR_KEY = "sidecar.yaml"  # a complete SidecarConfig, the file the sidecar is started with

MAX_NAME = 63  # a DNS label
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Knowledge-base versions: `<collection>-<version>`, version = VERSION_LENGTH hex digits; the alias
# `<collection>` names the live one. With the hyphen, the versioned name must still fit a collection name.
KB_VERSION_LENGTH = 10
MAX_COLLECTION = 63
MAX_INGESTED_COLLECTION = MAX_COLLECTION - 1 - KB_VERSION_LENGTH


def fit(name: str, limit: int = MAX_NAME) -> str:
    """`name` if it fits in `limit` characters, else a truncated prefix plus a short hash (still unique)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"


def revision_configmap_name(guardrail: str, revision: str) -> str:
    """The ConfigMap holding one revision's scoring config: `<guardrail>-config-<revision>`."""
    return fit(f"{guardrail}-config-{revision}")


def versioned_collection(collection: str, version: str | None) -> str:
    """The physical collection of one knowledge-base version (`<collection>-<version>`); the alias without one."""
    return collection if version is None else f"{collection}-{version}"
