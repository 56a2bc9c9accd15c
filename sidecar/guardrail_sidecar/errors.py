"""The sidecar's exception hierarchy; third-party errors are translated into these at the boundary."""

from __future__ import annotations


class GuardrailError(Exception):
    """Base of every error the sidecar raises on purpose."""


class RequestError(GuardrailError):
    """The client's request is unusable; answered with a 4xx JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class UpstreamError(GuardrailError):
    """The app behind the sidecar failed or timed out; answered with 502/504."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BackendError(GuardrailError):
    """A scoring backend (inference server, embedded model, Qdrant) failed; `onBackendError` decides."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend


class CircuitOpenError(BackendError):
    """The backend failed repeatedly; calls are refused until the reset timeout passes."""
