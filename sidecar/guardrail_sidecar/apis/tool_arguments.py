"""Tool-call and function-call arguments in answers: what `policy.toolArguments` does with them.

Arguments are instructions to the app's tools, not prose shown to a user, so by default (`scan`) they are not
scored for grounding (which would block most tool calls): they are checked for what a hijacked model puts there:
- a prompt injection aimed at the next model or tool (the injection detector, when `promptInjection` is enabled;
  when its model cannot answer, `onBackendError` decides, as for requests);
- exfiltration: an API key or bearer token, a string matching `audit.redactPatterns` (what the operator marked
  sensitive), or a URL carrying an encoded payload (a token of MIN_PAYLOAD_CHARS base64/hex characters after its
  host, or a query and fragment longer than MAX_QUERY_CHARS once decoded).

`ground` does the same scan and also scores the arguments' sentences as answer text (for apps whose tools render
the answer, e.g. a `reply(say=...)` function: the behaviour before this policy existed). `pass` forwards them
unchecked. Every answer holding tool calls is counted by policy and outcome (`guardrail_tool_arguments_total`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from guardrail_sidecar.errors import BackendError, RequestError
from guardrail_sidecar.scored_path.protocols import ScoringRequest
from guardrail_sidecar.scored_path.responses import arguments_text
from guardrail_sidecar.scoring import claims as claims_mod
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment, Verdict

ToolPolicy = Literal["scan", "ground", "pass"]
MIN_PAYLOAD_CHARS = 48  # a base64/hex run this long after a URL's host: a payload, not a path or an id
MAX_QUERY_CHARS = 256  # a decoded query + fragment longer than this carries data, not a lookup
PROSE_WORDS = 3  # the detector reads instructions; shorter values are names, ids and options
_SECRETS = (
    r"(?i)\bbearer\s+[a-z0-9._~+/=-]{16,}",
    r"\b(?:sk|pk|rk|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{16,}\b",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
)
_URL = re.compile(r"https?://[^\s\"'<>\\)\]]+", re.IGNORECASE)
_PAYLOAD = re.compile(rf"[A-Za-z0-9+/=_]{{{MIN_PAYLOAD_CHARS},}}")


def argument_strings(raw: Iterable[str]) -> list[str]:
    """Every string value of the arguments (JSON when they parse, else the raw text), keys included."""
    out: list[str] = []
    for text in raw:
        try:
            stack: list[Any] = [json.loads(text)]
        except (ValueError, RecursionError):
            out.append(text)
            continue
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, dict):
                stack.extend(node.keys())
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return [s for s in out if s.strip()]


def exfiltration(texts: Iterable[str], patterns: Iterable[str] = ()) -> str | None:
    """Why the texts look like data being carried out (for the audit log, never the match itself), or None."""
    secrets = [re.compile(p) for p in (*_SECRETS, *patterns)]
    for text in texts:
        for i, pattern in enumerate(secrets):
            if pattern.search(text):
                return (
                    "a secret (built-in key pattern)" if i < len(_SECRETS) else "a string matching audit.redactPatterns"
                )
        for url in _URL.findall(text):
            parts = urlsplit(url)
            after_host = parts.path + "?" + parts.query + "#" + parts.fragment
            if _PAYLOAD.search(after_host):
                return f"a URL to {parts.hostname or '?'} carrying an encoded payload"
            if len(unquote(parts.query + parts.fragment)) > MAX_QUERY_CHARS:
                return f"a URL to {parts.hostname or '?'} carrying {MAX_QUERY_CHARS}+ characters of data"
    return None


async def scan(pipeline: Pipeline, raw_arguments: list[str], patterns: Iterable[str] = ()) -> Assessment | None:
    """A flag/block assessment when the arguments carry an injection or exfiltration, else None.

    Under enforce a finding blocks, under monitor it flags. A detector that cannot answer follows
    `onBackendError` (fail-closed: block; the arguments are never forwarded unchecked)."""
    texts = argument_strings(raw_arguments)
    if not texts:
        return None
    verdict: Verdict = "block" if pipeline.policy.mode == "enforce" else "flag"
    if why := exfiltration(texts, patterns):
        return Assessment(verdict, 0.0, (), f"tool-call arguments: {why}", code="exfiltration")
    prose = tuple(t for t in texts if len(t.split()) >= PROSE_WORDS)
    if not prose or not pipeline.policy.prompt_injection.enabled:
        return None
    try:
        if not await pipeline.scorer.injection_available():
            model = pipeline.config.models.injection.name
            raise BackendError("injection", f"prompt-injection model {model} is not available")
        score = await pipeline.injection_score(ScoringRequest("", (), untrusted=prose))
    except BackendError as exc:
        failed = pipeline.backend_failed(exc)
        return failed if failed.verdict == "block" else None
    except RequestError:  # more text than the detector's budget, under fail-closed: not forwarded unread
        return Assessment(verdict, 0.0, (), "tool-call arguments too long to check", code="prompt_injection")
    if not pipeline.is_injection(score):
        return None
    reason = f"prompt injection in tool-call arguments (p={float(score or 0.0):.3f})"
    return Assessment(verdict, 1.0 - float(score or 0.0), (), reason, code="prompt_injection")


async def check(
    pipeline: Pipeline, raw_arguments: list[str], patterns: Iterable[str] = ()
) -> tuple[Assessment | None, list[str]]:
    """What `policy.toolArguments` decides on an answer's tool-call arguments: (a flag/block finding or None,
    the claims to score for grounding: only under `ground`). Counted once per answer holding tool calls."""
    if not raw_arguments:
        return None, []
    policy: ToolPolicy = pipeline.policy.tool_arguments
    if policy == "pass":
        pipeline.metrics.tool_arguments.labels(pipeline.revision, policy, "pass").inc()
        return None, []
    finding = await scan(pipeline, raw_arguments, patterns)
    pipeline.metrics.tool_arguments.labels(pipeline.revision, policy, finding.verdict if finding else "pass").inc()
    if policy != "ground":
        return finding, []
    return finding, [c for raw in raw_arguments for c in claims_mod.claims(arguments_text(raw))]
