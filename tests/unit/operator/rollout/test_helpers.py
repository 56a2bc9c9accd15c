"""Pure helpers of the rollout: durations, manual requests, rendering an earlier revision's spec."""

from __future__ import annotations

import copy

from guardrail_cases import example
from guardrail_contract.guardrail import Guardrail, HistoryEntry, RolloutRequest
from guardrail_contract.names import ACTION_ANNOTATION, REQUEST_ID_ANNOTATION
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.rollout.actions import Request, pending_request, spec_at


def test_a_request_is_pending_until_its_id_is_acknowledged() -> None:
    annotations = {ACTION_ANNOTATION: "promote", REQUEST_ID_ANNOTATION: "abc"}
    assert pending_request(annotations, None) == Request("abc", "promote")
    assert pending_request(annotations, RolloutRequest(id="abc", action="promote")) is None
    assert pending_request(annotations, RolloutRequest(id="older", action="abort")) == Request("abc", "promote")


def test_without_a_request_id_the_action_is_the_id() -> None:
    assert pending_request({ACTION_ANNOTATION: "abort"}, None) == Request("abort", "abort")
    assert pending_request({ACTION_ANNOTATION: "abort"}, RolloutRequest(id="abort", action="abort")) is None
    assert pending_request({}, None) is None


def test_spec_at_renders_the_earlier_revision_exactly() -> None:
    old_doc = example()["spec"]
    new_doc = copy.deepcopy(old_doc)
    new_doc["policy"]["threshold"] = 0.3
    new_doc["models"]["nli"]["version"] = "7"
    new_doc["knowledgeBase"]["topK"] = 9
    new_doc["triton"]["replicas"] = 3  # not part of a revision: the current value stays
    old = Guardrail.model_validate({"spec": old_doc}).spec
    new = Guardrail.model_validate({"spec": new_doc}).spec
    entry = HistoryEntry(
        revision=guardrail_revision(old),
        promoted_at="t",
        model_revision=model_revision(old),
        scoring=scoring_fields(old),
    )
    rendered = spec_at(new, entry)
    assert guardrail_revision(rendered) == guardrail_revision(old)
    assert model_revision(rendered) == model_revision(old)
    assert rendered.triton.replicas == 3
    assert rendered.knowledge_base is not None
    assert rendered.knowledge_base.qdrant == new.knowledge_base.qdrant
