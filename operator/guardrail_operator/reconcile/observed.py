"""What the operator observed about a Guardrail's children, reduced to the facts status depends on. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class WorkloadState:
    """Readiness of a Deployment or StatefulSet: `ready` of `desired` pods, and whether it serves."""

    name: str
    found: bool = False
    desired: int = 0
    ready: int = 0
    stalled_message: str = ""  # set when the Deployment reports ProgressDeadlineExceeded
    available_condition: bool | None = None  # a Deployment's own Available condition, when reported

    @property
    def available(self) -> bool:
        if not self.found or self.desired == 0:
            return False
        if self.available_condition is not None:
            return self.available_condition
        return self.ready >= self.desired


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of a health check against an external server; `detail` says what failed, in words."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Observed:
    """Everything status is computed from; `spec_error` is set (and the rest ignored) for an invalid spec."""

    revision: str = ""
    model_revision: str = ""
    triton: WorkloadState | None = None
    qdrant: WorkloadState | None = None  # managed Qdrant
    external_qdrant: ProbeResult | None = None
    external_qdrant_url: str = ""
    # (reason, message) when knowledge-base ingestion failed (`kb_ingestion`): the live version keeps serving.
    ingestion_failure: tuple[str, str] | None = None
    spec_error: str | None = None
    error_reason: str = "InvalidSpec"  # or ChildRejected: the API server refused a child built from the spec


def workload_state(name: str, obj: Manifest | None) -> WorkloadState:
    """Readiness of an observed Deployment or StatefulSet (None: not found).

    A Deployment counts as serving when its controller says so (the `Available` condition honours
    `maxUnavailable`, so a rolling update that keeps old pods serving is not an outage); a StatefulSet when
    all its pods are ready.
    """
    if obj is None:
        return WorkloadState(name=name)
    spec = obj.get("spec", {})
    status = obj.get("status", {})
    stalled = ""
    available: bool | None = None
    for cond in status.get("conditions", []):
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            stalled = str(cond.get("message", "progress deadline exceeded"))
        if cond.get("type") == "Available":
            available = cond.get("status") == "True"
    return WorkloadState(
        name=name,
        found=True,
        desired=int(spec.get("replicas", 1)),
        ready=int(status.get("readyReplicas", 0)),
        stalled_message=stalled,
        available_condition=available,
    )
