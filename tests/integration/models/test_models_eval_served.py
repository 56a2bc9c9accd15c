"""`guardrail eval` through servers: a real Triton process (yours, or one the command starts) and the sidecar
end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guardrail_cli.main import cli
from guardrail_contract.sidecar_config import Policy
from guardrail_devcluster.cluster import free_port
from guardrail_models.repository import default_repository
from tests.support.triton import triton_server

pytestmark = pytest.mark.integration

REPOSITORY = default_repository()
DEV_SET = REPOSITORY.parent / "eval" / "halueval_dev.jsonl"
SIDECAR_CONFIG = REPOSITORY.parents[1] / "examples" / "sidecar-local.yaml"


@pytest.fixture(scope="module")
def triton_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with triton_server(tmp_path_factory.mktemp("triton")) as server:
        yield f"grpc://{server.spec.ports.grpc_url}"


def _ranking(args: list[str]) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["eval", str(DEV_SET), "--bootstrap", "100", "--json", *args])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.output)["ranking"]}


def test_triton_and_sidecar_rank_beside_the_embedded_scorer(triton_grpc: str) -> None:
    specs = [
        f"embedded={REPOSITORY}",
        f"triton={triton_grpc}@0.4",
        "local=triton:",  # a Triton the command starts and stops itself
        f"e2e=sidecar:{SIDECAR_CONFIG}",
    ]
    rows = _ranking(["--limit", "200", *[arg for spec in specs for arg in ("--compare", spec)]])
    assert set(rows) == {"embedded", "triton", "local", "e2e", "length-only"}
    # Triton runs the same ONNX file as the embedded scorer: the same ranking quality, its own threshold
    assert rows["triton"]["auroc"] == pytest.approx(rows["embedded"]["auroc"], abs=1e-6)
    assert rows["local"]["auroc"] == rows["triton"]["auroc"]
    assert rows["triton"]["threshold"] == 0.4
    # the sidecar (claims, weakest claim, its policy threshold) still separates supported from hallucinated
    assert rows["e2e"]["threshold"] == Policy().threshold  # from the config's policy (examples/sidecar-local.yaml)
    assert rows["e2e"]["auroc"] > rows["length-only"]["auroc"]
    for name in ("triton", "local", "e2e"):
        assert rows[name]["latency_ms"]["p50"] > 0


def test_unreachable_server_is_a_clear_error() -> None:
    port = free_port()
    result = CliRunner().invoke(cli, ["eval", str(DEV_SET), "--limit", "10", "--compare", f"x=grpc://127.0.0.1:{port}"])
    assert result.exit_code != 0
    assert "the v2 server is not usable" in result.output


def test_bad_sidecar_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text("routing: {stable: {revision: r, models: {backend: triton}}}\n")
    result = CliRunner().invoke(cli, ["eval", str(DEV_SET), "--limit", "10", "--compare", f"x=sidecar:{config}"])
    assert result.exit_code != 0
    assert str(config) in result.output
    assert "models.triton.url" in result.output
