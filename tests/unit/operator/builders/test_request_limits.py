"""Issue 16 request-side settings the operator renders for the sidecar: `spec.policy.promptInjection.maxWindows`
(unset keeps every revision) and `spec.proxy.rateLimit`/`timeouts`/`maxConnections` (proxy settings, never part
of the revision)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.config import revision_config, sidecar_config
from guardrail_operator.reconcile.revision import guardrail_revision

MakeBody = Callable[..., dict[str, Any]]


def _guardrail(
    make_body: MakeBody, policy: dict[str, Any] | None = None, proxy: dict[str, Any] | None = None
) -> Guardrail:
    body = make_body()
    body["spec"]["policy"] = {**body["spec"].get("policy", {}), **(policy or {})}
    body["spec"]["proxy"] = {**body["spec"].get("proxy", {}), **(proxy or {})}
    return Guardrail.model_validate(body)


def test_max_windows_unset_renders_the_sidecar_default_and_keeps_the_revision(make_body: MakeBody) -> None:
    plain = _guardrail(make_body)
    assert revision_config(plain, "r1", "m1").policy.prompt_injection.max_windows == 256
    assert "maxWindows" not in plain.spec.policy.model_dump(by_alias=True, exclude_none=True)["promptInjection"]
    tuned = _guardrail(make_body, {"promptInjection": {"maxWindows": 32}})
    assert revision_config(tuned, "r1", "m1").policy.prompt_injection.max_windows == 32
    assert guardrail_revision(tuned.spec) != guardrail_revision(plain.spec)  # it changes what is checked


def test_proxy_limits_are_rendered_and_not_part_of_the_revision(make_body: MakeBody) -> None:
    proxy = {
        "rateLimit": {"requestsPerSecond": 5, "identity": "forwarded", "trustedHops": 2},
        "timeouts": {"header": "5s", "bodyRead": "20s", "idle": "15s", "request": "90s"},
        "maxConnections": 256,
    }
    guardrail = _guardrail(make_body, proxy=proxy)
    rendered = sidecar_config(guardrail, "r1", "m1").proxy
    assert (rendered.rate_limit.identity, rendered.rate_limit.trusted_hops) == ("forwarded", 2)
    assert (rendered.timeouts.header, rendered.timeouts.request, rendered.max_connections) == ("5s", "90s", 256)
    assert guardrail_revision(guardrail.spec) == guardrail_revision(_guardrail(make_body).spec)


def test_defaults_are_the_safe_ones(make_body: MakeBody) -> None:
    rendered = sidecar_config(_guardrail(make_body), "r1", "m1").proxy
    assert rendered.rate_limit.identity == "peer"  # never the client-written X-Forwarded-For
    assert (rendered.timeouts.header, rendered.timeouts.idle, rendered.max_connections) == ("10s", "30s", 1024)


@pytest.mark.parametrize(
    "proxy",
    [
        {"rateLimit": {"identity": "header"}},  # no identityHeader
        {"rateLimit": {"identity": "leftmost-forwarded-for"}},
        {"timeouts": {"header": "forever"}},
        {"maxConnections": 0},
    ],
)
def test_invalid_proxy_limits_are_rejected(make_body: MakeBody, proxy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _guardrail(make_body, proxy=proxy)


def test_trusted_texts_are_rendered_and_change_the_revision_only_when_set(make_body: MakeBody) -> None:
    digest = "a" * 64
    plain = _guardrail(make_body)
    trusting = _guardrail(make_body, {"promptInjection": {"trustedSha256": [digest]}})
    assert revision_config(trusting, "r1", "m1").policy.prompt_injection.trusted_sha256 == [digest]
    assert revision_config(plain, "r1", "m1").policy.prompt_injection.trusted_sha256 == []
    assert guardrail_revision(trusting.spec) != guardrail_revision(plain.spec)
    with pytest.raises(ValidationError):
        _guardrail(make_body, {"promptInjection": {"trustedSha256": ["A" * 64]}})  # lower-case hex only
