"""In Kubernetes: follow the Guardrail's `status.canary.weight` so weight changes apply without a restart."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .config import GuardrailRef
from .runtime import Runtime

log = logging.getLogger("guardrail.sidecar")
GROUP, VERSION, PLURAL = "guardrails.dev", "v1alpha1", "guardrails"


def canary_weight(guardrail: dict[str, Any], canary_revision: str | None) -> int:
    """The weight to apply: the status's canary weight when it names our canary revision, else 0."""
    canary = (guardrail.get("status") or {}).get("canary") or {}
    if canary_revision is None or canary.get("revision") != canary_revision:
        return 0
    weight = canary.get("weight", 0)
    return max(0, min(100, weight)) if isinstance(weight, int) else 0


def _watch_blocking(ref: GuardrailRef, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
    from kubernetes import client, config, watch

    config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes is untyped
    api = client.CustomObjectsApi()
    while True:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            ref.namespace,
            PLURAL,
            field_selector=f"metadata.name={ref.name}",
            timeout_seconds=300,
        )
        for event in stream:
            obj = event["object"]
            canary = runtime.canary.revision if runtime.canary is not None else None
            loop.call_soon_threadsafe(runtime.set_weight, canary_weight(obj, canary))


async def watch_guardrail(ref: GuardrailRef, runtime: Runtime) -> None:
    """Runs the (blocking) kubernetes watch in a thread; errors are logged and the watch restarted."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await asyncio.to_thread(_watch_blocking, ref, runtime, loop)
        except Exception as exc:  # API errors, expired resource versions: retry after a pause
            log.warning("guardrail watch failed; retrying", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(5)
