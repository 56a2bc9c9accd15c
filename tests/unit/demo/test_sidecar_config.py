"""The local sidecar config: the operator's rendering, local ports, and the sidecar's out-of-cluster overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_demo import manifests
from guardrail_demo.sidecar_config import LocalEndpoints, local_config, overrides
from guardrail_operator.builders.config import build_revision_configmap
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
LOCAL = LocalEndpoints("127.0.0.1:9001", "/repo/models", "/work/qdrant", 18000, 18080, 19901)


def rendered(path: Path) -> SidecarConfig:
    """The `sidecar.yaml` the operator puts in the revision ConfigMap for this example."""
    manifest = manifests.load(path)
    manifest["metadata"]["uid"] = "0000-demo"
    guardrail = Guardrail.model_validate(manifest)
    configmap = build_revision_configmap(guardrail, guardrail_revision(guardrail.spec), model_revision(guardrail.spec))
    return SidecarConfig.from_yaml(configmap["data"]["sidecar.yaml"])


def test_every_revision_is_served_by_the_local_processes_with_its_own_scoring_settings() -> None:
    operator = rendered(EXAMPLES / "guardrail.yaml")
    config = local_config(operator, LOCAL)
    served = config.localise(config.routing.stable)
    assert served.models.triton is not None
    assert (served.models.backend, served.models.triton.url) == ("triton", "127.0.0.1:9001")
    assert served.models.tokenizers == "/repo/models"
    assert (served.models.nli, served.models.embedding) == (
        operator.routing.stable.models.nli,
        operator.routing.stable.models.embedding,
    )
    assert served.knowledge_base is not None
    assert (served.knowledge_base.qdrant.path, served.knowledge_base.qdrant.url) == ("/work/qdrant", None)
    assert (served.knowledge_base.collection, served.knowledge_base.top_k) == ("support-facts", 4)
    assert served.policy == operator.routing.stable.policy
    # a canary revision read later from its ConfigMap goes to the same local processes
    canary = rendered(EXAMPLES / "guardrail-canary.yaml").routing.stable
    assert config.localise(canary).models.triton == served.models.triton
    assert config.localise(canary).policy.soft_limit == 0.7


def test_ports_are_local_and_the_status_is_still_followed() -> None:
    operator = rendered(EXAMPLES / "guardrail.yaml")
    config = local_config(operator, LOCAL)
    assert (config.proxy.listen_host, config.proxy.listen_port) == ("127.0.0.1", 18000)
    assert (config.proxy.upstream_host, config.proxy.upstream_port) == ("127.0.0.1", 18080)
    assert config.admin_port == 19901
    assert config.watch == operator.watch
    assert config.watch is not None
    assert config.routing == operator.routing
    assert SidecarConfig.from_yaml(config.to_yaml()) == config  # the file round-trips through the sidecar's loader


def test_the_output_names_each_rewritten_endpoint() -> None:
    rows = {setting: (was, now) for setting, was, now in overrides(rendered(EXAMPLES / "guardrail.yaml"), LOCAL)}
    assert rows["models.triton.url"][0].startswith("support-bot-triton-")
    assert rows["models.triton.url"][1].startswith("127.0.0.1:9001")
    assert rows["knowledgeBase.qdrant"][0].startswith("http://support-bot-qdrant")


@pytest.mark.parametrize("name", ["guardrail-canary.yaml", "guardrail-bad.yaml"])
def test_demo_examples_are_new_revisions_with_a_local_analysis(name: str) -> None:
    base = manifests.revision(manifests.load(EXAMPLES / "guardrail.yaml"))
    manifest = manifests.localized(manifests.load(EXAMPLES / name), "demo", "http://127.0.0.1:1234")
    assert manifest["metadata"]["namespace"] == "demo"
    assert manifest["spec"]["rollout"]["analysis"]["prometheus"] == {"url": "http://127.0.0.1:1234"}
    assert manifests.revision(manifest) != base
    Guardrail.model_validate(manifest)  # valid against the operator's model
