"""Read a labelled grounding set (JSONL): one object per line with evidence, claim and label.

Accepted field names: `premise` or `evidence`; `claim`, `hypothesis` or `answer`; `label` as 1/0, true/false,
or "supported"/"hallucinated". An optional `answer` (the bare answer, without a question) feeds the length
baseline; it defaults to the claim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from guardrail_models.errors import DatasetError

_EVIDENCE = ("premise", "evidence")
_CLAIM = ("claim", "hypothesis", "answer")
_TRUE = {"1", "true", "supported", "entailment", "grounded", "yes"}
_FALSE = {"0", "false", "hallucinated", "contradiction", "unsupported", "no"}


@dataclass(frozen=True)
class EvalSet:
    evidence: list[str]
    claims: list[str]
    answers: list[str]
    labels: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.claims)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.evidence, self.claims, strict=True))


def _field(row: dict[str, Any], names: tuple[str, ...], line: int) -> str:
    for name in names:
        if isinstance(row.get(name), str):
            return str(row[name])
    raise DatasetError(f"line {line}: needs a text field named one of {', '.join(names)}")


def _label(value: object, line: int) -> float:
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    raise DatasetError(f"line {line}: label {value!r} is not 1/0, true/false or supported/hallucinated")


def parse_rows(rows: list[dict[str, Any]]) -> EvalSet:
    evidence, claims, answers, labels = [], [], [], []
    for line, row in enumerate(rows, start=1):
        evidence.append(_field(row, _EVIDENCE, line))
        claims.append(_field(row, _CLAIM, line))
        answers.append(str(row["answer"]) if isinstance(row.get("answer"), str) else claims[-1])
        if "label" not in row:
            raise DatasetError(f"line {line}: missing field 'label'")
        labels.append(_label(row["label"], line))
    if not claims:
        raise DatasetError("the evaluation set is empty")
    if len(set(labels)) < 2:
        raise DatasetError("the evaluation set needs both supported (1) and unsupported (0) examples")
    return EvalSet(evidence, claims, answers, np.array(labels))


def read_jsonl(path: Path, limit: int | None = None) -> EvalSet:
    if not path.is_file():
        raise DatasetError(f"{path} not found")
    rows = []
    with path.open() as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                rows.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{line}: not JSON ({exc.msg})") from exc
            if limit is not None and len(rows) >= limit:
                break
    return parse_rows(rows)
