"""Operator settings from GUARDRAIL_* variables."""

from __future__ import annotations

import pytest

from guardrail_operator.settings import Settings, SettingsError
from guardrail_operator.webhook.injection import SidecarSettings


def test_defaults_without_variables() -> None:
    settings = Settings.from_env({"POD_NAME": "op-0", "POD_NAMESPACE": "guardrail-system"})
    assert settings.identity == "op-0"
    assert settings.lease_namespace == "guardrail-system"
    assert settings.watch_namespaces == ()
    assert settings.leader_election is True
    assert settings.resync_seconds == 60


def test_variables_override_defaults() -> None:
    settings = Settings.from_env(
        {
            "GUARDRAIL_WATCH_NAMESPACES": "shop, support ,",
            "GUARDRAIL_RESYNC_SECONDS": "2.5",
            "GUARDRAIL_LEADER_ELECTION": "false",
            "GUARDRAIL_LEASE_DURATION_SECONDS": "4",
            "GUARDRAIL_LEASE_RENEW_SECONDS": "1",
            "GUARDRAIL_METRICS_PORT": "0",
        }
    )
    assert settings.watch_namespaces == ("shop", "support")
    assert settings.resync_seconds == 2.5
    assert settings.leader_election is False
    assert settings.lease_duration_seconds == 4
    assert settings.metrics_port == 0


def test_ingestion_jobs_run_the_sidecar_image() -> None:
    assert Settings.from_env({}).kb_image == SidecarSettings().image, "the same default as the webhook's sidecar"
    assert Settings.from_env({"GUARDRAIL_SIDECAR_IMAGE": "reg/sidecar:2"}).kb_image == "reg/sidecar:2"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GUARDRAIL_RESYNC_SECONDS": "soon"}, "GUARDRAIL_RESYNC_SECONDS"),
        ({"GUARDRAIL_LEADER_ELECTION": "maybe"}, "GUARDRAIL_LEADER_ELECTION"),
        ({"GUARDRAIL_LEASE_DURATION_SECONDS": "-1"}, "GUARDRAIL_LEASE_DURATION_SECONDS"),
        ({"GUARDRAIL_LEASE_DURATION_SECONDS": "5", "GUARDRAIL_LEASE_RENEW_SECONDS": "5"}, "RENEW"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
