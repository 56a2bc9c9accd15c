"""The chart's files agree with their sources: CRD copy, values documentation, schema and README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_chart import readme as chart_readme

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "guardrail-operator"


def test_the_chart_crd_is_a_link_to_the_single_source_in_crds() -> None:
    """A relative symlink: Helm follows it when loading the chart and `helm package` stores the file itself,
    so the chart can never drift from crds/ (a copy plus a sync script could)."""
    source = ROOT / "crds" / "guardrails.dev_guardrails.yaml"
    link = CHART / "crds" / source.name
    assert link.is_symlink()
    assert not Path(link.readlink()).is_absolute(), "absolute links break in other checkouts"
    assert link.resolve() == source.resolve()
    assert [p.name for p in (CHART / "crds").iterdir()] == [source.name], "the chart ships exactly one CRD"


def test_every_value_is_documented() -> None:
    values = chart_readme.documented_values((CHART / "values.yaml").read_text())
    assert len(values) > 50
    assert all(len(v.description) > 10 for v in values)


def test_an_undocumented_value_is_an_error() -> None:
    with pytest.raises(chart_readme.UndocumentedValueError, match=r"webhook\.port"):
        chart_readme.documented_values("# The webhook.\nwebhook:\n  port: 9443\n")


def test_the_readme_is_generated_from_the_current_values() -> None:
    assert chart_readme.main(["--check"]) == 0, "run: python -m guardrail_chart.readme"


def _schema_keys(node: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, child in node.get("properties", {}).items():
        keys.add(prefix + name)
        keys |= _schema_keys(child, f"{prefix}{name}.")
    return keys


def _closed_objects(node: dict[str, Any], path: str = "$") -> list[str]:
    """Paths of schema objects with declared properties that still accept unknown keys."""
    open_ = [path] if "properties" in node and node.get("additionalProperties") is not False else []
    for name, child in node.get("properties", {}).items():
        open_ += _closed_objects(child, f"{path}.{name}")
    return open_


def _node(schema: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        schema = schema["properties"][part]
    return schema


def test_the_schema_declares_exactly_the_documented_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = {v.path: v for v in chart_readme.documented_values((CHART / "values.yaml").read_text())}
    declared = _schema_keys(schema) - {"global"}

    # Entries of free-form maps (e.g. dashboard.labels) are examples, not keys the schema names.
    not_declared = {p for p in values.keys() - declared if "properties" in _node(schema, p.rsplit(".", 1)[0])}
    # Keys of an object whose default is empty (e.g. issuerRef: {}) are documented on the object itself.
    undocumented = {p for p in declared - values.keys() if values[p.rsplit(".", 1)[0]].default != {}}
    assert not_declared == set()
    assert undocumented == set()


def test_every_schema_object_rejects_unknown_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _closed_objects(schema) == []


def test_chart_metadata_pins_versions() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["version"] == chart["appVersion"]
    assert chart["kubeVersion"].startswith(">=1.29")  # native sidecars (restartPolicy Always init containers)


def test_the_dashboard_is_valid_grafana_json() -> None:
    dashboard = json.loads((CHART / "dashboards" / "guardrails.json").read_text())
    assert dashboard["uid"] == "guardrail-operator"
    assert all(p["targets"] for p in dashboard["panels"])
