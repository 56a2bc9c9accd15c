"""Cache, circuit breaker and rate limiter, driven by a fake clock."""

from __future__ import annotations

from guardrail_sidecar.scoring.breaker import CircuitBreaker
from guardrail_sidecar.scoring.cache import TTLCache
from guardrail_sidecar.server.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_counts_hits_expires_and_evicts_least_recent() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(max_entries=2, ttl=10, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)  # evicts b
    assert cache.get("b") is None
    clock.now = 11
    assert cache.get("a") is None  # expired
    assert (cache.hits, cache.misses) == (1, 2)


def test_disabled_cache_stores_nothing() -> None:
    cache: TTLCache[str, int] = TTLCache(max_entries=0, ttl=10)
    cache.put("a", 1)
    assert cache.get("a") is None


def test_breaker_opens_after_threshold_and_allows_one_trial_after_reset() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=5, clock=clock)
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now = 5
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.failure()  # trial failed: open again
    assert breaker.state == "open"
    clock.now = 10
    assert breaker.allow()
    breaker.success()
    assert breaker.allow()  # closed again: calls flow freely
    assert breaker.allow()


def test_rate_limiter_allows_burst_then_refills_per_client() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")  # other clients unaffected
    clock.now = 0.5
    assert limiter.allow("a")
    assert not limiter.allow("a")


def test_rate_limit_zero_is_unlimited() -> None:
    limiter = RateLimiter(rate=0, burst=1)
    assert all(limiter.allow("a") for _ in range(100))
