"""Per-client rate limit: who the client is (`client_identity`), and a token bucket per client with a bounded
number of tracked clients."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from guardrail_contract.sidecar_config import RateLimit

MAX_KEY_CHARS = 256


def client_identity(rate: RateLimit, peer: str | None, headers: Iterable[tuple[str, str]]) -> str:
    """The rate-limit key of a request, as `proxy.rateLimit.identity` says (see docs/sidecar.md).

    peer: the TCP peer. forwarded: the X-Forwarded-For entry `trustedHops` from the right (every
    X-Forwarded-For header, in order, read as one list), i.e. the address the outermost of your own proxies
    saw; the peer when the list is shorter. header: the `identityHeader` value; the peer when absent. The
    leftmost X-Forwarded-For entry is never used on its own: the client writes it. IPv6 addresses count by
    their /64.
    """
    fallback = f"peer:{_address(peer or 'unknown')}"
    if rate.identity == "peer":
        return fallback
    wanted = "x-forwarded-for" if rate.identity == "forwarded" else (rate.identity_header or "").lower()
    values = [v for k, v in headers if k.lower() == wanted]
    if rate.identity == "header":
        value = values[0].strip() if values else ""
        return f"header:{value[:MAX_KEY_CHARS]}" if value else fallback
    hops = [h.strip() for v in values for h in v.split(",")]
    if len(hops) < rate.trusted_hops or not hops[-rate.trusted_hops]:
        return fallback
    return f"forwarded:{_address(hops[-rate.trusted_hops][:MAX_KEY_CHARS])}"


def _address(text: str) -> str:
    """An IP address as a client key: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64 network (one host
    usually holds a whole /64, and could otherwise rotate addresses for fresh buckets); anything else as is."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """`rate` requests per second with bursts of `burst`; rate 0 means unlimited."""

    def __init__(
        self, rate: float, burst: int, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last time)

    def allow(self, client: str) -> bool:
        if self._rate <= 0:
            return True
        now = self._clock()
        tokens, last = self._buckets.get(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return allowed
