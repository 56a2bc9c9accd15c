"""Tracing for injected sidecars: the operator's GUARDRAIL_SIDECAR_OTEL becomes the sidecar's OTEL_* variables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.settings import WebhookConfig, WebhookConfigError
from guardrail_operator.webhook.injection import SIDECAR_NAME, Target, inject


def target() -> Target:
    spec = {
        "selector": {"matchLabels": {"app": "support-bot"}},
        "models": {"repository": {"uri": "s3://models/guardrails"}},
        "proxy": {"listenPort": 8000, "upstreamPort": 8080},
    }
    return Target.from_guardrail(
        Guardrail.model_validate({"metadata": {"name": "support-bot", "namespace": "shop"}, "spec": spec})
    )


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "shop", "labels": {"app": "support-bot"}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }


def sidecar_of(p: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in p["spec"].get("initContainers", []) + p["spec"]["containers"] if c["name"] == SIDECAR_NAME
    )
    return found


OTEL = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
}


def test_the_injected_sidecar_gets_the_configured_otel_variables() -> None:
    settings = WebhookConfig.from_env({"GUARDRAIL_SIDECAR_OTEL": json.dumps(OTEL)}).sidecar
    decision = inject(pod(), [target()], settings)
    assert decision.pod is not None
    env = sidecar_of(decision.pod)["env"]
    assert env[0]["name"] == "GUARDRAIL_CONFIG"  # the sidecar's own variables first, untouched
    assert [e for e in env if e["name"].startswith("OTEL_")] == [
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": OTEL["OTEL_EXPORTER_OTLP_ENDPOINT"]},
        {"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_traceidratio"},
    ]
    # Re-invocation (strict namespaces compare the sidecar exactly): still recognised as ours.
    again = inject(decision.pod, [target()], settings, allow_opt_out=False)
    assert again.reason == "sidecar already injected"


def test_without_the_setting_the_sidecar_has_no_otel_variables() -> None:
    decision = inject(pod(), [target()], WebhookConfig.from_env({}).sidecar)
    assert decision.pod is not None
    assert not [e for e in sidecar_of(decision.pod)["env"] if e["name"].startswith("OTEL_")]


@pytest.mark.parametrize(
    "raw",
    ["not json", '["OTEL_X"]', '{"GUARDRAIL_CONFIG": "/etc/other.yaml"}', '{"OTEL_SERVICE_NAME": 3}'],
)
def test_anything_but_otel_names_to_strings_is_refused(raw: str) -> None:
    with pytest.raises(WebhookConfigError, match="GUARDRAIL_SIDECAR_OTEL"):
        WebhookConfig.from_env({"GUARDRAIL_SIDECAR_OTEL": raw})
