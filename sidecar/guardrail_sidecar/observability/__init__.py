"""Metrics, structured logs and redaction."""
