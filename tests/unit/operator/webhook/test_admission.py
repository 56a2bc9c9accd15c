"""The kopf glue: configuration from the environment, failure policy, and the patch kopf sends back."""

from __future__ import annotations

import json
import logging
from typing import Any

import jsonpatch
import kopf
import pytest

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.settings import WebhookConfig, WebhookConfigError
from guardrail_operator.webhook import admission as webhook
from guardrail_operator.webhook import injection
from guardrail_operator.webhook.injection import SIDECAR_NAME, Target

LOG = logging.getLogger("test")


def target() -> Target:
    raw = {"metadata": {"name": "bot", "namespace": "shop"}, "spec": _valid_spec()}
    return Target.from_guardrail(Guardrail.model_validate(raw))


def pod_body() -> Any:  # kopf types bodies as TypedDicts; a plain dict is what it receives
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "labels": {"app": "bot"}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }


def test_defaults_leave_the_webhook_off() -> None:
    config = WebhookConfig.from_env({})
    assert config.enabled is False
    assert config.port == 9443
    assert config.failure_policy == "Fail", "an internal error never admits a selected pod without its sidecar"


def test_environment_sets_server_and_sidecar() -> None:
    config = WebhookConfig.from_env(
        {
            "GUARDRAIL_WEBHOOK_ENABLED": "true",
            "GUARDRAIL_WEBHOOK_PORT": "10250",
            "GUARDRAIL_WEBHOOK_CERT_DIR": "/certs",
            "GUARDRAIL_WEBHOOK_FAILURE_POLICY": "Fail",
            "GUARDRAIL_SIDECAR_IMAGE": "example/sidecar:9",
            "GUARDRAIL_SIDECAR_RESOURCES": '{"requests": {"cpu": "10m", "memory": 64}}',
            "GUARDRAIL_SIDECAR_NATIVE": "false",
        }
    )
    assert (config.enabled, config.port, config.cert_dir) == (True, 10250, "/certs")
    assert config.failure_policy == "Fail"
    assert config.sidecar.image == "example/sidecar:9"
    assert config.sidecar.resources == {"requests": {"cpu": "10m", "memory": "64"}}
    assert config.sidecar.native is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GUARDRAIL_WEBHOOK_PORT", "http"),
        ("GUARDRAIL_WEBHOOK_PORT", "70000"),
        ("GUARDRAIL_WEBHOOK_ENABLED", "maybe"),
        ("GUARDRAIL_WEBHOOK_FAILURE_POLICY", "Retry"),
        ("GUARDRAIL_SIDECAR_RESOURCES", "{not json"),
        ("GUARDRAIL_SIDECAR_RESOURCES", '{"request": {}}'),
    ],
)
def test_malformed_variables_are_named_in_the_error(name: str, value: str) -> None:
    with pytest.raises(WebhookConfigError, match=name):
        WebhookConfig.from_env({name: value})


def test_server_uses_the_mounted_certificate() -> None:
    server = webhook.webhook_server(WebhookConfig(enabled=True, cert_dir="/certs", port=9443))
    assert str(server.certfile) == "/certs/tls.crt"
    assert str(server.pkeyfile) == "/certs/tls.key"
    assert server.port == 9443


def test_the_handler_patch_adds_exactly_the_sidecar() -> None:
    body = kopf.Body(pod_body())
    patch = kopf.Patch(body=body)
    warnings: list[str] = []
    memo = kopf.Memo()
    memo["guardrail_webhook"] = WebhookConfig(enabled=True)

    webhook.inject_sidecar(
        body=body,
        patch=patch,
        warnings=warnings,
        memo=memo,
        logger=LOG,
        guardrail_targets={"shop": [target()]},
    )

    patched = jsonpatch.apply_patch(pod_body(), patch.as_json_patch())
    assert SIDECAR_NAME in [c["name"] for c in patched["spec"]["initContainers"]]
    assert patched["spec"]["containers"] == pod_body()["spec"]["containers"]
    assert warnings == []


def test_the_handler_leaves_other_namespaces_alone() -> None:
    body = kopf.Body(pod_body())
    patch = kopf.Patch(body=body)
    webhook.inject_sidecar(
        body=body,
        patch=patch,
        warnings=[],
        memo=kopf.Memo(),
        logger=LOG,
        guardrail_targets={"other": [target()]},
    )
    assert patch.as_json_patch() == []


def test_internal_errors_follow_the_failure_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> injection.Decision:
        raise RuntimeError("boom")

    monkeypatch.setattr(webhook, "inject", broken)

    ignored = webhook.decide(pod_body(), [target()], WebhookConfig(failure_policy="Ignore"))
    assert ignored.pod is None
    assert "boom" in ignored.warnings[0]
    with pytest.raises(kopf.AdmissionError, match="boom"):
        webhook.decide(pod_body(), [target()], WebhookConfig(failure_policy="Fail"))
    with pytest.raises(kopf.AdmissionError, match="boom"):  # strict namespaces never admit unchecked pods
        webhook.decide(pod_body(), [target()], WebhookConfig(failure_policy="Ignore"), allow_opt_out=False)


def test_a_strict_denial_is_an_admission_error_naming_the_namespace_rule() -> None:
    body = pod_body()
    body["spec"]["containers"][0]["ports"] = [{"containerPort": 9901}]
    with pytest.raises(kopf.AdmissionError, match="allow-opt-out=false") as denied:
        webhook.decide(body, [target()], WebhookConfig(), allow_opt_out=False)
    assert denied.value.code == 403
    assert webhook.decide(body, [target()], WebhookConfig()).pod is None  # lenient: admitted with a warning


def test_the_index_skips_invalid_guardrails() -> None:
    good, bad = kopf.Body({"spec": _valid_spec(), "status": {}}), kopf.Body({"spec": {"selector": {}}})
    valid = webhook.guardrail_targets(name="bot", namespace="shop", spec=good.spec, status=good.status, logger=LOG)
    invalid = webhook.guardrail_targets(name="bad", namespace="shop", spec=bad.spec, status=bad.status, logger=LOG)
    assert list(valid) == ["shop"]
    assert valid["shop"].name == "bot"
    assert invalid == {}


def _valid_spec() -> dict[str, Any]:
    return {"selector": {"matchLabels": {"app": "bot"}}, "models": {"repository": {"uri": "s3://m/r"}}}


def _guardrail_item(name: str, namespace: str = "shop", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec or _valid_spec(), "status": {}}


def test_a_replica_whose_index_is_still_empty_injects_from_its_start_up_listing() -> None:
    """kopf serves admission before its index has listed the Guardrails: the listing stands in meanwhile."""
    snapshot = webhook.targets_by_namespace([_guardrail_item("bot"), _guardrail_item("bad", spec={"selector": {}})])
    assert [t.name for t in snapshot["shop"]] == ["bot"]
    memo = kopf.Memo()
    memo["guardrail_webhook"] = WebhookConfig(enabled=True)
    memo["guardrail_webhook_warmup"] = webhook.Warmup(snapshot, until=float("inf"))
    body = kopf.Body(pod_body())
    patch = kopf.Patch(body=body)
    webhook.inject_sidecar(body=body, patch=patch, warnings=[], memo=memo, logger=LOG, guardrail_targets={})
    patched = jsonpatch.apply_patch(pod_body(), patch.as_json_patch())
    assert SIDECAR_NAME in [c["name"] for c in patched["spec"]["initContainers"]]


def test_the_start_up_listing_gives_way_to_the_index_and_expires() -> None:
    listed = webhook.targets_by_namespace([_guardrail_item("bot"), _guardrail_item("old")])
    warmup = webhook.Warmup(listed, until=100.0)
    assert [t.name for t in warmup.targets("shop", [], now=1.0)] == ["bot", "old"]
    # The index has seen "old" (and perhaps dropped it since: it was deleted), and indexes "bot" itself.
    body = kopf.Body({"spec": _valid_spec(), "status": {}})
    spec, status = body.spec, body.status
    memo = kopf.Memo()
    memo["guardrail_webhook_warmup"] = warmup
    webhook.guardrail_targets(name="old", namespace="shop", spec=spec, status=status, logger=LOG, memo=memo)
    indexed = [target()]
    assert [t.name for t in warmup.targets("shop", indexed, now=1.0)] == ["bot"]
    assert warmup.targets("shop", [], now=1.0) == [t for t in listed["shop"] if t.name == "bot"]
    assert warmup.targets("shop", [], now=100.0) == [], "after `until` only the index counts"
    assert warmup.targets("other", [], now=1.0) == []


def test_strict_namespaces_refuse_an_update_that_swaps_the_sidecar_image() -> None:
    memo = kopf.Memo()
    memo["guardrail_webhook"] = WebhookConfig(enabled=True)
    injected: Any = injection.inject(pod_body(), [target()], WebhookConfig().sidecar, allow_opt_out=False).pod
    assert injected is not None
    swapped = json.loads(json.dumps(injected))
    swapped["spec"]["initContainers"][0]["image"] = "evil/passthrough:1"
    relabelled = json.loads(json.dumps(injected))
    relabelled["metadata"]["labels"]["team"] = "web"

    def update(new: Any) -> kopf.Patch:  # kopf types bodies as TypedDicts; plain dicts are what it receives
        body = kopf.Body(new)
        patch = kopf.Patch(body=body)
        webhook.inject_sidecar_strict(
            body=body, patch=patch, warnings=[], memo=memo, logger=LOG,
            guardrail_targets={"shop": [target()]}, operation="UPDATE", old=kopf.Body(injected),
        )  # fmt: skip
        return patch

    with pytest.raises(kopf.AdmissionError, match="guardrail-sidecar container of a running pod") as denied:
        update(swapped)
    assert denied.value.code == 403
    assert update(relabelled).as_json_patch() == [], "other updates pass unchanged"
