"""Send the demo's requests through the sidecar and read what it decided (JSON answers and SSE streams)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from guardrail_demo.scenarios import Scenario


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    status: int
    verdict: str
    score: float | None
    revision: str
    reason: str = ""
    evidence: tuple[str, ...] = ()
    text: str = ""
    latency: float = 0.0
    error: str = ""


def request_body(scenario: Scenario) -> dict[str, Any]:
    return {
        "model": "demo-llm",
        "stream": scenario.stream,
        "messages": [
            {"role": "system", "content": "You are the Pebble & Pine Outfitters support bot."},
            {"role": "user", "content": scenario.question},
        ],
    }


def outcome_from_json(scenario: Scenario, status: int, body: Any, latency: float) -> Outcome:
    """What the sidecar decided about a JSON chat completion."""
    if not isinstance(body, dict):
        return Outcome(scenario, status, "error", None, "", error="the answer is not a JSON object", latency=latency)
    if "error" in body:
        return Outcome(scenario, status, "error", None, "", error=json.dumps(body["error"])[:200], latency=latency)
    choices = body.get("choices") or [{}]
    text = str(((choices[0] or {}).get("message") or {}).get("content") or "")
    return _with_field(scenario, status, body.get("guardrail"), text, latency)


def outcome_from_sse(scenario: Scenario, status: int, lines: Iterable[str], latency: float) -> Outcome:
    """What the sidecar decided about a stream: the text released and the final chunk's `guardrail` field."""
    text, field_value = [], None
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data or data == "[DONE]":
            continue
        event = json.loads(data)
        if isinstance(event, dict) and "guardrail" in event:
            field_value = event["guardrail"]
        for choice in event.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                text.append(content)
    return _with_field(scenario, status, field_value, "".join(text), latency)


def _with_field(scenario: Scenario, status: int, value: Any, text: str, latency: float) -> Outcome:
    if not isinstance(value, dict):
        return Outcome(scenario, status, "none", None, "", text=text, latency=latency, error="no guardrail field")
    citations = value.get("citations") or []
    score = value.get("score")
    return Outcome(
        scenario,
        status,
        str(value.get("verdict", "?")),
        float(score) if isinstance(score, int | float) else None,
        str(value.get("revision", "")),
        str(value.get("reason", "")),
        tuple(str(c.get("id")) for c in citations if isinstance(c, dict)),
        text,
        latency,
    )


def send(client: httpx.Client, base_url: str, scenario: Scenario, request_id: str | None = None) -> Outcome:
    """One request through the sidecar; transport errors become an `error` outcome."""
    headers = {"x-request-id": request_id or uuid.uuid4().hex}
    url = f"{base_url}/v1/chat/completions"
    started = time.monotonic()
    try:
        if scenario.stream:
            with client.stream("POST", url, json=request_body(scenario), headers=headers) as response:
                lines = list(response.iter_lines())
                return outcome_from_sse(scenario, response.status_code, lines, time.monotonic() - started)
        response = client.post(url, json=request_body(scenario), headers=headers)
        return outcome_from_json(scenario, response.status_code, response.json(), time.monotonic() - started)
    except (httpx.HTTPError, ValueError) as exc:
        return Outcome(scenario, 0, "error", None, "", error=str(exc)[:200], latency=time.monotonic() - started)


@dataclass
class TrafficLoop:
    """Sends the scenarios round-robin from a few threads until stopped; each outcome goes to `on_outcome`."""

    base_url: str
    scenarios: tuple[Scenario, ...]
    on_outcome: Callable[[Outcome], None]
    workers: int = 3
    pause: float = 0.05
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(self.workers):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True, name=f"traffic-{index}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def _run(self, offset: int) -> None:
        with httpx.Client(timeout=30) as client:
            position = offset
            while not self._stop.is_set():
                scenario = self.scenarios[position % len(self.scenarios)]
                position += self.workers
                self.on_outcome(send(client, self.base_url, scenario))
                self._stop.wait(self.pause)
