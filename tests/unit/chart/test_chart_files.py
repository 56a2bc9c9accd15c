"""The chart's files agree with their sources: CRD copy, values documentation, schema and README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_chart import crds as chart_crds
from guardrail_chart import readme as chart_readme

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "guardrail-operator"


def test_the_chart_crd_template_is_generated_from_the_single_source_in_crds() -> None:
    """crds/ (from the typed model, `make crds`) is the source; the chart's template is generated from it and a
    drifted template fails here. The chart has no crds/ folder: Helm never upgrades what is there."""
    assert chart_crds.main(["--check"]) == 0, "run: make crds (python -m guardrail_chart.crds)"
    templates = sorted(p.name for p in (CHART / "templates" / "crds").iterdir())
    assert templates == sorted(p.name for p in (ROOT / "crds").glob("*.yaml")) == ["guardrails.dev_guardrails.yaml"]
    assert not (CHART / "crds").exists()


def test_a_drifted_crd_template_is_caught(tmp_path: Path) -> None:
    source = yaml.safe_load((ROOT / "crds" / "guardrails.dev_guardrails.yaml").read_text())
    source["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "edited by hand"
    (tmp_path / "guardrails.dev_guardrails.yaml").write_text(yaml.safe_dump(source))
    assert chart_crds.expected(tmp_path) != chart_crds.expected()
    assert "edited by hand" in chart_crds.expected(tmp_path)["guardrails.dev_guardrails.yaml"]


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
