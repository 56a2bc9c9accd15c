"""`spec.detectors` on the scored path: a request is checked before it is forwarded, an answer (JSON or stream)
before it reaches the client. PII detectors find spans (`guardrail_sidecar.detectors`); classifier detectors score
whole texts with the user's model (`Scorer.classify`: the embedded backend or Triton), a text scoring at or above
the threshold being a finding (entity `classifier`; reason `detector_blocked`).

block refuses the request, or withholds the answer (reason `pii_detected`); redact replaces each finding with a
placeholder such as `[EMAIL]` (in the forwarded request, or in the answer the client gets: grounding is scored on
the app's own text); flag passes the text unchanged and names the detector in `x-guardrail-detectors`. Every finding
is counted in `guardrail_detector_findings_total{detector, entity, side, action}`; logs and audit lines name entity
types and detectors, never the text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from guardrail_contract.detectors import Side
from guardrail_sidecar.detectors.jsonwalk import METADATA_KEYS, redact_json
from guardrail_sidecar.detectors.policy import Report, SidePolicy, StreamFilter
from guardrail_sidecar.errors import BackendError
from guardrail_sidecar.scored_path.protocols import ScoringRequest, load_json
from guardrail_sidecar.scored_path.responses import Extracted
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment, ReasonCode

log = logging.getLogger("guardrail.sidecar")
# Request fields that name things rather than say them: never rewritten.
REQUEST_KEYS = METADATA_KEYS | {"tool_call_id", "name", "stream", "response_format"}
HEADER = "x-guardrail-detectors"


def _count(pipeline: Pipeline, report: Report, side: str) -> None:
    for (detector, entity, action), n in report.counts.items():
        pipeline.metrics.detector_findings.labels(pipeline.revision, detector, entity, side, action).inc(n)
    if report:
        fields = {"revision": pipeline.revision, "side": side, "entities": report.entities}
        log.info("detectors found sensitive data", extra={"fields": fields | {"blocked_by": report.blocked_by}})


def blocked(report: Report, side: str) -> Assessment:
    """The refusal's assessment: entity types and the detector only (the audit line must not carry the text)."""
    if isinstance(report.failed, Assessment):  # a classifier's backend failed under fail-closed
        return report.failed
    reason = f"the {side} holds {', '.join(report.entities)} (detector {report.blocked_by})"
    code: ReasonCode = "detector_blocked" if report.entities == ["classifier"] else "pii_detected"
    return Assessment("block", 0.0, (), reason, code=code)


async def classified(pipeline: Pipeline, side: Side, texts: list[str], report: Report) -> None:
    """Classifier detectors of `side` over `texts`, into `report` (a backend failure follows onBackendError)."""
    texts = [t for t in texts if t.strip()]
    enforce = pipeline.policy.mode == "enforce"
    for spec in pipeline.config.detectors or []:
        if spec.kind != "classifier" or spec.model is None or not spec.applies(side) or not texts:
            continue
        try:
            scores = await pipeline.scorer.classify(spec.model.name, spec.model.version, texts)
        except BackendError as exc:
            failed = pipeline.backend_failed(exc)
            if failed.verdict == "block" and report.blocked_by is None:
                report.blocked_by, report.failed = spec.name, failed
            continue
        hits = sum(score >= spec.threshold for score in scores)
        action = spec.action if enforce else "flag"
        if hits:
            report.counts[(spec.name, "classifier", action)] += hits
        if hits and action == "block" and report.blocked_by is None:
            report.blocked_by = spec.name


async def check_request(
    pipeline: Pipeline, body: bytes, request: ScoringRequest
) -> tuple[bytes, ScoringRequest, Assessment | None]:
    """(the body to forward, what the pipeline reads of it, a blocking assessment or None)."""
    policy = pipeline.detectors.request
    if not policy and not pipeline.detectors.classifiers("request"):
        return body, request, None
    data = load_json(body)
    redacted, report = policy.apply_json(data, REQUEST_KEYS)
    if report.blocked_by is None:
        await classified(pipeline, "request", [request.question, *request.untrusted], report)
    _count(pipeline, report, "request")
    if report.blocked_by is not None:
        pipeline.metrics.refused.labels(pipeline.revision, blocked(report, "request").code).inc()
        return body, request, blocked(report, "request")
    if redacted == data:
        return body, request, None
    return json.dumps(redacted, ensure_ascii=False).encode(), _redacted_request(policy, request), None


def _redacted_request(policy: SidePolicy, request: ScoringRequest) -> ScoringRequest:
    def text(t: str) -> str:
        return policy.apply_text(t)[0]

    return dataclasses.replace(
        request,
        question=text(request.question),
        context=tuple(map(text, request.context)),
        untrusted=tuple(map(text, request.untrusted)),
    )


async def check_answer(pipeline: Pipeline, found: Extracted) -> tuple[Extracted, Assessment | None, dict[str, str]]:
    """(the answer as the client may get it, a blocking assessment or None, headers naming flagging detectors)."""
    policy = pipeline.detectors.answer
    if (not policy and not pipeline.detectors.classifiers("answer")) or found.kind == "empty":
        return found, None, {}
    if found.kind in ("json", "sse"):
        data, report = policy.apply_json(found.data)
        out = dataclasses.replace(found, data=data)
    else:
        text, report = policy.apply_text("".join(found.answers))
        out = dataclasses.replace(found, answers=[text])
    if report.blocked_by is None:
        await classified(pipeline, "answer", [*found.answers, *found.structured], report)
    _count(pipeline, report, "answer")
    headers = {HEADER: ",".join(sorted({d for d, _, _ in report.counts}))} if report else {}
    if report.blocked_by is not None:
        return found, blocked(report, "answer"), headers
    return out, None, headers


class StreamCheck:
    """The answer-side detectors of one stream: `release` passes text on (redacted) as the gate emits it, or None
    when a block detector found something in it; held chunks (text outside delta.content, tool-call argument deltas)
    are read joined at the end by `held_ok`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.policy = pipeline.detectors.answer
        self.filter: StreamFilter | None = self.policy.stream() if self.policy else None
        self.classifiers = pipeline.detectors.classifiers("answer")
        self.failed: Assessment | None = None

    async def release(self, text: str, final: bool) -> str | None:
        if self.classifiers and text.strip():  # the text about to be sent, as the app wrote it
            report = Report()
            await classified(self.pipeline, "answer", [text], report)
            _count(self.pipeline, report, "answer")
            if report.blocked_by is not None:
                self.failed = blocked(report, "answer")
                return None
        if self.filter is None:
            return text
        out = self.filter.feed(text)
        if out is not None and final:
            end = self.filter.finish()
            out = None if end is None else out + end
        if final or out is None:
            self._done()
        if out is None:
            self.failed = blocked(self.filter.report, "answer")
        return out

    async def held_ok(self, texts: list[str]) -> bool:
        """Text the stream sends unchanged at the end: a block or redact detector's finding withholds the answer
        (deltas cannot be redacted piece by piece); a flag detector's is counted."""
        if (not self.policy and not self.classifiers) or not any(t.strip() for t in texts):
            return True
        report = self.policy.check_texts(texts)
        if report.blocked_by is None:
            await classified(self.pipeline, "answer", texts, report)
        for rule in self.policy.redact:
            found = [f.entity for t in texts for f in rule.engine.find(t)]
            for entity in found:
                report.counts[(rule.spec.name, entity, "block")] += 1
            if found and report.blocked_by is None:
                report.blocked_by = rule.spec.name
        _count(self.pipeline, report, "answer")
        if report.blocked_by is not None:
            self.failed = blocked(report, "answer")
            return False
        return True

    def _done(self) -> None:
        if self.filter is not None:
            _count(self.pipeline, self.filter.report, "answer")
            self.filter.report = Report()


def redact_citations(pipeline: Pipeline, field: dict[str, Any]) -> dict[str, Any]:
    """The `guardrail` field with its citations (knowledge-base and request passages) redacted by every answer-side
    block or redact detector: the client gets them with the answer."""
    policy = pipeline.detectors.answer
    if not policy or not field.get("citations"):
        return field
    citations, report = field["citations"], Report()
    for rule in [*policy.block, *policy.redact]:
        citations, found = redact_json(citations, rule.engine, skip_keys=("id", "source"))
        report.add(rule.spec, found, "redact")
    _count(pipeline, report, "citations")
    return field | {"citations": citations}
