"""Sidecar-injection admission webhook: thin kopf glue around the pure `guardrail_operator.webhook.injection`.

Importing this module registers three things with kopf's default registry:
- an index of Guardrails by namespace (kept fresh by kopf's watch, read on every admission),
- the mutating handlers for Pod CREATE served at `/<WEBHOOK_ID>` and, for namespaces labelled
  `guardrails.dev/allow-opt-out=false` (the chart routes them by namespaceSelector), at `/<STRICT_WEBHOOK_ID>`,
  where the opt-out annotation is ignored and a selected Pod that cannot get the sidecar is denied,
- a startup handler that configures kopf's webhook server from `GUARDRAIL_WEBHOOK_*` environment variables.

kopf serves admission as soon as it has scanned the API, possibly before its index has listed the Guardrails.
So that a replica starting (a rollout, a restart) never admits a selected Pod without its sidecar in that
window, the startup handler lists the Guardrails itself; for `STARTUP_SNAPSHOT_SECONDS` a Guardrail the index
has not seen yet is taken from that listing (`Warmup`).

The chart owns the MutatingWebhookConfiguration (namespaceSelector, failurePolicy, caBundle), so kopf is told
not to manage one. kopf re-reads the certificate files when they change, so a renewed Secret (chart upgrade or
cert-manager) is picked up without a restart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import kopf
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import GROUP, PLURAL, VERSION
from guardrail_operator.clients.k8s import KubeClient, load_api_client
from guardrail_operator.settings import WebhookConfig, watch_namespaces
from guardrail_operator.webhook.injection import Decision, Pod, Target, inject, sidecar_update_refusal

WEBHOOK_ID = "inject-sidecar"  # the URL path the MutatingWebhookConfiguration calls
STRICT_WEBHOOK_ID = "inject-sidecar-strict"  # the path for namespaces that do not allow opting out
_MEMO_KEY = "guardrail_webhook"
_WARMUP_KEY = "guardrail_webhook_warmup"
STARTUP_SNAPSHOT_SECONDS = 60.0  # how long the start-up listing stands in for Guardrails the index has not seen


def webhook_server(config: WebhookConfig) -> kopf.WebhookServer:
    """kopf's HTTPS server for admission reviews, on the mounted certificate when there is one."""
    if config.cert_dir is None:
        return kopf.WebhookServer(addr=config.addr, port=config.port, host=config.host)
    cert_dir = Path(config.cert_dir)
    return kopf.WebhookServer(
        addr=config.addr,
        port=config.port,
        certfile=cert_dir / "tls.crt",
        pkeyfile=cert_dir / "tls.key",
        file_check_interval=30,
    )


@dataclass
class Warmup:
    """The Guardrails listed at start-up, standing in (until `until`, monotonic) for those the index has not
    seen yet; `seen` is filled by the index handler."""

    snapshot: dict[str, list[Target]]
    until: float
    seen: set[tuple[str, str]] = field(default_factory=set)

    def targets(self, namespace: str, indexed: Iterable[Target], now: float) -> list[Target]:
        """The index's Targets of `namespace`, plus listed ones it has not seen (before `until`)."""
        found = list(indexed)
        if now >= self.until:
            return found
        names = {t.name for t in found}
        return found + [
            t for t in self.snapshot.get(namespace, []) if t.name not in names and (namespace, t.name) not in self.seen
        ]


def targets_by_namespace(items: Iterable[Mapping[str, Any]]) -> dict[str, list[Target]]:
    """Targets of listed Guardrails by namespace; one that does not parse selects no pods. Pure."""
    out: dict[str, list[Target]] = {}
    for item in items:
        try:
            guardrail = Guardrail.model_validate(item)
        except ValidationError:
            continue
        out.setdefault(str(guardrail.metadata.get("namespace", "")), []).append(Target.from_guardrail(guardrail))
    return out


def _startup_snapshot(logger: kopf.Logger) -> dict[str, list[Target]]:
    """The Guardrails of the watched namespaces (GUARDRAIL_WATCH_NAMESPACES; empty: all), listed once."""
    namespaces: list[str | None] = list(watch_namespaces(os.environ)) or [None]
    try:
        kube = KubeClient(load_api_client(os.environ.get("KUBECONFIG")), "guardrail-webhook")
        items = [item for ns in namespaces for item in kube.list("Guardrail", ns)]
    except Exception as exc:  # best effort: the config loaders and the API client raise many types
        logger.warning(f"could not list Guardrails at start-up; injection waits for the watch: {exc}")
        return {}
    return targets_by_namespace(items)


def configure_webhook(*, settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Read the configuration once; serve admission reviews when enabled."""
    config = WebhookConfig.from_env(os.environ)
    memo[_MEMO_KEY] = config
    if not config.enabled:
        logger.info("sidecar injection webhook disabled (GUARDRAIL_WEBHOOK_ENABLED is not true)")
        return
    memo[_WARMUP_KEY] = Warmup(_startup_snapshot(logger), time.monotonic() + STARTUP_SNAPSHOT_SECONDS)
    settings.admission.server = webhook_server(config)
    settings.admission.managed = None  # the chart (or the test) owns the MutatingWebhookConfiguration
    logger.info(f"serving the sidecar injection webhook on {config.addr}:{config.port}/{WEBHOOK_ID}")


def guardrail_targets(
    *,
    name: str,
    namespace: str | None,
    spec: kopf.Spec,
    status: kopf.Status,
    logger: kopf.Logger,
    memo: kopf.Memo | None = None,
    **_: Any,
) -> dict[str, Target]:
    """Guardrails by namespace; one that does not parse selects no pods (its status says why)."""
    warmup = None if memo is None else memo.get(_WARMUP_KEY)
    if isinstance(warmup, Warmup):
        warmup.seen.add((namespace or "", name))
    raw = {"metadata": {"name": name, "namespace": namespace}, "spec": dict(spec), "status": dict(status)}
    try:
        guardrail = Guardrail.model_validate(raw)
    except ValidationError as exc:
        errors = exc.error_count()
        logger.warning(f"Guardrail {namespace}/{name} is invalid and selects no pods: {errors} errors")
        return {}
    return {namespace or "": Target.from_guardrail(guardrail)}


def decide(
    body: Mapping[str, Any], targets: Iterable[Target], config: WebhookConfig, allow_opt_out: bool = True
) -> Decision:
    """`inject` with the failure policy applied to unexpected errors (Fail denies, Ignore admits as is).

    A denial (strict namespaces: a selected Pod that cannot get its sidecar) raises `kopf.AdmissionError`.
    """
    try:
        decision = inject(dict(body), targets, config.sidecar, allow_opt_out=allow_opt_out)
    except Exception as exc:  # a bug here must follow the configured policy, not reach the API server as a 500
        if config.failure_policy == "Fail" or not allow_opt_out:
            raise kopf.AdmissionError(f"guardrail sidecar injection failed: {exc}", code=500) from exc
        return Decision(None, f"injection failed: {exc}", warnings=(f"guardrail sidecar not injected: {exc}",))
    if decision.denied:
        raise kopf.AdmissionError(
            f"guardrail sidecar required in this namespace (guardrails.dev/allow-opt-out=false): {decision.reason}",
            code=403,
        )
    return decision


def inject_sidecar(
    *,
    body: kopf.Body,
    patch: kopf.Patch,
    warnings: list[str],
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """Add the scoring sidecar to a Pod that a Guardrail in its namespace selects."""
    _mutate(body, patch, warnings, memo, logger, kwargs, allow_opt_out=True)


def inject_sidecar_strict(
    *,
    body: kopf.Body,
    patch: kopf.Patch,
    warnings: list[str],
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """As `inject_sidecar`, for namespaces that do not allow opting out: the sidecar or a denial. An UPDATE
    that would change a running Pod's sidecar (its image) is refused."""
    if kwargs.get("operation") == "UPDATE":
        old = kwargs.get("old")
        refusal = None if old is None else sidecar_update_refusal(dict(old), dict(body))
        if refusal is not None:
            logger.info(f"update of {body.metadata.namespace}/{body.metadata.name}: denied: {refusal}")
            raise kopf.AdmissionError(f"{refusal} (guardrails.dev/allow-opt-out=false)", code=403)
        return
    _mutate(body, patch, warnings, memo, logger, kwargs, allow_opt_out=False)


def _mutate(
    body: kopf.Body,
    patch: kopf.Patch,
    warnings: list[str],
    memo: kopf.Memo,
    logger: kopf.Logger,
    kwargs: Mapping[str, Any],
    allow_opt_out: bool,
) -> None:
    config: WebhookConfig = memo.get(_MEMO_KEY) or WebhookConfig.from_env(os.environ)
    index: kopf.Index[str, Target] = kwargs["guardrail_targets"]  # kopf passes each index as a kwarg named by its id
    namespace = body.metadata.namespace or ""
    targets: Iterable[Target] = index.get(namespace, [])
    warmup = memo.get(_WARMUP_KEY)
    if isinstance(warmup, Warmup):
        targets = warmup.targets(namespace, targets, time.monotonic())
    try:
        decision = decide(body, targets, config, allow_opt_out)
    except kopf.AdmissionError as exc:
        logger.info(f"sidecar injection for {namespace}/{body.metadata.name or '(generated)'}: denied: {exc}")
        raise
    warnings.extend(decision.warnings)
    logger.info(f"sidecar injection for {namespace}/{body.metadata.name or '(generated)'}: {decision.reason}")
    if decision.pod is not None:
        mutated = decision.pod
        patch.fns.append(lambda pod: _replace(pod, mutated))


def _replace(pod: kopf.RawBody, mutated: Pod) -> None:
    raw = cast(dict[str, Any], pod)  # kopf types the body as a TypedDict; it is a plain dict
    raw.clear()
    raw.update(mutated)


# Registered with kopf's default registry on import; the names above keep their own signatures for tests.
kopf.on.startup()(configure_webhook)
kopf.index(GROUP, VERSION, PLURAL, id="guardrail_targets")(guardrail_targets)
kopf.on.mutate("", "v1", "pods", id=WEBHOOK_ID, operations=["CREATE"], side_effects=False)(inject_sidecar)
kopf.on.mutate("", "v1", "pods", id=STRICT_WEBHOOK_ID, operations=["CREATE", "UPDATE"], side_effects=False)(
    inject_sidecar_strict
)
