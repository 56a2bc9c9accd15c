"""The python-backend flavour of the repository: config, model.py, and `guardrail model package --backend python`."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from guardrail_cli.main import cli
from guardrail_contract import tensors
from guardrail_models.python_backend import MODEL_PY, CpuServing, render_python_config, write_python_repository
from guardrail_models.repository import default_repository, render_config
from guardrail_models.specs import injection_info, nli_info


def test_python_config_is_cpu_python_backend_with_the_same_tensors_as_production() -> None:
    config = render_python_config(nli_info(), CpuServing(max_queue_delay_us=0, threads=2, instances=2))
    production = render_config(nli_info())
    assert 'backend: "python"' in config
    assert "kind: KIND_CPU" in config
    assert "max_queue_delay_microseconds: 0" in config
    assert 'key: "intra_op_threads" value: { string_value: "2" }' in config
    assert "instance_group [ { count: 2, kind: KIND_CPU } ]" in config
    assert "allow_ragged_batch" not in config  # by default only requests of equal length are batched
    ragged = render_python_config(nli_info(), CpuServing(ragged=True))
    assert ragged.count("allow_ragged_batch: true") == 3  # the three token inputs, not the score
    for name in (tensors.INPUT_IDS, tensors.ATTENTION_MASK, tensors.TOKEN_TYPE_IDS, tensors.SCORE_OUTPUT):
        assert f'name: "{name}"' in config
    # clients see the same shapes: a score is dims [1] in both; only production reshapes it for ONNX Runtime
    assert config.count("dims: [ 1 ]") == production.count("dims: [ 1 ]") == 1
    assert "reshape" not in config
    assert "onnxruntime" not in config


def test_injection_python_config_takes_the_embedding_vector() -> None:
    config = render_python_config(injection_info())
    assert f'name: "{tensors.INJECTION_INPUT}"' in config
    assert "dims: [ 384 ]" in config
    assert "max_batch_size: 256" in config


def test_package_backend_python_writes_model_py_and_cpu_configs(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    result = CliRunner().invoke(cli, ["model", "package", "--out", str(out), "--backend", "python"])
    assert result.exit_code == 0, result.output
    for name in (tensors.NLI_MODEL, tensors.EMBEDDING_MODEL, tensors.INJECTION_MODEL):
        assert 'backend: "python"' in (out / name / "config.pbtxt").read_text()
        version = out / name / "1"
        assert (version / tensors.MODEL_FILE).read_bytes() == (
            default_repository() / name / "1" / "model.onnx"
        ).read_bytes()
        ast.parse((version / MODEL_PY).read_text())  # a real Python module
        assert not (version / MODEL_PY).is_symlink()
    assert (out / tensors.NLI_MODEL / "1" / tensors.TOKENIZER_FILE).is_file()


def test_default_package_stays_the_onnxruntime_flavour(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    result = CliRunner().invoke(cli, ["model", "package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert 'platform: "onnxruntime_onnx"' in (out / "nli" / "config.pbtxt").read_text()
    assert not (out / "nli" / "1" / MODEL_PY).exists()


def test_linked_flavour_points_at_the_source_files(tmp_path: Path) -> None:
    models = write_python_repository(default_repository(), tmp_path, link=True)
    assert sorted(n for n, _ in models) == ["embedding", "injection", "nli"]
    onnx = tmp_path / "nli" / "1" / tensors.MODEL_FILE
    assert onnx.is_symlink()
    assert onnx.resolve() == (default_repository() / "nli" / "1" / tensors.MODEL_FILE).resolve()
