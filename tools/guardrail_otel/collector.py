"""Run the built collector: OTLP in (gRPC and HTTP on free local ports), every span out to a JSON-lines file.

with Collector(folder) as collector:           # builds the collector first if it is not cached
    env = collector.otel_env("my-service")     # OTEL_* variables for a process to export to it
    ...
    spans = collector.wait_for_spans(lambda s: any(x.name == "POST /" for x in s))
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from guardrail_otel.build import ensure_built
from guardrail_otel.errors import StartupError

SPAN_KIND = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass(frozen=True)
class Span:
    """One span as the collector received it (OTLP JSON, flattened)."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status: str  # UNSET, OK, ERROR
    start_ns: int
    end_ns: int
    events: tuple[str, ...] = field(default=())


def _value(value: dict[str, Any]) -> Any:
    """An OTLP AnyValue as Python (ints arrive as strings in OTLP JSON)."""
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    for key in ("stringValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    return None


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items}


def parse_spans(text: str) -> list[Span]:
    """Every span in the file exporter's output (one OTLP/JSON export request per line)."""
    out: list[Span] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        for resource_spans in json.loads(line).get("resourceSpans", []):
            resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
            for scope_spans in resource_spans.get("scopeSpans", []):
                for s in scope_spans.get("spans", []):
                    out.append(
                        Span(
                            service=str(resource.get("service.name", "")),
                            name=s["name"],
                            kind=SPAN_KIND.get(int(s.get("kind", 0)), str(s.get("kind"))),
                            trace_id=s["traceId"],
                            span_id=s["spanId"],
                            parent_span_id=s.get("parentSpanId", ""),
                            attributes=_attributes(s.get("attributes", [])),
                            status={0: "UNSET", 1: "OK", 2: "ERROR"}.get(int(s.get("status", {}).get("code", 0)), "?"),
                            start_ns=int(s.get("startTimeUnixNano", 0)),
                            end_ns=int(s.get("endTimeUnixNano", 0)),
                            events=tuple(e.get("name", "") for e in s.get("events", [])),
                        )
                    )
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Collector:
    """A collector process writing what it receives to `<folder>/spans.jsonl`; its log is `<folder>/otelcol.log`."""

    def __init__(self, folder: Path, start_timeout: float = 60.0) -> None:
        self.folder = folder
        self.output = folder / "spans.jsonl"
        self.log = folder / "otelcol.log"
        self.grpc_port = _free_port()
        self.http_port = _free_port()
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def config(self) -> dict[str, Any]:
        return {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
                        "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
                    }
                }
            },
            "exporters": {"file": {"path": str(self.output), "flush_interval": "100ms"}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
        }

    def otel_env(self, service: str, protocol: str = "http/protobuf") -> dict[str, str]:
        """OTEL_* variables that make an OpenTelemetry SDK export its traces here, promptly."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.grpc_endpoint if protocol == "grpc" else self.http_endpoint,
            "OTEL_SERVICE_NAME": service,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    def start(self) -> None:
        binary = ensure_built()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "otelcol.json"  # JSON is YAML: the file provider reads it
        config.write_text(json.dumps(self.config(), indent=2))
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(binary), "--config", f"file:{config}"], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
            )
        deadline = time.monotonic() + self._start_timeout
        while not (_listening(self.grpc_port) and _listening(self.http_port)):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StartupError(f"the collector did not start listening:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def spans(self) -> list[Span]:
        """Everything received so far (the exporter flushes every 100 ms)."""
        return parse_spans(self.output.read_text()) if self.output.is_file() else []

    def wait_for_spans(self, done: Callable[[list[Span]], bool], timeout: float = 30.0) -> list[Span]:
        """Poll `spans()` until `done(spans)` holds; the spans so far either way (the caller asserts on them)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if done(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
