"""The one module that talks to the Kubernetes API.

`KubeClient` wraps a `kubernetes.client.ApiClient` created once at start-up (tests build one from their
kubeconfig). Children are written with server-side apply under one field manager; reads are label-selected
lists. Every request is counted, so tests and metrics can prove that a no-op reconcile writes nothing.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import urllib3
from kubernetes import client as kclient
from kubernetes import config as kconfig

from guardrail_contract.names import GROUP, PLURAL, VERSION
from guardrail_operator.errors import Conflict, Invalid, KubeError, NotFound

Manifest = dict[str, Any]

# kind -> (API prefix, plural): every kind the operator reads or writes.
KINDS: dict[str, tuple[str, str]] = {
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Service": ("/api/v1", "services"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "Guardrail": (f"/apis/{GROUP}/{VERSION}", PLURAL),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
    "Event": ("/api/v1", "events"),
    "Job": ("/apis/batch/v1", "jobs"),  # knowledge-base ingestion (`kb_job`), not a diffed child
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    # Only created (the generated Qdrant API key), never read: the operator holds no read access to Secrets.
    "Secret": ("/api/v1", "secrets"),
}
# Kinds the operator only reads: the Pods of ingestion Jobs, for their termination message.
READ_KINDS: dict[str, tuple[str, str]] = {"Pod": ("/api/v1", "pods")}
CHILD_KINDS = ("Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet", "Deployment", "NetworkPolicy")
_ERRORS: dict[int, type[KubeError]] = {404: NotFound, 409: Conflict, 422: Invalid}


def load_api_client(kubeconfig: str | None = None) -> kclient.ApiClient:
    """An API client from a kubeconfig file, or the in-cluster service account when none is given."""
    configuration = kclient.Configuration()
    if kubeconfig:
        kconfig.load_kube_config(  # type: ignore[no-untyped-call]  # the loaders carry no annotations
            config_file=kubeconfig, client_configuration=configuration
        )
    else:
        try:
            kconfig.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except kconfig.ConfigException:
            kconfig.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = 32
    return kclient.ApiClient(configuration)


def _path(kind: str, namespace: str | None, name: str | None = None, subresource: str = "") -> str:
    prefix, plural = KINDS[kind] if kind in KINDS else READ_KINDS[kind]
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


class KubeClient:
    """Typed-by-kind access to the objects the operator manages; thread-safe."""

    def __init__(self, api: kclient.ApiClient, field_manager: str, timeout: float = 30.0) -> None:
        self._api = api
        self.field_manager = field_manager
        self._timeout = timeout
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # by HTTP method

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Manifest:
        """One API request; returns the decoded JSON body or raises a KubeError subclass."""
        with self._lock:
            self.requests[method] += 1
        serialized = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(*serialized, _request_timeout=self._timeout)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"{method} {path}: {exc}") from exc
        data: bytes = response.read()  # type: ignore[no-untyped-call]  # RESTResponse.read is unannotated
        decoded: Manifest = json.loads(data) if data else {}
        if response.status >= 400:
            message = str(decoded.get("message", data[:200] if data else ""))
            raise _ERRORS.get(response.status, KubeError)(
                response.status, str(decoded.get("reason", response.reason)), message
            )
        return decoded

    # --- reads

    def get(self, kind: str, namespace: str, name: str) -> Manifest:
        return self.request("GET", _path(kind, namespace, name))

    def list(self, kind: str, namespace: str | None, label_selector: str = "") -> list[Manifest]:
        query = [("labelSelector", label_selector)] if label_selector else []
        listed = self.request("GET", _path(kind, namespace), query)
        items: list[Manifest] = listed.get("items", [])
        for item in items:  # list items carry neither; the manifests we compare them with do
            item.setdefault("apiVersion", listed.get("apiVersion"))
            item.setdefault("kind", kind)
        return items

    def list_children(self, namespace: str, label_selector: str) -> dict[tuple[str, str], Manifest]:
        """Every child kind in `namespace` matching `label_selector`, keyed by (kind, name)."""
        found: dict[tuple[str, str], Manifest] = {}
        for kind in CHILD_KINDS:
            for item in self.list(kind, namespace, label_selector):
                found[(kind, item["metadata"]["name"])] = item
        return found

    # --- writes

    def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply under our field manager, taking over fields from conflicting managers."""
        meta = manifest["metadata"]
        query = [("fieldManager", self.field_manager), ("force", "true")]
        path = _path(manifest["kind"], meta.get("namespace"), meta["name"])
        return self.request("PATCH", path, query, manifest, "application/apply-patch+yaml")

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete with background propagation; an object already gone is not an error."""
        body = {"propagationPolicy": "Background"}
        try:
            self.request("DELETE", _path(kind, namespace, name), body=body)
        except NotFound:
            return

    def patch_status(self, kind: str, namespace: str, name: str, patch: Manifest) -> Manifest:
        """JSON merge patch of the status subresource."""
        path = _path(kind, namespace, name, "status")
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def create(self, manifest: Manifest) -> Manifest:
        meta = manifest["metadata"]
        return self.request("POST", _path(manifest["kind"], meta.get("namespace")), body=manifest)

    def replace(self, manifest: Manifest) -> Manifest:
        """PUT: fails with Conflict when `metadata.resourceVersion` is stale (optimistic concurrency)."""
        meta = manifest["metadata"]
        return self.request("PUT", _path(manifest["kind"], meta.get("namespace"), meta["name"]), body=manifest)

    def writes(self) -> int:
        """Write requests sent so far (POST, PUT, PATCH, DELETE)."""
        with self._lock:
            return sum(n for method, n in self.requests.items() if method != "GET")
