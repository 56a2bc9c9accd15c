"""Operator configuration, read once at start-up from `GUARDRAIL_*` environment variables.

This module is the one place the operator process reads and documents them (the webhook's are in
`WebhookConfig` below); the Helm chart's Deployment sets them.

| variable | default | meaning |
|---|---|---|
| `GUARDRAIL_WATCH_NAMESPACES` | (empty: all) | Namespaces to watch, comma-separated; empty: all. |
| `GUARDRAIL_RESYNC_SECONDS` | `60` | Drift-repair timer: each Guardrail is re-reconciled this often. |
| `GUARDRAIL_FIELD_MANAGER` | `guardrail-operator` | Server-side apply field manager of every child object. |
| `GUARDRAIL_LEADER_ELECTION` | `true` | Elect one active replica through a coordination.k8s.io Lease. |
| `GUARDRAIL_LEASE_NAME` | `guardrail-operator` | Name of that Lease. |
| `GUARDRAIL_LEASE_NAMESPACE` | `$POD_NAMESPACE`, else `default` | Namespace of that Lease. |
| `GUARDRAIL_LEASE_DURATION_SECONDS` | `15` | Lease validity; a standby takes over within it. |
| `GUARDRAIL_LEASE_RENEW_SECONDS` | `5` | How often the leader renews (must be below the duration). |
| `GUARDRAIL_LEASE_RETRY_SECONDS` | `2` | How often a standby checks the lease. |
| `GUARDRAIL_IDENTITY` | `$POD_NAME`, else `<hostname>-<pid>` | This replica's name in the Lease. |
| `GUARDRAIL_METRICS_HOST` | `0.0.0.0` | Address of the `/metrics` and `/healthz` server. |
| `GUARDRAIL_METRICS_PORT` | `8080` | Port of that server; `0` disables it. |
| `GUARDRAIL_PROBE_TIMEOUT_SECONDS` | `2` | Timeout of the health check of an external Qdrant. |
| `GUARDRAIL_FETCHER_IMAGE` | `rclone/rclone:1.71.2` | Init image copying models into Triton pods. |
| `GUARDRAIL_SIDECAR_IMAGE` | `ghcr.io/guardrails-dev/guardrail-sidecar:0.1.0` | Image of KB ingestion Jobs. |
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guardrail_operator.webhook.injection import SidecarSettings

# The sidecar image (the webhook's default too) carries the `guardrail` CLI that ingestion Jobs run.
KB_IMAGE = "ghcr.io/guardrails-dev/guardrail-sidecar:0.1.0"


class SettingsError(ValueError):
    """An environment variable has a value the operator cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    watch_namespaces: tuple[str, ...] = ()
    resync_seconds: float = 60.0
    field_manager: str = "guardrail-operator"
    leader_election: bool = True
    lease_name: str = "guardrail-operator"
    lease_namespace: str = "default"
    lease_duration_seconds: float = 15.0
    lease_renew_seconds: float = 5.0
    lease_retry_seconds: float = 2.0
    identity: str = "guardrail-operator"
    metrics_host: str = "0.0.0.0"  # noqa: S104 - the metrics port must be reachable by Prometheus in-cluster
    metrics_port: int = 8080
    probe_timeout_seconds: float = 2.0
    fetcher_image: str = "rclone/rclone:1.71.2"
    kb_image: str = KB_IMAGE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: the process environment); SettingsError names a bad variable."""
        env = os.environ if env is None else env
        default_identity = env.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        settings = cls(
            watch_namespaces=watch_namespaces(env),
            resync_seconds=_number(env, "GUARDRAIL_RESYNC_SECONDS", cls.resync_seconds),
            field_manager=env.get("GUARDRAIL_FIELD_MANAGER", cls.field_manager),
            leader_election=_flag(env, "GUARDRAIL_LEADER_ELECTION", cls.leader_election),
            lease_name=env.get("GUARDRAIL_LEASE_NAME", cls.lease_name),
            lease_namespace=env.get("GUARDRAIL_LEASE_NAMESPACE", env.get("POD_NAMESPACE", "default")),
            lease_duration_seconds=_number(env, "GUARDRAIL_LEASE_DURATION_SECONDS", cls.lease_duration_seconds),
            lease_renew_seconds=_number(env, "GUARDRAIL_LEASE_RENEW_SECONDS", cls.lease_renew_seconds),
            lease_retry_seconds=_number(env, "GUARDRAIL_LEASE_RETRY_SECONDS", cls.lease_retry_seconds),
            identity=env.get("GUARDRAIL_IDENTITY", default_identity),
            metrics_host=env.get("GUARDRAIL_METRICS_HOST", cls.metrics_host),
            metrics_port=int(_number(env, "GUARDRAIL_METRICS_PORT", cls.metrics_port)),
            probe_timeout_seconds=_number(env, "GUARDRAIL_PROBE_TIMEOUT_SECONDS", cls.probe_timeout_seconds),
            fetcher_image=env.get("GUARDRAIL_FETCHER_IMAGE", cls.fetcher_image),
            kb_image=env.get("GUARDRAIL_SIDECAR_IMAGE") or cls.kb_image,
        )
        if settings.lease_renew_seconds >= settings.lease_duration_seconds:
            raise SettingsError(
                "GUARDRAIL_LEASE_RENEW_SECONDS must be below GUARDRAIL_LEASE_DURATION_SECONDS, "
                "or the lease expires between renewals"
            )
        return settings


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool, error: type[SettingsError] = SettingsError) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise error(f"{name}={raw!r}: use true or false")


def watch_namespaces(env: Mapping[str, str]) -> tuple[str, ...]:
    """GUARDRAIL_WATCH_NAMESPACES, comma-separated; empty: all namespaces."""
    return tuple(ns.strip() for ns in env.get("GUARDRAIL_WATCH_NAMESPACES", "").split(",") if ns.strip())


def webhook_enabled(env: Mapping[str, str]) -> bool:
    """Whether to load the admission webhook at all (GUARDRAIL_WEBHOOK_ENABLED 1/true/yes; anything else: off).
    `WebhookConfig.from_env` reads the same variable strictly once the webhook module is loaded."""
    return env.get("GUARDRAIL_WEBHOOK_ENABLED", "").lower() in ("1", "true", "yes")


class WebhookConfigError(SettingsError):
    """A `GUARDRAIL_WEBHOOK_*` or `GUARDRAIL_SIDECAR_*` variable is malformed; the message names it."""


@dataclass(frozen=True)
class WebhookConfig:
    """How the webhook is served and what it injects.

    GUARDRAIL_WEBHOOK_ENABLED       serve the webhook (default false: a local operator needs no TLS)
    GUARDRAIL_WEBHOOK_ADDR          listen address (default 0.0.0.0)
    GUARDRAIL_WEBHOOK_PORT          listen port (default 9443)
    GUARDRAIL_WEBHOOK_CERT_DIR      folder with tls.crt and tls.key; unset: kopf generates a self-signed one
    GUARDRAIL_WEBHOOK_HOST          host name put in a self-signed certificate (dev only)
    GUARDRAIL_WEBHOOK_FAILURE_POLICY  Fail or Ignore, as in the webhook configuration: on an internal error,
                                    Fail denies the Pod, Ignore admits it without the sidecar (default Fail)
    GUARDRAIL_SIDECAR_IMAGE         image of the injected container
    GUARDRAIL_SIDECAR_IMAGE_PULL_POLICY  its pull policy (default IfNotPresent)
    GUARDRAIL_SIDECAR_RESOURCES     JSON {"requests": {...}, "limits": {...}}
    GUARDRAIL_SIDECAR_NATIVE        native sidecar: an init container with restartPolicy Always (default true)
    GUARDRAIL_SIDECAR_OTEL          JSON {"OTEL_...": "..."}: OpenTelemetry variables the injected sidecar gets
                                    (tracing is off in the sidecar without them; docs/tracing.md)
    """

    enabled: bool = False
    addr: str = "0.0.0.0"  # noqa: S104 - inside a pod the Service reaches us on the pod IP
    port: int = 9443
    cert_dir: str | None = None
    host: str | None = None
    failure_policy: str = "Fail"
    sidecar: SidecarSettings = field(default_factory=SidecarSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookConfig:
        defaults, sidecar_defaults = cls(), SidecarSettings()
        port_raw = env.get("GUARDRAIL_WEBHOOK_PORT") or str(defaults.port)
        if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
            raise WebhookConfigError(f"GUARDRAIL_WEBHOOK_PORT={port_raw!r}: expected a port number 1..65535")
        policy = env.get("GUARDRAIL_WEBHOOK_FAILURE_POLICY") or defaults.failure_policy
        if policy not in ("Fail", "Ignore"):
            raise WebhookConfigError(f"GUARDRAIL_WEBHOOK_FAILURE_POLICY={policy!r}: expected Fail or Ignore")
        resources: Any = sidecar_defaults.resources
        if raw := env.get("GUARDRAIL_SIDECAR_RESOURCES"):
            try:
                resources = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise WebhookConfigError(f"GUARDRAIL_SIDECAR_RESOURCES is not JSON: {exc}") from exc
            if not isinstance(resources, dict) or not set(resources) <= {"requests", "limits"}:
                raise WebhookConfigError("GUARDRAIL_SIDECAR_RESOURCES must be an object of requests/limits")
            resources = {k: {n: str(q) for n, q in v.items()} for k, v in resources.items()}
        otel_env = _otel_env(env.get("GUARDRAIL_SIDECAR_OTEL"))
        return cls(
            enabled=_flag(env, "GUARDRAIL_WEBHOOK_ENABLED", defaults.enabled, WebhookConfigError),
            addr=env.get("GUARDRAIL_WEBHOOK_ADDR") or defaults.addr,
            port=int(port_raw),
            cert_dir=env.get("GUARDRAIL_WEBHOOK_CERT_DIR") or None,
            host=env.get("GUARDRAIL_WEBHOOK_HOST") or None,
            failure_policy=policy,
            sidecar=SidecarSettings(
                image=env.get("GUARDRAIL_SIDECAR_IMAGE") or sidecar_defaults.image,
                image_pull_policy=env.get("GUARDRAIL_SIDECAR_IMAGE_PULL_POLICY") or sidecar_defaults.image_pull_policy,
                resources=resources,
                native=_flag(env, "GUARDRAIL_SIDECAR_NATIVE", sidecar_defaults.native, WebhookConfigError),
                otel_env=otel_env,
            ),
        )


def _otel_env(raw: str | None) -> dict[str, str]:
    """GUARDRAIL_SIDECAR_OTEL: an object of OTEL_* names to string values (nothing else: the injected sidecar's
    own variables are not the operator's to override)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise WebhookConfigError(f"GUARDRAIL_SIDECAR_OTEL is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k.startswith("OTEL_") and isinstance(v, str) for k, v in value.items()
    ):
        raise WebhookConfigError(
            "GUARDRAIL_SIDECAR_OTEL must be an object of OTEL_* names to strings, e.g. "
            '{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}'
        )
    return value
