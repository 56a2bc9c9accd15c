"""`kubectl guardrail rollout status` during the eval gate and the shadow stage: the stage and its figures."""

from __future__ import annotations

from guardrail_operator.rollout.view import view

SHADOW = {
    "revision": "c1",
    "weight": 0,
    "state": "Shadow",
    "message": "Shadow: 50% of stable's answers also scored by c1 for 2m",
    "evalGate": {
        "candidateAUROC": 0.861,
        "stableAUROC": 0.84,
        "leadProbability": 0.71,
        "falseBlockRate": 0.05,
        "passed": True,
    },
    "shadow": {
        "requests": 412,
        "disagreement": 0.021,
        "candidateWouldBlock": 0.11,
        "stableBlock": 0.1,
        "scoreShift": -0.012,
        "addedCostMs": 14.2,
        "dropped": 3,
    },
}


def test_status_shows_the_shadow_stage_and_its_figures() -> None:
    shown = view({"metadata": {"name": "bot", "generation": 2}, "status": {"observedGeneration": 2, "canary": SHADOW}})
    assert not shown.done
    assert "candidate c1 in the shadow stage (users get only stable's verdicts)" in shown.line
    assert "eval gate passed: AUROC 0.861 (stable 0.840), P(candidate better) 0.71, false blocks 5.0%" in shown.line
    assert "shadow: 412 answers, disagreement 2.1%, would block 11.0% (stable 10.0%)" in shown.line
    assert "score shift -0.012, added cost 14.2 ms, dropped 3" in shown.line


def test_status_during_the_eval_gate_before_any_figures() -> None:
    canary = {"revision": "c1", "state": "EvalGate", "message": "eval Job bot-eval-c1 is running"}
    shown = view({"metadata": {"name": "bot"}, "status": {"canary": canary}})
    assert shown.line.endswith("candidate c1 in the eval gate: eval Job bot-eval-c1 is running")
