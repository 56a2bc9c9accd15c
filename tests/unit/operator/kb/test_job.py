"""`spec.knowledgeBase.sources` renders the ingestion Job: same CLI, same image, the right arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail, KnowledgeSource
from guardrail_operator.kb.job import DIGEST_ANNOTATION, build_kb_ingest_job, kb_job_name, sources_digest

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "guardrail.yaml"
SOURCES = [{"configMap": "shop-faq"}, {"pvc": "docs", "path": "/kb/en/"}, {"uri": "s3://acme-kb/support/"}]


def _guardrail(sources: list[dict[str, Any]], **qdrant: Any) -> Guardrail:
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"].update({"namespace": "shop", "uid": "0a1b2c3d-0000-4000-8000-000000000001"})
    body["spec"]["knowledgeBase"]["sources"] = sources
    body["spec"]["knowledgeBase"]["retainVersions"] = 5
    if qdrant:
        body["spec"]["knowledgeBase"]["qdrant"] = qdrant
    return Guardrail.model_validate(body)


def _job(guardrail: Guardrail, pinned: tuple[str, ...] = ()) -> dict[str, Any]:
    return build_kb_ingest_job(
        guardrail,
        image="ghcr.io/acme/guardrail:1.2",
        model_rev="m1",
        digest="d1",
        fetcher_image="rclone:1",
        pinned=pinned,
    )


def test_the_job_runs_kb_ingest_on_every_source_into_the_managed_qdrant() -> None:
    job = _job(_guardrail(SOURCES), pinned=("bbbbbbbbbb", "aaaaaaaaaa"))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/acme/guardrail:1.2"
    assert container["args"] == [
        "guardrail",
        "kb",
        "ingest",
        "/kb/sources/0",
        "/kb/sources/1",
        "/kb/sources/2",
        "--collection",
        "support-facts",
        "--qdrant-url",
        "http://support-bot-qdrant.shop.svc:6333",
        "--api-key-env",
        "GUARDRAIL_QDRANT_API_KEY",
        "--embedding-url",
        "support-bot-triton-m1.shop.svc:8001",
        "--embedding-model",
        "embedding:1",
        "--model-repository",
        "/opt/guardrail/tokenizers",
        "--retain",
        "5",
        "--keep",
        "aaaaaaaaaa",
        "--keep",
        "bbbbbbbbbb",
        "--strict",
        "--summary-file",
        "/dev/termination-log",
    ]
    assert pod["restartPolicy"] == "Never"
    # The managed Qdrant's generated key, by reference only.
    assert container["env"] == [
        {
            "name": "GUARDRAIL_QDRANT_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "support-bot-qdrant-api-key", "key": "api-key"}},
        }
    ]
    assert job["metadata"]["name"] == "support-bot-kb-d1"
    assert job["metadata"]["annotations"][DIGEST_ANNOTATION] == "d1"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Guardrail"


def test_each_kind_of_source_is_mounted_read_only() -> None:
    pod = _job(_guardrail(SOURCES))["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["source-0"]["configMap"] == {"name": "shop-faq"}
    assert volumes["source-1"]["persistentVolumeClaim"] == {"claimName": "docs", "readOnly": True}
    assert volumes["source-2"] == {"name": "source-2", "emptyDir": {}}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert all(m["readOnly"] for m in mounts.values())
    assert mounts["source-1"]["subPath"] == "kb/en"
    (fetch,) = pod["initContainers"]
    assert fetch["image"] == "rclone:1"
    assert "rclone copy :s3,env_auth=true:acme-kb/support /kb/sources/2" in fetch["command"][-1]


def test_an_external_qdrant_key_comes_from_its_secret() -> None:
    external = {"external": {"url": "https://qdrant.acme.dev", "apiKeySecretRef": {"name": "qd", "key": "token"}}}
    container = _job(_guardrail([{"configMap": "faq"}], **external))["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--qdrant-url") + 1] == "https://qdrant.acme.dev"
    assert args[args.index("--api-key-env") + 1] == "GUARDRAIL_QDRANT_API_KEY"
    assert container["env"] == [
        {"name": "GUARDRAIL_QDRANT_API_KEY", "valueFrom": {"secretKeyRef": {"name": "qd", "key": "token"}}}
    ]
    assert "initContainers" not in _job(_guardrail([{"configMap": "faq"}], **external))["spec"]["template"]["spec"]


def test_the_digest_follows_sources_and_what_was_observed_of_them() -> None:
    guardrail = _guardrail(SOURCES)
    digest = sources_digest(guardrail, {"configmap/shop-faq": "h1"})
    assert digest == sources_digest(guardrail, {"configmap/shop-faq": "h1"})
    assert digest != sources_digest(guardrail, {"configmap/shop-faq": "h2"})
    assert digest != sources_digest(_guardrail(SOURCES[:2]), {"configmap/shop-faq": "h1"})
    assert kb_job_name(guardrail, digest) == f"support-bot-kb-{digest}"


def test_no_sources_means_no_job() -> None:
    with pytest.raises(ValueError, match="sources is empty"):
        _job(_guardrail([]))


@pytest.mark.parametrize("source", [{}, {"configMap": "a", "pvc": "b"}, {"uri": "ftp://x/y"}])
def test_a_source_names_exactly_one_valid_place(source: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        KnowledgeSource.model_validate(source)


def test_the_job_command_line_is_one_the_cli_accepts() -> None:
    from guardrail_cli.kb import ingest_command

    external = {"external": {"url": "https://qdrant.acme.dev", "apiKeySecretRef": {"name": "qd", "key": "token"}}}
    args = _job(_guardrail(SOURCES, **external), pinned=("aaaaaaaaaa",))["spec"]["template"]["spec"]["containers"][0]
    program, group, command, *rest = args["args"]
    assert (program, group, command) == ("guardrail", "kb", "ingest")
    with ingest_command.make_context("ingest", rest) as ctx:
        assert ctx.params["strict"] is True
        assert ctx.params["embedding_model"] == "embedding:1"
        assert ctx.params["keep"] == ("aaaaaaaaaa",)
        assert ctx.params["api_key_env"] == "GUARDRAIL_QDRANT_API_KEY"
        assert [str(p) for p in ctx.params["paths"]] == ["/kb/sources/0", "/kb/sources/1", "/kb/sources/2"]


def test_the_ingestion_pod_has_no_api_token_and_runs_restricted() -> None:
    pod = _job(_guardrail(SOURCES))["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
