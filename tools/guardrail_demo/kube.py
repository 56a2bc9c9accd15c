"""The demo's one door to the API server: kubectl for what the user would type, the Python client for polling."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from typing import Any

import yaml

from guardrail_contract.names import GROUP, GUARDRAIL_LABEL, PLURAL, REVISION_LABEL, VERSION
from guardrail_demo.errors import DemoError


class Kube:
    def __init__(self, kubectl: str, env: Mapping[str, str]) -> None:
        from kubernetes import client, config

        self.kubectl_path = kubectl
        self.env = dict(env)
        api = config.new_client_from_config(config_file=self.env.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_path, *args], input=stdin, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def apply(self, manifest: Mapping[str, Any]) -> str:
        """`kubectl apply -f -` of one object; its one-line answer."""
        return self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(dict(manifest))).stdout.strip()

    def guardrail(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    def configmap_data(self, namespace: str, selector: str) -> list[dict[str, str]]:
        """The `data` of every ConfigMap matching `selector`."""
        found = self.core.list_namespaced_config_map(namespace, label_selector=selector)
        return [dict(item.data or {}) for item in found.items]

    def ensure_volume(self, name: str, namespace: str, claim: str, size: str = "10Gi") -> None:
        """A hostPath PersistentVolume pre-bound to `claim` (a control plane without a provisioner needs one).

        A volume released by an earlier claim cannot bind again, so it is recreated.
        """
        found = self.kubectl("get", "pv", name, "-o", "jsonpath={.status.phase}", check=False)
        if found.returncode == 0 and found.stdout.strip() == "Released":
            self.kubectl("delete", "pv", name, "--wait=true", "--timeout=30s")
        elif found.returncode == 0:
            return
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "guardrail-demo"}},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": f"/var/lib/guardrail-demo/{name}"},
                    "claimRef": {"namespace": namespace, "name": claim},
                },
            }
        )

    def events(self, namespace: str, name: str, uid: str) -> list[tuple[str, str, str]]:
        """(event uid, reason, message) of the Events about that Guardrail object, oldest first."""
        found = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        items = [e for e in found.items if e.involved_object.uid == uid]
        items.sort(key=lambda e: _version(e.metadata.resource_version))  # creation order; timestamps are seconds
        return [(str(e.metadata.uid), str(e.reason or ""), str(e.message or "")) for e in items]

    def has_default_storage_class(self) -> bool:
        """Whether claims without a storage class get a volume provisioned (no: they wait for a bound volume)."""
        classes = self.kubectl("get", "storageclass", "-o", "json", check=False)
        if classes.returncode != 0:
            return False
        items = json.loads(classes.stdout).get("items") or []
        key = "storageclass.kubernetes.io/is-default-class"
        return any(((c.get("metadata") or {}).get("annotations") or {}).get(key) == "true" for c in items)

    def rendered_sidecar_yaml(self, namespace: str, name: str, revision: str) -> str | None:
        """`sidecar.yaml` of the operator's ConfigMap for that revision of the Guardrail (None until it exists)."""
        selector = f"{GUARDRAIL_LABEL}={name},{REVISION_LABEL}={revision},app.kubernetes.io/component=scoring-config"
        for data in self.configmap_data(namespace, selector):
            if "sidecar.yaml" in data:
                return data["sidecar.yaml"]
        return None


def _version(resource_version: str | None) -> int:
    """etcd's revision behind a resourceVersion (opaque to clients, but increasing), 0 when not a number."""
    return int(resource_version) if resource_version and resource_version.isdigit() else 0
