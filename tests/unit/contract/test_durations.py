"""Durations and timestamps as the Guardrail and the sidecar config write them: one reader for both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from guardrail_contract.durations import duration_seconds, parse_duration, parse_rfc3339, rfc3339


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("30s", 30), ("1h30m", 5400), ("1m30s", 90), ("1.5s", 1.5), ("250ms", 0.25), ("2h", 7200)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "5m junk", "-5m", "5 minutes"])
def test_invalid_durations_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
    with pytest.raises(ValueError, match="invalid duration"):
        duration_seconds(text)


def test_rfc3339_is_utc_to_the_second() -> None:
    at = datetime(2026, 1, 2, 4, 5, 6, 789000, tzinfo=timezone(timedelta(hours=1)))
    assert rfc3339(at) == "2026-01-02T03:05:06Z"
    assert rfc3339(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00Z"
    assert parse_rfc3339(rfc3339(at)) == at.replace(microsecond=0)
    with pytest.raises(ValueError, match="does not match"):
        parse_rfc3339("yesterday")
