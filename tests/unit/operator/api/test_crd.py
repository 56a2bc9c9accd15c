"""The CRD is rendered from the typed model, checked in, documented field by field, and agrees with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from guardrail_cases import INVALID, example
from guardrail_contract.guardrail import Guardrail, Policy
from guardrail_operator.api.crd import build_crd, render_crd

CRD_FILE = Path(__file__).resolve().parents[4] / "crds" / "guardrails.dev_guardrails.yaml"


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _walk(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, child in node.get("properties", {}).items():
        out += _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def test_checked_in_crd_is_the_rendered_one() -> None:
    assert CRD_FILE.read_text() == render_crd(), "crds/ drifted from models.py: run `make crds`"


def test_every_field_has_a_description() -> None:
    undocumented = [
        path
        for path, node in _walk(_schema(), "guardrail")
        if path.count(".") >= 1
        and not path.endswith(("[]", "{}"))
        and path != "guardrail.metadata"
        and not node.get("description")
    ]
    assert undocumented == []


def test_schema_is_structural() -> None:
    """No $ref, anyOf (except int-or-string), or untyped nodes: the API server would refuse them."""
    for path, node in _walk(_schema(), "guardrail"):
        assert "$ref" not in node, path
        assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path


def test_printer_columns_and_names() -> None:
    spec = build_crd()["spec"]
    columns = [c["name"] for c in spec["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Phase", "Stable", "Canary", "Weight", "Ready", "Age"]
    assert spec["names"]["shortNames"] == ["gr"]
    assert spec["names"]["categories"] == ["guardrails"]
    assert spec["versions"][0]["subresources"] == {"status": {}}


def test_example_parses_with_defaults_filled() -> None:
    guardrail = Guardrail.model_validate(example())
    assert guardrail.spec.policy.threshold <= guardrail.spec.policy.soft_limit
    assert guardrail.spec.rollout.steps == [10, 50, 100]
    assert guardrail.spec.models.injection.name == "injection"


def test_model_defaults_match_crd_defaults() -> None:
    """Every default the API server writes is the default the typed model assumes."""
    policy = _schema()["properties"]["spec"]["properties"]["policy"]["properties"]
    assert policy["threshold"]["default"] == Policy.model_fields["threshold"].default
    assert policy["onBackendError"]["default"] == Policy.model_fields["on_backend_error"].default
    minimal = yaml.safe_load("spec: {selector: {matchLabels: {app: a}}, models: {repository: {uri: 's3://m/r'}}}")
    parsed = Guardrail.model_validate(minimal).spec
    assert (
        parsed.proxy.listen_port
        == _schema()["properties"]["spec"]["properties"]["proxy"]["properties"]["listenPort"]["default"]
    )


@pytest.mark.parametrize(("case", "doc", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_typed_model_rejects_what_the_api_server_rejects(case: str, doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError):
        Guardrail.model_validate(doc)
