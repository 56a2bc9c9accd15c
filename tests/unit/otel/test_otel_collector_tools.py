"""Pure parts of the collector tooling: the wrapper module, the wiring, reading the file exporter's output."""

from __future__ import annotations

import json
from pathlib import Path

from guardrail_otel.collector import Collector, parse_spans
from guardrail_otel.source import MAIN_GO, go_mod
from guardrail_otel.versions import COLLECTOR, CONTRIB, REQUIRES

# One line of the file exporter's output as the collector wrote it (trimmed to two spans).
LINE = json.dumps(
    {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "guardrail-sidecar"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "guardrail_sidecar"},
                        "spans": [
                            {
                                "traceId": "0808f9eb4125fb78ecc34547bf7d56ff",
                                "spanId": "028c34fbd4cfe9a8",
                                "parentSpanId": "1462bb9bb8fc15f2",
                                "flags": 256,
                                "name": "guardrail.verdict",
                                "kind": 1,
                                "startTimeUnixNano": "1796653802824458599",
                                "endTimeUnixNano": "1796653802824478388",
                                "attributes": [
                                    {"key": "guardrail.claims", "value": {"intValue": "2"}},
                                    {"key": "guardrail.score", "value": {"doubleValue": 0.25}},
                                    {"key": "guardrail.stream.stopped", "value": {"boolValue": True}},
                                    {
                                        "key": "gen_ai.response.finish_reasons",
                                        "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
                                    },
                                ],
                                "status": {},
                            },
                            {
                                "traceId": "0808f9eb4125fb78ecc34547bf7d56ff",
                                "spanId": "1462bb9bb8fc15f2",
                                "name": "POST /v1/chat/completions",
                                "kind": 2,
                                "startTimeUnixNano": "1796653802823716141",
                                "endTimeUnixNano": "1796653802824505288",
                                "status": {"code": 2},
                            },
                        ],
                    }
                ],
            }
        ]
    }
)


def test_spans_are_read_with_their_tree_and_typed_attributes() -> None:
    child, root = parse_spans(LINE + "\n\n" + LINE)[:2]
    assert (root.name, root.kind, root.parent_span_id, root.status) == (
        "POST /v1/chat/completions",
        "SERVER",
        "",
        "ERROR",
    )
    assert child.parent_span_id == root.span_id
    assert child.trace_id == root.trace_id
    assert child.kind == "INTERNAL"
    assert child.service == "guardrail-sidecar"
    assert child.attributes == {
        "guardrail.claims": 2,  # OTLP JSON sends 64-bit ints as strings
        "guardrail.score": 0.25,
        "guardrail.stream.stopped": True,
        "gen_ai.response.finish_reasons": ["stop"],
    }
    assert len(parse_spans(LINE + "\n" + LINE)) == 4


def test_the_wrapper_module_pins_every_component() -> None:
    mod = go_mod()
    assert f"go.opentelemetry.io/collector/receiver/otlpreceiver v{COLLECTOR}" in mod
    assert f"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter v{CONTRIB}" in mod
    assert mod.count("\t") == len(REQUIRES)


def test_the_collector_wires_only_the_otlp_receiver_and_the_file_exporter() -> None:
    factories = [line.strip() for line in MAIN_GO.splitlines() if "MakeFactoryMap" in line]
    assert any("otlpreceiver.NewFactory()" in f for f in factories)
    assert any("fileexporter.NewFactory()" in f for f in factories)
    assert sum("NewFactory()" in f for f in factories) == 2  # processors, extensions, connectors: none
    assert f'"{COLLECTOR}"' in MAIN_GO


def test_the_config_routes_traces_from_otlp_to_the_file(tmp_path: Path) -> None:
    collector = Collector(tmp_path)
    config = collector.config()
    assert config["service"]["pipelines"] == {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}
    assert config["exporters"]["file"]["path"] == str(collector.output)
    env = collector.otel_env("svc", "grpc")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://127.0.0.1:{collector.grpc_port}"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_SERVICE_NAME"] == "svc"
