"""`guardrail eval` targets that score through a server: Triton (or another KServe v2 server), or the sidecar end
to end.

- v2 (`grpc://HOST:PORT`, `http://HOST:PORT`): each pair goes through the sidecar's own Triton client and
  tokeniser (`guardrail_sidecar.scoring.scorer.Scorer` with the `triton` backend, no cache), so the scores are what a
  sidecar with that backend computes. Tokenizers come from the default model repository.
- triton (`triton:` or `triton:REPOSITORY`): a real Triton started for the run by `guardrail_triton` (as
  `guardrail triton serve` does) with the python-backend flavour of that repository, then scored as over gRPC.
- sidecar (`sidecar:CONFIG.yaml`): starts `guardrail-sidecar` with that config (its ports replaced by free
  ones, its app replaced by a replay server that answers each request with the claim under test) and sends
  every pair as an OpenAI chat request, the evidence as a system message (with the injection check off: this
  measures grounding); the score is the sidecar's `x-guardrail-score`. Everything the sidecar does to an answer
  is in the number: claim splitting, retrieval from its knowledge base, the weakest-claim rule; latency is per
  request, HTTP included.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import yaml

from guardrail_contract.sidecar_config import Cache, ConfigError, Models, SidecarConfig
from guardrail_contract.sidecar_config import TritonBackend as TritonConfig
from guardrail_demo.errors import ProcessFailed
from guardrail_demo.supervisor import Supervisor, http_ok
from guardrail_devcluster.cluster import free_port
from guardrail_models.errors import ModelError
from guardrail_models.evaluation import Configuration
from guardrail_models.repository import default_repository
from guardrail_sidecar.errors import BackendError
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring.backends.triton import TritonBackend
from guardrail_sidecar.scoring.scorer import Scorer
from guardrail_triton.errors import TritonError
from guardrail_triton.server import TritonProcess, launch

V2_SCHEMES = ("grpc://", "http://")
SIDECAR_PREFIX = "sidecar:"
TRITON_PREFIX = "triton:"
ANSWER_HEADER = "x-guardrail-eval-answer"  # the replay app answers with this (URL-encoded) text
SCORE_HEADER = "x-guardrail-score"
QUESTION = "What does the document say?"  # benign: the injection model scores it 0.08


def v2_configuration(name: str, url: str, threshold: float, tokenizers: Path | None = None) -> Configuration:
    """Score through a v2 server at `grpc://host:port` or `http://host:port` (models `nli` and `embedding`)."""
    protocol, _, address = url.partition("://")
    triton = TritonConfig(url=address, protocol=protocol, timeout="30s", retries=0)
    models = Models(backend="triton", triton=triton, tokenizer_repository=str(tokenizers or default_repository()))
    runner = asyncio.Runner()
    backend = TritonBackend(triton)
    scorer = Scorer(backend, models, Cache(max_entries=0), Metrics(), name)

    def close() -> None:
        runner.run(backend.close())
        runner.close()

    try:
        ready = runner.run(backend.ready([(models.nli.name, models.nli.version)]))
    except BackendError as exc:
        ready = False
        reason = str(exc)
    else:
        reason = "model nli is not ready"
    if not ready:
        close()
        raise ModelError(f"--compare {name}={url}: the v2 server is not usable ({reason})")

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        try:
            return runner.run(scorer.nli(pairs))
        except BackendError as exc:
            raise ModelError(f"{name} ({url}): {exc}") from exc

    return Configuration(name, score, threshold, close)


def triton_configuration(name: str, repository: Path | None, threshold: float) -> Configuration:
    """Start a local Triton serving `repository` (default: the committed one); score through its gRPC port."""
    source = repository or default_repository()
    try:
        spec = launch(source)
        server = TritonProcess(spec, Path(tempfile.mkdtemp(prefix="guardrail-eval-triton-")) / "triton.log")
    except TritonError as exc:
        raise ModelError(f"--compare {name}={TRITON_PREFIX}{repository or ''}: {exc}") from exc
    try:
        served = v2_configuration(name, f"grpc://{spec.ports.grpc_url}", threshold, tokenizers=source)
    except BaseException:  # never leave the server behind
        server.stop()
        raise

    def close() -> None:
        if served.close is not None:
            served.close()
        server.stop()

    return Configuration(name, served.scorer, threshold, close)


class _Replay(BaseHTTPRequestHandler):
    """An OpenAI-shaped app that answers every POST with the text of the `x-guardrail-eval-answer` header."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        answer = unquote(self.headers.get(ANSWER_HEADER, ""))
        message = {"role": "assistant", "content": answer}
        body = json.dumps(
            {
                "id": "eval",
                "object": "chat.completion",
                "model": "replay",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _sidecar_config(path: Path, listen: int, admin: int, upstream: int) -> tuple[dict[str, Any], float]:
    """The user's config with local ports and the replay app; (config, its stable policy threshold)."""
    try:
        raw = yaml.safe_load(path.read_text())
        config = SidecarConfig.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError, ConfigError) as exc:
        raise ModelError(f"{path}: not a usable sidecar config: {exc}") from exc
    proxy = dict(raw.get("proxy") or {})
    proxy.update(
        listenHost="127.0.0.1", listenPort=listen, upstreamHost="127.0.0.1", upstreamPort=upstream, protocol="openai"
    )
    proxy.pop("scoredPaths", None)
    raw.pop("watch", None)  # no Guardrail to follow here: score with the revisions in the file
    routing = dict(raw["routing"])
    for side in ("stable", "canary"):
        if isinstance(routing.get(side), dict):
            routing[side] = _grounding_only(routing[side])
    return {**raw, "proxy": proxy, "adminPort": admin, "routing": routing}, config.routing.stable.policy.threshold


def _grounding_only(revision: dict[str, Any]) -> dict[str, Any]:
    """`revision` with its injection check off: the eval measures grounding, and it sends each evidence passage
    as a system message, which the injection check reads (the injection model has its own report)."""
    policy = dict(revision.get("policy") or {})
    policy["promptInjection"] = {**(policy.get("promptInjection") or {}), "enabled": False}
    return {**revision, "policy": policy}


def sidecar_configuration(name: str, path: Path, threshold: float | None) -> Configuration:
    """Start a sidecar from `path` (and a replay app) and score each pair through it over HTTP."""
    replay = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    threading.Thread(target=replay.serve_forever, name="eval-replay", daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="guardrail-eval-"))
    listen, admin = free_port(), free_port()
    supervisor = Supervisor(workdir)
    try:
        raw, policy_threshold = _sidecar_config(path, listen, admin, replay.server_address[1])
        config_file = workdir / "sidecar.yaml"
        config_file.write_text(yaml.safe_dump(raw))
        command = [sys.executable, "-m", "guardrail_sidecar", "--config", str(config_file)]
        supervisor.start("sidecar", command, lambda: http_ok(f"http://127.0.0.1:{admin}/readyz"), timeout=120)
    except (ModelError, ProcessFailed) as exc:
        supervisor.stop_all()
        replay.shutdown()
        raise ModelError(f"--compare {name}={SIDECAR_PREFIX}{path}: {exc}") from exc
    client = httpx.Client(base_url=f"http://127.0.0.1:{listen}", timeout=60.0)

    def score_one(evidence: str, claim: str) -> float:
        messages = [{"role": "system", "content": evidence}, {"role": "user", "content": QUESTION}]
        body = {"model": "eval", "messages": messages}
        response = client.post("/v1/chat/completions", json=body, headers={ANSWER_HEADER: quote(claim)})
        value = response.headers.get(SCORE_HEADER)
        if value is None:
            status = response.status_code
            raise ModelError(f"{name}: the sidecar answered {status} without {SCORE_HEADER}: {response.text[:300]}")
        return float(value)

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        return [score_one(evidence, claim) for evidence, claim in pairs]

    def close() -> None:
        client.close()
        supervisor.stop_all()
        replay.shutdown()

    return Configuration(name, score, policy_threshold if threshold is None else threshold, close)


def is_served(target: str) -> bool:
    return target.startswith((*V2_SCHEMES, SIDECAR_PREFIX, TRITON_PREFIX))


def served_configuration(name: str, target: str, threshold: float | None, default_threshold: float) -> Configuration:
    """A v2-server, local-Triton or sidecar configuration for `target` (see the module docstring)."""
    if target.startswith(SIDECAR_PREFIX):
        return sidecar_configuration(name, Path(target.removeprefix(SIDECAR_PREFIX)), threshold)
    if target.startswith(TRITON_PREFIX):
        repository = target.removeprefix(TRITON_PREFIX)
        chosen = default_threshold if threshold is None else threshold
        return triton_configuration(name, Path(repository) if repository else None, chosen)
    return v2_configuration(name, target, default_threshold if threshold is None else threshold)
