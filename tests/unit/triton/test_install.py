"""The Triton installer's cache: keyed by version, installed once, reinstalled when what it pins changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail_triton import install
from guardrail_triton.errors import TritonError
from guardrail_triton.server import Ports, TritonLaunch


def fake_installed(root: Path, requirements: list[str]) -> install.Installation:
    """A cache folder that looks installed: stamps, the binary and the stub."""
    found = install.Installation(root / f"triton-{install.SERVER_VERSION}")
    for folder, pins in ((found.server, [install.PYTRITON]), (found.python_site, requirements)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / install.STAMP).write_text("\n".join(pins) + "\n")
    for path in (found.binary, found.stub):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return found


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GUARDRAIL_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_cached_installation_is_used_without_pip(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = fake_installed(cache, install.model_requirements())

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran although everything was cached")

    monkeypatch.setattr(install, "_pip_target", no_pip)
    assert install.ensure_installed() == expected
    assert expected.root == cache / "triton-2.51.0"


def test_a_changed_model_requirement_reinstalls_only_the_model_python(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_installed(cache, ["numpy<2", "onnxruntime==0.0.1"])  # an older onnxruntime than the project's
    installed: list[list[str]] = []

    def record(folder: Path, requirements: list[str], no_deps: bool, log: Path) -> None:
        installed.append(requirements)
        (folder / install.STAMP).write_text("\n".join(requirements) + "\n")

    monkeypatch.setattr(install, "_pip_target", record)
    install.ensure_installed()
    assert installed == [install.model_requirements()]
    assert install.model_requirements()[0] == "numpy<2"  # numpy 2 breaks the 2.51 python backend stub


def test_a_wheel_without_a_stub_for_this_python_is_a_clear_error(cache: Path) -> None:
    found = fake_installed(cache, install.model_requirements())
    found.stub.unlink()
    with pytest.raises(TritonError, match="no python backend stub for Python"):
        install.ensure_installed()


def test_the_server_binds_loopback_only_with_all_three_ports(cache: Path) -> None:
    found = fake_installed(cache, install.model_requirements())
    launch = TritonLaunch(found, cache / "repo", Ports(1, 2, 3))
    argv = launch.argv
    for flag in ("--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1"):
        assert flag in argv
    assert {"--http-port=1", "--grpc-port=2", "--metrics-port=3"} <= set(argv)
    assert "--allow-gpu-metrics=false" in argv
    assert any(a.startswith("--exit-timeout-secs=") for a in argv)
    assert launch.env["LD_LIBRARY_PATH"].split(":")[0] == str(found.libs)
    assert launch.env["GUARDRAIL_TRITON_PYTHON_SITE"] == str(found.python_site)
