"""Pure builders: a Guardrail (and its revisions) in, the child manifests it needs out.

Each `build_<kind>` function returns one manifest; `guardrail_operator.rollout.children` lists the children
of the revisions in service, in apply order. No clock, environment or network is read here.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.common import Manifest
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision

__all__ = ["Manifest", "Revisions", "revisions_of"]


@dataclass(frozen=True)
class Revisions:
    """The revision of the whole scoring config and of the models alone (one Triton per model revision)."""

    revision: str
    model_revision: str


def revisions_of(guardrail: Guardrail) -> Revisions:
    return Revisions(guardrail_revision(guardrail.spec), model_revision(guardrail.spec))
