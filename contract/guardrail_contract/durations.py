"""Durations and timestamps as the resources write them: `250ms`, `30s`, `1h30m`; RFC 3339 in UTC.

The CRD and the sidecar config validate durations with `DURATION`; code reads them with `parse_duration`
(a timedelta) or `duration_seconds` (a float), and writes and reads times with `rfc3339` / `parse_rfc3339`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """Seconds in `5m`, `1h30m`, `1.5s`, `250ms`; ValueError naming the text otherwise."""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use numbers with ms, s, m or h, e.g. 250ms, 30s, 5m, 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def parse_duration(text: str) -> timedelta:
    """The duration `text` as a timedelta; ValueError naming the text if it is not one."""
    return timedelta(seconds=duration_seconds(text))


RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(now: datetime) -> str:
    """`now` in UTC, to the second: the form of every timestamp in a Guardrail's status."""
    return now.astimezone(UTC).strftime(RFC3339)


def parse_rfc3339(text: str) -> datetime:
    """A time `rfc3339` wrote (timezone-aware, UTC); ValueError for anything else."""
    return datetime.strptime(text, RFC3339).replace(tzinfo=UTC)
