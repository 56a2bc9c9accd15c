"""What `kubectl guardrail` prints and sends, from Guardrail objects as the API returns them."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail_operator.rollout.view import action_patch, history_rows, pause_patch, predict, view


def obj(status: dict[str, Any], generation: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "bot", "generation": generation}, "status": {"observedGeneration": 2, **status}}


CANARY = {"revision": "c1", "weight": 10, "state": "Progressing", "message": "step 1/3"}
ROLLED_BACK = {"revision": "c1", "weight": 0, "state": "RolledBack", "message": "errorRate is 0.2, above 0.01"}
READY = {"type": "Ready", "status": "True", "reason": "AllReady", "message": ""}
FAILED = {"type": "RolloutHealthy", "status": "False", "reason": "AnalysisFailed", "message": "errorRate is 0.2"}


def test_patches_are_plain_merge_patches() -> None:
    assert action_patch("abort", "id-1") == {
        "metadata": {
            "annotations": {"guardrails.dev/rollout-action": "abort", "guardrails.dev/rollout-request-id": "id-1"}
        }
    }
    assert pause_patch(True) == {"spec": {"rollout": {"paused": True}}}


@pytest.mark.parametrize(
    ("o", "done", "failed", "text"),
    [
        (obj({"phase": "Progressing", "canary": CANARY}), False, False, "canary c1 at 10% (Progressing): step 1/3"),
        (
            obj({"phase": "RolledBack", "stableRevision": "s1", "canary": ROLLED_BACK, "conditions": [FAILED]}),
            True,
            True,
            "errorRate is 0.2",
        ),
        (
            obj({"phase": "Healthy", "stableRevision": "s1", "conditions": [READY]}),
            True,
            False,
            "revision s1 is stable",
        ),
        (
            obj({"phase": "Healthy", "stableRevision": "s1", "conditions": [READY]}, generation=3),
            False,
            False,
            "spec update to be observed",
        ),
        # conditions decide, not the phase: a phase alone says nothing, and Ready=False is not done
        (obj({"phase": "RolledBack", "stableRevision": "s1", "canary": ROLLED_BACK}), False, False, "errorRate is 0.2"),
        (obj({"phase": "Healthy", "stableRevision": "s1"}), False, False, "to become ready"),
        (
            obj({"stableRevision": "s1", "conditions": [READY, FAILED], "canary": ROLLED_BACK}),
            True,
            True,
            "rolled back",
        ),
        (
            obj({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False", "message": "Triton 0/1"}]}),
            False,
            False,
            "Triton 0/1",
        ),
    ],
)
def test_view(o: dict[str, Any], done: bool, failed: bool, text: str) -> None:
    v = view(o)
    assert (v.done, v.failed) == (done, failed)
    assert text in v.line


@pytest.mark.parametrize(
    ("action", "status", "text"),
    [
        ("promote", {"canary": CANARY}, "advance one step from 10%"),
        ("promote-full", {"canary": CANARY}, "promoted to stable at once"),
        ("abort", {"canary": CANARY, "stableRevision": "s1"}, "rolled back from 10% to 0%; s1 stays stable"),
        ("abort", {"stableRevision": "s1"}, "nothing to abort"),
        ("promote", {"canary": ROLLED_BACK}, "would be retried"),
        ("undo", {"stableRevision": "s2", "history": [{"revision": "s1"}, {"revision": "s2"}]}, "previous stable s1"),
        ("undo", {"stableRevision": "s1", "history": [{"revision": "s1"}]}, "nothing to undo"),
        ("pause", {}, "paused would be set to True"),
    ],
)
def test_dry_run_predictions(action: str, status: dict[str, Any], text: str) -> None:
    assert text in predict(action, obj(status))


def test_history_marks_the_current_stable_once() -> None:
    entries = [{"revision": r, "promotedAt": f"t{i}", "reason": "Promoted"} for i, r in enumerate(["a", "b", "a"])]
    rows = history_rows(obj({"stableRevision": "a", "history": entries}))
    assert [r[3] for r in rows] == ["", "", "*"]
