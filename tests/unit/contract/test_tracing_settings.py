"""Which OTEL_* settings turn tracing on, and which are refused with a message naming the variable."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from guardrail_contract.tracing import TracingConfigError, TracingSettings, capture_content, configure

ENDPOINT = "http://collector:4318"


@pytest.mark.parametrize(
    ("env", "exporters", "protocol"),
    [
        ({}, (), "http/protobuf"),  # off by default
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ("otlp",), "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ENDPOINT + "/v1/traces"}, ("otlp",), "http/protobuf"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",), "http/protobuf"),  # the SDK's default endpoint
        ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, ("otlp", "console"), "http/protobuf"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, (), "http/protobuf"),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, (), "http/protobuf"),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",), "http/protobuf"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ("otlp",), "grpc"),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            ("otlp",),
            "http/protobuf",
        ),  # the traces-specific variable wins
    ],
)
def test_standard_variables_decide_whether_and_how_traces_are_exported(
    env: dict[str, str], exporters: tuple[str, ...], protocol: str
) -> None:
    settings = TracingSettings.from_env(env)
    assert settings.exporters == exporters
    assert settings.enabled == bool(exporters)
    assert settings.protocol == protocol


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ],
)
def test_unusable_values_are_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(TracingConfigError, match=named):
        TracingSettings.from_env(env)


def test_user_text_is_captured_only_when_explicitly_enabled() -> None:
    assert capture_content({}) is False
    assert capture_content({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "1"}) is False
    assert capture_content({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "True"}) is True


def test_off_installs_no_provider() -> None:
    before = trace.get_tracer_provider()
    assert configure("svc", {"OTEL_TRACES_EXPORTER": "none"}) is None
    assert trace.get_tracer_provider() is before
