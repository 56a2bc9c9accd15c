"""spec.detectors: validated like the API server does, part of the revision hash, rendered into the sidecar config."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from guardrail_contract.guardrail import Guardrail, GuardrailSpec, HistoryEntry
from guardrail_contract.sidecar_config import RevisionConfig
from guardrail_operator.api.crd import build_crd
from guardrail_operator.builders.config import REVISION_KEY, build_revision_configmap
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.rollout.actions import spec_at

PII = {"name": "pii", "kind": "pii", "action": "redact", "appliesTo": "both", "entities": ["email", "payment_card"]}


def spec(make_body: Any, *detectors: dict[str, Any]) -> GuardrailSpec:
    body = make_body()
    if detectors:
        body["spec"]["detectors"] = list(detectors)
    return GuardrailSpec.model_validate(body["spec"])


def test_no_detectors_keeps_every_existing_revision(make_body: Any) -> None:
    body = make_body()
    assert "detectors" not in body["spec"]
    assert guardrail_revision(spec(make_body)) == guardrail_revision(GuardrailSpec.model_validate(body["spec"]))
    assert spec(make_body).detectors == []


def test_adding_or_changing_a_detector_is_a_new_revision_but_not_a_new_model_revision(make_body: Any) -> None:
    plain, with_pii = spec(make_body), spec(make_body, PII)
    stricter = spec(make_body, PII | {"action": "block"})
    revisions = {guardrail_revision(s) for s in (plain, with_pii, stricter)}
    assert len(revisions) == 3
    assert model_revision(plain) == model_revision(with_pii) == model_revision(stricter)  # Triton is reused


def test_the_revision_configmap_carries_the_detectors(make_body: Any) -> None:
    body = make_body()
    body["spec"]["detectors"] = [PII]
    guardrail = Guardrail.model_validate(body)
    revision = guardrail_revision(guardrail.spec)
    configmap = build_revision_configmap(guardrail, revision, model_revision(guardrail.spec))
    rendered = RevisionConfig.from_yaml(configmap["data"][REVISION_KEY])
    [detector] = rendered.detectors
    assert (detector.name, detector.action, detector.applies_to) == ("pii", "redact", "both")
    assert detector.entities == ["email", "payment_card"]
    assert yaml.safe_load(configmap["data"][REVISION_KEY])["detectors"][0]["appliesTo"] == "both"


@pytest.mark.parametrize(
    ("detectors", "message"),
    [
        ([PII, PII], "detector names must be unique"),
        ([{"name": "tox", "kind": "classifier", "action": "redact", "model": {"name": "tox"}}], "only a pii"),
        ([{"name": "tox", "kind": "classifier", "action": "block"}], "needs a model"),
        ([PII | {"entities": ["passport"]}], "entities"),
        ([PII | {"threshold": 1.5}], "threshold"),
    ],
)
def test_invalid_detectors_are_refused(make_body: Any, detectors: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(make_body, *detectors)


def test_the_crd_documents_detectors_and_enforces_their_rules() -> None:
    crd = build_crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["detectors"]
    assert schema["maxItems"] == 16
    assert "unique" in schema["x-kubernetes-validations"][0]["message"]
    item = schema["items"]
    assert item["required"] == ["name", "kind", "action"]
    assert item["properties"]["entities"]["items"]["enum"] == [
        "email", "phone", "payment_card", "iban", "national_id", "ip_address", "secret"
    ]  # fmt: skip
    rules = " ".join(r["rule"] for r in item["x-kubernetes-validations"])
    assert "self.kind != 'pii' || !has(self.model)" in rules


def test_an_earlier_revision_is_rendered_with_its_own_detectors_not_the_specs(make_body: Any) -> None:
    """During a canary the stable revision's ConfigMap is rendered from its history snapshot laid over the current
    spec: a stable revision without detectors must not get the candidate's."""
    without, with_pii = spec(make_body), spec(make_body, PII)
    entry = HistoryEntry(revision=guardrail_revision(without), promoted_at="2026-01-01T00:00:00Z")
    entry = entry.model_copy(update={"scoring": scoring_fields(without)})
    stable = spec_at(with_pii, entry)
    assert stable.detectors == []
    assert guardrail_revision(stable) == guardrail_revision(without)
    back = HistoryEntry(revision="x", promoted_at="2026-01-01T00:00:00Z", scoring=scoring_fields(with_pii))
    assert spec_at(without, back).detectors == with_pii.detectors
