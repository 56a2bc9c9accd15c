"""Pinned versions of the collector modules (Go module proxy) and the components built into it."""

from __future__ import annotations

COLLECTOR = "0.165.0"  # go.opentelemetry.io/collector (otelcol, service, otlpreceiver)
CONFMAP = "1.71.0"  # go.opentelemetry.io/collector/confmap: stable modules carry their own 1.x version
CONTRIB = "0.165.1"  # github.com/open-telemetry/opentelemetry-collector-contrib (fileexporter)
GO_MIN = (1, 26)  # the go directive of the collector modules; older toolchains fetch a newer one via the proxy

# module -> version: everything the wrapper module requires directly (the rest comes from their go.mod files).
REQUIRES = {
    "go.opentelemetry.io/collector/otelcol": f"v{COLLECTOR}",
    "go.opentelemetry.io/collector/service": f"v{COLLECTOR}",
    "go.opentelemetry.io/collector/receiver/otlpreceiver": f"v{COLLECTOR}",
    "go.opentelemetry.io/collector/confmap": f"v{CONFMAP}",
    "go.opentelemetry.io/collector/confmap/provider/fileprovider": f"v{CONFMAP}",
    "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter": f"v{CONTRIB}",
}
