"""HTTP plumbing shared by the proxy paths: header filtering, bounded body reads, JSON error answers."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from multidict import CIMultiDict

from .errors import RequestError

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


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The whole request body, or a 413 when it is (or announces itself) larger than `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestError(413, "request_too_large", f"request body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "request_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An OpenAI-shaped JSON error, so clients report it instead of crashing on a traceback."""
    body = {"error": {"message": message, "type": "guardrail_error", "code": code}}
    return web.json_response(body, status=status, headers=headers)
