"""The canary split: random per request (stable per sticky key), proportional to the weight, following status."""

from __future__ import annotations

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.served import ServedRevisions
from guardrail_sidecar.revisions.split import bucket, use_canary
from guardrail_sidecar.revisions.watch import status_canary
from tests.support.fake_scorer import FakeScorer


def test_same_sticky_key_always_gets_the_same_revision() -> None:
    assert {use_canary(30, "user-42") for _ in range(20)} == {use_canary(30, "user-42")}


def test_share_of_canary_requests_follows_the_weight() -> None:
    keys = [f"user-{i}" for i in range(4000)]
    share = sum(use_canary(25, k) for k in keys) / len(keys)
    assert 0.22 < share < 0.28
    random_share = sum(use_canary(25) for _ in range(4000)) / 4000  # no key: the sidecar's own draw
    assert 0.22 < random_share < 0.28


def test_without_a_sticky_key_the_same_request_is_split_at_random() -> None:
    assert {use_canary(50) for _ in range(200)} == {True, False}


def test_weight_bounds() -> None:
    assert not use_canary(0, "x")
    assert not use_canary(0)
    assert use_canary(100, "x")
    assert use_canary(100)


def test_raising_the_weight_keeps_earlier_sticky_keys_on_the_canary() -> None:
    keys = [f"r{i}" for i in range(500)]
    at_10 = {k for k in keys if use_canary(10, k)}
    at_50 = {k for k in keys if use_canary(50, k)}
    assert at_10 <= at_50
    assert all(0 <= bucket(k) < 100 for k in keys)


def test_status_canary_reads_revision_and_weight() -> None:
    assert status_canary({"status": {"canary": {"revision": "9ab12e4", "weight": 30}}}) == ("9ab12e4", 30)
    assert status_canary({"status": {"canary": {"revision": "9ab12e4", "weight": 300}}}) == ("9ab12e4", 100)
    assert status_canary({"status": {}}) == (None, 0)
    assert status_canary({}) == (None, 0)


def test_watched_status_decides_the_weight_and_survives_file_reloads() -> None:
    text = """
routing:
  canaryWeight: 5
  stable: {revision: s1, models: {backend: embedded, embedded: {repository: /unused}}}
  canary: {revision: c1, models: {backend: embedded, embedded: {repository: /unused}}}
"""
    config = SidecarConfig.from_yaml(text)
    fake = FakeScorer()
    revisions = ServedRevisions(config, Metrics(), make_scorer=lambda _: fake)
    revisions.apply(config)
    assert revisions.weight == 5  # the file's weight until the status is known
    revisions.follow_status("c1", 40)
    assert revisions.weight == 40
    revisions.apply(SidecarConfig.from_yaml(text))  # a ConfigMap update does not reset the watched weight
    assert revisions.weight == 40
    revisions.follow_status("other-revision", 50)  # not the canary this sidecar runs: no traffic to it
    assert revisions.weight == 0


REVISION_YAML = "revision: {rev}\nmodels: {{backend: embedded, embedded: {{repository: /unused}}}}\n"


def test_revision_configs_come_from_the_operators_configmaps() -> None:
    from guardrail_contract.names import revision_configmap_name
    from guardrail_contract.sidecar_config import GuardrailRef
    from guardrail_sidecar.revisions.watch import parse_revision, status_stable

    ref = GuardrailRef(namespace="shop", name="support-bot")
    assert revision_configmap_name(ref.name, "9ab12e4") == "support-bot-config-9ab12e4"
    long_name = revision_configmap_name("g" * 70, "9ab12e4")
    assert len(long_name) == 63
    assert long_name != revision_configmap_name("g" * 71, "9ab12e4")
    found = parse_revision([{"data": {"revision.yaml": REVISION_YAML.format(rev="9ab12e4")}}], "9ab12e4")
    assert found is not None
    assert found.revision == "9ab12e4"
    assert parse_revision([{"data": {"revision.yaml": "revision: [1]"}}], "9ab12e4") is None
    assert parse_revision([], "9ab12e4") is None
    assert status_stable({"status": {"stableRevision": "5d8f0c1"}}) == "5d8f0c1"


def test_following_the_guardrail_switches_revisions_live() -> None:
    from guardrail_contract.sidecar_config import RevisionConfig

    text = "routing:\n  stable: {revision: s1, models: {backend: embedded, embedded: {repository: /unused}}}\n"
    config = SidecarConfig.from_yaml(text)
    fake = FakeScorer()
    revisions = ServedRevisions(config, Metrics(), make_scorer=lambda _: fake)
    revisions.apply(config)
    canary = RevisionConfig.from_yaml(REVISION_YAML.format(rev="c9"))
    revisions.follow_guardrail(None, canary, "c9", 30)  # a canary starts
    assert revisions.canary is not None
    assert revisions.canary.revision == "c9"
    assert revisions.weight == 30
    revisions.apply(SidecarConfig.from_yaml(text))  # the mounted file (stable only) reloads: canary stays
    assert revisions.canary is not None
    assert revisions.weight == 30
    revisions.follow_guardrail(canary, None, None, 0)  # promoted: c9 is stable, no canary
    assert revisions.stable is not None
    assert revisions.stable.revision == "c9"
    assert revisions.canary is None
    assert revisions.pick("any").revision == "c9"
