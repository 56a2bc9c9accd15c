"""The two rollout stages before any user sees a new revision's verdicts (issue 21), as part of the CRD.

- `spec.rollout.evalGate`: the operator scores a labelled set with the stable and the candidate revision
  (`guardrail eval --compare stable=... candidate=...` in a Job) and rolls the candidate back unless its AUROC,
  the paired-bootstrap probability that it is better than stable, and its false-block rate pass the limits.
- `spec.rollout.shadow`: the sidecars score a sample of real answers with the candidate too, off the response
  path; only stable's verdict reaches users. The analysis compares the verdicts before the first traffic step.

Their figures land in `status.canary.evalGate` / `status.canary.shadow` (and a passed gate's in the history).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from guardrail_contract.durations import DURATION

KEY_PATTERN = r"^[-._a-zA-Z0-9]+(/[-._a-zA-Z0-9]+)*$"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Shadow(_Model):
    duration: str = Field(
        default="5m",
        pattern=DURATION,
        description="How long the candidate scores mirrored answers before the shadow analysis, e.g. 5m.",
    )
    sample_rate: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Share of stable-scored answers also scored by the candidate, off the response path.",
    )
    max_disagreement: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Highest share of shadowed answers whose candidate verdict differs from stable's.",
    )
    max_would_block_increase: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest candidate would-block rate above stable's block rate on the same answers.",
    )
    min_requests: int = Field(
        default=100,
        ge=1,
        description="Fewer shadowed answers in the window makes the analysis inconclusive: wait, never promote.",
    )


class DatasetRef(_Model):
    """Where the labelled JSONL set (premise, claim, label per line) lives: one of configMap or pvc."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.configMap) != has(self.pvc)", "message": "name exactly one of configMap or pvc"}
            ]
        }
    )
    config_map: str | None = Field(default=None, max_length=253, description="ConfigMap holding the set.")
    pvc: str | None = Field(default=None, max_length=253, description="PersistentVolumeClaim holding the set.")
    key: str = Field(
        default="eval.jsonl",
        pattern=KEY_PATTERN,
        max_length=253,
        description="The ConfigMap key, or the file path inside the claim.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetRef:
        if (self.config_map is None) == (self.pvc is None):
            raise ValueError("spec.rollout.evalGate.dataset: name exactly one of configMap or pvc")
        if ".." in self.key.split("/") or (self.config_map is not None and "/" in self.key):
            raise ValueError(
                "spec.rollout.evalGate.dataset.key: a ConfigMap key, or a path inside the claim without .."
            )
        return self


class EvalGate(_Model):
    dataset: DatasetRef = Field(description="The labelled set both revisions are scored on.")
    min_auroc: float = Field(default=0.7, alias="minAUROC", ge=0, le=1, description="Lowest candidate AUROC accepted.")
    min_lead_probability: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Lowest accepted paired-bootstrap probability that the candidate's AUROC beats stable's "
        "(ties count half: identical scores give 0.5).",
    )
    max_false_block_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Highest share of supported claims the candidate blocks at its own threshold.",
    )
    timeout: str = Field(
        default="15m", pattern=DURATION, description="The eval Job's deadline; a Job past it fails the gate."
    )


class EvalFigures(_Model):
    """What the eval gate measured (both revisions on the same set)."""

    candidate_auroc: float = Field(alias="candidateAUROC", description="AUROC of the candidate revision.")
    stable_auroc: float = Field(alias="stableAUROC", description="AUROC of the stable revision.")
    lead_probability: float = Field(description="P(candidate better than stable), paired bootstrap.")
    false_block_rate: float = Field(description="Share of supported claims the candidate blocks.")
    pairs: int = Field(default=0, ge=0, description="Labelled pairs scored.")
    job: str = Field(default="", description="The eval Job that measured them.")
    passed: bool = Field(default=False, description="Whether the figures passed the gate's limits.")
    message: str = Field(default="", description="The gate's verdict in words.")


class ShadowFigures(_Model):
    """What the shadow analysis measured over its window (candidate vs stable on the same answers)."""

    requests: float = Field(default=0, description="Answers scored by both revisions in the window.")
    disagreement: float | None = Field(default=None, description="Share whose verdicts differ.")
    candidate_would_block: float | None = Field(default=None, description="Candidate would-block rate.")
    stable_block: float | None = Field(default=None, description="Stable block rate on the same answers.")
    score_shift: float | None = Field(default=None, description="Mean candidate score minus mean stable score.")
    added_cost_ms: float | None = Field(default=None, description="Mean candidate scoring time per answer, ms.")
    dropped: float | None = Field(default=None, description="Shadow work dropped (queue full) in the window.")
