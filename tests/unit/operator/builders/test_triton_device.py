"""`spec.triton.device`: gpu (default) renders the production flavour; cpu the python-backend flavour."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders import revisions_of
from guardrail_operator.builders.triton_cpu import CPU_MODEL_FILE
from support.children import first_children

MakeBody = Callable[..., dict[str, Any]]
FETCHER = "rclone/rclone:1.71.2"


def triton_children(make_body: MakeBody, **triton: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the Triton ConfigMap, the Triton Deployment) rendered for the example with `spec.triton` overrides."""
    body = make_body(triton=triton) if triton else make_body()
    guardrail = Guardrail.model_validate(body)
    children = first_children(guardrail, FETCHER)
    config = next(c for c in children if c["kind"] == "ConfigMap" and "-triton-" in c["metadata"]["name"])
    deployment = next(c for c in children if c["kind"] == "Deployment")
    return config, deployment


def test_default_device_is_the_gpu_onnxruntime_flavour(make_body: MakeBody) -> None:
    config, deployment = triton_children(make_body)
    assert Guardrail.model_validate(make_body()).spec.triton.device == "gpu"
    assert 'backend: "onnxruntime"' in config["data"]["nli.pbtxt"]
    assert "KIND_GPU" in config["data"]["nli.pbtxt"]
    assert CPU_MODEL_FILE not in config["data"]
    (triton,) = deployment["spec"]["template"]["spec"]["containers"]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_cpu_device_renders_the_python_backend_flavour_without_a_gpu(make_body: MakeBody) -> None:
    config, deployment = triton_children(make_body, device="cpu")
    for model in ("nli", "embedding", "injection"):
        pbtxt = config["data"][f"{model}.pbtxt"]
        assert 'backend: "python"' in pbtxt
        assert "KIND_CPU" in pbtxt
        assert "KIND_GPU" not in pbtxt
        assert "dynamic_batching { max_queue_delay_microseconds: 2000 }" in pbtxt
    source = config["data"][CPU_MODEL_FILE]
    tree = ast.parse(source)
    assert any(isinstance(n, ast.ClassDef) and n.name == "TritonPythonModel" for n in tree.body)
    assert "auto_complete_config" in source  # the rendered config declares no tensors: model.py does
    pod = deployment["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    script = fetch["command"][2]
    for model in ("nli", "embedding", "injection"):
        assert f"cp /model-config/{CPU_MODEL_FILE} /models/{model}/1/{CPU_MODEL_FILE}" in script
    (triton,) = pod["containers"]
    assert all("nvidia.com/gpu" not in values for values in triton["resources"].values())
    assert triton["resources"]["requests"]["cpu"] == "500m"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8002"
    assert {"name": "metrics", "containerPort": 8002} in triton["ports"]


def test_switching_device_rolls_the_triton_pods_but_is_not_a_new_revision(make_body: MakeBody) -> None:
    gpu, cpu = Guardrail.model_validate(make_body()), Guardrail.model_validate(make_body(triton={"device": "cpu"}))
    assert revisions_of(gpu) == revisions_of(cpu)  # the same models score the same: not a scoring change
    key = "guardrails.dev/config-checksum"
    (_, d_gpu), (_, d_cpu) = triton_children(make_body), triton_children(make_body, device="cpu")
    assert (
        d_gpu["spec"]["template"]["metadata"]["annotations"][key]
        != d_cpu["spec"]["template"]["metadata"]["annotations"][key]
    )


def test_unknown_device_is_rejected_with_the_field_named(make_body: MakeBody) -> None:
    with pytest.raises(ValidationError, match="device"):
        Guardrail.model_validate(make_body(triton={"device": "tpu"}))
