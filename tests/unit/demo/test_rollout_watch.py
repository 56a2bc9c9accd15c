"""What a rollout did, from the statuses and Events the demo saw."""

from __future__ import annotations

from guardrail_demo.canary import RolloutWatch


def status(stable: str, revision: str | None = None, weight: int = 0, state: str = "Progressing") -> dict[str, object]:
    canary = None if revision is None else {"revision": revision, "weight": weight, "state": state}
    return {"stableRevision": stable, "canary": canary}


def test_steps_seen_in_status_and_events_then_promotion() -> None:
    watch = RolloutWatch("new", "old")
    assert watch.see(status("old", "new", 10)) == ["canary new scores 10% of requests", "canary state Progressing"]
    watch.see(status("old", "new", 50))
    # 100 % lasts an instant: only its Event shows it
    watch.see_event("CanaryWeight", "Step 3/3: 100% of requests scored by revision new.")
    assert watch.result == "waiting"
    watch.see_event("Promoted", "Revision new promoted to stable (was old).")
    watch.see_event("RevisionServing", "Revision new is now stable.")  # says nothing about how it ended
    watch.see(status("new"))
    assert watch.result == "promoted"
    assert watch.steps_shown() == "10 → 50 → 100"
    assert watch.message == "Revision new promoted to stable (was old)."


def test_rollback_keeps_the_old_stable_and_its_reason() -> None:
    watch = RolloutWatch("bad", "old")
    watch.see(status("old", "bad", 10))
    watch.see(
        status("old", "bad", 0, "RolledBack")
        | {
            "canary": {
                "revision": "bad",
                "weight": 0,
                "state": "RolledBack",
                "message": "analysis failed: blockRateIncrease",
            }
        }
    )
    assert watch.result == "rolled-back"
    assert "blockRateIncrease" in watch.message


def test_a_direct_promotion_without_any_canary_is_reported_as_missing_canary_support() -> None:
    watch = RolloutWatch("new", "old")
    watch.see(status("old"))
    watch.see(status("new"))
    assert watch.result == "no-canary-support"


def test_events_about_other_revisions_are_ignored() -> None:
    watch = RolloutWatch("new", "old")
    assert watch.see_event("CanaryWeight", "Step 1/3: 10% of requests scored by revision other.") == []
    assert watch.weights == []
