"""Items a client adds to a conversation of the Responses API (`POST /v1/conversations` with `items`, `POST
/v1/conversations/{id}/items`) beside a scored `/v1/responses`: a later response reads them as its input, so
they get the request-side prompt-injection check a Responses request's `input` gets (the same reader). An
injection is refused in the API's error shape (403 `prompt_injection`; 503 `backend_unavailable` when the check
cannot run under fail-closed); a body the sidecar cannot read is a 400 naming the problem; anything else is
forwarded as it came (decoded)."""

from __future__ import annotations

from aiohttp import web

from guardrail_sidecar.apis import responses
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.scored_path.handler import check_injection, refused_request
from guardrail_sidecar.scored_path.protocols import load_json
from guardrail_sidecar.scored_path.reporting import record
from guardrail_sidecar.server.http import error_response
from guardrail_sidecar.server.proxy import ReverseProxy

INJECTION_MESSAGE = "conversation items refused: prompt injection detected"
UNAVAILABLE_MESSAGE = "conversation items refused: the prompt-injection check is unavailable (fail-closed)"


async def handle_items(proxy: ReverseProxy, request: web.Request, required: bool) -> web.StreamResponse:
    """Check the `items` of a conversation request (`required`: the items call, which must carry them), then
    forward it, or refuse it."""
    sticky = proxy.config.routing.sticky_header
    pipeline = proxy.revisions.pick(request.headers.get(sticky) if sticky else None)
    headers = {"x-guardrail-revision": pipeline.revision}
    try:
        body = await proxy.read_body(request, plain=True)
        data = {} if not body.strip() and not required else load_json(body)  # a create call may send no body
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(data, dict) or (items is None and required) or not isinstance(items, (list, type(None))):
            raise RequestError(400, "invalid_request", "`items` must be a list of input items")
        try:
            scoring_request = responses.parse_request({"input": items or []})
        except RequestError as exc:  # named as the client wrote it
            raise RequestError(exc.status, exc.code, exc.message.replace("`input", "`items")) from exc
    except RequestError as exc:
        return refused_request(proxy, exc, pipeline.revision, headers)
    if scoring_request.untrusted:
        injection = await check_injection(pipeline, scoring_request)
        if injection is not None:
            _, request_id = proxy.request_id(request)
            record(proxy, pipeline, injection, request_id, "prompt_injection")
            if injection.verdict == "block":
                code = "backend_unavailable" if injection.backend_error else "prompt_injection"
                proxy.metrics.refused.labels(pipeline.revision, code).inc()
                status, message = (503, UNAVAILABLE_MESSAGE) if injection.backend_error else (403, INJECTION_MESSAGE)
                return error_response(status, code, message, headers)
    return await proxy.passthrough(request, pipeline.revision, body)
