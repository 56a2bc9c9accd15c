"""`spec.policy.toolArguments` reaches the sidecar's revision config; unset, it keeps every existing spec's
revision and the sidecar's default (`scan`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail, GuardrailSpec
from guardrail_operator.builders.config import revision_config
from guardrail_operator.reconcile.revision import guardrail_revision

MakeBody = Callable[..., dict[str, Any]]


def with_tool_arguments(make_body: MakeBody, value: str | None) -> Guardrail:
    body = make_body()
    if value is not None:
        body["spec"].setdefault("policy", {})["toolArguments"] = value
    return Guardrail.model_validate(body)


def test_unset_keeps_the_revision_and_the_sidecar_default(make_body: MakeBody) -> None:
    unset = with_tool_arguments(make_body, None)
    assert guardrail_revision(unset.spec) == guardrail_revision(GuardrailSpec.model_validate(make_body()["spec"]))
    assert revision_config(unset, "r1", "m1").policy.tool_arguments == "scan"


@pytest.mark.parametrize("value", ["scan", "ground", "pass"])
def test_a_set_value_is_rendered_and_is_a_new_revision(make_body: MakeBody, value: str) -> None:
    guardrail = with_tool_arguments(make_body, value)
    assert revision_config(guardrail, "r1", "m1").policy.tool_arguments == value
    assert guardrail_revision(guardrail.spec) != guardrail_revision(with_tool_arguments(make_body, None).spec)


def test_an_unknown_value_is_refused(make_body: MakeBody) -> None:
    with pytest.raises(ValidationError, match=r"toolArguments|tool_arguments"):
        with_tool_arguments(make_body, "ignore")
