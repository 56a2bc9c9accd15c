"""Prometheus metrics; every series carries the `revision` that produced it (canary analysis compares)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Whole answers (the app's generation included): the chart alerts on p95 > 5 s and p99 > 10 s.
_ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
_SCORE_BUCKETS = tuple(i / 20 for i in range(1, 21))


class Metrics:
    """One registry per process (tests create several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "guardrail_requests",
            "Scored requests by verdict (pass, flag, block).",
            ["revision", "verdict"],
            registry=r,
        )
        self.refused = Counter(
            "guardrail_refused_requests",
            "Requests refused before reaching the app (prompt_injection, backend_unavailable, rate_limit, invalid, "
            "too_large), by the revision that handled the request.",
            ["revision", "reason"],
            registry=r,
        )
        self.score = Histogram(
            "guardrail_score", "Grounding score of answers.", ["revision"], buckets=_SCORE_BUCKETS, registry=r
        )
        self.added_latency = Histogram(
            "guardrail_added_latency_seconds",
            "Time the sidecar adds to a request (total minus the app's own time).",
            ["revision"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.answer_duration = Histogram(
            "guardrail_answer_duration_seconds",
            "Time from a scored request's arrival to its answer's verdict (the last bytes of a stream), the app's "
            "time included.",
            ["revision"],
            buckets=_ANSWER_BUCKETS,
            registry=r,
        )
        self.backend_errors = Counter(
            "guardrail_backend_errors", "Failed scoring backend calls.", ["revision", "backend"], registry=r
        )
        self.backend_error_decisions = Counter(
            "guardrail_backend_error_decisions",
            "Answers decided by onBackendError (decision: fail-open or fail-closed).",
            ["revision", "decision"],
            registry=r,
        )
        self.cache = Counter(
            "guardrail_cache_lookups",
            "Cache lookups (cache: embedding, nli; result: hit, miss).",
            ["revision", "cache", "result"],
            registry=r,
        )
        self.in_flight = Gauge("guardrail_in_flight_requests", "Requests being handled.", ["revision"], registry=r)
        self.upstream_errors = Counter(
            "guardrail_upstream_errors",
            "App failures (timeouts, connection errors, non-2xx answers on a scored path), by the revision that "
            "handled the request.",
            ["revision"],
            registry=r,
        )
        self.unreadable_answers = Counter(
            "guardrail_unreadable_answers",
            "Answers whose text the sidecar could not read, by what policy.onUnreadableAnswer did (block, pass).",
            ["revision", "action"],
            registry=r,
        )
        self.tool_arguments = Counter(
            "guardrail_tool_arguments",
            "Answers holding tool or function calls, by policy.toolArguments (scan, ground, pass) and what became "
            "of them (action: pass, flag, block).",
            ["revision", "policy", "action"],
            registry=r,
        )
        self.detector_findings = Counter(
            "guardrail_detector_findings",
            "Findings of spec.detectors, by detector, entity type (pii), side (request, answer) and what was done "
            "(action: block, redact, flag).",
            ["revision", "detector", "entity", "side", "action"],
            registry=r,
        )
        self.canary_weight = Gauge(
            "guardrail_canary_weight",
            "Share of requests (0-1) routed to the canary revision.",
            ["revision"],
            registry=r,
        )
