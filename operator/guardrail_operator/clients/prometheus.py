"""The Prometheus HTTP API client canary analysis queries through (`GET /api/v1/query`).

One `httpx.Client` per instance, created once at start-up and closed with it; every failure (connection,
timeout, HTTP status, a query Prometheus rejects, an answer that is not one number) becomes an
`AnalysisError` here, at the boundary.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from guardrail_operator.rollout.analysis import AnalysisError


class Prometheus:
    """Instant queries against one Prometheus server."""

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def query(self, promql: str) -> float | None:
        """The value of a query yielding one number; None when it yields no series."""
        try:
            response = self._client.get(f"{self.url}/api/v1/query", params={"query": promql})
        except httpx.HTTPError as exc:
            raise AnalysisError(f"Prometheus at {self.url} unreachable: {exc}") from exc
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise AnalysisError(f"Prometheus answered HTTP {response.status_code} without JSON") from exc
        if response.status_code != 200 or body.get("status") != "success":
            raise AnalysisError(f"Prometheus rejected {promql!r}: {body.get('error', response.status_code)}")
        return parse_value(body.get("data", {}), promql)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def parse_value(data: dict[str, Any], promql: str = "") -> float | None:
    """One number from a query result: a scalar, or a vector of at most one sample (empty: None)."""
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar":
            return float(result[1])  # type: ignore[index]  # [timestamp, "value"] per the API
        if kind == "vector" and isinstance(result, list):
            if not result:
                return None
            if len(result) > 1:
                raise AnalysisError(f"{promql!r} returned {len(result)} series; aggregate it to one number")
            return float(result[0]["value"][1])
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise AnalysisError(f"unexpected answer to {promql!r}: {data}") from exc
    raise AnalysisError(f"{promql!r} returned a {kind}; an instant vector or scalar is needed")
