"""The OCI archives `ctr images import` reads: blobs addressed by their sha256, each image named, layers shared."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from guardrail_images.oci import ImageSpec, Layer, qualified, write_archive, write_digest


def _layer(tmp_path: Path, name: str, files: dict[str, bytes]) -> Layer:
    path = tmp_path / f"{name}.tar"
    with tarfile.open(path, "w") as tar:
        for arcname, data in files.items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    write_digest(path)
    return Layer.of(path)


def test_archive_names_every_image_and_stores_shared_layers_once(tmp_path: Path) -> None:
    base = _layer(tmp_path, "base", {"usr/bin/python3": b"#!"})
    app = _layer(tmp_path, "app", {"opt/app.py": b"print(1)"})
    images = [
        ImageSpec("guardrail-operator:dev", [base, app], entrypoint=["guardrail-operator"], user="65532:65532"),
        ImageSpec("guardrail-sidecar:dev", [base, app], entrypoint=["guardrail-sidecar"], user="65532:65532"),
    ]
    out = tmp_path / "images.tar"
    write_archive(images, out)

    with tarfile.open(out) as tar:
        names = tar.getnames()
        blobs = {n.rsplit("/", 1)[1]: tar.extractfile(n).read() for n in names if n.startswith("blobs/")}  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert "oci-layout" in names
    assert len([n for n in names if n.endswith(base.digest)]) == 1  # shared layer stored once
    for digest, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == digest
    refs = {m["annotations"]["io.containerd.image.name"]: m for m in index["manifests"]}
    assert set(refs) == {"docker.io/library/guardrail-operator:dev", "docker.io/library/guardrail-sidecar:dev"}
    manifest = json.loads(blobs[refs["docker.io/library/guardrail-sidecar:dev"]["digest"].split(":")[1]])
    config = json.loads(blobs[manifest["config"]["digest"].split(":")[1]])
    assert config["config"]["Entrypoint"] == ["guardrail-sidecar"]
    assert config["config"]["User"] == "65532:65532"
    # An uncompressed layer's diff ID is its digest.
    assert config["rootfs"]["diff_ids"] == [f"sha256:{base.digest}", f"sha256:{app.digest}"]
    assert [layer["digest"] for layer in manifest["layers"]] == config["rootfs"]["diff_ids"]


def test_short_names_are_qualified_as_the_kubelet_does() -> None:
    assert qualified("guardrail-pause:dev") == "docker.io/library/guardrail-pause:dev"
    assert qualified("team/app:1") == "docker.io/team/app:1"
    assert qualified("registry.local:5000/app:1") == "registry.local:5000/app:1"
