"""A revision's `spec.detectors` (pii kind) applied to one side, request or answer: block, redact or flag.

Per side, block detectors are read first (any finding refuses the text), then redact detectors one after the other
(each reads the previous one's output), then flag detectors (counted, text unchanged). Pure: the sidecar's glue
counts `Report.counts` in its metrics and never logs the text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardrail_contract.detectors import Detector, Side
from guardrail_sidecar.detectors.engine import PiiDetector
from guardrail_sidecar.detectors.entities import ENTITIES, Entity
from guardrail_sidecar.detectors.jsonwalk import METADATA_KEYS, json_strings, redact_json
from guardrail_sidecar.detectors.stream import StreamRedactor

Action = str  # "block" | "redact" | "flag"


@dataclass
class Report:
    """What the detectors of one side found: counts per (detector, entity, action); `blocked_by` names the first
    block detector that found something."""

    counts: Counter[tuple[str, str, Action]] = field(default_factory=Counter)  # entity: a pii type or "classifier"
    blocked_by: str | None = None
    failed: Any = None  # the sidecar's Assessment when a classifier's backend failed under fail-closed

    def add(self, detector: Detector, found: Counter[Entity] | Counter[str], action: Action) -> None:
        for entity, n in found.items():
            self.counts[(detector.name, entity, action)] += n

    @property
    def entities(self) -> list[str]:
        return sorted({e for _, e, _ in self.counts})

    @property
    def flagged(self) -> list[str]:
        return sorted({d for d, _, a in self.counts if a == "flag"})

    def __bool__(self) -> bool:
        return bool(self.counts)


@dataclass(frozen=True)
class _Rule:
    spec: Detector
    engine: PiiDetector


def pii_detector(spec: Detector) -> PiiDetector:
    return PiiDetector(spec.entities or ENTITIES, threshold=spec.threshold, phone_regions=spec.phone_regions or ["US"])


class SidePolicy:
    def __init__(self, detectors: Sequence[Detector], side: Side, *, mode: str = "enforce") -> None:
        rules = [
            _Rule(
                d, PiiDetector(d.entities or ENTITIES, threshold=d.threshold, phone_regions=d.phone_regions or ["US"])
            )
            for d in detectors
            if d.kind == "pii" and d.applies(side)
        ]
        # monitor mode changes no traffic: block and redact detectors only report (as flags)
        enforce = mode == "enforce"
        self.block = [r for r in rules if r.spec.action == "block" and enforce]
        self.redact = [r for r in rules if r.spec.action == "redact" and enforce]
        self.flag = [r for r in rules if r.spec.action == "flag" or not enforce]
        self.side = side

    def __bool__(self) -> bool:
        return bool(self.block or self.redact or self.flag)

    def check_texts(self, texts: Sequence[str]) -> Report:
        """Findings without changing anything (block and flag detectors; redact detectors count too)."""
        report = Report()
        for rule in self.block:
            found = Counter(f.entity for t in texts for f in rule.engine.find(t))
            report.add(rule.spec, found, "block")
            if found and report.blocked_by is None:
                report.blocked_by = rule.spec.name
        for rule in self.flag:
            report.add(rule.spec, Counter(f.entity for t in texts for f in rule.engine.find(t)), "flag")
        return report

    def apply_json(self, value: Any, skip_keys: Collection[str] = METADATA_KEYS) -> tuple[Any, Report]:
        """Block/flag findings in every string of `value`, and `value` with the redact detectors applied."""
        texts = json_strings(value, skip_keys)
        report = self.check_texts(texts)
        if report.blocked_by is not None:
            return value, report
        for rule in self.redact:
            value, found = redact_json(value, rule.engine, skip_keys=skip_keys)
            report.add(rule.spec, found, "redact")
        return value, report

    def apply_text(self, text: str) -> tuple[str, Report]:
        out, report = self.apply_json(text)
        return str(out), report

    def stream(self) -> StreamFilter:
        return StreamFilter(self)


class StreamFilter:
    """A side's detectors over a stream: `feed` returns the text that may be sent now (redacted), or None once a
    block detector found something in text about to be sent (nothing of it is sent: the stream must stop)."""

    def __init__(self, policy: SidePolicy) -> None:
        self.report = Report()
        self._block = [(r, StreamRedactor(r.engine)) for r in policy.block]
        self._redact = [(r, StreamRedactor(r.engine)) for r in policy.redact]
        self._flag = [(r, StreamRedactor(r.engine)) for r in policy.flag]

    def feed(self, text: str) -> str | None:
        return self._run(text, final=False)

    def finish(self) -> str | None:
        return self._run("", final=True)

    def _run(self, text: str, final: bool) -> str | None:
        for rule, counter in self._flag:  # counted on the app's text, which passes unchanged
            before = Counter(counter.counts)
            counter.feed(text)
            if final:
                counter.finish()
            self.report.add(rule.spec, counter.counts - before, "flag")
        for rule, redactor in self._block:  # the text passes on only as far as a block detector has read it
            text = redactor.feed(text) + (redactor.finish() if final else "")
            if redactor.counts:
                self.report.add(rule.spec, redactor.counts, "block")
                self.report.blocked_by = rule.spec.name
                return None
        for rule, redactor in self._redact:
            before = Counter(redactor.counts)
            # what an earlier stage held back reaches this one when it is released: flushed in order at the end
            text = redactor.feed(text) + (redactor.finish() if final else "")
            self.report.add(rule.spec, redactor.counts - before, "redact")
        return text


class RevisionDetectors:
    """A revision's detectors, compiled once: `request` and `answer` sides."""

    def __init__(self, detectors: Sequence[Detector], mode: str = "enforce") -> None:
        self.request = SidePolicy(detectors, "request", mode=mode)
        self.answer = SidePolicy(detectors, "answer", mode=mode)
        self._classifiers = [d for d in detectors if d.kind == "classifier"]

    def classifiers(self, side: Side) -> list[Detector]:
        return [d for d in self._classifiers if d.applies(side)]
