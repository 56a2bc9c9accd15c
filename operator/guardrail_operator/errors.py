"""The operator's exceptions: one root, API errors translated at the boundary (`k8s`)."""

from __future__ import annotations


class OperatorError(Exception):
    """Root of every error the operator raises on purpose."""


class KubeError(OperatorError):
    """The Kubernetes API refused or failed a request."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(KubeError):
    """404: the object does not exist."""


class Conflict(KubeError):
    """409: the object changed since it was read (or already exists)."""


class Invalid(KubeError):
    """422: the API server rejected the object; retrying the same request cannot succeed."""
