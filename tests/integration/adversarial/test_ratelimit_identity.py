"""Class 6: rate-limit identity. A client cannot mint new identities by writing X-Forwarded-For (or Forwarded,
X-Real-IP): by default the limit keys on the TCP peer; `identity: forwarded` trusts only `trustedHops` entries
from the right; `identity: header` keys on a configured header. A limited request never reaches the app.

Each sidecar allows a burst of 2 and then (practically) nothing: the third request of one identity gets 429.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .conftest import QUESTION, HostileApp, Sidecar, StartSidecar, error_of

pytestmark = pytest.mark.integration

Headers = list[tuple[str, str]]
LIMIT = {"requestsPerSecond": 0.001, "burst": 2}


def _limited(start_sidecar: StartSidecar, name: str, **identity: Any) -> Sidecar:
    return start_sidecar({"proxy": {"rateLimit": {**LIMIT, **identity}}}, name=name)


@pytest.fixture(scope="module")
def peer(start_sidecar: StartSidecar) -> Sidecar:
    return _limited(start_sidecar, "rate-peer")


@pytest.fixture(scope="module")
def forwarded(start_sidecar: StartSidecar) -> Sidecar:
    return _limited(start_sidecar, "rate-forwarded", identity="forwarded", trustedHops=2)


@pytest.fixture(scope="module")
def header(start_sidecar: StartSidecar) -> Sidecar:
    return _limited(start_sidecar, "rate-header", identity="header", identityHeader="x-authenticated-user")


def _send(sidecar: Sidecar, headers: Headers, path: str = "/v1/chat/completions") -> tuple[int, str]:
    rid = f"rl-{uuid.uuid4().hex[:10]}"
    body = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}
    hdrs = [("x-request-id", rid), ("x-hostile-answer", "grounded"), *headers]
    response = httpx.post(sidecar.url + path, json=body, headers=hdrs, timeout=60)
    if response.status_code == 429:
        assert error_of(response)["code"] == "rate_limited"
    return response.status_code, rid


def _statuses(sidecar: Sidecar, attempts: list[Headers], hostile: HostileApp) -> list[int]:
    out = []
    for headers in attempts:
        status, rid = _send(sidecar, headers)
        if status == 429:
            assert rid not in hostile.seen(), "a rate-limited request reached the app"
        out.append(status)
    return out


def _fresh() -> str:
    """An address no other test used (so each test starts with a full bucket)."""
    n = uuid.uuid4().int
    return f"198.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


# Spoofing headers a client writes itself: under `peer` none of them makes a new client.
SPOOFS: dict[str, Any] = {
    "x-forwarded-for-leftmost": lambda i: [("x-forwarded-for", f"{_fresh()}, 10.0.0.{i}")],
    "x-forwarded-for-rightmost": lambda i: [("x-forwarded-for", _fresh())],
    "two-x-forwarded-for-headers": lambda i: [("x-forwarded-for", _fresh()), ("x-forwarded-for", _fresh())],
    "forwarded-rfc7239": lambda i: [("forwarded", f"for={_fresh()};proto=https")],
    "x-real-ip": lambda i: [("x-real-ip", _fresh())],
    "true-client-ip": lambda i: [("true-client-ip", _fresh()), ("cf-connecting-ip", _fresh())],
    "x-request-id-rotation": lambda i: [],  # a new request id every time (every request has one)
}


def test_the_peer_gets_its_burst_then_429(peer: Sidecar, hostile: HostileApp) -> None:
    assert _statuses(peer, [[], [], []], hostile) == [200, 200, 429]


@pytest.mark.parametrize("spoof", SPOOFS)
def test_spoofed_client_headers_do_not_make_a_new_client(peer: Sidecar, hostile: HostileApp, spoof: str) -> None:
    """Once the peer's bucket is spent, no header it writes buys it a new one."""
    _statuses(peer, [[], []], hostile)  # spend whatever is left
    assert _statuses(peer, [SPOOFS[spoof](1)], hostile) == [429]


def test_a_respelled_path_shares_the_limit(peer: Sidecar, hostile: HostileApp) -> None:
    _statuses(peer, [[], []], hostile)
    status, _ = _send(peer, [], path="/V1//chat/completions/")
    assert status == 429  # the respelled path is scored, and limited, like the canonical one


@pytest.mark.parametrize(
    ("name", "first", "again"),
    [
        # trustedHops 2: the client is the entry 2 from the right (the first of our two proxies saw it).
        ("client-prepends-entries", "{c}, 10.0.0.1", "{s}, {s}, {c}, 10.0.0.1"),
        ("client-sends-its-own-header-twice", "{c}, 10.0.0.1", "{s}, {c}, 10.0.0.1"),
    ],
)
def test_forwarded_trusts_only_the_configured_hops(
    forwarded: Sidecar, hostile: HostileApp, name: str, first: str, again: str
) -> None:
    client = _fresh()
    one = [("x-forwarded-for", first.format(c=client))]
    spoofed = [("x-forwarded-for", again.format(c=client, s=_fresh()))]
    assert _statuses(forwarded, [one, one, spoofed], hostile) == [200, 200, 429]
    other = [("x-forwarded-for", f"{_fresh()}, 10.0.0.1")]
    assert _statuses(forwarded, [other], hostile) == [200]  # a different client has its own bucket


def test_forwarded_with_multiple_headers_reads_them_as_one_list(forwarded: Sidecar, hostile: HostileApp) -> None:
    client = _fresh()
    split_headers = [("x-forwarded-for", f"{_fresh()}, {client}"), ("x-forwarded-for", "10.0.0.1")]
    joined = [("x-forwarded-for", f"{client}, 10.0.0.1")]
    assert _statuses(forwarded, [split_headers, joined, joined], hostile) == [200, 200, 429]


def test_forwarded_with_too_few_hops_falls_back_to_the_peer(forwarded: Sidecar, hostile: HostileApp) -> None:
    """A list shorter than trustedHops was not written by our proxies: the peer (this process) is the client,
    so rotating single entries does not help."""
    statuses = _statuses(forwarded, [[("x-forwarded-for", _fresh())] for _ in range(4)], hostile)
    assert statuses[2:] == [429, 429]


def test_header_identity_keys_on_the_configured_header(header: Sidecar, hostile: HostileApp) -> None:
    alice = [("x-authenticated-user", f"alice-{uuid.uuid4().hex[:6]}"), ("x-forwarded-for", _fresh())]
    alice_again = [alice[0], ("x-forwarded-for", _fresh())]  # XFF is ignored
    bob = [("x-authenticated-user", f"bob-{uuid.uuid4().hex[:6]}")]
    assert _statuses(header, [alice, alice_again, alice_again, bob], hostile) == [200, 200, 429, 200]


def test_header_identity_without_the_header_is_the_peer(header: Sidecar, hostile: HostileApp) -> None:
    statuses = _statuses(header, [[("x-forwarded-for", _fresh())] for _ in range(4)], hostile)
    assert statuses[2:] == [429, 429]
