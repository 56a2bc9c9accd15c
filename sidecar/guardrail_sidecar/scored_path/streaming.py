"""Checked streaming: sentences are held back until scored; a failing one ends the stream with a final event.

What the client sees is always a prefix of the app's answer (never rewritten), made only of checked sentences,
followed by a final chunk whose `guardrail` field says what was decided (a stable reason code, never details).

Text outside `delta.content` is checked too: chunks without `choices`, `message` or legacy `text` choices and
content-part arrays feed the same sentence buffer; refusal, reasoning and tool-call deltas are held back whole
(their text is read at the end, tool-call arguments joined first) and sent, unchanged, only if it passes. An
event that is not JSON is an unreadable answer: `policy.onUnreadableAnswer` decides.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from guardrail_sidecar.apis import tool_arguments
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scored_path import sse
from guardrail_sidecar.scored_path.detection import StreamCheck, redact_citations
from guardrail_sidecar.scored_path.protocols import ScoringRequest, guardrail_field
from guardrail_sidecar.scored_path.reporting import record
from guardrail_sidecar.scored_path.responses import (
    Extracted,
    Unreadable,
    check_depth,
    is_metadata,
    openai_texts,
)
from guardrail_sidecar.scoring.claims import Piece, SentenceBuffer, claim_texts
from guardrail_sidecar.scoring.pipeline import Pipeline, claims_of
from guardrail_sidecar.scoring.verdict import Assessment, ClaimScore, aggregate, unreadable
from guardrail_sidecar.server.proxy import ReverseProxy

_TEMPLATE_KEYS = ("id", "created", "model")


def _template(obj: Any) -> dict[str, Any]:
    """The ids the sidecar's own chunks copy from the app's first chunk (identifiers only, never text), and
    its `object` when it is a legacy `text_completion` (whose chunks carry `text`, not `delta`)."""
    if not isinstance(obj, dict):
        return {}
    out = {k: obj[k] for k in _TEMPLATE_KEYS if k in obj and is_metadata(obj[k])}
    if obj.get("object") == sse.TEXT_COMPLETION:
        out["object"] = sse.TEXT_COMPLETION
    return out


def _content(value: Any) -> str:
    """Delta content as text: a string, or the text of content parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return openai_texts({"parts": value}).answers[0] if value else ""
    return ""


def split_chunk(obj: Any) -> tuple[str, dict[str, Any] | None, Any, str | None]:
    """(content text, the chunk without it, what is left of choice 0, finish_reason) of a stream event."""
    choices = obj.get("choices") if isinstance(obj, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(first, dict) or first.get("index", 0) != 0:  # only choice 0 streams; the rest is held
        return "", obj if isinstance(obj, dict) else {"value": obj}, None, None
    choice = dict(first)
    text = ""
    for key in ("delta", "message"):
        carrier = choice.get(key)
        if isinstance(carrier, dict) and "content" in carrier:
            text += _content(carrier["content"])
            choice[key] = {k: v for k, v in carrier.items() if k != "content"}
    if isinstance(choice.get("text"), str):
        text += choice.pop("text")
    finish = choice.get("finish_reason")
    rest = dict(obj, choices=[choice, *(choices or [])[1:]])
    return text, rest, choice, finish if isinstance(finish, str) else None


def refusal_events(completion: dict[str, Any]) -> bytes:
    """A refusal chat completion as an SSE stream (for streaming requests refused up front)."""
    choice = completion["choices"][0]
    template = {k: completion[k] for k in ("id", "created", "model")}
    first = sse.content_chunk(template, choice["message"]["content"])
    last = sse.final_chunk(template, "content_filter", completion["guardrail"])
    return sse.encode(first) + sse.encode(last) + sse.encode(sse.DONE)


class _Gate:
    def __init__(
        self, pipeline: Pipeline, request: ScoringRequest, out: web.StreamResponse, patterns: tuple[str, ...] = ()
    ) -> None:
        self.pipeline = pipeline
        self.patterns = patterns  # audit.redactPatterns: what tool-call arguments must not carry out
        self.flagged: Assessment | None = None  # a tool-argument finding that did not stop the stream (monitor)
        self.tool_claims: list[str] = []
        self.request = request
        self.out = out
        self.template: dict[str, Any] = {}
        self.pending: list[Piece] = []
        self.scored: list[ClaimScore] = []
        self.last_sentence: str | None = None  # what a later fragment is read after (`claims.claim_texts`)
        self.failed: Assessment | None = None
        self.backend_error: Assessment | None = None
        self.scoring_time = 0.0
        self.held_events: list[bytes] = []  # chunks with text outside delta.content: sent only once it passes
        self.held_limit = 4_194_304  # maxResponseBytes: what held chunks may hold together
        self.held_bytes = 0
        self.held = Extracted("sse")
        self.detectors = StreamCheck(pipeline)  # spec.detectors on the answer: redact or stop what is released

    def claims_pending(self) -> int:
        return sum(p.claim is not None for p in self.pending)

    async def release(self, final: bool = False) -> bool:
        """Score the pending pieces; emit them if they pass. False when the stream must stop here."""
        pieces, self.pending = self.pending, []
        texts, self.last_sentence = claim_texts(pieces, self.last_sentence)
        if final and not texts and not self.scored:  # a short answer: checked with its question
            texts = claims_of("".join(p.text for p in pieces), self.request)
        if final:
            texts += self.held_claims()
            if not await self.check_tools():
                return False
            texts += self.tool_claims
        if texts:
            started = time.perf_counter()
            assessment = await self.pipeline.assess_claims(texts, self.request)
            self.scoring_time += time.perf_counter() - started
            if assessment.backend_error:
                self.backend_error = assessment
            self.scored.extend(assessment.claims)
            if assessment.verdict == "block" and self.pipeline.policy.mode == "enforce":
                self.failed = assessment
                return False
        text = await self.detectors.release("".join(p.text for p in pieces), final)
        held = [*self.held.answers, "".join(self.held.raw_arguments)] if final else []
        if text is None or not await self.detectors.held_ok(held):
            self.failed = self.detectors.failed
            return False
        if text:
            await self.out.write(sse.encode(sse.content_chunk(self.template, text)))
        return True

    def hold(self, rest: dict[str, Any]) -> bool:
        """Keep a chunk with text outside delta.content for the end; False when it has none (send it now)."""
        found = openai_texts(rest)
        if not any(a.strip() for a in found.answers) and not found.raw_arguments:
            return False
        self.held.answers += found.answers
        self.held.raw_arguments += found.raw_arguments
        self.held_events.append(sse.encode(rest))
        self.held_bytes += len(self.held_events[-1])
        if self.held_bytes > self.held_limit:  # endless tool-call deltas must not fill the memory: a broken stream
            raise ValueError(f"held chunks exceed maxResponseBytes ({self.held_limit} bytes)")
        return True

    def held_claims(self) -> list[str]:
        return [c for a in self.held.answers if a.strip() for c in claims_of(a, self.request)]

    async def check_tools(self) -> bool:
        """Held tool-call arguments (deltas of one JSON text per call, read once joined), by
        `policy.toolArguments`; False when they block the answer."""
        if not self.held.raw_arguments:
            return True
        joined = ["".join(self.held.raw_arguments)]
        finding, self.tool_claims = await tool_arguments.check(self.pipeline, joined, self.patterns)
        if finding is None:
            return True
        if finding.verdict == "block" and self.pipeline.policy.mode == "enforce":
            self.failed = finding
            return False
        self.flagged = finding
        return True

    def overall(self) -> Assessment:
        policy = self.pipeline.policy
        if self.failed is not None and self.failed.backend_error:
            return self.failed
        result = aggregate(self.scored, policy.threshold, policy.soft_limit)
        if self.backend_error is not None and not self.scored:
            return self.backend_error
        if self.flagged is not None and result.verdict == "pass":
            return self.flagged
        return result


async def gate_stream(
    proxy: ReverseProxy,
    pipeline: Pipeline,
    request: web.Request,
    response: aiohttp.ClientResponse,
    scoring_request: ScoringRequest,
    request_id: str,
) -> web.StreamResponse:
    out = await sse.open_stream(request, pipeline.revision)
    gate = _Gate(pipeline, scoring_request, out, tuple(proxy.config.audit.redact_patterns))
    gate.held_limit = proxy.config.proxy.max_response_bytes
    hold_back = pipeline.policy.streaming.hold_back_sentences
    parser = sse.EventParser(proxy.config.proxy.max_response_bytes)
    buffer = SentenceBuffer()
    finish_reason = "stop"
    trailing: list[bytes] = []
    stopped = False
    try:
        done = False
        iterator = response.content.iter_any()
        while not stopped:
            chunk = await anext(iterator, None)
            if chunk is None:
                done = True
            events = parser.finish() if done else parser.feed(chunk or b"")
            for event in events:
                if event.data is None or event.data.strip() == sse.DONE:
                    continue
                try:
                    obj = json.loads(event.data)
                    text, rest, choice, finish = split_chunk(obj)
                    if rest is not None:
                        check_depth(rest)
                except (ValueError, RecursionError, Unreadable) as exc:
                    if not _unreadable_event(proxy, pipeline, gate, str(exc)[:200]):
                        stopped = True
                        break
                    await out.write(event.raw)  # onUnreadableAnswer: pass (counted)
                    continue
                if not gate.template:
                    gate.template = _template(obj)
                tracing.note_answer(obj)
                if finish:
                    finish_reason = finish
                if text:
                    gate.pending.extend(buffer.feed(text))
                held = rest is not None and gate.hold(rest)
                if text and gate.claims_pending() >= hold_back and not await gate.release():
                    stopped = True
                    break
                if text or held or finish:
                    continue
                if choice is None:
                    trailing.append(sse.encode(obj))  # e.g. the usage chunk: sent after the final verdict
                else:
                    await out.write(sse.encode(obj))  # role announcement: no text (re-encoded: no id/event lines)
            if done:
                break
        if not stopped:
            gate.pending.extend(buffer.finish())
            stopped = not await gate.release(final=True)
        if not stopped:
            for raw in gate.held_events:
                await out.write(raw)
    except ConnectionResetError:  # the client went away: nothing more to send
        return out
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # A broken stream: nothing unchecked was sent; end it well-formed, saying why (details: audit only).
        proxy.metrics.upstream_errors.labels(pipeline.revision).inc()
        gate.failed = Assessment("block", 0.0, (), f"the app's stream failed: {exc}", code="upstream_error")
        stopped = True
    verdict = gate.failed if stopped and gate.failed is not None else gate.overall()
    record(proxy, pipeline, verdict, request_id, "stream", stopped=stopped)
    field = redact_citations(pipeline, guardrail_field(verdict, pipeline.revision, pipeline.policy.citations))
    reason = "content_filter" if stopped else finish_reason
    await out.write(sse.encode(sse.final_chunk(gate.template, reason, field)))
    if not stopped:
        for raw in trailing:
            await out.write(raw)
    await out.write(sse.encode(sse.DONE))
    await out.write_eof()
    proxy.metrics.added_latency.labels(pipeline.revision).observe(gate.scoring_time, tracing.exemplar())
    return out


def _unreadable_event(proxy: ReverseProxy, pipeline: Pipeline, gate: _Gate, detail: str) -> bool:
    """An event the sidecar cannot read: True to pass it on (counted), False to stop the stream here."""
    action = pipeline.policy.unreadable_action
    proxy.metrics.unreadable_answers.labels(pipeline.revision, action).inc()
    if action == "pass" or pipeline.policy.mode == "monitor":
        return True
    gate.failed = unreadable("block", f"stream event: {detail}")
    return False
