"""Deciding what to write: which desired children differ from what is observed, and which to prune. Pure.

A child is applied only when it is missing, when the hash of what we last applied (an annotation) differs
from the desired manifest's, or when someone changed a field we set (drift). Fields that another controller
took over through the scale subresource (an HPA or `kubectl scale` owning `spec.replicas`) are left to it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from guardrail_operator.builders.common import APPLIED_HASH_ANNOTATION, Manifest
from guardrail_operator.reconcile.revision import short_hash

Key = tuple[str, str]  # (kind, name)


def key_of(manifest: Manifest) -> Key:
    return str(manifest["kind"]), str(manifest["metadata"]["name"])


def with_applied_hash(manifest: Manifest) -> Manifest:
    """A copy of `manifest` annotated with the hash of its own content."""
    out = copy.deepcopy(manifest)
    annotations = out["metadata"].setdefault("annotations", {})
    annotations.pop(APPLIED_HASH_ANNOTATION, None)
    annotations[APPLIED_HASH_ANNOTATION] = short_hash(out)
    return out


def is_subset(desired: Any, observed: Any) -> bool:
    """Whether every field of `desired` is in `observed` with the same value (server defaults are ignored)."""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(
            k in observed and is_subset(v, observed[k]) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(desired) == len(observed)
            and all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
        )
    if isinstance(desired, bool) or isinstance(observed, bool):
        return desired is observed
    if isinstance(desired, int | str) and isinstance(observed, int | str):
        return str(desired) == str(observed)  # quantities: 1 and "1" are the same
    return bool(desired == observed)


def replicas_owned_elsewhere(observed: Manifest, manager: str) -> bool:
    """Whether another manager set `spec.replicas` through the scale subresource (HPA, kubectl scale)."""
    for entry in observed.get("metadata", {}).get("managedFields", []) or []:
        if entry.get("manager") == manager or entry.get("subresource") != "scale":
            continue
        if "f:replicas" in (entry.get("fieldsV1", {}).get("f:spec", {}) or {}):
            return True
    return False


def yield_foreign_fields(desired: Manifest, observed: Manifest | None, manager: str) -> Manifest:
    """`desired` without the fields another controller owns on the observed object."""
    if observed is None or desired["kind"] not in ("Deployment", "StatefulSet"):
        return desired
    if not replicas_owned_elsewhere(observed, manager):
        return desired
    out = copy.deepcopy(desired)
    out["spec"].pop("replicas", None)
    return out


def needs_apply(desired: Manifest, observed: Manifest | None) -> bool:
    """Whether applying `desired` (already hash-annotated) would change anything."""
    if observed is None:
        return True
    want = desired["metadata"].get("annotations", {}).get(APPLIED_HASH_ANNOTATION)
    have = (observed.get("metadata", {}).get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
    return want != have or not is_subset(desired, observed)


def owned_by(observed: Manifest, owner_uid: str) -> bool:
    refs = observed.get("metadata", {}).get("ownerReferences", []) or []
    return any(r.get("uid") == owner_uid and r.get("controller") for r in refs)


@dataclass(frozen=True)
class Plan:
    apply: list[Manifest] = field(default_factory=list)
    prune: list[Key] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)


def plan(desired: list[Manifest], observed: dict[Key, Manifest], owner_uid: str, manager: str) -> Plan:
    """Children to apply (in order), children of this owner that are no longer desired, and the rest."""
    to_apply: list[Manifest] = []
    unchanged: list[Key] = []
    for manifest in desired:
        current = observed.get(key_of(manifest))
        final = with_applied_hash(yield_foreign_fields(manifest, current, manager))
        if needs_apply(final, current):
            to_apply.append(final)
        else:
            unchanged.append(key_of(manifest))
    wanted = {key_of(m) for m in desired}
    prune = sorted(k for k, obj in observed.items() if k not in wanted and owned_by(obj, owner_uid))
    return Plan(apply=to_apply, prune=prune, unchanged=unchanged)
