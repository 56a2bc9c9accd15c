"""Repository layout, config rendering, manifest checksums."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail_models.errors import ChecksumError, RepositoryError
from guardrail_models.manifest import verify, write_manifest
from guardrail_models.repository import REPOSITORY_ENV, ModelInfo, default_repository, model_dir, render_config
from guardrail_models.specs import info_for, injection_info, nli_info


def test_nli_config_declares_the_contract_tensors_and_dynamic_batching() -> None:
    config = render_config(nli_info())
    assert 'platform: "onnxruntime_onnx"' in config
    for name in ("input_ids", "attention_mask", "token_type_ids", "score"):
        assert f'name: "{name}"' in config
    assert "dynamic_batching" in config
    assert "reshape: { shape: [ ] }" in config  # score is [batch]: Triton needs the reshape


def test_injection_head_takes_the_embedding_vector() -> None:
    config = render_config(injection_info())
    assert 'name: "embedding"' in config
    assert "dims: [ 384 ]" in config
    assert "input_ids" not in config


def test_model_info_round_trips_through_json() -> None:
    info = info_for("nli", name="minicheck", max_length=512)
    assert ModelInfo.from_json(info.to_json()) == info
    assert info.name == "minicheck"


def test_malformed_model_json_is_a_repository_error() -> None:
    with pytest.raises(RepositoryError, match="malformed"):
        ModelInfo.from_json('{"name": "x"}')


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="guardrail model package"):
        model_dir(tmp_path, "nli")


def test_default_repository_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REPOSITORY_ENV, str(tmp_path))
    assert default_repository() == tmp_path
    monkeypatch.setenv(REPOSITORY_ENV, str(tmp_path / "nope"))
    with pytest.raises(RepositoryError, match=REPOSITORY_ENV):
        default_repository()


def test_manifest_detects_changed_missing_and_unlisted_files(tmp_path: Path) -> None:
    (tmp_path / "repository" / "nli" / "1").mkdir(parents=True)
    model = tmp_path / "repository" / "nli" / "1" / "model.onnx"
    model.write_bytes(b"weights")
    (tmp_path / "repository" / "nli" / "config.pbtxt").write_text("x")
    with pytest.raises(ChecksumError):
        verify(tmp_path)
    write_manifest(tmp_path, {"note": "test"})
    assert verify(tmp_path) == []
    model.write_bytes(b"tampered")
    (tmp_path / "repository" / "nli" / "config.pbtxt").unlink()
    (tmp_path / "extra.txt").write_text("x")
    problems = verify(tmp_path)
    assert "checksum mismatch: repository/nli/1/model.onnx" in problems
    assert "missing: repository/nli/config.pbtxt" in problems
    assert "not in manifest: extra.txt" in problems
