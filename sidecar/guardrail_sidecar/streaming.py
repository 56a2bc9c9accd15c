"""Checked streaming: sentences are held back until scored; a failing one ends the stream with a final event.

What the client sees is always a prefix of the app's answer (never rewritten), made only of checked sentences,
followed by a final chunk whose `guardrail` field says what was decided.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from . import sse
from .claims import Piece, SentenceBuffer
from .outcome import record
from .pipeline import Pipeline, claims_of
from .protocols import ScoringRequest, guardrail_field
from .proxy import Proxy
from .verdict import Assessment, ClaimScore, aggregate


def refusal_events(completion: dict[str, Any]) -> bytes:
    """A refusal chat completion as an SSE stream (for streaming requests refused up front)."""
    choice = completion["choices"][0]
    template = {k: completion[k] for k in ("id", "created", "model")}
    first = sse.content_chunk(template, choice["message"]["content"])
    last = sse.final_chunk(template, "content_filter", completion["guardrail"])
    return sse.encode(first) + sse.encode(last) + sse.encode(sse.DONE)


class _Gate:
    def __init__(self, pipeline: Pipeline, request: ScoringRequest, out: web.StreamResponse) -> None:
        self.pipeline = pipeline
        self.request = request
        self.out = out
        self.template: dict[str, Any] = {}
        self.pending: list[Piece] = []
        self.scored: list[ClaimScore] = []
        self.failed: Assessment | None = None
        self.backend_error: Assessment | None = None
        self.scoring_time = 0.0

    def claims_pending(self) -> int:
        return sum(p.claim is not None for p in self.pending)

    async def release(self, final: bool = False) -> bool:
        """Score the pending pieces; emit them if they pass. False when the stream must stop here."""
        pieces, self.pending = self.pending, []
        texts = [c for p in pieces if (c := p.claim) is not None]
        if final and not texts and not self.scored:  # a short answer: checked with its question
            texts = claims_of("".join(p.text for p in pieces), self.request)
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
        text = "".join(p.text for p in pieces)
        if text:
            await self.out.write(sse.encode(sse.content_chunk(self.template, text)))
        return True

    def overall(self) -> Assessment:
        policy = self.pipeline.policy
        if self.failed is not None and self.failed.backend_error:
            return self.failed
        result = aggregate(self.scored, policy.threshold, policy.soft_limit)
        if self.backend_error is not None and not self.scored:
            return self.backend_error
        return result


async def gate_stream(
    proxy: Proxy,
    pipeline: Pipeline,
    request: web.Request,
    response: aiohttp.ClientResponse,
    scoring_request: ScoringRequest,
    request_id: str,
) -> web.StreamResponse:
    out = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "x-guardrail-revision": pipeline.revision,
        },
    )
    await out.prepare(request)
    gate = _Gate(pipeline, scoring_request, out)
    hold_back = pipeline.policy.streaming.hold_back_sentences
    parser = sse.EventParser(proxy.config.proxy.max_response_bytes)
    buffer = SentenceBuffer()
    finish_reason = "stop"
    trailing: list[bytes] = []
    stopped = False
    try:
        async for chunk in response.content.iter_any():
            for event in parser.feed(chunk):
                if event.data is None or event.data.strip() == sse.DONE:
                    continue
                obj = json.loads(event.data)
                if not gate.template and isinstance(obj, dict):
                    gate.template = obj
                choices = obj.get("choices") if isinstance(obj, dict) else None
                if not choices:
                    trailing.append(event.raw)  # e.g. the usage chunk: sent after the final verdict
                    continue
                choice = choices[0]
                if not isinstance(choice, dict) or not isinstance(choice.get("delta") or {}, dict):
                    raise ValueError("malformed chat.completion.chunk")
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
                if isinstance(content, str) and content:
                    gate.pending.extend(buffer.feed(content))
                    if gate.claims_pending() >= hold_back and not await gate.release():
                        stopped = True
                        break
                elif not choice.get("finish_reason"):
                    await out.write(event.raw)  # role announcement, tool-call deltas: no answer text
            if stopped:
                break
        if not stopped:
            gate.pending.extend(buffer.finish())
            stopped = not await gate.release(final=True)
    except ConnectionResetError:  # the client went away: nothing more to send
        return out
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # Unreadable or broken stream: nothing unchecked was sent; end it well-formed, saying why.
        proxy.metrics.upstream_errors.labels(pipeline.revision).inc()
        gate.failed = Assessment("block", 0.0, (), f"the app's stream failed: {exc}")
        stopped = True
    verdict = gate.failed if stopped and gate.failed is not None else gate.overall()
    record(proxy, pipeline, verdict, request_id, "stream")
    field = guardrail_field(verdict, pipeline.revision, pipeline.policy.citations)
    reason = "content_filter" if stopped else finish_reason
    await out.write(sse.encode(sse.final_chunk(gate.template, reason, field)))
    if not stopped:
        for raw in trailing:
            await out.write(raw)
    await out.write(sse.encode(sse.DONE))
    await out.write_eof()
    proxy.metrics.added_latency.labels(pipeline.revision).observe(gate.scoring_time)
    return out
