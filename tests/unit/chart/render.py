"""Render the chart with the project's helm (`helm template`), cached per set of values."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_devcluster import build
from guardrail_devcluster.versions import KUBERNETES

CHART = Path(__file__).resolve().parents[3] / "charts" / "guardrail-operator"
RELEASE, NAMESPACE = "gr", "guardrail-system"
Manifest = dict[str, Any]


def helm() -> str:
    path = build.binary("helm")
    if not path.exists():
        pytest.skip("helm is not built yet: run `make cluster` (it builds helm with the control plane)")
    return str(path)


@functools.cache
def _render(values_json: str, extra: tuple[str, ...]) -> str:
    cmd = [helm(), "template", RELEASE, str(CHART), "-n", NAMESPACE, "--kube-version", KUBERNETES, *extra]
    for key, value in json.loads(values_json).items():
        cmd += ["--set-json", f"{key}={json.dumps(value)}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RenderError(result.stderr)
    return result.stdout


class RenderError(Exception):
    """helm template refused the values (schema or template error); the message is helm's."""


def render_text(values: dict[str, Any] | None = None, *extra: str) -> str:
    return _render(json.dumps(values or {}, sort_keys=True), extra)


def render(values: dict[str, Any] | None = None, *extra: str) -> list[Manifest]:
    """Every object `helm template` prints for these `--set-json` values (dotted keys)."""
    return [d for d in yaml.safe_load_all(render_text(values, *extra)) if d]


def one(manifests: list[Manifest], kind: str, suffix: str = "") -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} named *{suffix}, got {[m['metadata']['name'] for m in found]}"
    return found[0]


def kinds(manifests: list[Manifest]) -> list[str]:
    return sorted(m["kind"] for m in manifests)
