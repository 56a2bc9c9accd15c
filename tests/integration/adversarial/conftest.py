"""The adversarial harness: real sidecar processes in front of a hostile app, attacked by hostile clients.

Every sidecar here runs the project's embedded models (`models/repository`) and an embedded Qdrant knowledge
base, in `enforce` with `fail-closed`, its threshold midway between the scores the models give the GROUNDED
passage and the MARKER sentence (so the tests check the sidecar's plumbing, not the model's quality). The
promise under test: the MARKER sentence (`MARKER_TOKEN`) never reaches a client, whatever the client or the
app sends.

Fixtures (all session-scoped, processes stop when the session ends):
- `hostile` -> `HostileApp`: the app of `hostile_app.py` (`.url`, `.seen()` request ids that reached it,
  `.reset()`); its misbehaviour is picked per request by the `x-hostile-case` header (see `hostile_app.CASES`),
  its answer by `x-hostile-answer` (`marker` by default, or `grounded`).
- `start_sidecar(overrides=None, *, ready_path="/readyz", name=None)` -> `Sidecar`: a sidecar process with
  `base_config()` deep-merged with `overrides` (dicts merge, everything else replaces; e.g.
  `{"proxy": {"maxConnections": 8}}` or `{"routing": {"stable": {"policy": {"mode": "monitor"}}}}`). Each
  distinct config starts one process, reused for the rest of the session. Every sidecar gets its own copy of
  the knowledge base (`qdrantOverride`), so revisions built with `revision()` need no path. Use
  `ready_path="/healthz"` for a sidecar that is meant to be not ready (models missing).
- `sidecar` -> `Sidecar`: the default one (`start_sidecar()`).
- `calibration` -> `Calibration`: the two scores and the threshold the sidecars use.

Helpers (plain functions, import them from `.conftest`): `chat()` sends a chat completion through a sidecar
with a hostile case; `leaks()` says whether the marker reached the client (raw bytes, headers, and the SSE
deltas joined per field, so a marker split over chunks is still found); `events()` parses an SSE answer;
`error_of()` returns the JSON error object of a response (or fails the test); `metric()` sums a metric's
series; `audit_lines()` reads a sidecar's audit log; `revision()` builds a revision config;
`models_down(port)`/`models_missing(folder)` are models sections whose backends cannot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from guardrail_contract import tensors
from guardrail_devcluster.cluster import free_port
from tests.integration.adversarial import hostile_app
from tests.integration.adversarial.hostile_app import GROUNDED, MARKER, MARKER_TOKEN
from tests.integration.sidecar import conftest as sidecar_conftest
from tests.integration.sidecar.conftest import COLLECTION, REPOSITORY, Calibration, Sidecar, have_models
from tests.support.processes import PYTHON, running

__all__ = ["GROUNDED", "MARKER", "MARKER_TOKEN", "Calibration", "Sidecar"]

QUESTION = "How do refunds work?"
KB_PLACEHOLDER = "/replaced-by-qdrantOverride"
EMBEDDED = {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}}
START_TIMEOUT = 120.0  # model loading on a loaded 2-core CI box


def models_down(port: int) -> dict[str, Any]:
    """Models served by a Triton that is not there (connection refused at `port`): every call fails."""
    return {
        "backend": "triton",
        "triton": {
            "url": f"127.0.0.1:{port}",
            "protocol": "grpc",
            "timeout": "500ms",
            "retries": 0,
            "circuitBreaker": {"failureThreshold": 1000, "resetTimeout": "1s"},
        },
        "tokenizerRepository": str(REPOSITORY),
    }


def models_missing(folder: Path) -> dict[str, Any]:
    """Embedded models from an empty folder: no tokenizer, no model file."""
    folder.mkdir(parents=True, exist_ok=True)
    return {"backend": "embedded", "embedded": {"repository": str(folder)}}


def revision(name: str, policy: dict[str, Any] | None = None, models: dict[str, Any] | None = None) -> dict[str, Any]:
    """A revision config: embedded models and the knowledge base unless `models` says otherwise."""
    return {
        "revision": name,
        "policy": policy or {},
        "models": models or EMBEDDED,
        "knowledgeBase": {"qdrant": {"path": KB_PLACEHOLDER}, "collection": COLLECTION, "topK": 3},
    }


def base_policy(calibration: Calibration) -> dict[str, Any]:
    cut = round(calibration.threshold, 6)
    return {
        "mode": "enforce",
        "onBackendError": "fail-closed",
        "threshold": cut,
        "softLimit": cut,
        "streaming": {"holdBackSentences": 1},
        # The hostile app's tool calls are `reply(say=...)`: a tool that renders the answer, so the suite scores
        # their arguments as answer text (`ground`); the default `scan` is tested in tests/integration/protocols.
        "toolArguments": "ground",
    }


def base_config(calibration: Calibration, upstream_port: int) -> dict[str, Any]:
    """The default adversarial sidecar (ports are filled in by `start_sidecar`)."""
    return {
        "proxy": {"listenHost": "127.0.0.1", "upstreamPort": upstream_port, "upstreamTimeout": "20s"},
        "audit": {"redactPatterns": [r"secret-[\w-]+"]},
        "routing": {"stable": revision("stable", base_policy(calibration))},
    }


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class HostileApp:
    url: str
    port: int

    def seen(self) -> list[str]:
        response = httpx.get(self.url + "/_seen", timeout=10)
        ids: list[str] = response.json()
        return ids

    def reset(self) -> None:
        httpx.post(self.url + "/_reset", timeout=10)


@pytest.fixture(scope="session")
def calibration_and_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Calibration, Path]:
    if not have_models(tensors.EMBEDDING_MODEL, tensors.NLI_MODEL):
        pytest.skip(f"embedding and nli models not built yet under {REPOSITORY}")
    assert (sidecar_conftest.UNGROUNDED, sidecar_conftest.GROUNDED) == (MARKER, GROUNDED)  # calibrated on these
    kb = tmp_path_factory.mktemp("adversarial-kb") / "kb"
    calibration = asyncio.run(sidecar_conftest._build_kb(kb))
    if not calibration.separable or calibration.grounded <= calibration.ungrounded:
        pytest.skip(f"the nli model does not score GROUNDED above MARKER ({calibration})")
    return calibration, kb


@pytest.fixture(scope="session")
def calibration(calibration_and_kb: tuple[Calibration, Path]) -> Calibration:
    return calibration_and_kb[0]


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileApp]:
    port = free_port()
    log = tmp_path_factory.mktemp("hostile") / "hostile.log"
    cmd = [PYTHON, str(Path(hostile_app.__file__)), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, url + "/_seen", log):
        yield HostileApp(url, port)


StartSidecar = Callable[..., Sidecar]


@pytest.fixture(scope="session")
def start_sidecar(
    tmp_path_factory: pytest.TempPathFactory, calibration_and_kb: tuple[Calibration, Path], hostile: HostileApp
) -> Iterator[StartSidecar]:
    calibration, kb = calibration_and_kb
    started: dict[str, Sidecar] = {}
    with contextlib.ExitStack() as stack:

        def start(
            overrides: dict[str, Any] | None = None, *, ready_path: str = "/readyz", name: str | None = None
        ) -> Sidecar:
            config = deep_merge(base_config(calibration, hostile.port), overrides or {})
            key = json.dumps([config, ready_path], sort_keys=True)
            if key in started:
                return started[key]
            folder = tmp_path_factory.mktemp(name or "sidecar")
            shutil.copytree(kb, folder / "kb")
            listen, admin = free_port(), free_port()
            config = deep_merge(
                config,
                {"proxy": {"listenPort": listen}, "adminPort": admin, "qdrantOverride": {"path": str(folder / "kb")}},
            )
            path = folder / "sidecar.yaml"
            path.write_text(yaml.safe_dump(config))
            sidecar = Sidecar(f"http://127.0.0.1:{listen}", f"http://127.0.0.1:{admin}", path, config, folder / "log")
            cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(path)]
            stack.enter_context(running(cmd, sidecar.admin + ready_path, sidecar.log, START_TIMEOUT))
            started[key] = sidecar
            return sidecar

        yield start


@pytest.fixture(scope="session")
def sidecar(start_sidecar: StartSidecar) -> Sidecar:
    """The default sidecar: enforce, fail-closed, embedded models, knowledge base, in front of `hostile`."""
    return start_sidecar(name="default")


# --- helpers for tests


def chat(
    sidecar: Sidecar,
    case: str = "plain",
    *,
    answer: str = "marker",
    stream: bool = False,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    path: str = "/v1/chat/completions",
    timeout: float = 60,
) -> httpx.Response:
    """A chat completion through `sidecar`, the app answering with hostile `case` and `answer`."""
    payload = body or {"model": "m", "stream": stream, "messages": [{"role": "user", "content": QUESTION}]}
    hdrs = {"x-hostile-case": case, "x-hostile-answer": answer, **(headers or {})}
    return httpx.post(sidecar.url + path, json=payload, headers=hdrs, timeout=timeout)


def events(response: httpx.Response) -> list[Any]:
    """The JSON payloads of an SSE answer's `data:` events ([DONE] and non-JSON events left out)."""
    out = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            with contextlib.suppress(ValueError):
                out.append(json.loads(data))
    return out


def _strings(value: Any, path: str, into: dict[str, list[str]]) -> None:
    if isinstance(value, str):
        into.setdefault(path, []).append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(v, f"{path}.{k}", into)
    elif isinstance(value, list):
        for v in value:
            _strings(v, path + "[]", into)


def leaks(response: httpx.Response, token: str = MARKER_TOKEN) -> bool:
    """Whether `token` reached the client: in the raw body, a header, or SSE deltas joined per field."""
    if token.lower() in response.text.lower() or any(token.lower() in v.lower() for v in response.headers.values()):
        return True
    joined: dict[str, list[str]] = {}
    for event in events(response):
        _strings(event, "", joined)
    return any(token.lower() in "".join(parts).lower() for parts in joined.values())


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `{"message", "type", "code"}` error object of a JSON error response (fails the test otherwise)."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.text[:300]
    error = response.json().get("error")
    assert isinstance(error, dict), response.text[:300]
    assert isinstance(error.get("code"), str), response.text[:300]
    return error


def metric(admin: str, name: str, **labels: str) -> float:
    """The sum of `name`'s series whose labels include `labels`."""
    total = 0.0
    for line in httpx.get(admin + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def audit_lines(sidecar: Sidecar) -> list[dict[str, Any]]:
    out = []
    for line in sidecar.log.read_text().splitlines():
        if '"event": "audit"' in line:
            out.append(json.loads(line))
    return out
