"""docs/alerts.md documents every alert the chart ships: a summary row with its severity, and a runbook section
(what it means, what to do) that the alert's runbook_url points at."""

from __future__ import annotations

import re
from pathlib import Path

from .test_alert_rules import rule_groups

DOC = Path(__file__).resolve().parents[3] / "docs" / "alerts.md"


def sections() -> dict[str, str]:
    parts = re.split(r"^### (\w+)\n", DOC.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_alert_has_a_summary_row_and_a_runbook_section() -> None:
    text, runbooks = DOC.read_text(), sections()
    alerts = [r for g in rule_groups() for r in g["rules"]]
    assert len(alerts) >= 18
    for rule in alerts:
        name, severity = rule["alert"], rule["labels"]["severity"]
        assert re.search(rf"^\| {name} \| {severity} \|", text, re.MULTILINE), f"{name}: no summary row"
        assert name in runbooks, f"{name}: no ### {name} section"
        assert "**Meaning.**" in runbooks[name], name
        assert "**What to do.**" in runbooks[name], name
        assert rule["annotations"]["runbook_url"].endswith(f"docs/alerts.md#{name.lower()}")
    assert set(runbooks) == {r["alert"] for r in alerts}, "a section for an alert the chart does not ship"


def test_the_runbook_base_url_comes_from_the_values() -> None:
    base = "https://wiki.example.com/guardrail-alerts"
    for group in rule_groups({"metrics.prometheusRule.runbookBaseUrl": base}):
        for rule in group["rules"]:
            assert rule["annotations"]["runbook_url"] == f"{base}#{rule['alert'].lower()}"
