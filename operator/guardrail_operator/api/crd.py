"""Render the Guardrail CustomResourceDefinition from the typed model in `guardrail_contract.guardrail`.

`python -m guardrail_operator.api.crd` prints the CRD; `crds/guardrails.dev_guardrails.yaml` is its checked-in
output and a unit test fails when the two drift. Pure: no I/O besides `main`.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from guardrail_contract.guardrail import GuardrailSpec, GuardrailStatus
from guardrail_contract.names import GROUP, KIND, PLURAL, VERSION

JsonSchema = dict[str, Any]
_KEEP = {
    "type",
    "description",
    "default",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "x-kubernetes-validations",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}


def _structural(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Inline `$ref`s, fold `Optional[...]` and keep only keywords a structural schema allows."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        if node.get("x-kubernetes-int-or-string"):
            node = {k: v for k, v in node.items() if k != "anyOf"}
        else:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) != 1:
                raise ValueError(f"cannot express union in a structural schema: {node}")
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
            if node.get("default") is not None:
                rest["default"] = node["default"]
            return _structural({**options[0], **rest}, defs)
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    out: JsonSchema = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        elif key == "additionalProperties":
            continue  # `false` is the structural default (unknown fields are pruned or rejected)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020 (pydantic) puts the bound here; OpenAPI v3.0 wants it in minimum/maximum.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    if out.get("x-kubernetes-preserve-unknown-fields") and out.get("type") == "object":
        out.pop("additionalProperties", None)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "properties" in out:
        out.setdefault("type", "object")
    return out


def schema_of(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of a pydantic model, in its wire (camelCase) names."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(raw, defs)


def build_crd() -> JsonSchema:
    """The complete Guardrail CRD as a dict."""
    spec = schema_of(GuardrailSpec)
    spec["description"] = "Desired guardrail: which pods, which models, which policy, how to roll out."
    status = schema_of(GuardrailStatus)
    status["description"] = "Observed state, written by the operator; all rollout state lives here."
    columns = [
        ("Phase", "string", ".status.phase", "Lifecycle phase."),
        ("Stable", "string", ".status.stableRevision", "Revision serving stable traffic."),
        ("Canary", "string", ".status.canary.revision", "Revision being rolled out."),
        ("Weight", "integer", ".status.canary.weight", "Percent of traffic on the canary."),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Whether the guardrail serves."),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "guardrail-operator",
                "app.kubernetes.io/part-of": "guardrail",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["gr"],
                "categories": ["guardrails"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": n, "type": t, "jsonPath": p, "description": d} for n, t, p, d in columns
                    ]
                    + [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A Guardrail checks every answer of the selected LLM app pods "
                            "against a knowledge base (grounding) and every request for prompt injection, "
                            "and rolls out changes to its models or policy as canaries.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": "API version of this object.",
                                },
                                "kind": {"type": "string", "description": "Kind of this object: Guardrail."},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the YAML text checked in under `crds/`."""
    header = (
        "# Generated by `python -m guardrail_operator.api.crd` from guardrail_contract/guardrail.py. Do not edit.\n"
    )
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=110)


def main() -> None:
    sys.stdout.write(render_crd())


if __name__ == "__main__":
    main()
