"""The default policy is an operating point a platform team can enforce: on the committed dev sample
(`models/eval/e2e_dev_sample.jsonl`: 60 HaluEval dev rows per task, both answers; never the reserved dialogue rows),
the default `threshold` blocks at most 5% of the grounded answers on every task, and the flag band up to the
default `softLimit` holds at most 15% more of them (the review budget), as the sidecar decides (claims → the
request's passages → the shipped NLI model → the weakest claim; `guardrail_models.e2e`, held to the sidecar
process by test_stream_json_agree.py).

A change that moves the defaults, the model, its calibration or the claim pipeline past that point fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from guardrail_contract.sidecar_config import Policy
from guardrail_models.e2e import SIDECAR, CachedModels, score_cases
from guardrail_models.e2e_eval import REVIEW_BUDGET, TARGET_FALSE_BLOCK, read_sample
from guardrail_models.runtime import load_embedding, load_nli
from tests.support.processes import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = REPO / "models" / "eval" / "e2e_dev_sample.jsonl"


@pytest.fixture(scope="module")
def scored() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    models = CachedModels(load_nli(), load_embedding())
    out = {}
    for task, cases in read_sample(SAMPLE).items():
        labels = np.array([c.label for c in cases])
        out[task] = (labels, score_cases(models, cases, SIDECAR))
    return out


def test_the_sample_covers_every_task_with_both_answers(scored: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    assert set(scored) == {"qa", "dialogue", "summarization"}
    for labels, _ in scored.values():
        assert labels.sum() >= 60
        assert (labels == 0).sum() >= 60


@pytest.mark.parametrize("task", ["qa", "dialogue", "summarization"])
def test_default_threshold_blocks_at_most_5_percent_of_grounded_answers(
    scored: dict[str, tuple[np.ndarray, np.ndarray]], task: str
) -> None:
    labels, scores = scored[task]
    policy = Policy()
    grounded = scores[labels == 1]
    blocked = float(np.mean(grounded < policy.threshold))
    assert blocked <= TARGET_FALSE_BLOCK, f"{task}: {blocked:.1%} of grounded answers blocked at {policy.threshold}"
    reviewed = float(np.mean(grounded < policy.soft_limit))
    assert reviewed <= TARGET_FALSE_BLOCK + REVIEW_BUDGET, f"{task}: {reviewed:.1%} blocked or flagged"
    # and the threshold still does its job: it blocks more hallucinated than grounded answers
    assert float(np.mean(scores[labels == 0] < policy.threshold)) > 2 * blocked


@pytest.mark.parametrize("task", ["dialogue", "summarization"])
def test_the_defaults_still_stop_hallucinations(scored: dict[str, tuple[np.ndarray, np.ndarray]], task: str) -> None:
    """A default that blocks nothing is safe for grounded answers and useless: on the tasks the issue names, at
    least a fifth of the hallucinated answers is blocked or sent to review (measured: docs/models.md, defaults)."""
    labels, scores = scored[task]
    policy = Policy()
    stopped = float(np.mean(scores[labels == 0] < policy.soft_limit))
    assert stopped >= 0.2, f"{task}: only {stopped:.1%} of hallucinated answers blocked or flagged"
