"""Reading the app's answer: every text a client could be shown, or the reason it cannot be read.

The sidecar checks what a client could read, not only `choices[].message.content`: content-part arrays,
`refusal` and reasoning fields, tool-call and function-call arguments, legacy `text` choices, text outside
`choices`, plain-text bodies and SSE bodies sent to a non-streaming request. Only identifiers and metadata
(`METADATA_KEYS`) are skipped. A body that cannot be read as text (invalid JSON, not UTF-8, an unknown content
coding, nesting deeper than `MAX_DEPTH`) raises `Unreadable`; `policy.onUnreadableAnswer` decides then.

Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from multidict import CIMultiDict

from guardrail_contract.sidecar_config import JsonFields
from guardrail_sidecar.scored_path import sse
from guardrail_sidecar.scored_path.protocols import get_path, set_path, word_count
from guardrail_sidecar.server.http import end_to_end

MAX_DEPTH = 64
# Keys whose short string values (see `is_metadata`) are identifiers or metadata, not text shown as the answer.
METADATA_KEYS = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
        "role",
        "type",
        "finish_reason",
        "index",
        "name",
        "tool_call_id",
        "detail",
        "url",
        "image_url",
    }
)
OVERWRITTEN_KEYS = frozenset({"guardrail"})  # the sidecar writes its own in every answer it forwards
_WORDS = re.compile(r"\S+")  # whitespace-separated: ids and model names are one "word"
MAX_METADATA_CHARS = 256
# Per-token copies of the answer (token strings and bytes): not read, and removed from what clients get.
DROPPED_KEYS = frozenset({"logprobs"})
GUARDRAIL_HEADER_PREFIX = "x-guardrail-"
# Response headers whose values are structured (dates, directives, cookies), forwarded on scored paths as they are.
STANDARD_HEADERS = frozenset(
    {
        "date",
        "expires",
        "last-modified",
        "cache-control",
        "set-cookie",
        "link",
        "vary",
        "www-authenticate",
        "retry-after",
        "strict-transport-security",
        "content-security-policy",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-expose-headers",
    }
)
Kind = Literal["json", "text", "sse", "empty"]


class Unreadable(Exception):
    """The answer's text cannot be extracted; the message says why (for the audit log)."""


def check_depth(value: Any) -> None:
    """An event nested deeper than MAX_DEPTH is unreadable (and must not exhaust the stack)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Unreadable(f"a stream event nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


@dataclass
class Extracted:
    """The texts of an answer: `answers` (each checked as answer text) and `structured` (tool and function
    arguments: only their sentences are checked, so short values like a city name are not claims)."""

    kind: Kind
    data: Any = None
    answers: list[str] = field(default_factory=list)
    structured: list[str] = field(default_factory=list)
    raw_arguments: list[str] = field(default_factory=list)  # as sent (stream deltas are joined before reading)


def is_metadata(value: Any) -> bool:
    """A value that reads as an identifier (an id, a model name, a number), not as text: fewer than three
    whitespace-separated words. Longer strings under metadata keys are read as text, so they cannot carry an
    answer past the check. Invisible characters (zero-width spaces, joiners, bidi marks) count as spaces: a
    sentence whose words they separate renders as a sentence, not as an id."""
    if isinstance(value, str):
        return len(value) <= MAX_METADATA_CHARS and word_count(value) < 3
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_parts(value: list[Any]) -> bool:
    return all(isinstance(v, str) or (isinstance(v, dict) and "type" in v) for v in value)


def _walk(value: Any, out: Extracted, depth: int, metadata: bool = True) -> str:
    """The text in `value` (arguments go to `out.structured`); metadata keys are skipped when `metadata`."""
    if depth > MAX_DEPTH:
        raise Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [t for v in value if (t := _walk(v, out, depth + 1, metadata))]
        return ("" if _is_parts(value) else "\n").join(texts)
    if isinstance(value, dict):
        texts = []
        for key, item in value.items():
            if metadata and (key in DROPPED_KEYS or key in OVERWRITTEN_KEYS):
                continue
            if metadata and key in METADATA_KEYS and (is_metadata(item) or item is None):
                continue
            if key == "arguments" and isinstance(item, str):
                out.raw_arguments.append(item)
                out.structured.append(arguments_text(item, depth))
                continue
            if text := _walk(item, out, depth + 1, metadata):
                texts.append(text)
        return "\n".join(texts)
    return ""  # numbers, booleans, null


def arguments_text(raw: str, depth: int = 0) -> str:
    """Tool/function-call arguments: the string values of their JSON (every key counts), or the raw text."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    return _walk(parsed, Extracted("json"), depth + 1, metadata=False)


def openai_texts(data: Any) -> Extracted:
    """Each choice's text (message, delta or legacy `text`), then any text elsewhere in the body."""
    out = Extracted("json", data)
    choices = data.get("choices") if isinstance(data, dict) else None
    if isinstance(choices, list):
        for choice in choices:
            out.answers.append(_walk(choice, out, 1))
        rest = {k: v for k, v in data.items() if k != "choices"}
    else:
        rest = data
    if text := _walk(rest, out, 1):
        out.answers.append(text)
    return out


def json_texts(data: Any, fields: JsonFields) -> Extracted:
    """The `json` protocol: the text at `answerPath` (a string, content parts or an object's strings), then
    any prose elsewhere in the body (strings of three words or more; shorter ones are ids and labels)."""
    answer = get_path(data, fields.answer_path)
    if answer is None:
        raise Unreadable(f"no answer at `{fields.answer_path}`")
    out = Extracted("json", data)
    out.answers.append(_walk(answer, out, 1))
    rest = set_path(data, fields.answer_path, None)
    if prose := "\n".join(_prose(rest, 1)):
        out.answers.append(prose)
    return out


def _prose(value: Any, depth: int) -> list[str]:
    if depth > MAX_DEPTH:
        raise Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return [] if is_metadata(value) else [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [t for v in items for t in _prose(v, depth + 1)]


def without_prose(data: Any) -> Any:
    """`data` with every string of three words or more removed (what is left of a blocked answer's body)."""
    if isinstance(data, dict):
        return {k: without_prose(v) for k, v in data.items() if not (isinstance(v, str) and not is_metadata(v))}
    if isinstance(data, list):
        return [without_prose(v) for v in data if not (isinstance(v, str) and not is_metadata(v))]
    return data


def is_json_type(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main in ("application/json", "text/json") or (main.startswith("application/") and main.endswith("+json"))


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Unreadable(f"a JSON answer that is not UTF-8 (byte {exc.start})") from exc
    except RecursionError as exc:
        raise Unreadable("a JSON answer nested too deep") from exc
    except ValueError as exc:
        raise Unreadable(f"invalid JSON: {exc}") from exc


def sse_texts(payload: bytes, limit: int) -> Extracted:
    """An SSE body (sent to a request that did not ask for a stream): the text of all its events (`data`: the
    parsed events, which are what is forwarded when it passes)."""
    parser = sse.EventParser(limit)
    try:
        events = parser.feed(payload) + parser.finish()
    except ValueError as exc:
        raise Unreadable(str(exc)) from exc
    parsed: list[Any] = []
    out = Extracted("sse", parsed)
    per_choice: dict[int, list[str]] = {}
    for event in events:
        if event.data is None or event.data.strip() == sse.DONE:
            continue
        found = openai_texts(_json(event.data.encode()))
        parsed.append(found.data)
        out.raw_arguments += found.raw_arguments
        for i, text in enumerate(found.answers):
            per_choice.setdefault(i, []).append(text)
    out.answers = ["".join(texts) for texts in per_choice.values()]
    if out.raw_arguments:  # argument deltas: one JSON text once joined
        out.structured = [arguments_text("".join(out.raw_arguments))]
    return out


def read_answer(
    payload: bytes, content_type: str, protocol: Literal["openai", "json"], fields: JsonFields, limit: int
) -> Extracted:
    """The texts of a (decoded) 2xx answer body, whatever its content type; `Unreadable` when there are none
    to be had. JSON is recognised by its type or, for an untyped or octet-stream body, by parsing."""
    if not payload.strip():
        return Extracted("empty")
    main = content_type.split(";", 1)[0].strip().lower()
    if main == "text/event-stream":
        return sse_texts(payload, limit)
    data: Any = None
    if is_json_type(main):
        data = _json(payload)
    elif main in ("", "application/octet-stream"):
        try:
            data = _json(payload)
        except Unreadable:
            data = None
    if data is None and not is_json_type(main):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unreadable(f"a {main or 'untyped'} answer that is not UTF-8 text") from exc
        return Extracted("text", None, [text])
    return openai_texts(data) if protocol == "openai" else json_texts(data, fields)


def without_dropped(data: Any) -> Any:
    """`data` without DROPPED_KEYS anywhere in it (what a passing JSON answer is forwarded as)."""
    if isinstance(data, dict):
        return {k: without_dropped(v) for k, v in data.items() if k not in DROPPED_KEYS}
    if isinstance(data, list):
        return [without_dropped(v) for v in data]
    return data


def app_headers(headers: Iterable[tuple[str, str]], drop: Iterable[str] = (), scored: bool = False) -> CIMultiDict[str]:
    """The app's response headers as forwarded: end-to-end ones only, never the app's own `x-guardrail-*`
    (only the sidecar speaks for the guardrail). On a scored path (`scored`), a header whose value reads as
    text (three words or more) is dropped too, unless it is a standard one (`Date`, `Cache-Control`, ...): an
    answer must not travel in a header beside the checked body."""
    out = end_to_end(headers, drop)
    for key in list(out):
        name = key.lower()
        values = out.getall(key, [])
        texty = scored and name not in STANDARD_HEADERS and any(len(_WORDS.findall(v)) >= 3 for v in values)
        if texty or name.startswith(GUARDRAIL_HEADER_PREFIX):
            out.popall(key, None)
    return out
