"""Helpers for operator integration tests: the operator as a real process against the local control plane.

Each test gets its own namespace; the operators it starts watch only that namespace and elect their
leader through a Lease in it, so tests never see each other's objects. Intervals are short: a 2 s drift
timer and a 3 s lease.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster, free_port
from guardrail_operator.clients.k8s import KubeClient
from guardrail_operator.errors import NotFound

RESYNC_SECONDS = 2.0
LEASE_SECONDS = 3.0
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class OperatorProcess:
    """One `guardrail-operator` process, its /metrics and /healthz, and its log."""

    def __init__(
        self, cluster: LocalCluster, namespace: str, identity: str, log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.identity = identity
        self.port = free_port()
        self.log_path = log_dir / f"operator-{identity}.log"
        overrides = env or {}
        env = {
            **cluster.env,
            "GUARDRAIL_WATCH_NAMESPACES": namespace,
            "GUARDRAIL_LEASE_NAMESPACE": namespace,
            "GUARDRAIL_IDENTITY": identity,
            "GUARDRAIL_METRICS_HOST": "127.0.0.1",
            "GUARDRAIL_METRICS_PORT": str(self.port),
            "GUARDRAIL_RESYNC_SECONDS": str(RESYNC_SECONDS),
            "GUARDRAIL_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
            "GUARDRAIL_LEASE_RENEW_SECONDS": "1",
            "GUARDRAIL_LEASE_RETRY_SECONDS": "0.5",
            "GUARDRAIL_PROBE_TIMEOUT_SECONDS": "0.5",
            **overrides,
        }
        env.pop("GUARDRAIL_WEBHOOK_ENABLED", None)
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "guardrail_operator.main"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(f"operator {identity} to serve /healthz", self.health, timeout=20)

    def health(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            pytest.fail(f"operator {self.identity} exited with {self.proc.returncode}:\n{self.log()}")
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
        except httpx.HTTPError:
            return None
        result: dict[str, Any] = response.json()
        return result

    def is_leader(self) -> bool:
        health = self.health()
        return bool(health and health["leader"])

    def writes(self) -> float:
        """Sum of guardrail_operator_writes_total over all actions."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("guardrail_operator_writes_total")
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no cleanup, the lease is not released (a crashed or partitioned leader)."""
        self.proc.kill()
        self.proc.wait()


def example_guardrail(namespace: str, **spec: Any) -> dict[str, Any]:
    """The repository's example Guardrail in `namespace`, with some spec fields replaced."""
    body: dict[str, Any] = yaml.safe_load((REPO_ROOT / "examples" / "guardrail.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    body["spec"].update(spec)
    return body


def apply(cluster: LocalCluster, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))


def guardrail_status(kube: KubeClient, namespace: str, name: str = "support-bot") -> dict[str, Any]:
    try:
        status: dict[str, Any] = kube.get("Guardrail", namespace, name).get("status", {})
    except NotFound:
        return {}
    return status


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def healthy(kube: KubeClient, namespace: str) -> dict[str, Any] | None:
    """The Guardrail's status once it is Healthy, Ready and describes the current generation."""
    body = kube.get("Guardrail", namespace, "support-bot")
    status = body.get("status", {})
    ready = condition(status, "Ready").get("status") == "True"
    current = status.get("observedGeneration") == body["metadata"]["generation"]
    return status if status.get("phase") == "Healthy" and ready and current else None


def children(kube: KubeClient, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
    return kube.list_children(namespace, "app.kubernetes.io/managed-by=guardrail-operator")


def resource_versions(kube: KubeClient, namespace: str) -> dict[tuple[str, str], str]:
    """What changes when anyone writes an object's spec or data: resourceVersion, or for workloads (whose
    status the controllers keep updating) the generation."""
    versions = {}
    for key, obj in children(kube, namespace).items():
        meta = obj["metadata"]
        versions[key] = (
            f"gen {meta['generation']}" if key[0] in ("Deployment", "StatefulSet") else meta["resourceVersion"]
        )
    guardrail = kube.get("Guardrail", namespace, "support-bot")
    versions[("Guardrail", "support-bot")] = guardrail["metadata"]["resourceVersion"]
    return versions


def operator_writes_in_audit(cluster: LocalCluster, namespace: str, since: float) -> list[str]:
    """Write requests the operator (Python client or kopf) sent in `namespace` after `since` (epoch s)."""
    found = []
    for line in cluster.audit_log.read_text().splitlines():
        event = json.loads(line)
        agent = event.get("userAgent", "")
        if event.get("objectRef", {}).get("namespace") != namespace:
            continue
        if not (agent.startswith("OpenAPI-Generator") or agent.startswith("kopf")):
            continue
        if datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp() >= since:
            found.append(f"{event['verb']} {event['requestURI']}")
    return found
