"""Class 7: timeouts and connection limits. Slowloris clients (idle connections, headers or bodies sent a byte
a second) are closed within the configured timeouts while normal traffic keeps its latency; connections over
`proxy.maxConnections` are refused with a JSON 503; a request over `timeouts.request` ends (504 before the
answer began, a closed connection after), and nothing unchecked reaches the client either way.

Before issue 16, 300 such connections stayed open for 80 s (aiohttp's keep-alive timeout, 75 s).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from .conftest import QUESTION, Sidecar, StartSidecar, chat, error_of, leaks

pytestmark = pytest.mark.integration

TIMEOUTS = {"header": "2s", "bodyRead": "3s", "idle": "3s", "request": "6s"}
LIMIT = {"header": 2.0, "bodyRead": 3.0, "idle": 3.0}
SLACK = 6.0  # a loaded 2-core CI box: the deadline, plus this, is still far from "never"
ATTACKERS = 300
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": QUESTION}]}).encode()


@pytest.fixture(scope="module")
def guarded(start_sidecar: StartSidecar) -> Sidecar:
    return start_sidecar({"proxy": {"timeouts": TIMEOUTS, "maxConnections": 1024}}, name="timeouts")


@pytest.fixture(scope="module")
def capped(start_sidecar: StartSidecar) -> Sidecar:
    timeouts = {**TIMEOUTS, "header": "8s"}
    return start_sidecar({"proxy": {"timeouts": timeouts, "maxConnections": 40}}, name="capped")


def _host_port(sidecar: Sidecar) -> tuple[str, int]:
    host, port = sidecar.url.removeprefix("http://").split(":")
    return host, int(port)


# --- the three kinds of slow client: each returns how long the sidecar kept its connection open


async def _wait_closed(reader: asyncio.StreamReader, started: float, limit: float) -> float:
    try:
        while await asyncio.wait_for(reader.read(4096), limit):
            pass
    except (ConnectionError, TimeoutError):
        pass
    return time.monotonic() - started


async def _drip(writer: asyncio.StreamWriter, data: bytes, closed: asyncio.Task[float]) -> None:
    """Send `data` one byte a second until the server closes the connection."""
    for byte in data:
        if closed.done():
            return
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(1.0)


async def idle(sidecar: Sidecar, limit: float) -> float:
    reader, writer = await asyncio.open_connection(*_host_port(sidecar))
    try:
        return await _wait_closed(reader, time.monotonic(), limit)
    finally:
        writer.close()


async def slow_headers(sidecar: Sidecar, limit: float) -> float:
    reader, writer = await asyncio.open_connection(*_host_port(sidecar))
    started = time.monotonic()
    closed = asyncio.create_task(_wait_closed(reader, started, limit))
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    dripping = asyncio.create_task(_drip(writer, head, closed))
    try:
        return await closed
    finally:
        dripping.cancel()
        writer.close()


async def slow_body(sidecar: Sidecar, limit: float) -> float:
    reader, writer = await asyncio.open_connection(*_host_port(sidecar))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(BODY) + 500}\r\n\r\n".encode()
    )
    started = time.monotonic()
    closed = asyncio.create_task(_wait_closed(reader, started, limit))
    dripping = asyncio.create_task(_drip(writer, BODY + b" " * 500, closed))
    try:
        return await closed
    finally:
        dripping.cancel()
        writer.close()


Attack = Callable[[Sidecar, float], Awaitable[float]]
KINDS: dict[str, tuple[Attack, float]] = {
    "idle": (idle, LIMIT["header"]),
    "slow-headers": (slow_headers, LIMIT["header"]),
    "slow-body": (slow_body, LIMIT["bodyRead"]),
}


async def _normal_latencies(sidecar: Sidecar, n: int) -> list[float]:
    """`n` ordinary scored requests, one after the other (grounded answers: they pass), each question new (so
    the injection check runs the model, not the cache)."""
    out = []
    headers = {"x-hostile-case": "plain", "x-hostile-answer": "grounded"}
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(n):
            question = f"How do refunds work for order {uuid.uuid4().int % 10**8}?"
            body = {"model": "m", "messages": [{"role": "user", "content": question}]}
            started = time.monotonic()
            response = await client.post(sidecar.url + "/v1/chat/completions", json=body, headers=headers)
            out.append(time.monotonic() - started)
            assert response.status_code == 200, response.text[:300]
            assert response.headers["x-guardrail-verdict"] in ("pass", "flag")
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_slowloris_is_closed_within_the_timeouts_and_normal_traffic_keeps_its_latency(
    guarded: Sidecar,
) -> None:
    await _normal_latencies(guarded, 3)  # warm caches and connections
    before = await _normal_latencies(guarded, 20)

    # 300 attacker slots (100 of each kind); each reconnects as soon as the sidecar closes it, until the
    # normal traffic measured alongside is done.
    lifetimes: dict[str, list[float]] = {kind: [] for kind in KINDS}
    stop = asyncio.Event()

    async def slot(kind: str) -> None:
        attack, limit = KINDS[kind]
        while not stop.is_set():
            lifetimes[kind].append(await attack(guarded, limit + SLACK + 5))

    slots = [asyncio.create_task(slot(kind)) for kind in KINDS for _ in range(ATTACKERS // len(KINDS))]
    await asyncio.sleep(1.0)  # all 300 connected
    during = await _normal_latencies(guarded, 20)
    await asyncio.sleep(max(LIMIT.values()) + 1.0)  # every kind has been closed at least once
    stop.set()
    await asyncio.gather(*slots)

    for kind, (_, limit) in KINDS.items():
        assert len(lifetimes[kind]) >= ATTACKERS // len(KINDS), kind
        longest = max(lifetimes[kind])
        assert longest <= limit + SLACK, f"{kind}: a connection stayed {longest:.1f}s (limit {limit}s)"
        assert statistics.median(lifetimes[kind]) >= limit * 0.8, f"{kind}: closed before its deadline"
    p50 = (statistics.median(before), statistics.median(during))
    p95 = (_p(before, 0.95), _p(during, 0.95))
    print(
        f"normal traffic p50 {p50[0] * 1000:.0f} -> {p50[1] * 1000:.0f} ms, p95 {p95[0] * 1000:.0f} -> "
        f"{p95[1] * 1000:.0f} ms with {ATTACKERS} slow connections; connection lifetimes (max): "
        + ", ".join(f"{k} {max(v):.1f}s over {len(v)}" for k, v in lifetimes.items())
    )
    assert p50[1] <= 2.0 * p50[0] + 0.25, p50
    assert p95[1] <= 3.0 * p95[0] + 0.5, p95


async def test_a_kept_alive_idle_connection_is_closed_after_the_idle_timeout(guarded: Sidecar) -> None:
    reader, writer = await asyncio.open_connection(*_host_port(guarded))
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
    took = await _wait_closed(reader, started, LIMIT["idle"] + SLACK + 5)
    writer.close()
    assert LIMIT["header"] <= took <= LIMIT["idle"] + SLACK


async def test_a_slow_body_gets_a_408_json_error(guarded: Sidecar) -> None:
    reader, writer = await asyncio.open_connection(*_host_port(guarded))
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{")
    data = await asyncio.wait_for(reader.read(-1), LIMIT["bodyRead"] + SLACK)
    writer.close()
    assert data.startswith(b"HTTP/1.1 408")
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "body_timeout"


async def test_connections_over_the_cap_are_refused_with_503_until_slots_free(capped: Sidecar) -> None:
    held = [await asyncio.open_connection(*_host_port(capped)) for _ in range(60)]

    async def answer(reader: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(reader.read(4096), 1.0)
        except TimeoutError:
            return b""  # accepted, waiting for its (never coming) headers

    answers = await asyncio.gather(*(answer(reader) for reader, _ in held))
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    assert len(refused) >= 20, answers  # 40 accepted (the cap, less the harness's own), the rest refused
    assert json.loads(refused[0].split(b"\r\n\r\n", 1)[1])["error"]["code"] == "too_many_connections"
    async with httpx.AsyncClient(timeout=30) as client:
        during = await client.get(capped.url + "/echo")
        assert during.status_code == 503
        assert error_of(during)["code"] == "too_many_connections"
        await asyncio.sleep(8.0 + 2.0)  # the header timeout frees every held slot
        after = await client.get(capped.url + "/echo")
        assert after.status_code == 200
    for _, writer in held:
        writer.close()


def test_a_request_over_its_deadline_gets_504_without_the_answer(guarded: Sidecar) -> None:
    started = time.monotonic()
    response = chat(guarded, "slow", headers={"x-hostile-delay": "30"})
    took = time.monotonic() - started
    assert response.status_code == 504
    assert error_of(response)["code"] == "request_timeout"
    assert not leaks(response)
    assert took <= 6.0 + SLACK


def test_a_stalled_stream_over_its_deadline_is_cut_without_unchecked_text(guarded: Sidecar) -> None:
    started = time.monotonic()
    try:
        response = chat(guarded, "stream-stall", stream=True, headers={"x-hostile-delay": "30"})
        shown = response.text
    except httpx.HTTPError as exc:  # the connection closed mid-answer: fine, as long as it was closed in time
        shown = str(exc)
    took = time.monotonic() - started
    assert took <= 6.0 + 2.0 + SLACK  # timeouts.request, plus the guard's grace
    assert "planet Mars" not in shown
    assert "headquarters" not in shown.lower()  # not even the unchecked first words of the stalled sentence


def test_a_client_that_never_reads_its_answer_is_cut_off(guarded: Sidecar) -> None:
    """A slow reader holds a connection (and the answer's buffers) until timeouts.request: then it is cut. The
    app streams ~15 MB on a pass-through path; the client reads nothing for 10 s, then all it can."""
    head = (
        b"GET /big-download HTTP/1.1\r\nHost: x\r\nx-hostile-case: stream-repeat\r\n"
        b"x-hostile-answer: grounded\r\nx-hostile-repeat: 150000\r\n\r\n"
    )
    with socket.socket() as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.connect(_host_port(guarded))
        conn.sendall(head)
        time.sleep(6.0 + 2.0 + 2.0)  # timeouts.request, the guard's grace, slack: all without reading
        conn.settimeout(5.0)
        received, outcome = 0, "open"
        try:
            while chunk := conn.recv(1 << 20):
                received += len(chunk)
            outcome = "closed"
        except ConnectionResetError:
            outcome = "reset"
        except TimeoutError:
            outcome = "open"
    assert outcome in ("closed", "reset"), "the connection was still open"
    assert received < 5_000_000, f"{received} bytes: the answer was not cut"
