"""What batch-invariant scoring costs: every row run alone (the embedded backend since issue 18) against the
former batched runs (up to 16 rows padded to the longest, one onnxruntime call), in one run on the same answers.

The INT8 models quantise activations per call, so a batched row's score depends on its neighbours and padding.
Measured here on the committed dev sample (`models/eval/e2e_dev_sample.jsonl`, HaluEval dev rows of dialogue, qa
and summarization, evidence in the request as an app sends it), through the sidecar's own pipeline with caches off:
- per answer, the scoring time (claims, retrieval embeddings, NLI) batched, row by row, and row by row for NLI
  only (embeddings batched), interleaved answer by answer so CPU drift hits all three alike; ratios to batched;
- how far a pair's NLI score moves between a batch of 16 and alone (batched: the old behaviour; rows: none),
  and how far an answer's score and verdict moved between the batched and the row-by-row sidecar;
- how far it moves when joined with 7 other requests of exactly its length (no padding at all): what Triton's
  dynamic batcher does on the `onnxruntime_onnx` platform, which runs a joined batch as one call.

Writes bench/results/batch_invariance.json; `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from guardrail_contract.batching import row_count  # noqa: E402 - after sys.path
from guardrail_contract.sidecar_config import SidecarConfig  # noqa: E402
from guardrail_models.e2e_eval import read_sample  # noqa: E402
from guardrail_sidecar.errors import BackendError  # noqa: E402
from guardrail_sidecar.observability.metrics import Metrics  # noqa: E402
from guardrail_sidecar.revisions.served import ServedRevisions  # noqa: E402
from guardrail_sidecar.scored_path.protocols import ScoringRequest, parse_openai_request  # noqa: E402
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend  # noqa: E402
from guardrail_sidecar.scoring.pipeline import Pipeline  # noqa: E402
from guardrail_sidecar.scoring.scorer import Scorer  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
SAMPLE = REPO / "models" / "eval" / "e2e_dev_sample.jsonl"
RESULTS = REPO / "bench" / "results" / "batch_invariance.json"
MAX_BATCH = 16  # the embedded backend's default max_batch: rows per batched call before


class BatchedBackend(EmbeddedBackend):
    """The embedded backend as it was: `max_batch` rows per onnxruntime call, padded to the longest row;
    `batched_models` names the models run that way (the others run row by row, as now)."""

    def __init__(self, batched_models: set[str]) -> None:
        super().__init__(REPOSITORY, max_batch=MAX_BATCH)
        self._batched = batched_models

    def run(self, model: str, version: str, inputs: dict[str, NDArray[Any]], output: str) -> NDArray[np.float32]:
        if model not in self._batched:
            return super().run(model, version, inputs, output)
        session = self.session(model, version)
        feed = {i.name: inputs[i.name] for i in session.get_inputs() if i.name in inputs}
        parts = []
        try:
            for start in range(0, max(row_count(feed), 1), MAX_BATCH):
                chunk = {k: v[start : start + MAX_BATCH] for k, v in feed.items()}
                parts.append(np.asarray(session.run([output], chunk)[0], dtype=np.float32))
        except Exception as exc:
            raise BackendError(self.name, f"{model} failed: {exc}") from exc
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def config() -> dict[str, Any]:
    return {
        "proxy": {"listenPort": 8000, "listenHost": "127.0.0.1", "upstreamPort": 8080},
        "adminPort": 9901,
        "logLevel": "warning",
        "routing": {
            "stable": {
                "revision": "bench",
                "policy": {"promptInjection": {"enabled": False}},  # evidence arrives as a system message
                "models": {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}},
                "cache": {"maxEntries": 0},
            }
        },
    }


def request(evidence: str, history: list[str], question: str) -> ScoringRequest:
    messages = [{"role": "system", "content": evidence}, *({"role": "user", "content": t} for t in history)]
    return parse_openai_request({"messages": [*messages, {"role": "user", "content": question}]})


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


async def pair_drift(backend: EmbeddedBackend, scorer: Scorer, pairs: list[tuple[str, str]]) -> dict[str, float]:
    """How far a pair's NLI score moves between a batch of 16 (sorted by length, as the scorer sends) and alone."""
    scorer.backend = backend
    alone = np.array([(await scorer.nli([p]))[0] for p in pairs])
    together: list[float] = []
    for start in range(0, len(pairs), MAX_BATCH):
        together += await scorer.nli(pairs[start : start + MAX_BATCH])
    diff = np.abs(np.array(together) - alone)
    return {"pairs": len(pairs), "max": round(float(diff.max()), 4), "mean": round(float(diff.mean()), 4)}


def equal_shape_drift(backend: EmbeddedBackend, scorer: Scorer, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Pairs cut to one token length (every row fully attended), each alone vs 8 joined in one onnxruntime call."""
    session = backend.session("nli", "1")
    inputs = scorer._encoder("nli").encode_pairs(pairs)
    out: dict[str, Any] = {}
    for length in (32, 128):
        keep = [i for i in range(len(pairs)) if int(inputs["attention_mask"][i].sum()) >= length]
        keep = keep[: len(keep) // 8 * 8]
        feed = {k: v[keep, :length] for k, v in inputs.items()}
        alone = np.concatenate(
            [session.run(["score"], {k: v[i : i + 1] for k, v in feed.items()})[0] for i in range(len(keep))]
        )
        joined = np.concatenate(
            [session.run(["score"], {k: v[i : i + 8] for k, v in feed.items()})[0] for i in range(0, len(keep), 8)]
        )
        diff = np.abs(joined.reshape(-1) - alone.reshape(-1))
        out[f"{length}_tokens"] = {
            "pairs": len(keep),
            "max": round(float(diff.max()), 4),
            "mean": round(float(diff.mean()), 4),
        }
    return out


async def main(per_task: int, rounds: int) -> dict[str, Any]:
    cfg = SidecarConfig.model_validate(config())
    revisions = ServedRevisions(cfg, Metrics())
    revisions.apply(cfg)
    pipeline: Pipeline = revisions.pick(None)
    scorer = pipeline.scorer
    assert isinstance(scorer, Scorer)
    backends = {
        "batched": BatchedBackend({"nli", "embedding", "injection"}),
        "rows": EmbeddedBackend(REPOSITORY, max_batch=MAX_BATCH),
        "rows_nli_only": BatchedBackend({"embedding", "injection"}),
    }
    cases = [c for task_cases in read_sample(SAMPLE).values() for c in task_cases[:per_task]]
    requests = [request(c.evidence, list(c.history), c.question) for c in cases]
    policy = pipeline.policy
    for backend in backends.values():  # warm-up: sessions
        scorer.backend = backend
        await pipeline.assess(cases[0].answer, requests[0])
    times: dict[str, list[list[float]]] = {name: [[] for _ in cases] for name in backends}
    scores: dict[str, list[float]] = {name: [0.0] * len(cases) for name in backends}
    verdicts: dict[str, list[str]] = {name: [""] * len(cases) for name in backends}
    names = list(backends)
    for turn in range(rounds):
        for i, (case, req) in enumerate(zip(cases, requests, strict=True)):
            for name in names[turn % 3 :] + names[: turn % 3]:  # each mode first in turn
                scorer.backend = backends[name]
                started = time.perf_counter()
                assessment = await pipeline.assess(case.answer, req)
                times[name][i].append((time.perf_counter() - started) * 1000)
                scores[name][i], verdicts[name][i] = assessment.score, assessment.verdict
    per_answer = {name: [statistics.median(t) for t in times[name]] for name in names}
    base = per_answer["batched"]
    result: dict[str, Any] = {
        "answers": len(cases),
        "rounds": rounds,
        "per_answer": {name: summary(ms) for name, ms in per_answer.items()},
        "ratio_total_to_batched": {n: round(sum(per_answer[n]) / sum(base), 3) for n in names if n != "batched"},
        "ratio_p50_per_answer_to_batched": {
            n: round(statistics.median(a / b for a, b in zip(per_answer[n], base, strict=True)), 3)
            for n in names
            if n != "batched"
        },
        "by_task_ratio_rows_to_batched": {
            task: round(
                sum(per_answer["rows"][i] for i, c in enumerate(cases) if c.task == task)
                / sum(base[i] for i, c in enumerate(cases) if c.task == task),
                3,
            )
            for task in sorted({c.task for c in cases})
        },
    }
    moved = np.abs(np.array(scores["rows"]) - np.array(scores["batched"]))
    result["answer_score_rows_vs_batched"] = {
        "max": round(float(moved.max()), 4),
        "mean": round(float(moved.mean()), 4),
        "verdicts_changed": sum(a != b for a, b in zip(verdicts["rows"], verdicts["batched"], strict=True)),
        "threshold": policy.threshold,
        "soft_limit": policy.soft_limit,
    }
    pairs = [(c.evidence, c.answer) for c in cases]
    result["pair_drift_batch16_vs_alone"] = {
        "batched (before)": await pair_drift(backends["batched"], scorer, pairs),
        "rows (now)": await pair_drift(backends["rows"], scorer, pairs),
    }
    result["equal_shape_batch8_vs_alone"] = equal_shape_drift(backends["rows"], scorer, pairs)
    for backend in backends.values():
        await backend.close()
    await revisions.close()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 answers per task, 1 round")
    args = parser.parse_args()
    out = asyncio.run(main(6, 1) if args.quick else main(40, 3))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
