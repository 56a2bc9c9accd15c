"""KServe v2 gRPC service (the `inference.GRPCInferenceService` that Triton implements)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type stubs
import numpy as np
from numpy.typing import NDArray
from tritonclient.grpc import service_pb2, service_pb2_grpc

from .repository import NUMPY_TYPES, InferenceFailed, ModelNotFound, Repository

_CONTENTS_FIELD = {
    "INT64": "int64_contents",
    "INT32": "int_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BOOL": "bool_contents",
}


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]  # generated, untyped
    def __init__(self, repository: Repository) -> None:
        self._repo = repository

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerReadyResponse(ready=True)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerMetadataResponse(name="guardrail-v2server", version="0.1.0")

    async def ModelReady(self, request: Any, context: Any) -> Any:
        try:
            self._repo.get(request.name, request.version)
        except ModelNotFound:
            return service_pb2.ModelReadyResponse(ready=False)
        return service_pb2.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        try:
            model = self._repo.get(request.name, request.version)
        except ModelNotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        meta = model.metadata()
        tensor = service_pb2.ModelMetadataResponse.TensorMetadata
        return service_pb2.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in model.inputs],
            outputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in model.outputs],
        )

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        try:
            model = self._repo.get(request.model_name, request.model_version)
            inputs = _decode(request)
            names = [o.name for o in request.outputs]
            results = await asyncio.to_thread(model.infer, inputs, names)
        except ModelNotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except (InferenceFailed, ValueError, KeyError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        response = service_pb2.ModelInferResponse(model_name=model.name, model_version=model.version, id=request.id)
        for name, array in results.items():
            datatype = next(k for k, v in NUMPY_TYPES.items() if np.dtype(v) == array.dtype)
            response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())
        return response


def _decode(request: Any) -> dict[str, NDArray[Any]]:
    out: dict[str, NDArray[Any]] = {}
    for i, item in enumerate(request.inputs):
        dtype = NUMPY_TYPES.get(item.datatype)
        if dtype is None:
            raise InferenceFailed(f"datatype {item.datatype} not supported")
        if i < len(request.raw_input_contents):
            array = np.frombuffer(request.raw_input_contents[i], dtype=dtype)
        else:
            array = np.asarray(getattr(item.contents, _CONTENTS_FIELD[item.datatype]), dtype=dtype)
        out[item.name] = array.reshape(list(item.shape))
    return out


def build_server(repository: Repository, address: str) -> grpc.aio.Server:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(repository), server)
    server.add_insecure_port(address)
    return server
