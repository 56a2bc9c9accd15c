"""Names the operator gives the objects a sidecar reads: one definition for both sides.

The operator's Role grants the sidecar access to its revision ConfigMaps by name (`resourceNames`), so the
sidecar must fetch them by the very name the operator rendered, never by a label query.
"""

from __future__ import annotations

import hashlib

MAX_NAME = 63  # a DNS label


def fit(name: str, limit: int = MAX_NAME) -> str:
    """`name` if it fits in `limit` characters, else a truncated prefix plus a short hash (still unique)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"


def revision_configmap_name(guardrail: str, revision: str) -> str:
    """The ConfigMap holding one revision's scoring config: `<guardrail>-config-<revision>`."""
    return fit(f"{guardrail}-config-{revision}")
