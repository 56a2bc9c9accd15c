"""HTTP plumbing shared by the proxy paths: header filtering, bounded body reads, JSON error answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web
from multidict import CIMultiDict

from guardrail_sidecar.errors import RequestError

DECODED_CODINGS = frozenset({"gzip", "deflate", "br"})  # what aiohttp's server decodes (zstd: not installed)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def end_to_end(headers: Iterable[tuple[str, str]], drop: Iterable[str] = ()) -> CIMultiDict[str]:
    """Headers without hop-by-hop ones (RFC 9110 §7.6.1, including those named in Connection) and `drop`."""
    items = list(headers)
    named = {t.strip().lower() for k, v in items if k.lower() == "connection" for t in v.split(",")}
    skip = HOP_BY_HOP | named | {d.lower() for d in drop}
    return CIMultiDict((k, v) for k, v in items if k.lower() not in skip)


def request_target(request: web.Request) -> str:
    """The request's path and query as sent (still percent-encoded). An absolute-form target (`POST
    http://host/path HTTP/1.1`, which a server must accept) is reduced to its path and query, so it is matched
    and forwarded like the same path sent the usual way."""
    raw = request.raw_path
    if raw.startswith("/"):
        return raw
    rel = request.rel_url
    return rel.raw_path + (f"?{rel.raw_query_string}" if rel.raw_query_string else "")


def decoded_coding(request: web.Request) -> str | None:
    """The request body's content coding when the server already decoded it (aiohttp decodes one of
    DECODED_CODINGS on its own), else None. Two Content-Encoding headers are refused: the server decodes by
    one of them, and the body would match neither. (A list in one header, `gzip, gzip`, is left undecoded: 415
    where the sidecar must read the body, forwarded as sent elsewhere.)"""
    codings = request.headers.getall("Content-Encoding", [])
    if len(codings) > 1:
        raise RequestError(415, "unsupported_content_encoding", "a request body may carry one Content-Encoding")
    coding = codings[0].strip().lower() if codings and codings[0].isascii() else None
    return coding if coding in DECODED_CODINGS else None


def request_headers(request: web.Request) -> CIMultiDict[str]:
    """The headers to forward with the request's (decoded) body: hop-by-hop ones, Content-Length (the client
    library sets it from the body) and a Content-Encoding the server already decoded are dropped, so the app
    gets a body that matches its labels."""
    drop = ["content-length"]
    if decoded_coding(request) is not None:
        drop.append("content-encoding")
    return end_to_end(request.headers.items(), drop=drop)


async def read_bounded(request: web.Request, limit: int, within: float | None = None, plain: bool = False) -> bytes:
    """The whole request body, decoded when it came compressed with a coding the server decodes (aiohttp does,
    within `limit`). 413 when it is (or announces itself) larger than `limit`, 408 when it takes longer than
    `within` seconds to arrive, 415 when `plain` (the sidecar must read it) and it carries another coding."""
    coding = decoded_coding(request)
    given = request.headers.get("Content-Encoding", "identity").strip().lower()
    if plain and coding is None and given not in ("", "identity"):
        raise RequestError(
            415,
            "unsupported_content_encoding",
            f"cannot check a request body with Content-Encoding {given[:40]!r}; send identity, "
            + ", ".join(sorted(DECODED_CODINGS)),
        )
    if coding is None and request.content_length is not None and request.content_length > limit:
        raise RequestError(413, "request_too_large", f"request body exceeds {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(within):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise RequestError(413, "request_too_large", f"request body exceeds {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise RequestError(408, "body_timeout", f"the request body did not arrive within {within:g}s") from exc
    except web.RequestPayloadError as exc:  # a corrupt compressed or chunked body
        raise RequestError(400, "invalid_body", "cannot read the request body: corrupt encoding") from exc
    return b"".join(chunks)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An OpenAI-shaped JSON error, so clients report it instead of crashing on a traceback."""
    body = {"error": {"message": message, "type": "guardrail_error", "code": code}}
    return web.json_response(body, status=status, headers=headers)
