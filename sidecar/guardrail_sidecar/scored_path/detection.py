"""`spec.detectors` on the scored path: a request is checked before it is forwarded, an answer (JSON or stream)
before it reaches the client.

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

from guardrail_sidecar.detectors.jsonwalk import METADATA_KEYS, redact_json
from guardrail_sidecar.detectors.policy import Report, SidePolicy, StreamFilter
from guardrail_sidecar.scored_path.protocols import ScoringRequest, load_json
from guardrail_sidecar.scored_path.responses import Extracted
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment

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
    reason = f"the {side} holds {', '.join(report.entities)} (detector {report.blocked_by})"
    return Assessment("block", 0.0, (), reason, code="pii_detected")


def check_request(
    pipeline: Pipeline, body: bytes, request: ScoringRequest
) -> tuple[bytes, ScoringRequest, Assessment | None]:
    """(the body to forward, what the pipeline reads of it, a blocking assessment or None)."""
    policy = pipeline.detectors.request
    if not policy:
        return body, request, None
    data = load_json(body)
    redacted, report = policy.apply_json(data, REQUEST_KEYS)
    _count(pipeline, report, "request")
    if report.blocked_by is not None:
        pipeline.metrics.refused.labels(pipeline.revision, "pii_detected").inc()
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


def check_answer(pipeline: Pipeline, found: Extracted) -> tuple[Extracted, Assessment | None, dict[str, str]]:
    """(the answer as the client may get it, a blocking assessment or None, headers naming flagging detectors)."""
    policy = pipeline.detectors.answer
    if not policy or found.kind == "empty":
        return found, None, {}
    if found.kind in ("json", "sse"):
        data, report = policy.apply_json(found.data)
        out = dataclasses.replace(found, data=data)
    else:
        text, report = policy.apply_text("".join(found.answers))
        out = dataclasses.replace(found, answers=[text])
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
        self.failed: Assessment | None = None

    def release(self, text: str, final: bool) -> str | None:
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

    def held_ok(self, texts: list[str]) -> bool:
        """Text the stream sends unchanged at the end: a block or redact detector's finding withholds the answer
        (deltas cannot be redacted piece by piece); a flag detector's is counted."""
        if not self.policy or not texts:
            return True
        report = self.policy.check_texts(texts)
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
