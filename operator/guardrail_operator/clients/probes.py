"""Health check of an external Qdrant: the one network call outside the Kubernetes API."""

from __future__ import annotations

import httpx

from guardrail_operator.reconcile.observed import ProbeResult


def check_qdrant(url: str, timeout: float) -> ProbeResult:
    """GET `<url>/readyz`; the detail names the failure (never a credential: none is sent)."""
    target = url.rstrip("/") + "/readyz"
    try:
        response = httpx.get(target, timeout=timeout)
    except httpx.HTTPError as exc:
        return ProbeResult(ok=False, detail=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if response.status_code != 200:
        return ProbeResult(ok=False, detail=f"HTTP {response.status_code} from {target}")
    return ProbeResult(ok=True)
