"""KServe v2 REST endpoints (JSON tensors plus Triton's binary tensor extension)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from aiohttp import web
from numpy.typing import NDArray

from .repository import NUMPY_TYPES, InferenceFailed, ModelNotFound, Repository

_HEADER_LENGTH = "Inference-Header-Content-Length"
REPOSITORY: web.AppKey[Repository] = web.AppKey("repository", Repository)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _decode_inputs(header: dict[str, Any], binary: bytes) -> dict[str, NDArray[Any]]:
    out: dict[str, NDArray[Any]] = {}
    offset = 0
    for item in header.get("inputs", []):
        dtype = NUMPY_TYPES.get(item["datatype"])
        if dtype is None:
            raise InferenceFailed(f"datatype {item['datatype']} not supported")
        size = (item.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            array = np.frombuffer(binary[offset : offset + size], dtype=dtype)
            offset += size
        else:
            array = np.asarray(item["data"], dtype=dtype)
        out[item["name"]] = array.reshape(item["shape"])
    return out


def _encode_outputs(model: str, version: str, results: dict[str, NDArray[Any]], binary: set[str]) -> web.Response:
    outputs, blobs = [], []
    for name, array in results.items():
        datatype = next(k for k, v in NUMPY_TYPES.items() if np.dtype(v) == array.dtype)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if name in binary:
            blob = np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.reshape(-1).tolist()
        outputs.append(entry)
    header = json.dumps({"model_name": model, "model_version": version, "outputs": outputs}).encode()
    if not blobs:
        return web.Response(body=header, content_type="application/json")
    return web.Response(
        body=header + b"".join(blobs),
        headers={_HEADER_LENGTH: str(len(header))},
        content_type="application/octet-stream",
    )


async def infer(request: web.Request) -> web.Response:
    repo = request.app[REPOSITORY]
    try:
        model = repo.get(request.match_info["name"], request.match_info.get("version", ""))
    except ModelNotFound as exc:
        return _error(404, str(exc))
    body = await request.read()
    header_length = int(request.headers.get(_HEADER_LENGTH, len(body)))
    try:
        header = json.loads(body[:header_length])
        inputs = _decode_inputs(header, body[header_length:])
        requested = header.get("outputs") or []
        names = [o["name"] for o in requested]
        binary = {o["name"] for o in requested if (o.get("parameters") or {}).get("binary_data")}
        if (header.get("parameters") or {}).get("binary_data_output"):
            binary = set(names) or {o.name for o in model.outputs}
        results = await asyncio.to_thread(model.infer, inputs, names)
    except (InferenceFailed, ValueError, KeyError, TypeError) as exc:
        return _error(400, str(exc))
    return _encode_outputs(model.name, model.version, results, binary)


async def model_metadata(request: web.Request) -> web.Response:
    try:
        model = request.app[REPOSITORY].get(request.match_info["name"], request.match_info.get("version", ""))
    except ModelNotFound as exc:
        return _error(404, str(exc))
    return web.json_response(model.metadata())


async def model_ready(request: web.Request) -> web.Response:
    try:
        request.app[REPOSITORY].get(request.match_info["name"], request.match_info.get("version", ""))
    except ModelNotFound:
        return web.Response(status=400)
    return web.Response(status=200)


async def health(_: web.Request) -> web.Response:
    return web.Response(status=200)


async def server_metadata(_: web.Request) -> web.Response:
    return web.json_response({"name": "guardrail-v2server", "version": "0.1.0", "extensions": ["binary_tensor_data"]})


def build_app(repository: Repository) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[REPOSITORY] = repository
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.router.add_get(prefix, model_metadata)
        app.router.add_get(prefix + "/ready", model_ready)
        app.router.add_post(prefix + "/infer", infer)
    app.router.add_get("/v2/health/live", health)
    app.router.add_get("/v2/health/ready", health)
    app.router.add_get("/v2", server_metadata)
    return app
