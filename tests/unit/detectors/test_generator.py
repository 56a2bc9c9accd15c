"""The labelled PII set: reproducible, every label on a valid value, and the detector's scores on it."""

from __future__ import annotations

from guardrail_pii.evaluate import score
from guardrail_pii.generate import Sample, generate
from guardrail_sidecar.detectors import ENTITIES, PiiDetector


def test_the_same_seed_gives_the_same_set() -> None:
    assert [s.to_json() for s in generate(50, 3)] == [s.to_json() for s in generate(50, 3)]
    assert [s.to_json() for s in generate(50, 3)] != [s.to_json() for s in generate(50, 4)]


def test_samples_round_trip_through_json() -> None:
    for s in generate(20, 5):
        assert Sample.from_json(s.to_json()) == s


def test_every_entity_type_and_lookalikes_are_in_the_set() -> None:
    samples = list(generate(400, 21))
    assert {label.entity for s in samples for label in s.labels} == set(ENTITIES)
    assert sum(not s.labels for s in samples) > 40  # look-alikes only


def test_precision_and_recall_hold_on_a_fresh_seed() -> None:
    # docs/detectors.md reports seed 21 at 4,000 samples; any seed must stay close
    scores = score(generate(700, 1234), PiiDetector())
    for entity, s in scores.items():
        assert s.support > 50, entity
        assert s.precision >= 0.97, (entity, s)
        assert s.recall >= 0.98, (entity, s)
