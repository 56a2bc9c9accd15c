"""Precision and recall per entity type of the sidecar's PII detector on the generated set, and its false-positive
rate on the answers of the dev grounding data (HaluEval qa, summarization, dialogue rows 0-7999: never the reserved
dialogue rows 8000-9999).

    python -m guardrail_pii.evaluate --samples 4000 --seed 21 --out pii_eval.json [--halueval DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from guardrail_pii.data import halueval_dir
from guardrail_pii.generate import Sample, generate
from guardrail_sidecar.detectors import ENTITIES, PiiDetector


@dataclass(frozen=True)
class Scores:
    entity: str
    support: int
    true_positives: int
    predicted: int
    found: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.support if self.support else 1.0


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(samples: Iterable[Sample], detector: PiiDetector) -> dict[str, Scores]:
    """A predicted region is right when it overlaps a labelled span of its entity type; a labelled span is found
    when a predicted region of its type overlaps it."""
    support: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    true_pos: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for s in samples:
        got = [(f.start, f.end, f.entity) for f in detector.find(s.text)]
        gold = [(label.start, label.end, label.entity) for label in s.labels]
        for start, end, entity in gold:
            support[entity] += 1
            found[entity] += any(e == entity and _overlaps((start, end), (a, b)) for a, b, e in got)
        for start, end, entity in got:
            predicted[entity] += 1
            true_pos[entity] += any(e == entity and _overlaps((start, end), (a, b)) for a, b, e in gold)
    return {e: Scores(e, support[e], true_pos[e], predicted[e], found[e]) for e in ENTITIES}


def grounding_answers(folder: Path | None = None) -> list[str]:
    """Every right and hallucinated answer of qa, summarization and dialogue rows 0-7999 (56,000 texts)."""
    from guardrail_models.halueval import Task, read_raw  # read_raw stops before the reserved dialogue rows

    folder = folder or halueval_dir()
    fields = {"qa": ("right_answer", "hallucinated_answer"), "summarization": ("right_summary", "hallucinated_summary"),
              "dialogue": ("right_response", "hallucinated_response")}  # fmt: skip
    tasks: tuple[Task, ...] = ("qa", "summarization", "dialogue")
    return [raw[f] for task in tasks for _, raw in read_raw(task, folder) for f in fields[task]]


@dataclass
class FalsePositives:
    answers: int = 0
    answers_with_a_finding: int = 0
    per_entity: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # every flagged span with 40 characters of context

    @property
    def rate(self) -> float:
        return self.answers_with_a_finding / self.answers if self.answers else 0.0


def false_positives(answers: list[str], detector: PiiDetector) -> FalsePositives:
    out = FalsePositives(answers=len(answers))
    for text in answers:
        findings = detector.find(text)
        out.answers_with_a_finding += bool(findings)
        for f in findings:
            out.per_entity[f.entity] += 1
            out.examples.append(f"{f.entity}: ...{text[max(0, f.start - 40) : f.end + 20]}...")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--halueval", type=Path, default=None, help="HaluEval folder (default: installed on first use)")
    parser.add_argument("--no-grounding", action="store_true", help="skip the false-positive run on HaluEval answers")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    detector = PiiDetector(threshold=args.threshold)
    started = time.perf_counter()
    scores = score(generate(args.samples, args.seed), detector)
    report: dict[str, object] = {
        "samples": args.samples,
        "seed": args.seed,
        "threshold": args.threshold,
        "entities": {
            e: {
                "support": s.support,
                "predicted": s.predicted,
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
            }
            for e, s in scores.items()
        },
        "seconds": round(time.perf_counter() - started, 2),
    }
    print("| entity | labelled | predicted | precision | recall |\n|---|---|---|---|---|")
    for e, s in scores.items():
        print(f"| {e} | {s.support} | {s.predicted} | {s.precision:.3f} | {s.recall:.3f} |")
    if not args.no_grounding:
        fp = false_positives(grounding_answers(args.halueval), detector)
        report["grounding_answers"] = {
            "answers": fp.answers,
            "answers_with_a_finding": fp.answers_with_a_finding,
            "rate": round(fp.rate, 6),
            "findings_per_entity": dict(fp.per_entity),
            "findings": fp.examples,
        }
        print(
            f"grounding answers with a finding: {fp.answers_with_a_finding}/{fp.answers} ({fp.rate:.4%}); "
            f"per entity {dict(fp.per_entity)}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
