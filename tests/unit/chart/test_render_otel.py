"""`sidecar.otelEnv` reaches the webhook as GUARDRAIL_SIDECAR_OTEL, and only OTEL_* names are accepted."""

from __future__ import annotations

import pytest

from guardrail_operator.settings import WebhookConfig
from tests.unit.chart.render import RenderError, one, render

ENDPOINT = "http://otel-collector.observability:4318"


def test_the_otel_variables_of_the_values_are_the_injected_sidecars() -> None:
    data = one(render({"sidecar.otelEnv": {"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}}), "ConfigMap", "-settings")["data"]
    assert WebhookConfig.from_env(data).sidecar.otel_env == {"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}
    default = one(render(), "ConfigMap", "-settings")["data"]
    assert WebhookConfig.from_env(default).sidecar.otel_env == {}


def test_the_schema_refuses_other_names() -> None:
    with pytest.raises(RenderError, match=r"GUARDRAIL_CONFIG.* does not match pattern .*OTEL_"):
        render({"sidecar.otelEnv": {"GUARDRAIL_CONFIG": "/etc/other.yaml"}})
