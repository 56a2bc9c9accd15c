"""The shadow stage (`spec.rollout.shadow`, issue 21): a sample of the answers stable scored is scored by the
candidate revision too, off the response path; only stable's verdict ever reaches the client.

The response path pays one random draw and a `put_nowait` on a bounded queue: the candidate's scoring runs
in worker tasks after the client has its answer, and when the queue is full the work is dropped and counted
(`guardrail_shadow_dropped_total{reason="queue_full"}`), never waited for. A candidate that fails or times
out is counted too (`reason="error"`/`"timeout"`); nothing the candidate decides is sent anywhere but to
these metrics, and no text of the answer is logged.

Metrics (every series names the candidate `revision`; the operator's shadow analysis reads them):
- `guardrail_shadow_answers_total{revision, stable_revision, stable_verdict, candidate_verdict, agree}`
- `guardrail_shadow_score_shift` (histogram of candidate score minus stable score, same answer)
- `guardrail_shadow_scoring_seconds` (histogram: the candidate's scoring time, the cost shadow adds)
- `guardrail_shadow_dropped_total{revision, reason}`, `guardrail_shadow_queue_depth`

The sample rate comes from the Guardrail (status.canary.state `Shadow` and spec.rollout.shadow.sampleRate,
followed by `revisions.watch`), or from `routing.shadowSampleRate` in a local config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment

log = logging.getLogger("guardrail.sidecar")

ShadowJob = Callable[[Pipeline], Awaitable[Assessment]]
_SHIFT_BUCKETS = (-1.0, -0.5, -0.25, -0.1, -0.05, -0.01, 0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
_COST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DEFAULT_CAPACITY = 256
DEFAULT_WORKERS = 2
DEFAULT_TIMEOUT = 10.0


class ShadowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter(
            "guardrail_shadow_answers",
            "Answers scored by the candidate in the shadow stage, by stable's verdict (the one the client got) and "
            "the candidate's (never sent), and whether they agree.",
            ["revision", "stable_revision", "stable_verdict", "candidate_verdict", "agree"],
            registry=registry,
        )
        self.score_shift = Histogram(
            "guardrail_shadow_score_shift",
            "Candidate score minus stable score on the same answer (shadow stage).",
            ["revision"],
            buckets=_SHIFT_BUCKETS,
            registry=registry,
        )
        self.scoring = Histogram(
            "guardrail_shadow_scoring_seconds",
            "Time the candidate took to score a shadowed answer, off the response path (the cost shadow adds).",
            ["revision"],
            buckets=_COST_BUCKETS,
            registry=registry,
        )
        self.dropped = Counter(
            "guardrail_shadow_dropped",
            "Shadow work not done (queue_full: the bounded queue refused it; error, timeout: the candidate failed).",
            ["revision", "reason"],
            registry=registry,
        )
        self.queue_depth = Gauge("guardrail_shadow_queue_depth", "Shadow work waiting.", registry=registry)


@dataclass(frozen=True)
class _Work:
    stable_revision: str
    candidate: Pipeline
    job: ShadowJob
    stable: Assessment


class Shadow:
    """The bounded shadow queue and its workers (started on first use, in the running event loop)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        capacity: int = DEFAULT_CAPACITY,
        workers: int = DEFAULT_WORKERS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.registry = registry
        self.metrics = ShadowMetrics(registry)
        self.rate = 0.0  # share of stable-scored answers shadowed; 0: off
        self.capacity, self.workers, self.timeout = capacity, workers, timeout
        self._queue: asyncio.Queue[_Work] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def set_rate(self, rate: float) -> None:
        rate = max(0.0, min(1.0, rate))
        if rate != self.rate:
            log.info("shadow sample rate changed", extra={"fields": {"from": self.rate, "to": rate}})
        self.rate = rate

    def offer(self, stable: Pipeline, candidate: Pipeline | None, job: ShadowJob, assessment: Assessment) -> bool:
        """Queue `job` (the candidate's scoring of the answer stable assessed) for a sample of answers; never
        blocks and never raises. True when queued."""
        if candidate is None or candidate is stable or self.rate <= 0.0:
            return False
        if self.rate < 1.0 and random.random() >= self.rate:  # noqa: S311  # sampling, not security
            return False
        queue = self._start()
        try:
            queue.put_nowait(_Work(stable.revision, candidate, job, assessment))
        except asyncio.QueueFull:
            self.metrics.dropped.labels(candidate.revision, "queue_full").inc()
            return False
        self.metrics.queue_depth.set(queue.qsize())
        return True

    def _start(self) -> asyncio.Queue[_Work]:
        if self._queue is None:
            self._queue = asyncio.Queue(self.capacity)
            self._tasks = [
                asyncio.get_running_loop().create_task(self._work(self._queue), name=f"shadow-{i}")
                for i in range(self.workers)
            ]
        return self._queue

    async def _work(self, queue: asyncio.Queue[_Work]) -> None:
        while True:
            work = await queue.get()
            try:
                await self._score(work)
            finally:
                queue.task_done()
                self.metrics.queue_depth.set(queue.qsize())

    async def _score(self, work: _Work) -> None:
        revision = work.candidate.revision
        started = time.perf_counter()
        try:
            shadow = await asyncio.wait_for(work.job(work.candidate), self.timeout)
        except TimeoutError:
            self.metrics.dropped.labels(revision, "timeout").inc()
            return
        except Exception as exc:  # the candidate's failure must never touch the response path
            self.metrics.dropped.labels(revision, "error").inc()
            log.warning("shadow scoring failed", extra={"fields": {"revision": revision, "error": type(exc).__name__}})
            return
        m = self.metrics
        m.scoring.labels(revision).observe(time.perf_counter() - started)
        stable = work.stable
        agree = "true" if shadow.verdict == stable.verdict else "false"
        m.answers.labels(revision, work.stable_revision, stable.verdict, shadow.verdict, agree).inc()
        m.score_shift.labels(revision).observe(shadow.score - stable.score)

    async def drain(self) -> None:
        """Wait until every queued job is done (tests, benchmarks)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._queue = [], None
