"""The children the operator applies for a Guardrail on its first reconcile, for builder and API-server tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.rollout.actions import RolloutObserved
from guardrail_operator.rollout.children import rollout_children
from guardrail_operator.rollout.machine import step


def first_children(guardrail: Guardrail, fetcher_image: str) -> list[dict[str, Any]]:
    """No status yet: the rollout's first step names the spec's revision and `rollout_children` renders it
    (shared children, then that revision's ConfigMap and Triton), exactly as the reconciler does."""
    decision = step(guardrail, RolloutObserved(), None, datetime.now(UTC))
    return rollout_children(guardrail, decision.actions, fetcher_image)
