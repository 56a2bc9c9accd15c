"""Class 10 (sidecar side): a hostile or mistyped config is refused at start-up, naming the field, the way the
CRD refuses it (model names are DNS labels: no paths, no upper case, at most 63 characters)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import PYTHON, REPO

from .conftest import EMBEDDED, revision

pytestmark = pytest.mark.integration


BAD_NAMES = ["../../etc/passwd", "nli/1", "NLI", "nli_v2", "-nli", "n" * 64, ""]
MODELS = ["nli", "embedding", "injection"]


@pytest.mark.parametrize(("model", "name"), [(MODELS[i % 3], n) for i, n in enumerate(BAD_NAMES)])
def test_sidecar_refuses_a_model_name_the_crd_would_refuse(tmp_path: Path, model: str, name: str) -> None:
    stable = revision("stable", models=EMBEDDED | {model: {"name": name}})
    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump({"routing": {"stable": stable}}))
    run = subprocess.run(
        [PYTHON, "-m", "guardrail_sidecar", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    assert f"routing.stable.models.{model}.name" in run.stderr
