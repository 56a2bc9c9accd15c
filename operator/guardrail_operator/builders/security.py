"""Security contexts of the pods the operator runs (Qdrant, Triton, ingestion Jobs). Pure.

They meet the restricted Pod Security Standard: non-root, no privilege escalation, every capability dropped,
the runtime's default seccomp profile, and a read-only root filesystem with writable `emptyDir`s where the
program needs scratch space.
"""

from __future__ import annotations

from guardrail_operator.builders.common import Manifest


def pod_security_context(uid: int) -> Manifest:
    """Pod-level: run as `uid` (group too) and let volumes be written by that group (`fsGroup`)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(read_only_root: bool = True) -> Manifest:
    """Container-level: no escalation, no capabilities, default seccomp, read-only root by default."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scratch_volume(name: str, size: str = "256Mi") -> Manifest:
    """A size-limited `emptyDir` for a program's temporary files (the root filesystem is read-only)."""
    return {"name": name, "emptyDir": {"sizeLimit": size}}
