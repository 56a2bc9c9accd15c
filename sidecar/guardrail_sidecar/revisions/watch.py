"""In Kubernetes: follow the Guardrail's status so rollouts apply without a pod restart.

`status.stableRevision` and `status.canary.{revision, weight}` say which revisions score traffic and in what
shares; each revision's config is read from the operator's ConfigMap for it (by name, `naming.revision_configmap_name`;
key `revision.yaml`). Pure helpers here; the API calls run in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from guardrail_contract.names import GROUP, PLURAL, REVISION_KEY, VERSION, revision_configmap_name
from guardrail_contract.sidecar_config import ConfigError, GuardrailRef, RevisionConfig
from guardrail_sidecar.revisions.served import ServedRevisions

log = logging.getLogger("guardrail.sidecar")


def status_canary(guardrail: dict[str, Any]) -> tuple[str | None, int]:
    """(canary revision, weight) from a Guardrail's status; (None, 0) when no canary is in progress."""
    canary = (guardrail.get("status") or {}).get("canary") or {}
    revision = canary.get("revision")
    weight = canary.get("weight", 0)
    if not isinstance(revision, str) or not revision:
        return None, 0
    return revision, max(0, min(100, weight)) if isinstance(weight, int) else 0


def shadow_rate(guardrail: dict[str, Any]) -> float:
    """The shadow sample rate: spec.rollout.shadow.sampleRate while status.canary.state is Shadow, else 0."""
    canary = (guardrail.get("status") or {}).get("canary") or {}
    if canary.get("state") != "Shadow":
        return 0.0
    shadow = ((guardrail.get("spec") or {}).get("rollout") or {}).get("shadow") or {}
    rate = shadow.get("sampleRate", 0.1)
    return max(0.0, min(1.0, float(rate))) if isinstance(rate, int | float) else 0.0


def status_stable(guardrail: dict[str, Any]) -> str | None:
    stable = (guardrail.get("status") or {}).get("stableRevision")
    return stable if isinstance(stable, str) and stable else None


def parse_revision(configmaps: list[dict[str, Any]], revision: str) -> RevisionConfig | None:
    """The revision config in the first matching ConfigMap, or None when absent or invalid."""
    for item in configmaps:
        text = (item.get("data") or {}).get(REVISION_KEY)
        if not isinstance(text, str):
            continue
        try:
            config = RevisionConfig.from_yaml(text)
        except ConfigError as exc:
            log.error("invalid revision config", extra={"fields": {"revision": revision, "error": str(exc)}})
            return None
        if config.revision == revision:
            return config
    return None


def _watch_blocking(ref: GuardrailRef, revisions: ServedRevisions, loop: asyncio.AbstractEventLoop) -> None:
    from kubernetes import client, config, watch
    from kubernetes.client.exceptions import ApiException

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes is untyped
    except config.ConfigException:  # outside a pod (local control plane, tests): KUBECONFIG
        config.load_kube_config()  # type: ignore[no-untyped-call]
    custom, core = client.CustomObjectsApi(), client.CoreV1Api()
    known: dict[str, RevisionConfig] = {}

    def revision_config(revision: str | None) -> RevisionConfig | None:
        if revision is None:
            return None
        if revision not in known:
            try:  # by name: the operator's Role grants exactly these ConfigMaps (resourceNames), no list
                found = core.read_namespaced_config_map(revision_configmap_name(ref.name, revision), ref.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            parsed = parse_revision([{"data": found.data}], revision)
            if parsed is None:
                return None
            known[revision] = parsed
        return known[revision]

    while True:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            ref.namespace,
            PLURAL,
            field_selector=f"metadata.name={ref.name}",
            timeout_seconds=300,
        )
        for event in stream:
            guardrail = event["object"]
            canary_revision, weight = status_canary(guardrail)
            stable = revision_config(status_stable(guardrail))
            canary = revision_config(canary_revision)
            loop.call_soon_threadsafe(revisions.follow_guardrail, stable, canary, canary_revision, weight)
            loop.call_soon_threadsafe(revisions.shadow.set_rate, shadow_rate(guardrail))


async def watch_guardrail(ref: GuardrailRef, revisions: ServedRevisions) -> None:
    """Runs the (blocking) kubernetes watch in a daemon thread; errors are logged and the watch restarted.

    A daemon thread rather than `asyncio.to_thread`: the default executor is joined at shutdown, so a watch
    blocked on the API server would keep the process from exiting on SIGTERM until the pod is killed."""
    loop = asyncio.get_running_loop()
    while True:
        ended: asyncio.Future[None] = loop.create_future()
        thread = threading.Thread(target=_watch_thread, args=(ref, revisions, loop, ended), name="guardrail-watch")
        thread.daemon = True
        thread.start()
        try:
            await ended
        except Exception as exc:  # API errors, expired resource versions: retry after a pause
            log.warning("guardrail watch failed; retrying", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(5)


def _watch_thread(
    ref: GuardrailRef, revisions: ServedRevisions, loop: asyncio.AbstractEventLoop, ended: asyncio.Future[None]
) -> None:
    """The watch, reporting how it ended to the event loop (unless the loop is already gone at shutdown)."""
    try:
        _watch_blocking(ref, revisions, loop)
    except Exception as exc:
        outcome: BaseException | None = exc
    else:
        outcome = None
    with contextlib.suppress(RuntimeError):  # the loop closed: the process is exiting
        loop.call_soon_threadsafe(_settle, ended, outcome)


def _settle(ended: asyncio.Future[None], outcome: BaseException | None) -> None:
    if ended.done():
        return
    if outcome is None:
        ended.set_result(None)
    else:
        ended.set_exception(outcome)
