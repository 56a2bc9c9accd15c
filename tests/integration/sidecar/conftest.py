"""Real processes for the sidecar integration tests, started once per session: NVIDIA Triton (`tritonserver`
from the nvidia-pytriton wheel, python backend on the CPU) serving the project's model files, a fake LLM app,
and sidecars in front of it, with an embedded Qdrant knowledge base."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from guardrail_contract import tensors  # noqa: E402 - after the sys.path line above
from guardrail_devcluster.cluster import free_port  # noqa: E402
from guardrail_triton.server import TritonProcess  # noqa: E402
from tests.support.processes import PYTHON, running  # noqa: E402
from tests.support.triton import triton_server  # noqa: E402

REPOSITORY = _ROOT / "models" / "repository"
COLLECTION = "support-facts"
FACTS = {
    "refunds": "Refunds are paid to the original payment method within 14 days after we receive the returned item.",
    "shipping": "Shipping is free for orders above 50 euros; smaller orders pay a flat fee of 4.90 euros.",
    "support-hours": "Customer support is available Monday to Friday from 9:00 to 17:00 CET.",
    "returns": "Returns are accepted within 30 days of delivery if the item is unused.",
    "gift-cards": "Gift cards cannot be exchanged for cash.",
    "warranty": "The warranty on electronics lasts two years from the date of purchase.",
}
GROUNDED = FACTS["refunds"]
UNGROUNDED = "Our headquarters are located on the planet Mars and we sell tickets to the moon."
QUESTION = "How do refunds work?"


def chat_body(question: str = QUESTION, stream: bool = False) -> dict[str, Any]:
    return {"model": "fake", "stream": stream, "messages": [{"role": "user", "content": question}]}


def have_models(*names: str) -> bool:
    return all((REPOSITORY / n / "1" / tensors.MODEL_FILE).is_file() for n in names)


@dataclass(frozen=True)
class Calibration:
    """Scores the embedded pipeline gives the two scripted answers; the threshold sits between them.

    `high`/`low` are the answers scoring above/below it: the mechanics tests use those, so they hold for any
    model that tells the two apart; whether the grounded one is the high one is the model's quality, tested
    (and reported) separately.
    """

    grounded: float
    ungrounded: float

    @property
    def threshold(self) -> float:
        return (self.grounded + self.ungrounded) / 2

    @property
    def separable(self) -> bool:
        return abs(self.grounded - self.ungrounded) >= 0.02

    @property
    def high(self) -> str:
        return GROUNDED if self.grounded > self.ungrounded else UNGROUNDED

    @property
    def low(self) -> str:
        return UNGROUNDED if self.grounded > self.ungrounded else GROUNDED


async def _build_kb(path: Path) -> Calibration:
    from guardrail_contract.sidecar_config import SidecarConfig
    from guardrail_sidecar.observability.metrics import Metrics
    from guardrail_sidecar.revisions.served import ServedRevisions
    from guardrail_sidecar.scored_path.protocols import parse_openai_request
    from guardrail_sidecar.scoring.knowledge import upsert_passages

    config = SidecarConfig.model_validate(revision_config("calib", {}, {"backend": "embedded"}, path, 1, 2))
    revisions = ServedRevisions(config, Metrics())
    revisions.apply(config)
    pipeline = revisions.pick(None)
    client = revisions.qdrant(config.routing.stable.knowledge_base.qdrant)  # type: ignore[union-attr]  # set
    vectors = await pipeline.scorer.embed(list(FACTS.values()))
    await upsert_passages(client, COLLECTION, list(FACTS), list(FACTS.values()), vectors)
    request = parse_openai_request(chat_body())
    grounded = await pipeline.assess(GROUNDED, request)
    ungrounded = await pipeline.assess(UNGROUNDED, request)
    await revisions.close()
    return Calibration(grounded.score, ungrounded.score)


def models_section(backend: str, url: str = "", protocol: str = "grpc") -> dict[str, Any]:
    if backend == "embedded":
        return {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}}
    return {
        "backend": "triton",
        "triton": {
            "url": url,
            "protocol": protocol,
            "timeout": "2s",
            "retries": 1,
            "backoff": "20ms",
            "circuitBreaker": {"failureThreshold": 50, "resetTimeout": "1s"},
        },
        "tokenizerRepository": str(REPOSITORY),
    }


def revision(name: str, policy: dict[str, Any], models: dict[str, Any], kb: Path) -> dict[str, Any]:
    return {
        "revision": name,
        "policy": policy,
        "models": models,
        "knowledgeBase": {"qdrant": {"path": str(kb)}, "collection": COLLECTION, "topK": 3},
    }


def revision_config(
    name: str, policy: dict[str, Any], models: dict[str, Any], kb: Path, upstream: int, listen: int, **extra: Any
) -> dict[str, Any]:
    models = models_section("embedded") if models.get("backend") == "embedded" else models
    return {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": upstream},
        "routing": {"stable": revision(name, policy, models, kb), **extra.pop("routing", {})},
        **extra,
    }


@dataclass
class Sidecar:
    url: str
    admin: str
    config_path: Path
    config: dict[str, Any]
    log: Path

    def write(self, config: dict[str, Any]) -> None:
        self.config = config
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config))
        tmp.replace(self.config_path)


@dataclass
class Stack:
    app: str
    triton_http: str
    triton_grpc: str
    main: Sidecar  # enforce, gRPC to Triton; canary revision: monitor mode, embedded models, weight 0
    failover: Sidecar  # its own Triton (killable, restartable): stable fail-closed, canary fail-open at 50 %
    failover_triton: TritonProcess
    calibration: Calibration


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not have_models(tensors.EMBEDDING_MODEL, tensors.NLI_MODEL):
        pytest.skip(f"embedding and nli models not built yet under {REPOSITORY}")
    tmp = tmp_path_factory.mktemp("sidecar")
    kb = tmp / "kb"
    calibration = asyncio.run(_build_kb(kb))
    shutil.copytree(kb, tmp / "kb-failover")  # embedded Qdrant: one process per folder
    ports = {k: free_port() for k in ("app", "main", "main_admin", "fo", "fo_admin")}
    logs = tmp
    servers = contextlib.ExitStack()
    triton = servers.enter_context(triton_server(logs, REPOSITORY))
    failover_triton = servers.enter_context(triton_server(logs, REPOSITORY))
    app_cmd = [PYTHON, str(_ROOT / "tests" / "support" / "fake_llm.py"), "--port", str(ports["app"])]
    cut = round(calibration.threshold, 6)
    policy = {"threshold": cut, "softLimit": cut, "streaming": {"holdBackSentences": 1}}
    grpc = models_section("triton", triton.spec.ports.grpc_url)
    main_cfg = revision_config(
        "stable-a",
        policy,
        grpc,
        kb,
        ports["app"],
        ports["main"],
        adminPort=ports["main_admin"],
        audit={"redactPatterns": [r"secret-[\w-]+"]},
        routing={
            "canary": revision(
                "canary-b",
                policy | {"mode": "monitor"},
                models_section("embedded"),  # the in-process scorer, as used without Triton
                kb,
            ),
            "canaryWeight": 0,
        },
    )
    fo_models = models_section("triton", failover_triton.spec.ports.grpc_url)
    fo_cfg = revision_config(
        "closed",
        policy | {"onBackendError": "fail-closed"},
        fo_models,
        tmp / "kb-failover",
        ports["app"],
        ports["fo"],
        adminPort=ports["fo_admin"],
        routing={
            "canary": revision("open", policy | {"onBackendError": "fail-open"}, fo_models, tmp / "kb-failover"),
            "canaryWeight": 50,
            "stickyHeader": "x-request-id",  # opt-in sticky split: the tests pick each side by its id
        },
    )
    sidecars = {}
    for key, cfg in (("main", main_cfg), ("fo", fo_cfg)):
        path = tmp / f"{key}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        admin = f"http://127.0.0.1:{ports[key + '_admin']}"
        sidecars[key] = Sidecar(f"http://127.0.0.1:{ports[key]}", admin, path, cfg, tmp / f"{key}.log")
    with (
        servers,
        running(app_cmd, f"http://127.0.0.1:{ports['app']}/_seen", logs / "app.log"),
        running(
            [PYTHON, "-m", "guardrail_sidecar", "--config", str(sidecars["main"].config_path)],
            sidecars["main"].admin + "/readyz",
            sidecars["main"].log,
        ),
        running(
            [PYTHON, "-m", "guardrail_sidecar", "--config", str(sidecars["fo"].config_path)],
            sidecars["fo"].admin + "/readyz",
            sidecars["fo"].log,
        ),
    ):
        yield Stack(
            app=f"http://127.0.0.1:{ports['app']}",
            triton_http=triton.spec.ports.http_url,
            triton_grpc=triton.spec.ports.grpc_url,
            main=sidecars["main"],
            failover=sidecars["fo"],
            failover_triton=failover_triton,
            calibration=calibration,
        )
