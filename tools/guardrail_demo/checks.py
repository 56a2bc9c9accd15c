"""Judging the demo's answers. Pure.

Two kinds of expectation: the product's (every answer judged and labelled with the serving revision, a
blocked answer never reaching the client, a passed one reaching it unchanged) and the models' (grounded
answers pass, hallucinations and injections are blocked), which depends on how good the models in
`models/repository` are. The demo fails on the first kind always, on the second with `--strict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from guardrail_demo.traffic import Outcome

JUDGED = ("pass", "flag", "block")


def product_problems(outcome: Outcome, revision: str) -> list[str]:
    """What the sidecar did wrong with this request, whatever the models think of the answer."""
    name = outcome.scenario.name
    if outcome.error or outcome.status != 200:
        return [f"{name}: HTTP {outcome.status} {outcome.error}".rstrip()]
    problems = []
    if outcome.verdict not in JUDGED:
        problems.append(f"{name}: no verdict in the answer")
    if outcome.revision != revision:
        problems.append(f"{name}: scored by revision {outcome.revision!r}, expected {revision}")
    answer = outcome.scenario.answer
    if outcome.verdict == "block" and answer in outcome.text:
        problems.append(f"{name}: blocked, yet the app's answer reached the client")
    if outcome.verdict in ("pass", "flag") and outcome.text.strip() != answer.strip():
        problems.append(f"{name}: {outcome.verdict}, yet the client got {outcome.text[:80]!r}")
    return problems


def model_misses(outcome: Outcome, injection_model: bool) -> list[str]:
    """The answer's verdict where the scenario expects another (a question of model quality)."""
    expected = outcome.scenario.expected(injection_model)
    if outcome.verdict in expected or outcome.verdict not in JUDGED:
        return []
    return [
        f"{outcome.scenario.name} ({outcome.scenario.kind}): {outcome.verdict} at score "
        f"{outcome.score if outcome.score is not None else '-'}, expected {'/'.join(sorted(expected))}"
    ]


def separation_miss(outcomes: Iterable[Outcome]) -> str | None:
    """A grounded answer scoring at or below a hallucinated one (the models cannot tell them apart), or None."""
    scored = [o for o in outcomes if o.score is not None]
    grounded = [o for o in scored if o.scenario.kind == "grounded"]
    made_up = [o for o in scored if o.scenario.kind == "hallucinated"]
    if not grounded or not made_up:
        return None
    low = min(grounded, key=lambda o: o.score or 0.0)
    high = max(made_up, key=lambda o: o.score or 0.0)
    if (low.score or 0.0) > (high.score or 0.0):
        return None
    return (
        f"grounded {low.scenario.name} scored {low.score:.3f}, "
        f"not above hallucinated {high.scenario.name} ({high.score:.3f})"
    )


@dataclass(frozen=True)
class ScoreRange:
    kind: str
    low: float
    high: float
    count: int


def score_ranges(outcomes: Iterable[Outcome]) -> list[ScoreRange]:
    """Lowest and highest score per scenario kind, in first-seen order."""
    by_kind: dict[str, list[float]] = {}
    for o in outcomes:
        if o.score is not None:
            by_kind.setdefault(o.scenario.kind, []).append(o.score)
    return [ScoreRange(kind, min(s), max(s), len(s)) for kind, s in by_kind.items()]
