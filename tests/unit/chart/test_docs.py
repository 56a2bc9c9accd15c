"""The quickstart's commands and manifests work with the chart and the Guardrail model as they are."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.webhook.injection import PORT_NAME
from tests.unit.chart.render import one, render

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = (ROOT / "docs" / "quickstart-kind.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", QUICKSTART, flags=re.S)


def _commands() -> list[str]:
    """Shell commands of the quickstart, with continuation lines and quoted newlines joined."""
    out: list[str] = []
    pending = ""
    for line in "\n".join(_blocks("sh")).replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.count("'") % 2 == 0:
            out.append(pending.strip())
            pending = ""
    return out


def _command(prefix: str) -> list[str]:
    found = [c for c in _commands() if c.startswith(prefix)]
    assert found, f"no `{prefix}` command in the quickstart"
    return shlex.split(found[0], comments=True)


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch, as `kubectl patch --type merge` applies it."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def test_kind_config_maps_the_demo_node_port_and_labels_the_pools() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    pools = {n.get("labels", {}).get("guardrails.dev/pool") for n in config["nodes"] if n["role"] == "worker"}
    assert pools == {"apps", "inference"}
    service = next(d for d in map(yaml.safe_load, _blocks("yaml")) if d.get("kind") == "Service")
    mapped = {m["containerPort"] for n in config["nodes"] for m in n.get("extraPortMappings", [])}
    assert service["spec"]["ports"][0]["nodePort"] in mapped


def test_the_quickstart_service_targets_the_injected_port() -> None:
    service = next(d for d in map(yaml.safe_load, _blocks("yaml")) if d.get("kind") == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == PORT_NAME


def test_the_cpu_patch_turns_the_example_into_a_valid_guardrail() -> None:
    patch_cmd = _command("kubectl patch guardrail")
    patch = json.loads(patch_cmd[patch_cmd.index("-p") + 1])
    example = yaml.safe_load((ROOT / "examples" / "guardrail.yaml").read_text())
    patched = Guardrail.model_validate(_merge(example, patch))
    assert "nvidia.com/gpu" not in patched.spec.triton.resources["limits"], "kind has no GPUs"
    assert patched.spec.triton.node_selector == {"guardrails.dev/pool": "inference"}


@pytest.mark.integration
def test_the_helm_install_command_is_accepted_by_the_chart() -> None:
    args = _command("helm install")
    sets = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--set")
    values: dict[str, Any] = {k: yaml.safe_load(v) for k, v in sets.items()}
    settings = one(render(values), "ConfigMap", "-settings")["data"]
    assert settings["GUARDRAIL_SIDECAR_IMAGE"] == "guardrail-sidecar:dev"
    assert settings["GUARDRAIL_SIDECAR_IMAGE_PULL_POLICY"] == "Never"
