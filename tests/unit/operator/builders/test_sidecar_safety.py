"""Issue 16 settings the operator renders for the sidecar: `spec.policy.onUnreadableAnswer` (unset keeps every
revision) and the opt-in `spec.rollout.stickyHeader` (unset: random split; never part of the revision)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.config import revision_config, sidecar_config
from guardrail_operator.reconcile.revision import guardrail_revision, scoring_fields

MakeBody = Callable[..., dict[str, Any]]


def _guardrail(make_body: MakeBody, **policy: Any) -> Guardrail:
    body = make_body()
    body["spec"]["policy"] = {**body["spec"].get("policy", {}), **policy}
    return Guardrail.model_validate(body)


@pytest.mark.parametrize("action", ["block", "pass"])
def test_the_rendered_sidecar_config_carries_the_action(make_body: MakeBody, action: str) -> None:
    guardrail = _guardrail(make_body, onUnreadableAnswer=action)
    rendered = revision_config(guardrail, "r1", "m1")
    assert rendered.policy.on_unreadable_answer == action
    assert f"onUnreadableAnswer: {action}" in rendered.to_yaml()


def test_unset_defaults_from_on_backend_error_and_keeps_the_revision(make_body: MakeBody) -> None:
    closed = _guardrail(make_body, onBackendError="fail-closed")
    opened = _guardrail(make_body, onBackendError="fail-open")
    assert revision_config(closed, "r1", "m1").policy.unreadable_action == "block"
    assert revision_config(opened, "r1", "m1").policy.unreadable_action == "pass"
    assert "onUnreadableAnswer" not in revision_config(closed, "r1", "m1").to_yaml()
    assert guardrail_revision(closed.spec) != guardrail_revision(_guardrail(make_body, onUnreadableAnswer="pass").spec)
    assert "onUnreadableAnswer" not in scoring_fields(closed.spec)["policy"]  # unset: the hash it had before


def test_an_unknown_action_is_refused(make_body: MakeBody) -> None:
    with pytest.raises(ValidationError, match="onUnreadableAnswer"):
        _guardrail(make_body, onUnreadableAnswer="ignore")


def test_sticky_header_is_opt_in_and_not_a_new_revision(make_body: MakeBody) -> None:
    plain = Guardrail.model_validate(make_body())
    body = make_body()
    body["spec"]["rollout"] = {**body["spec"].get("rollout", {}), "stickyHeader": "x-user"}
    sticky = Guardrail.model_validate(body)
    assert sidecar_config(plain, "r1", "m1").routing.sticky_header is None
    assert "stickyHeader: x-user" in sidecar_config(sticky, "r1", "m1").to_yaml()
    assert guardrail_revision(sticky.spec) == guardrail_revision(plain.spec)  # routing, not scoring
    body["spec"]["rollout"]["stickyHeader"] = "x user: injected"
    with pytest.raises(ValidationError, match="stickyHeader"):
        Guardrail.model_validate(body)
