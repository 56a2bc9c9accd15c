"""The collector the tracing tests use is a real OTLP receiver: the OpenTelemetry SDK exports to it over both
OTLP transports and every span comes back out of its file exporter, tree and attributes intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind

from guardrail_otel.collector import Collector

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_sent_over_otlp_come_back_from_the_collector(tmp_path: Path, protocol: str) -> None:
    with Collector(tmp_path) as collector:
        exporter: SpanExporter = (
            GrpcExporter(endpoint=collector.grpc_endpoint, insecure=True)
            if protocol == "grpc"
            else HttpExporter(endpoint=collector.http_endpoint + "/v1/traces")
        )
        provider = TracerProvider(resource=Resource.create({"service.name": f"probe-{protocol}"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("probe")
        with (
            tracer.start_as_current_span("outer", kind=SpanKind.SERVER, attributes={"n": 3, "ok": True}) as outer,
            tracer.start_as_current_span("inner", attributes={"names": ["a", "b"]}),
        ):
            pass
        provider.shutdown()
        spans = collector.wait_for_spans(lambda s: len(s) >= 2)
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"outer", "inner"}
    assert by_name["outer"].service == f"probe-{protocol}"
    assert by_name["outer"].kind == "SERVER"
    assert by_name["outer"].span_id == format(outer.get_span_context().span_id, "016x")
    assert by_name["inner"].parent_span_id == by_name["outer"].span_id
    assert by_name["outer"].attributes == {"n": 3, "ok": True}
    assert by_name["inner"].attributes == {"names": ["a", "b"]}
