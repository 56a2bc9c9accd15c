"""Follow the Guardrail's status and keep the local sidecar's config file routed the same way.

This is what the sidecar's own Kubernetes watch does in a pod; the demo does it instead so the revisions'
endpoints can be pointed at the local processes (see `sidecar_config`).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrail_demo.kube import Kube
from guardrail_demo.sidecar_config import LocalEndpoints, local_config
from guardrail_sidecar.config import ConfigError, RevisionConfig, SidecarConfig
from guardrail_sidecar.k8s_watch import status_canary, status_stable

log = logging.getLogger("guardrail.demo")
CONFIG_LABELS = "app.kubernetes.io/component=scoring-config"
REVISION_KEY, SIDECAR_KEY = "revision.yaml", "sidecar.yaml"


@dataclass(frozen=True)
class Routing:
    stable: str
    canary: str | None
    weight: int


def selector(name: str, revision: str) -> str:
    return f"guardrails.dev/guardrail={name},guardrails.dev/revision={revision},{CONFIG_LABELS}"


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Follower:
    """Polls the Guardrail; `sync()` once writes the config, `start()` keeps doing it in a thread."""

    def __init__(self, kube: Kube, namespace: str, name: str, local: LocalEndpoints, path: Path) -> None:
        self.kube, self.namespace, self.name, self.local, self.path = kube, namespace, name, local, path
        self.routing: Routing | None = None
        self.guardrail: dict[str, Any] | None = None
        self._known: dict[str, tuple[RevisionConfig, SidecarConfig]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def revision(self, revision: str) -> tuple[RevisionConfig, SidecarConfig] | None:
        """That revision's (revision.yaml, sidecar.yaml) from the operator's ConfigMap, cached."""
        if revision not in self._known:
            for data in self.kube.configmap_data(self.namespace, selector(self.name, revision)):
                try:
                    parsed = (
                        RevisionConfig.from_yaml(data[REVISION_KEY]),
                        SidecarConfig.from_yaml(data[SIDECAR_KEY]),
                    )
                except (KeyError, ConfigError) as exc:
                    log.warning("unusable revision ConfigMap for %s: %s", revision, exc)
                    continue
                self._known[revision] = parsed
        return self._known.get(revision)

    def sync(self) -> bool:
        """Read the status, rewrite the config when the routing changed; False while nothing can be written."""
        guardrail = self.kube.guardrail(self.namespace, self.name)
        self.guardrail = guardrail
        if guardrail is None:
            return False
        stable_rev = status_stable(guardrail)
        canary_rev, weight = status_canary(guardrail)
        if stable_rev is None:
            return False
        routing = Routing(stable_rev, canary_rev, weight)
        if routing == self.routing:
            return True
        stable = self.revision(stable_rev)
        canary = self.revision(canary_rev) if canary_rev else None
        if stable is None:
            return False
        config = local_config(stable[1], stable[0], canary[0] if canary else None, weight if canary else 0, self.local)
        write_atomically(self.path, config.to_yaml())
        self.routing = Routing(stable_rev, canary_rev if canary else None, weight if canary else 0)
        return True

    def start(self, interval: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync()
                except Exception as exc:  # the API server restarting, a network blip: retry next round
                    log.warning("following the Guardrail failed: %s", exc)

        self._thread = threading.Thread(target=loop, daemon=True, name="follow-guardrail")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
