"""Restarts and high availability: a new operator changes nothing; a standby takes over a dead leader."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.clients.k8s import KubeClient
from tests.integration.operator.helpers import (
    LEASE_SECONDS,
    RESYNC_SECONDS,
    OperatorProcess,
    apply,
    example_guardrail,
    healthy,
    operator_writes_in_audit,
    resource_versions,
    wait_for,
)

pytestmark = pytest.mark.integration
StartOperator = Callable[[str], OperatorProcess]


# A changed revision goes through a canary; one 1 s step without Prometheus analysis promotes it quickly.
QUICK_ROLLOUT = {"steps": [100], "stepInterval": "1s", "analysis": {}}


def without_knowledge_base(namespace: str, **spec: Any) -> dict[str, Any]:
    body = example_guardrail(namespace, **{"rollout": QUICK_ROLLOUT, **spec})
    del body["spec"]["knowledgeBase"]
    return body


def test_restarted_operator_changes_nothing(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    first = start_operator("op-a")
    apply(cluster, without_knowledge_base(namespace))
    wait_for("Healthy", lambda: healthy(kube, namespace))
    time.sleep(0.5)
    first.stop()
    versions, since = resource_versions(kube, namespace), time.time()

    second = start_operator("op-b")
    wait_for("the new operator to lead", second.is_leader, timeout=LEASE_SECONDS * 3)
    time.sleep(RESYNC_SECONDS * 2.5)
    assert resource_versions(kube, namespace) == versions
    assert second.writes() == 0
    assert operator_writes_in_audit(cluster, namespace, since) == []


def test_standby_takes_over_within_the_lease_duration(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    leader = start_operator("op-a")
    wait_for("op-a to lead", leader.is_leader, timeout=LEASE_SECONDS * 3)
    standby = start_operator("op-b")
    apply(cluster, without_knowledge_base(namespace))
    first = wait_for("Healthy", lambda: healthy(kube, namespace))
    assert not standby.is_leader()
    assert standby.writes() == 0  # only the leader acts

    leader.kill()
    killed = time.monotonic()
    wait_for("op-b to take over", standby.is_leader, timeout=LEASE_SECONDS * 3, interval=0.1)
    handover = time.monotonic() - killed
    # The standby must see the lease record unchanged for one full duration by its own clock (checking every
    # 0.5 s), so the handover lands between duration - renew interval and duration + retry interval after
    # the kill; the rest is slack for a loaded machine.
    print(f"leader handover after SIGKILL: {handover:.2f}s (lease duration {LEASE_SECONDS}s)")
    assert handover <= LEASE_SECONDS + 2.5, f"handover took {handover:.1f}s"

    apply(cluster, without_knowledge_base(namespace, policy={"threshold": 0.4, "softLimit": 0.6}))
    second = wait_for(
        "the new leader to roll out the changed revision",
        lambda: (s := healthy(kube, namespace)) and s["stableRevision"] != first["stableRevision"] and s,
    )
    assert second["observedGeneration"] == 2
    assert [h["revision"] for h in second["history"]] == [first["stableRevision"], second["stableRevision"]]
