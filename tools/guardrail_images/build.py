"""Build the project's images without Docker or a registry, each layer cached by a hash of its inputs.

    base      debootstrap --variant=minbase of Debian bookworm with python3 (the host's Python 3.11, so wheels
              installed on the host run in the image) and the C++ runtime Triton links against (~130 MB)
    app       the project and its dependencies, `pip install --target` on the host into /opt/guardrail/site
              (byte-compiled: the root filesystem is read-only in the pods), plus /usr/local/bin scripts for
              every console script of the project
    tokenizers the sidecar's tokenizers and model.json, where the operator's revision config names them
    triton    NVIDIA's tritonserver from the nvidia-pytriton wheel (`make triton`), its python backend, the
              python-backend model's numpy + onnxruntime, the project's models under /opt/guardrail/models, and
              a `tritonserver` wrapper on PATH (sh, exec: the server itself is PID 1 and handles SIGTERM)
    pause     a static Go binary (the pod sandbox), no base

Images: guardrail-operator:dev, guardrail-sidecar:dev, guardrail-triton-cpu:dev, guardrail-pause:dev, all in
one OCI archive (`images.tar`) for `ctr -n k8s.io images import`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from guardrail_devcluster.build import cache_root
from guardrail_devcluster.cluster import REPO_ROOT

from .errors import ImageError, ImagePrerequisiteError
from .oci import ImageSpec, Layer, write_archive, write_digest

SUITE = "bookworm"
MIRROR = os.environ.get("GUARDRAIL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "libpython3.11", "libstdc++6")  # python3, not python3-minimal: that lacks json
SITE = "/opt/guardrail/site"
MODELS = "/opt/guardrail/models"
TOKENIZERS = "/opt/guardrail/tokenizers"  # guardrail_operator.builders.config.TOKENIZER_REPOSITORY
TRITON_HOME = "/opt/triton"
NONROOT = "65532:65532"  # the chart's runAsUser and the injected sidecar's UID
TRITON_USER = "1000:1000"  # builders.triton.TRITON_UID
TAG = "dev"
OPERATOR_IMAGE = f"guardrail-operator:{TAG}"
SIDECAR_IMAGE = f"guardrail-sidecar:{TAG}"
TRITON_IMAGE = f"guardrail-triton-cpu:{TAG}"
PAUSE_IMAGE = f"guardrail-pause:{TAG}"
PYTHON_ENV = ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", f"PYTHONPATH={SITE}")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PAUSE_GO = """package main

// The pod sandbox: sleep until SIGINT or SIGTERM, reaping any orphan re-parented to PID 1.
import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tsigs := make(chan os.Signal, 4)
\tsignal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range sigs {
\t\tif s == syscall.SIGCHLD {
\t\t\tfor {
\t\t\t\tvar ws syscall.WaitStatus
\t\t\t\tif pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
\t\t\t\t\tbreak
\t\t\t\t}
\t\t\t}
\t\t\tcontinue
\t\t}
\t\tos.Exit(0)
\t}
}
"""

TRITON_WRAPPER = f"""#!/bin/sh
# tritonserver from the nvidia-pytriton wheel, with its libraries, python backend and the model's packages.
export LD_LIBRARY_PATH={TRITON_HOME}/server/nvidia_pytriton.libs${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}
export GUARDRAIL_TRITON_PYTHON_SITE={TRITON_HOME}/python
exec {TRITON_HOME}/server/pytriton/tritonserver/bin/tritonserver \\
  --backend-directory={TRITON_HOME}/server/pytriton/tritonserver/backends "$@"
"""


def images_dir() -> Path:
    return cache_root() / "images"


def _log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _run(cmd: list[str], what: str, **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = (result.stderr or result.stdout or "")[-3000:]
        raise ImageError(f"{what} failed ({' '.join(cmd[:3])} … exit {result.returncode}):\n{tail}")


def _hash_files(digest: hashlib._Hash, root: Path, files: Iterable[Path]) -> None:
    for file in sorted(files):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())


def _tree(root: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (suffixes is None or p.suffix in suffixes)
    ]


def _cached_layer(name: str, key: str, make: Callable[[Path], None]) -> Layer:
    """The layer `<name>-<key>.tar`, made by `make(rootfs)` into a fresh folder and tarred, unless cached."""
    out = images_dir() / "layers" / f"{name}-{key[:16]}.tar"
    if out.is_file() and Path(f"{out}.sha256").is_file():
        return Layer.of(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _log(f"building layer {name} ({key[:16]})")
    with tempfile.TemporaryDirectory(prefix=f"layer-{name}-", dir=out.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        make(rootfs)
        partial = Path(tmp) / "layer.tar"
        # Numeric owners as on disk (root for the files we write); no atime or ctime headers (stable bytes).
        _run(
            [
                "tar",
                "--numeric-owner",
                "--format=posix",
                "--pax-option=delete=atime,delete=ctime",
                "-C",
                str(rootfs),
                "-cf",
                str(partial),
                ".",
            ],
            f"tar of layer {name}",
        )
        partial.rename(out)
    write_digest(out)
    for stale in out.parent.glob(f"{name}-*.tar"):  # keep one version per layer
        if stale != out:
            stale.unlink(missing_ok=True)
            Path(f"{stale}.sha256").unlink(missing_ok=True)
    _log(f"built layer {name} in {time.monotonic() - started:.0f}s ({out.stat().st_size / 1e6:.0f} MB)")
    return Layer.of(out)


# -- base ---------------------------------------------------------------------------------------------------
def base_layer() -> Layer:
    key = hashlib.sha256(f"{SUITE}\0{MIRROR}\0minbase\0{','.join(BASE_PACKAGES)}\0v2".encode()).hexdigest()

    def make(rootfs: Path) -> None:
        if os.geteuid() != 0:
            raise ImagePrerequisiteError("the base image is made with debootstrap, which needs root")
        if shutil.which("debootstrap") is None:
            raise ImagePrerequisiteError("debootstrap not found: run `make node-deps` (Debian's debootstrap)")
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), MIRROR],
            "debootstrap",
        )
        # What a container never needs: package caches and lists, device nodes (the runtime mounts /dev).
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "dev", "proc", "sys", "run", "tmp"):
            target = rootfs / sub
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
        (rootfs / "tmp").chmod(0o1777)
        # Like python:3.11-slim (docker/*.Dockerfile), no passwd entry for the UIDs the pods run as: the
        # product must not need one (kopf's detect_own_id did, through getpass).

    return _cached_layer("base", key, make)


# -- the project ----------------------------------------------------------------------------------------------
def _project_dirs() -> list[str]:
    """The folders setuptools finds the project's packages in (pyproject's packages.find.where)."""
    import tomllib

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    where: list[str] = config["tool"]["setuptools"]["packages"]["find"]["where"]
    return where


def _project_key() -> str:
    digest = hashlib.sha256(f"{sys.version}\0app-v1\0".encode())
    _hash_files(digest, REPO_ROOT, [REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md"])
    for top in _project_dirs():
        _hash_files(digest, REPO_ROOT, _tree(REPO_ROOT / top))
    return digest.hexdigest()


def _console_scripts(site: Path) -> dict[str, str]:
    """name -> `module:function` of every console script of the installed project."""
    scripts: dict[str, str] = {}
    for dist in site.glob("guardrail_operator-*.dist-info"):
        section = ""
        for line in (dist / "entry_points.txt").read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "console_scripts" and "=" in line:
                name, target = (part.strip() for part in line.split("=", 1))
                scripts[name] = target
    return scripts


def app_layer() -> Layer:
    def make(rootfs: Path) -> None:
        site = rootfs / SITE.lstrip("/")
        with tempfile.TemporaryDirectory(prefix="app-src-") as tmp:
            src = Path(tmp)
            for name in ("pyproject.toml", "README.md"):
                shutil.copy2(REPO_ROOT / name, src / name)
            for top in _project_dirs():
                shutil.copytree(REPO_ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-compile",
                    "--disable-pip-version-check",
                    "--target",
                    str(site),
                    str(src),
                ],
                "pip install of the project",
            )
        # Byte-compile with the paths the image sees (the image's root filesystem is read-only).
        _run(
            [sys.executable, "-m", "compileall", "-q", "-j", "1", "-s", str(rootfs), "-p", "/", str(site)],
            "compileall",
        )
        shutil.rmtree(site / "bin", ignore_errors=True)  # the host's shebangs; replaced below
        bin_dir = rootfs / "usr/local/bin"
        bin_dir.mkdir(parents=True)
        for name, target in _console_scripts(site).items():
            module, func = target.split(":")
            script = bin_dir / name
            script.write_text(f"#!/usr/bin/python3\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n")
            script.chmod(0o755)

    return _cached_layer("app", _project_key(), make)


def tokenizers_layer() -> Layer:
    sources = [
        REPO_ROOT / "models/repository" / model / "1" / file
        for model in ("nli", "embedding", "injection")
        for file in ("tokenizer.json", "model.json")
        if model != "injection" or (REPO_ROOT / "models/repository" / model / "1" / file).is_file()
    ]  # the injection model has a tokenizer when it is an encoder of its own, none as a head on the embedding
    digest = hashlib.sha256(b"tokenizers-v1\0")
    _hash_files(digest, REPO_ROOT, sources)

    def make(rootfs: Path) -> None:
        for file in sources:
            model = file.parent.parent.name
            dest = rootfs / TOKENIZERS.lstrip("/") / model / "1"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dest / file.name)

    return _cached_layer("tokenizers", digest.hexdigest(), make)


def triton_layer() -> Layer:
    from guardrail_triton.install import ensure_installed

    install = ensure_installed(echo=True)
    repository = REPO_ROOT / "models/repository"
    model_files = [p for p in _tree(repository) if p.parent.name.isdigit()]
    digest = hashlib.sha256(f"triton-v1\0{install.root}\0{TRITON_WRAPPER}\0".encode())
    for folder in (install.server, install.python_site):
        digest.update((folder / ".installed").read_bytes() if (folder / ".installed").is_file() else b"")
    _hash_files(digest, REPO_ROOT, model_files)

    def make(rootfs: Path) -> None:
        home = rootfs / TRITON_HOME.lstrip("/")
        home.mkdir(parents=True)
        shutil.copytree(install.server, home / "server", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(install.python_site, home / "python", symlinks=True)
        for file in model_files:
            dest = rootfs / MODELS.lstrip("/") / file.relative_to(repository)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dest)
        bin_dir = rootfs / "usr/local/bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "tritonserver").write_text(TRITON_WRAPPER)
        (bin_dir / "tritonserver").chmod(0o755)

    return _cached_layer("triton", digest.hexdigest(), make)


def pause_layer() -> Layer:
    key = hashlib.sha256(f"pause-v1\0{PAUSE_GO}".encode()).hexdigest()

    def make(rootfs: Path) -> None:
        go = shutil.which("go")
        if go is None:
            raise ImagePrerequisiteError("`go` not found on PATH: the pause image is a static Go binary")
        with tempfile.TemporaryDirectory(prefix="pause-src-") as tmp:
            src = Path(tmp)
            (src / "go.mod").write_text("module guardrail.dev/pause\n\ngo 1.21\n")
            (src / "main.go").write_text(PAUSE_GO)
            env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GOTOOLCHAIN": "local"}
            _run(
                [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(rootfs / "pause"), "."],
                "go build pause",
                cwd=src,
                env=env,
            )

    return _cached_layer("pause", key, make)


# -- images -------------------------------------------------------------------------------------------------
def image_specs() -> list[ImageSpec]:
    """Every image, building (or reusing) its layers."""
    base, app = base_layer(), app_layer()
    python_env = [PATH_ENV, *PYTHON_ENV]
    return [
        ImageSpec(OPERATOR_IMAGE, [base, app], entrypoint=["guardrail-operator"], env=python_env, user=NONROOT),
        ImageSpec(
            SIDECAR_IMAGE,
            [base, app, tokenizers_layer()],
            entrypoint=["guardrail-sidecar"],
            env=python_env,
            user=NONROOT,
        ),
        ImageSpec(TRITON_IMAGE, [base, triton_layer()], cmd=["tritonserver"], env=[PATH_ENV], user=TRITON_USER),
        ImageSpec(PAUSE_IMAGE, [pause_layer()], entrypoint=["/pause"], user="65535:65535"),
    ]


def build_archive() -> Path:
    """The OCI archive of every image (`images-<hash of the manifests>.tar`), written when its layers change."""
    specs = image_specs()
    key = hashlib.sha256(json.dumps([(s.ref, s.config()) for s in specs], sort_keys=True).encode()).hexdigest()
    out = images_dir() / f"images-{key[:16]}.tar"
    if not out.is_file():
        write_archive(specs, out)
        for stale in images_dir().glob("images-*.tar"):
            if stale != out:
                stale.unlink(missing_ok=True)
        _log(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB)")
    return out


def load(archive: Path, address: str, ctr: str = "ctr") -> None:
    """Import the archive into the node's containerd (namespace k8s.io, where the kubelet's CRI looks)."""
    _run([ctr, "--address", address, "-n", "k8s.io", "images", "import", str(archive)], "ctr images import")
