"""Reading questions, context and answers out of request/response bodies, and writing verdicts back.

`openai`: chat completions (`messages` in, `choices[].message.content` out). `json`: dotted field paths.
Pure functions over parsed JSON; malformed input raises `RequestError` (a 4xx for the client).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from guardrail_contract.sidecar_config import JsonFields
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.scoring.verdict import Assessment

CONTEXT_ROLES = frozenset({"system", "developer", "tool", "user"})  # user: earlier turns, not the question


@dataclass(frozen=True)
class ScoringRequest:
    """What the pipeline needs from a request: the question, context passages in the request, streaming."""

    question: str
    context: tuple[str, ...]
    stream: bool = False
    model: str = ""
    untrusted: tuple[str, ...] = ()  # every client-supplied text: all checked for (indirect) prompt injection


MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Two parsers may keep different copies (the app the first, the sidecar the last): never guess.
            raise RequestError(400, "invalid_json", f"duplicate key {key[:60]!r} in a JSON object")
        out[key] = value
    return out


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise RequestError(400, "invalid_json", f"a number has {len(text)} digits (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise RequestError(400, "invalid_json", f"a number has {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        raise RequestError(400, "invalid_json", f"the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise RequestError(400, "invalid_json", f"{name} is not valid JSON")


def load_json(body: bytes) -> Any:
    """Strict JSON as every parser reads it the same way: UTF-8, no duplicate keys, no NaN/Infinity, numbers
    of at most MAX_NUMBER_CHARS characters, nesting at most MAX_JSON_DEPTH deep, no lone surrogates. Anything
    else is a 400 naming the problem (a request the app might read differently must not be scored as if the
    sidecar knew)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, "invalid_json", f"request body is not UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_int=_int, parse_float=_float, parse_constant=_constant
        )
    except RecursionError as exc:
        raise RequestError(400, "invalid_json", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise RequestError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
    except ValueError as exc:  # e.g. int() over the digit limit, should a hook ever let one through
        raise RequestError(400, "invalid_json", "request body holds a number that cannot be read") from exc
    _check_tree(data)
    return data


def _check_tree(data: Any) -> None:
    """Depth and lone surrogates, without recursion (a deep tree must not exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise RequestError(400, "invalid_json", "a JSON string holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
            continue
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise RequestError(400, "invalid_json", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((k, depth) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        else:
            stack.extend((v, depth + 1) for v in node)


def _text_of(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, {"type": "image_url"...}]
        return "\n".join(t for p in content if isinstance(p, dict) for t in _part_texts(p))
    raise RequestError(400, "invalid_request", f"{where} must be a string or a list of content parts")


def _part_texts(part: dict[str, Any]) -> list[str]:
    """The text of a content part: `text` (or `text.value`, as some APIs nest it) and `refusal`; images, audio
    and files are not text."""
    text = part.get("text")
    if isinstance(text, dict):
        text = text.get("value")
    return [t for t in (text, part.get("refusal")) if isinstance(t, str)]


def parse_openai_request(body: Any) -> ScoringRequest:
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_request", "request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "invalid_request", "`messages` must be a non-empty list")
    question, question_at, context, untrusted = "", -1, [], []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(400, "invalid_request", f"messages[{i}] must be an object with a `role`")
        text = _text_of(message.get("content"), f"messages[{i}].content")
        if message["role"] == "user":
            question, question_at = text, i
        if message["role"] in CONTEXT_ROLES and text.strip():
            context.append((i, text))
        untrusted.append(text)  # every turn the client sends, whatever its role: the model reads them all
        untrusted.extend(reversed(_strings(message, _CALL_FIELDS)))
    untrusted.reverse()  # the latest turns first (a fail-open budget checks those)
    # Tool definitions, and any other text an app may put in its prompt (`instructions`, `system`, `prompt`,
    # `input`, a response schema's descriptions, ...).
    untrusted.extend(_strings(body, tuple(k for k in body if k not in _NOT_PROMPT)))
    # The question itself is not evidence (an answer restating it would look grounded).
    context = [(i, t) for i, t in context if i != question_at]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "invalid_request", "`stream` must be a boolean")
    if stream and body.get("n", 1) != 1:
        raise RequestError(400, "invalid_request", "streaming with n > 1 cannot be checked; use n = 1")
    model = body.get("model")
    model_name = model if isinstance(model, str) else ""
    checked = tuple(t for t in untrusted if t.strip())
    return ScoringRequest(question, tuple(t for _, t in context), stream, model_name, checked)


_CALL_FIELDS = ("tool_calls", "function_call", "name", "refusal")  # in a message, besides its content
_NOT_TEXT = frozenset({"type", "id", "tool_call_id", "required"})  # identifiers, not text a model follows
_NOT_PROMPT = _NOT_TEXT | {"messages", "model"}  # top-level fields read elsewhere, or naming, not instructing
PROSE_WORDS = 3  # outside message content, shorter strings are identifiers, not instructions


def word_count(text: str) -> int:
    """Whitespace-separated words, invisible characters (zero-width spaces, joiners, bidi marks) counting as
    spaces: words they separate render as words, so a sentence spelled with them is no identifier."""
    return len("".join(" " if unicodedata.category(c) == "Cf" else c for c in text).split())


def _strings(obj: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """The prose under `fields` of `obj`: every string value of at least PROSE_WORDS whitespace-separated words
    (tool-call arguments that are JSON read as their values). Shorter values are names, ids and options
    (`auto`, `user-1234`, `get_order_status`): the detector reads a soup of them as an injection, and an
    instruction needs words."""
    out: list[str] = []
    stack: list[Any] = [obj[f] for f in reversed(fields) if f in obj]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if word_count(node) >= PROSE_WORDS:
                out.append(node)
        elif isinstance(node, dict):
            stack.extend(v for k, v in reversed(node.items()) if k not in _NOT_TEXT and k != "arguments")
            arguments = node.get("arguments")
            if isinstance(arguments, str):
                stack.append(_arguments(arguments))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return out


def _arguments(text: str) -> Any:
    """Tool-call arguments: their JSON values when they parse (strictly: no lone surrogates, bounded depth and
    numbers), else the raw string."""
    try:
        return load_json(text.encode("utf-8"))
    except RequestError:
        return text


def openai_answers(body: Any) -> list[str]:
    """The answer text of each choice (empty list when the body is not a chat completion)."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return []
    out = []
    for choice in body["choices"]:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        out.append(content if isinstance(content, str) else "")
    return out


def guardrail_field(assessment: Assessment, revision: str, citations: bool) -> dict[str, Any]:
    """The `guardrail` object added to responses: verdict, score, revision, the stable reason code and
    (optionally) citations. Never the details (`assessment.reason`: claim text, backend errors), which go
    to the audit log only."""
    out: dict[str, Any] = {
        "verdict": assessment.verdict,
        "score": round(assessment.score, 4),
        "revision": revision,
        "reason": assessment.code,
    }
    if citations:
        seen: dict[str, dict[str, Any]] = {}
        for claim in assessment.claims:
            ev = claim.evidence
            if ev is not None and ev.id not in seen:
                seen[ev.id] = {"id": ev.id, "source": ev.source, "text": ev.text}
        out["citations"] = list(seen.values())
    return out


def annotate_openai(body: dict[str, Any], field: dict[str, Any], refusal: str | None) -> dict[str, Any]:
    """The response with the `guardrail` field; with `refusal`, every answer replaced by it."""
    out = copy.deepcopy(body)
    out["guardrail"] = field
    if refusal is not None:
        for choice in out.get("choices", []):
            choice["message"] = {"role": "assistant", "content": refusal, "refusal": refusal}
            choice["finish_reason"] = "content_filter"
    return out


def openai_refusal(refusal: str, model: str, field: dict[str, Any]) -> dict[str, Any]:
    """A complete chat completion carrying a refusal (for requests refused before reaching the app)."""
    return {
        "id": f"chatcmpl-guardrail-{time.time_ns():x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": refusal, "refusal": refusal},
                "finish_reason": "content_filter",
            }
        ],
        "guardrail": field,
    }


def get_path(obj: Any, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c`), or None."""
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def set_path(obj: Any, path: str, value: Any) -> Any:
    """A copy of `obj` with `value` at a dotted path (missing objects are created)."""
    out = copy.deepcopy(obj)
    parts = path.split(".")
    node = out
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) and part.isdigit() else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return out


def parse_json_request(body: Any, fields: JsonFields) -> ScoringRequest:
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_request", "request body must be a JSON object")
    question = get_path(body, fields.question_path)
    if not isinstance(question, str):
        raise RequestError(400, "invalid_request", f"`{fields.question_path}` must be a string")
    context = get_path(body, fields.context_path)
    if context is None:
        passages: tuple[str, ...] = ()
    elif isinstance(context, str):
        passages = (context,)
    elif isinstance(context, list) and all(isinstance(c, str) for c in context):
        passages = tuple(context)
    else:
        raise RequestError(400, "invalid_request", f"`{fields.context_path}` must be a string or list of strings")
    documents = tuple(p for p in passages if p.strip())
    return ScoringRequest(question, documents, untrusted=(question, *documents))


def json_answer(body: Any, fields: JsonFields) -> str | None:
    answer = get_path(body, fields.answer_path)
    return answer if isinstance(answer, str) else None
