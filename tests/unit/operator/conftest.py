"""Fixtures for the operator's unit tests: the example Guardrail and an in-memory API server."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_operator.clients.k8s import CHILD_KINDS
from guardrail_operator.errors import Conflict, NotFound

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "guardrail.yaml"


def example_body(**spec_overrides: Any) -> dict[str, Any]:
    """The repository's example Guardrail as the API server would deliver it (uid, generation set)."""
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"].update({"namespace": "shop", "uid": "0a1b2c3d-0000-4000-8000-000000000001", "generation": 1})
    body["spec"].update(spec_overrides)
    return body


class FakeKube:
    """Just enough of the API server: objects by (kind, namespace, name), resourceVersions, write counts."""

    field_manager = "guardrail-operator"

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.writes_by_verb: dict[str, int] = {}
        self._rv = itertools.count(1)

    def _count(self, verb: str) -> None:
        self.writes_by_verb[verb] = self.writes_by_verb.get(verb, 0) + 1

    def writes(self) -> int:
        return sum(self.writes_by_verb.values())

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError:
            raise NotFound(404, "NotFound", f"{kind} {name} not found") from None

    def list(self, kind: str, namespace: str | None, label_selector: str = "") -> list[dict[str, Any]]:
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and (namespace is None or ns == namespace)
            and all(o["metadata"].get("labels", {}).get(a) == b for a, b in wanted.items())
        ]

    def list_children(self, namespace: str, label_selector: str) -> dict[tuple[str, str], dict[str, Any]]:
        return {(k, o["metadata"]["name"]): o for k in CHILD_KINDS for o in self.list(k, namespace, label_selector)}

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._count("apply")
        current = self.objects.get((manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"]))
        obj = copy.deepcopy(manifest)
        if current is not None and "status" in current:
            obj["status"] = current["status"]
        return self.put(obj)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._count("delete")
        self.objects.pop((kind, namespace, name), None)

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self._count("status")
        obj = self.objects[(kind, namespace, name)]
        status = obj.setdefault("status", {})
        for key, value in patch["status"].items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = value
        return self.put(obj)

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._count("create")
        meta = manifest["metadata"]
        if "generateName" in meta:
            meta = {**meta, "name": meta["generateName"] + str(len(self.objects))}
        key = (manifest["kind"], meta.get("namespace", ""), meta["name"])
        if key in self.objects:
            raise Conflict(409, "AlreadyExists", "exists")
        return self.put({**copy.deepcopy(manifest), "metadata": meta})

    def replace(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._count("replace")
        meta = manifest["metadata"]
        current = self.objects.get((manifest["kind"], meta.get("namespace", ""), meta["name"]))
        if current is None:
            raise NotFound(404, "NotFound", "gone")
        if current["metadata"]["resourceVersion"] != meta.get("resourceVersion"):
            raise Conflict(409, "Conflict", "the object has been modified")
        return self.put(copy.deepcopy(manifest))

    def mark_ready(self, kind: str, namespace: str, name: str) -> None:
        """What kube-controller-manager and kwok would report once every pod is ready."""
        obj = self.objects[(kind, namespace, name)]
        replicas = obj["spec"].get("replicas", 1)
        obj["metadata"]["generation"] = obj["metadata"].get("generation", 1)
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True"}],
        }


MakeBody = Callable[..., dict[str, Any]]


@pytest.fixture
def make_body() -> MakeBody:
    """`make_body(**spec_overrides)`: the example Guardrail with some spec fields replaced."""
    return example_body


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def new_kube() -> Callable[[], FakeKube]:
    return FakeKube


@pytest.fixture
def body() -> dict[str, Any]:
    return example_body()
