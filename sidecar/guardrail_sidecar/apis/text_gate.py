"""What the Responses and Messages stream gates share: sentence hold-back over answer text, whole-text checks
for held items (reasoning, tool calls), the findings that decide the stream's verdict, and SSE writing.

A gate reads the app's events and writes its own: answer text only once its sentences have been scored (the
client sees a prefix of the checked text, never more), every other item only once it has been checked whole.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from guardrail_sidecar.apis import tool_arguments
from guardrail_sidecar.detectors.jsonwalk import json_strings
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scored_path import sse
from guardrail_sidecar.scored_path.detection import StreamCheck
from guardrail_sidecar.scored_path.protocols import ScoringRequest
from guardrail_sidecar.scored_path.responses import Unreadable, check_depth, is_metadata
from guardrail_sidecar.scoring.claims import Piece, SentenceBuffer, claim_texts
from guardrail_sidecar.scoring.pipeline import Pipeline, claims_of
from guardrail_sidecar.scoring.verdict import Assessment, ClaimScore, aggregate, unreadable

_WORST = {"pass": 0, "flag": 1, "block": 2}


def event_bytes(data: dict[str, Any], name: str | None = None) -> bytes:
    """One SSE event: `event: <name>` (the APIs that name their events) and its JSON data."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def prose(value: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """Strings of three words or more anywhere in `value` (shorter ones are ids, labels and options), less the
    ones in `skip` (texts the client itself sent, echoed back)."""
    out: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not is_metadata(node) and node not in skip:
                out.append(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def strings(value: Any) -> list[str]:
    """Every string anywhere in `value`, however short: what a field meant to hold answer text holds, when the
    app gives it a shape other than a string (a list, an object)."""
    out: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    out.reverse()
    return out


_OPAQUE = re.compile(r"[A-Za-z0-9+/=_\-]*")


def opaque(value: Any) -> bool:
    """A value of a field that holds an opaque token (a signature, an encrypted blob): base64 characters only,
    nothing a person reads. Anything else in such a field is read as answer text, so it cannot carry one."""
    return value is None or (isinstance(value, str) and _OPAQUE.fullmatch(value) is not None)


def request_texts(request: ScoringRequest) -> frozenset[str]:
    """What the client sent (an echo of it in the answer is not new text)."""
    return frozenset((request.question, *request.context, *request.untrusted))


def metadata_only(value: Any) -> Any:
    """`value` with every string that reads as text removed (ids, names, numbers and flags kept)."""
    if isinstance(value, dict):
        return {k: metadata_only(v) for k, v in value.items() if not (isinstance(v, str) and not is_metadata(v))}
    if isinstance(value, list):
        return [metadata_only(v) for v in value if not (isinstance(v, str) and not is_metadata(v))]
    return value


class TextGate:
    """The checks of one streamed answer, whatever its API."""

    def __init__(
        self, pipeline: Pipeline, request: ScoringRequest, out: web.StreamResponse, patterns: tuple[str, ...] = ()
    ) -> None:
        self.pipeline = pipeline
        self.request = request
        self.out = out
        self.patterns = patterns
        self.hold_back = pipeline.policy.streaming.hold_back_sentences
        self.buffer = SentenceBuffer()
        self.pending: list[Piece] = []
        self.scored: list[ClaimScore] = []
        self.last_sentence: str | None = None  # what a later fragment is read after (`claims.claim_texts`)
        self.findings: list[Assessment] = []  # flags (monitor) and backend errors met along the way
        self.failed: Assessment | None = None
        self.scoring_time = 0.0
        self.detectors = StreamCheck(pipeline)  # spec.detectors on the answer: redact or stop what is released

    @property
    def enforcing(self) -> bool:
        return self.pipeline.policy.mode == "enforce"

    def feed(self, text: str) -> bool:
        """Add answer text; True when enough sentences wait to be released."""
        self.pending.extend(self.buffer.feed(text))
        return sum(p.claim is not None for p in self.pending) >= self.hold_back

    async def release(self, final: bool = False, carry: bool = False) -> str | None:
        """Score what waits (with `final`, the rest of the buffer too): the text that may be sent, or None when
        the answer is blocked here. With `carry`, the detectors keep what they hold back (the tail of a content
        part, which the next part of the same item may continue: clients join them) until `settle`."""
        pieces, self.pending = self.pending, []
        if final:
            pieces += self.buffer.finish()
        texts, self.last_sentence = claim_texts(pieces, self.last_sentence)
        if final and not texts and not self.scored:  # a short answer: checked with its question
            texts = claims_of("".join(p.text for p in pieces), self.request)
        if not await self.check_claims(texts):
            return None
        text = await self.detectors.release("".join(p.text for p in pieces), final and not carry)
        if text is None:
            self.failed = self.detectors.failed
        return text

    async def settle(self) -> str | None:
        """What the detectors held back after a `release(carry=True)`, checked as the end of the text (redacted),
        or None when a block detector's finding stops the answer."""
        text = await self.detectors.release("", True)
        if text is None:
            self.failed = self.detectors.failed
        return text

    async def check_claims(self, texts: list[str]) -> bool:
        """Score claims; False (and `failed` set) when they block the answer."""
        if not texts:
            return True
        started = time.perf_counter()
        assessment = await self.pipeline.assess_claims(texts, self.request)
        self.scoring_time += time.perf_counter() - started
        if assessment.backend_error:
            self.findings.append(assessment)
        self.scored.extend(assessment.claims)
        if assessment.verdict == "block" and self.enforcing:
            self.failed = assessment
            return False
        return True

    async def check_text(self, texts: list[str]) -> bool:
        """Whole texts held back (reasoning, refusals, text outside the answer), checked as answer text."""
        if not await self.detectors.held_ok(texts):  # sent unchanged: a block or redact detector's finding stops them
            self.failed = self.detectors.failed
            return False
        return await self.check_claims([c for t in texts if t.strip() for c in claims_of(t, self.request)])

    async def check_tools(self, raw_arguments: list[str]) -> bool:
        """Tool-call arguments, by `policy.toolArguments`; False when they block the answer."""
        if not await self.detectors.held_ok(["".join(raw_arguments)]):
            self.failed = self.detectors.failed
            return False
        finding, claims = await tool_arguments.check(self.pipeline, raw_arguments, self.patterns)
        if finding is not None:
            if finding.verdict == "block" and self.enforcing:
                self.failed = finding
                return False
            self.findings.append(finding)
        return await self.check_claims(claims)

    async def check_sent(self, value: Any) -> bool:
        """App JSON the gate forwards as it came (a held item, the final response's other fields): spec.detectors
        read every string of it, short ones too, as they read a JSON answer (metadata keys such as `id` aside);
        False (and `failed` set) when a finding withholds it."""
        if not await self.detectors.held_ok(json_strings(value)):
            self.failed = self.detectors.failed
            return False
        return True

    def unreadable(self, detail: str) -> bool:
        """An event the gate cannot read: True to drop it and go on (`onUnreadableAnswer: pass`, counted)."""
        action = self.pipeline.policy.unreadable_action
        self.pipeline.metrics.unreadable_answers.labels(self.pipeline.revision, action).inc()
        if action == "pass" or not self.enforcing:
            self.findings.append(unreadable("pass", detail))
            return True
        self.failed = unreadable("block", f"stream event: {detail}")
        return False

    def broken(self, detail: str) -> None:
        """The app's stream failed: nothing unchecked was sent; the stream ends here."""
        self.pipeline.metrics.upstream_errors.labels(self.pipeline.revision).inc()
        self.failed = Assessment("block", 0.0, (), f"the app's stream failed: {detail}", code="upstream_error")

    def overall(self) -> Assessment:
        """The verdict of the whole stream."""
        if self.failed is not None:
            return self.failed
        policy = self.pipeline.policy
        result = aggregate(self.scored, policy.threshold, policy.soft_limit)
        backend = [f for f in self.findings if f.backend_error]
        if backend and not self.scored:
            return backend[0]
        flags = [f for f in self.findings if not f.backend_error]
        return max([result, *flags], key=lambda a: (_WORST[a.verdict], -a.score))

    async def write(self, data: dict[str, Any], name: str | None = None) -> None:
        await self.out.write(event_bytes(data, name))


async def read_events(
    gate: TextGate, response: aiohttp.ClientResponse, limit: int
) -> AsyncIterator[dict[str, Any] | None]:
    """The app's SSE events as JSON objects; None when an unreadable one stops the stream (an unreadable one
    that `onUnreadableAnswer` lets pass is dropped, counted). `[DONE]` and data-less events are skipped."""
    parser = sse.EventParser(limit)
    iterator = response.content.iter_any()
    done = False
    while not done:
        chunk = await anext(iterator, None)
        done = chunk is None
        for event in parser.finish() if done else parser.feed(chunk or b""):
            if event.data is None or event.data.strip() == sse.DONE:
                continue
            try:
                obj = json.loads(event.data)
                if not isinstance(obj, dict):
                    raise ValueError("a stream event that is not a JSON object")
                check_depth(obj)
            except (ValueError, RecursionError, Unreadable) as exc:
                if not gate.unreadable(str(exc)[:200]):
                    yield None
                    return
                continue
            yield obj


class StreamWriter(Protocol):
    """What an API's stream gate does with the app's events: pass each on checked, close, and end the stream."""

    async def handle(self, event: dict[str, Any]) -> bool: ...

    async def finish(self) -> bool: ...

    async def end(self, stopped: bool, verdict: dict[str, Any]) -> None: ...


async def run_stream(
    gate: TextGate,
    writer: StreamWriter,
    response: aiohttp.ClientResponse,
    limit: int,
    decided: Callable[[Assessment, bool], dict[str, Any]],
) -> None:
    """Run the app's event stream through `writer`; `decided(verdict, stopped)` records the verdict and returns the
    `guardrail` field of the last event. A broken or unreadable stream ends as stopped."""
    stopped = False
    try:
        async for obj in read_events(gate, response, limit):
            tracing.note_answer(obj)  # model, id, usage, stop reason on the app request's span (no text)
            if obj is None or not await writer.handle(obj):
                stopped = True
                break
        if not stopped:
            stopped = not await writer.finish()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        gate.broken(str(exc)[:200])
        stopped = True
    await writer.end(stopped, decided(gate.overall(), stopped))
