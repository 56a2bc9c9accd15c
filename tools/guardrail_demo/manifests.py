"""The demo's Guardrail manifests: read from `examples/`, placed in the demo's namespace, and their revision. Pure
apart from reading the file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.reconcile.revision import guardrail_revision


def load(path: Path) -> dict[str, Any]:
    manifest = yaml.safe_load(path.read_text())
    if not isinstance(manifest, dict) or manifest.get("kind") != "Guardrail":
        raise ValueError(f"{path} does not hold one Guardrail")
    return manifest


def localized(manifest: dict[str, Any], namespace: str, prometheus_url: str | None) -> dict[str, Any]:
    """The manifest in `namespace`, its canary analysis (when it has one) querying the local Prometheus."""
    out = copy.deepcopy(manifest)
    out["metadata"]["namespace"] = namespace
    analysis = ((out.get("spec") or {}).get("rollout") or {}).get("analysis") or {}
    if prometheus_url and "prometheus" in analysis:
        analysis["prometheus"] = {"url": prometheus_url}
    return out


def revision(manifest: dict[str, Any]) -> str:
    """The revision the operator will compute for this manifest's spec."""
    parsed = Guardrail.model_validate({"metadata": manifest.get("metadata", {}), "spec": manifest["spec"]})
    return guardrail_revision(parsed.spec)
