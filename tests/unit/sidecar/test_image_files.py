"""The sidecar image is self-sufficient: the files its Dockerfile copies (through .dockerignore's build context)
include the tokenizers at the path the operator's revision config names.

No Docker here: the image's file list is computed from the final stage's COPY instructions, expanded against the
repository and filtered by .dockerignore with Docker's rules (last matching pattern wins, `!` re-includes, a
pattern matching a parent folder matches what is inside it).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path, PurePosixPath

import pytest

from guardrail_contract import tensors
from guardrail_operator.builders.config import TOKENIZER_REPOSITORY

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "docker" / "sidecar.Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REPOSITORY = ROOT / "models" / "repository"


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, regex) per .dockerignore line, in order."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = str(PurePosixPath(line.lstrip("!").strip("/")))
        rules.append((exclude, _regex(pattern)))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `path` (relative, POSIX) is sent to the builder: the last rule matching it or a parent decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for exclude, regex in rules:
        if any(regex.match(c) for c in candidates):
            excluded = exclude
    return not excluded


def final_stage_copies(text: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context in the Dockerfile's last stage."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    copies = []
    for line in lines[last_from + 1 :]:
        words = line.split()
        if words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue  # from another stage, not the build context
        copies.append((args[:-1], args[-1]))
    return copies


def image_files(dockerfile: str, dockerignore: str) -> dict[str, Path]:
    """Path in the image → source file, for every context file the final stage copies."""
    rules = ignore_rules(dockerignore)
    out: dict[str, Path] = {}
    for sources, dest in final_stage_copies(dockerfile):
        into_folder = dest.endswith("/") or len(sources) > 1
        for source in sources:
            for match in sorted(ROOT.glob(source)) if any(c in source for c in "*?[") else [ROOT / source]:
                files = [match] if match.is_file() else [f for f in match.rglob("*") if f.is_file()]
                for file in files:
                    rel = file.relative_to(ROOT).as_posix()
                    if not in_context(rel, rules):
                        continue
                    inside = file.name if match.is_file() else file.relative_to(match).as_posix()
                    target = f"{dest.rstrip('/')}/{inside}" if into_folder or match.is_dir() else dest
                    out[target] = file
    return out


def test_the_sidecar_image_carries_every_tokenizer_where_the_operator_points_the_sidecar() -> None:
    files = image_files(DOCKERFILE.read_text(), DOCKERIGNORE.read_text())
    tokenizers = sorted(REPOSITORY.glob(f"*/*/{tensors.TOKENIZER_FILE}"))
    assert {p.parent.parent.name for p in tokenizers} >= {tensors.NLI_MODEL, tensors.EMBEDDING_MODEL}
    for tokenizer in tokenizers:
        version_dir = tokenizer.parent.relative_to(REPOSITORY).as_posix()
        for name in (tensors.TOKENIZER_FILE, "model.json"):  # model.json: how the NLI model truncates pairs
            target = f"{TOKENIZER_REPOSITORY}/{version_dir}/{name}"
            assert target in files, f"{target} is not in the sidecar image"
            assert files[target].read_bytes() == (tokenizer.parent / name).read_bytes()
    assert not [t for t in files if t.endswith(tensors.MODEL_FILE)], "the sidecar image needs no ONNX file"


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("models/repository/nli/1/tokenizer.json", True),
        ("models/repository/nli/1/model.onnx", False),
        ("sidecar/guardrail_sidecar/server/app.py", True),
        ("contract/guardrail_contract/sidecar_config.py", True),
        ("sidecar/guardrail_sidecar/__pycache__/app.cpython-311.pyc", False),
        (".venv/bin/python", False),
    ],
)
def test_the_build_context_follows_dockerignore(path: str, sent: bool) -> None:
    assert in_context(path, ignore_rules(DOCKERIGNORE.read_text())) is sent


def test_a_dockerfile_without_the_tokenizer_copy_is_caught() -> None:
    text = "\n".join(ln for ln in DOCKERFILE.read_text().splitlines() if "tokenizer" not in ln)
    files = image_files(text, DOCKERIGNORE.read_text())
    assert not any(fnmatch.fnmatch(t, f"{TOKENIZER_REPOSITORY}/*") for t in files)
