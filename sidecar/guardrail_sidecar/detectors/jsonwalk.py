"""Redaction of a JSON document: every string value, except the values of identifier keys (ids, model names, roles)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from guardrail_sidecar.detectors.engine import PiiDetector
from guardrail_sidecar.detectors.entities import Entity

# Keys whose values are identifiers the protocol needs unchanged (OpenAI chat completions and the json protocol).
METADATA_KEYS = frozenset(
    {"id", "object", "created", "model", "role", "finish_reason", "system_fingerprint", "type", "index", "service_tier"}
)


def redact_json(
    value: Any, detector: PiiDetector, *, skip_keys: Collection[str] = METADATA_KEYS
) -> tuple[Any, Counter[Entity]]:
    """A copy of `value` with PII in its strings replaced by placeholders, and how many of each entity type."""
    counts: Counter[Entity] = Counter()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            redacted = detector.redact(node)
            counts.update(redacted.counts)
            return redacted.text
        if isinstance(node, dict):
            return {k: v if k in skip_keys else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(value), counts


def json_strings(value: Any, skip_keys: Collection[str] = METADATA_KEYS) -> list[str]:
    """Every string of `value` but the values of `skip_keys`: what `redact_json` would read."""
    out: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            stack.extend(v for k, v in node.items() if k not in skip_keys)
        elif isinstance(node, list):
            stack.extend(node)
    return out
