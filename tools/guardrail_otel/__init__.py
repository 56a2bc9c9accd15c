"""A real OpenTelemetry Collector (OTLP receiver + file exporter) built from Go modules, for tracing tests."""
