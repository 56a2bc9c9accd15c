"""`spec.detectors`: the detectors a Guardrail runs on requests and answers besides grounding and injection.

One model serves the CRD (descriptions and CEL rules are what `kubectl explain` shows and the API server enforces)
and the rendered sidecar config (the operator copies the list as is), so every rule is written once here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

PiiEntity = Literal["email", "phone", "payment_card", "iban", "national_id", "ip_address", "secret"]
PII_ENTITIES: tuple[PiiEntity, ...] = get_args(PiiEntity)
DetectorKind = Literal["pii", "classifier"]
Side = Literal["request", "answer"]
MAX_DETECTORS = 16
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _cel(rule: str, message: str) -> dict[str, Any]:
    return {"rule": rule, "message": message}


class ClassifierModel(BaseModel):
    """A text classifier in the model repository (ONNX with its tokenizer, as `guardrail model package` lays
    it out), served like the shipped models."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    name: str = Field(pattern=_DNS_LABEL, max_length=63, description="Model name in the model repository.")
    version: str = Field(
        default="1", pattern=r"^[0-9]+$", description="Model version (a numbered folder in the repository)."
    )


class Detector(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.kind != 'pii' || !has(self.model)",
                    "a pii detector takes entities, not a model",
                ),
                _cel(
                    "self.kind != 'classifier' || (has(self.model) && !has(self.entities) && !has(self.phoneRegions))",
                    "a classifier detector needs a model (and takes no entities or phoneRegions)",
                ),
                _cel(
                    "self.action != 'redact' || self.kind == 'pii'",
                    "only a pii detector can redact (a classifier judges a whole text: use block or flag)",
                ),
            ]
        },
    )

    name: str = Field(
        pattern=_DNS_LABEL,
        max_length=63,
        description="Unique name; it labels the detector's metrics (guardrail_detector_findings_total).",
    )
    kind: DetectorKind = Field(
        description="pii: the built-in PII detector (entities below); classifier: your own text classifier "
        "(model below)."
    )
    applies_to: Literal["request", "answer", "both"] = Field(
        default="answer",
        description="request: checked before the request is forwarded to the app; answer: checked before the "
        "answer reaches the client (streams included); both.",
    )
    action: Literal["block", "redact", "flag"] = Field(
        description="block: refuse the request or withhold the answer (a refusal with reason pii_detected or "
        "detector_blocked); redact: replace each finding with a placeholder such as [EMAIL] (pii only); flag: "
        "pass unchanged, named in the x-guardrail-detectors header and counted. monitor mode turns block into "
        "flag."
    )
    threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="pii: the least confidence of a finding (checksummed identifiers and prefixed keys score "
        "0.85-1, Dutch BSN and high-entropy tokens 0.5-0.6); classifier: the probability at or above which "
        "the text counts as a finding.",
    )
    entities: list[PiiEntity] | None = Field(
        default=None,
        min_length=1,
        description="pii: the entity types to look for; unset: all of them (email, phone, payment_card, iban, "
        "national_id, ip_address, secret).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    phone_regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="pii: ISO 3166 regions whose national phone formats are recognised (international +CC "
        "numbers always are); unset: [US].",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    model: ClassifierModel | None = Field(default=None, description="classifier: the model that scores texts.")

    @model_validator(mode="after")
    def _kind_fields(self) -> Detector:
        if self.kind == "pii" and self.model is not None:
            raise ValueError(f"detector {self.name}: a pii detector takes entities, not a model")
        if self.kind == "classifier" and (
            self.model is None or self.entities is not None or self.phone_regions is not None
        ):
            raise ValueError(f"detector {self.name}: a classifier detector needs a model (and no entities)")
        if self.action == "redact" and self.kind != "pii":
            raise ValueError(f"detector {self.name}: only a pii detector can redact")
        return self

    def applies(self, side: Side) -> bool:
        return self.applies_to in (side, "both")


UNIQUE_NAMES = _cel("self.all(d, self.filter(e, e.name == d.name).size() == 1)", "detector names must be unique")


def check_unique_names(detectors: list[Detector]) -> list[Detector]:
    names = [d.name for d in detectors]
    if len(set(names)) != len(names):
        raise ValueError(f"detector names must be unique: {names}")
    return detectors


Detectors = Annotated[list[Detector], AfterValidator(check_unique_names)]
