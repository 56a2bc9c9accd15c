"""Detectors the sidecar runs on requests and answers: built-in PII detection and redaction (pure, no I/O)."""

from guardrail_sidecar.detectors.engine import Finding, PiiDetector, Redacted, merge
from guardrail_sidecar.detectors.entities import ENTITIES, PLACEHOLDER, Entity, Match, Span
from guardrail_sidecar.detectors.jsonwalk import redact_json
from guardrail_sidecar.detectors.stream import StreamRedactor

__all__ = [
    "ENTITIES",
    "PLACEHOLDER",
    "Entity",
    "Finding",
    "Match",
    "PiiDetector",
    "Redacted",
    "Span",
    "StreamRedactor",
    "merge",
    "redact_json",
]
