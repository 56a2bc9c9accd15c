"""The Go sources of the collector: a wrapper module and a `main` wiring only the components the tests need.

The official builder (`ocb`) generates the same shape; written out here so building needs nothing but `go`.
The collector's own telemetry is off (a no-op telemetry factory with a JSON logger on stderr), which keeps the
metrics and tracing SDKs of the default telemetry out of the build.
"""

from __future__ import annotations

from guardrail_otel.versions import COLLECTOR, GO_MIN, REQUIRES

MODULE = "guardrail.dev/otelcol-build"
BINARY = "otelcol-guardrail"

MAIN_GO = """\
// Program otelcol-guardrail: an OpenTelemetry Collector with the OTLP receiver and the file exporter only.
package main

import (
\t"context"
\t"os"

\t"go.uber.org/zap"

\t"go.opentelemetry.io/collector/component"
\t"go.opentelemetry.io/collector/confmap"
\t"go.opentelemetry.io/collector/confmap/provider/fileprovider"
\t"go.opentelemetry.io/collector/connector"
\t"go.opentelemetry.io/collector/exporter"
\t"go.opentelemetry.io/collector/extension"
\t"go.opentelemetry.io/collector/otelcol"
\t"go.opentelemetry.io/collector/processor"
\t"go.opentelemetry.io/collector/receiver"
\t"go.opentelemetry.io/collector/receiver/otlpreceiver"
\t"go.opentelemetry.io/collector/service/telemetry"

\t"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
)

type noTelemetryConfig struct{}

func newLogger(
\t_ context.Context, s telemetry.LoggerSettings, _ component.Config,
) (*zap.Logger, component.ShutdownFunc, error) {
\tlogger, err := s.BuildZapLogger(zap.NewProductionConfig())
\treturn logger, nil, err
}

func components() (otelcol.Factories, error) {
\tvar err error
\tf := otelcol.Factories{
\t\tTelemetry: telemetry.NewFactory(
\t\t\tfunc() component.Config { return &noTelemetryConfig{} },
\t\t\ttelemetry.WithCreateLogger(newLogger),
\t\t),
\t}
\tif f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
\t\treturn f, err
\t}
\tif f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](fileexporter.NewFactory()); err != nil {
\t\treturn f, err
\t}
\tif f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](); err != nil {
\t\treturn f, err
\t}
\tif f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](); err != nil {
\t\treturn f, err
\t}
\tf.Connectors, err = otelcol.MakeFactoryMap[connector.Factory]()
\treturn f, err
}

func main() {
\tset := otelcol.CollectorSettings{
\t\tBuildInfo: component.BuildInfo{
\t\t\tCommand:     "@BINARY@",
\t\t\tDescription: "OpenTelemetry Collector (otlp receiver, file exporter) for the guardrail-operator tests",
\t\t\tVersion:     "@VERSION@",
\t\t},
\t\tFactories: components,
\t\tConfigProviderSettings: otelcol.ConfigProviderSettings{
\t\t\tResolverSettings: confmap.ResolverSettings{
\t\t\t\tProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
\t\t\t\tDefaultScheme:     "file",
\t\t\t},
\t\t},
\t}
\tif err := otelcol.NewCommand(set).Execute(); err != nil {
\t\tos.Exit(1)
\t}
}
""".replace("@BINARY@", BINARY).replace("@VERSION@", COLLECTOR)


def go_mod() -> str:
    lines = [f"module {MODULE}", "", f"go {GO_MIN[0]}.{GO_MIN[1]}.0", "", "require ("]
    lines += [f"\t{module} {version}" for module, version in sorted(REQUIRES.items())]
    return "\n".join([*lines, ")"]) + "\n"
