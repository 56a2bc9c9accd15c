"""OCI image layouts written from plain layer tarballs, in the archive form `ctr images import` reads.

Layers are uncompressed tars (media type `...layer.v1.tar`): the digest of the blob is its diff ID, and no CPU
goes into gzip on a two-core machine. One archive carries several images; blobs they share are stored once.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class Layer:
    """A layer tarball on disk and its sha256 (hex)."""

    path: Path
    digest: str

    @classmethod
    def of(cls, path: Path) -> Layer:
        """The layer at `path`, its digest read from `<path>.sha256` (written by `write_digest`)."""
        return cls(path, Path(f"{path}.sha256").read_text().strip())

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def write_digest(path: Path) -> str:
    """Hash a finished layer once and keep the digest beside it (`<path>.sha256`)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    Path(f"{path}.sha256").write_text(digest.hexdigest() + "\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class ImageSpec:
    """One image: its reference (as containerd names it), its layers bottom-up and its run-time settings."""

    ref: str
    layers: Sequence[Layer]
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Sequence[str] = ()
    user: str = ""
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"Env": list(self.env), "WorkingDir": self.workdir, "Labels": dict(self.labels)}
        if self.entrypoint:
            cfg["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            cfg["Cmd"] = list(self.cmd)
        if self.user:
            cfg["User"] = self.user
        return {
            "architecture": "amd64",
            "os": "linux",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer.digest}" for layer in self.layers]},
        }


def qualified(ref: str) -> str:
    """`name:tag` as containerd and the kubelet name it: `docker.io/library/name:tag`."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def _blob(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


def write_archive(images: Sequence[ImageSpec], out: Path) -> None:
    """Write an OCI layout archive holding `images` (each named by the `io.containerd.image.name` annotation)."""
    tmp = out.with_name(out.name + ".tmp")
    written: set[str] = set()
    manifests: list[dict[str, Any]] = []
    with tarfile.open(tmp, "w") as tar:

        def add_bytes(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            import io

            tar.addfile(info, io.BytesIO(data))

        for image in images:
            for layer in image.layers:
                if layer.digest not in written:
                    tar.add(str(layer.path), arcname=f"blobs/sha256/{layer.digest}", recursive=False)
                    written.add(layer.digest)
            config_digest, config = _blob(json.dumps(image.config(), sort_keys=True).encode())
            if config_digest not in written:
                add_bytes(f"blobs/sha256/{config_digest}", config)
                written.add(config_digest)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {"mediaType": CONFIG_TYPE, "digest": f"sha256:{config_digest}", "size": len(config)},
                "layers": [
                    {"mediaType": LAYER_TYPE, "digest": f"sha256:{layer.digest}", "size": layer.size}
                    for layer in image.layers
                ],
            }
            manifest_digest, manifest_bytes = _blob(json.dumps(manifest, sort_keys=True).encode())
            if manifest_digest not in written:
                add_bytes(f"blobs/sha256/{manifest_digest}", manifest_bytes)
                written.add(manifest_digest)
            name = qualified(image.ref)
            manifests.append(
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(manifest_bytes),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                    },
                }
            )
        add_bytes("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests}
        add_bytes("index.json", json.dumps(index, sort_keys=True).encode())
    tmp.rename(out)
