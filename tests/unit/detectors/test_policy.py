"""spec.detectors on one side: block refuses, redact rewrites, flag only reports; streams behave the same."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail_contract.detectors import Detector
from guardrail_sidecar.detectors.policy import SidePolicy


def detector(name: str, action: str, **extra: Any) -> Detector:
    return Detector.model_validate({"name": name, "kind": "pii", "action": action, **extra})


TEXT = "Write to jane@example.com or pay 4111 1111 1111 1111."


def stream(policy: SidePolicy, text: str, size: int) -> str | None:
    f = policy.stream()
    out = []
    for i in range(0, len(text), size):
        piece = f.feed(text[i : i + size])
        if piece is None:
            return None
        out.append(piece)
    end = f.finish()
    return None if end is None else "".join(out) + end


def test_redact_rewrites_json_strings_and_counts_per_entity() -> None:
    policy = SidePolicy([detector("pii", "redact")], "answer")
    value, report = policy.apply_json({"id": "x", "answer": TEXT})
    assert value == {"id": "x", "answer": "Write to [EMAIL] or pay [PAYMENT_CARD]."}
    assert report.counts == {("pii", "email", "redact"): 1, ("pii", "payment_card", "redact"): 1}
    assert report.blocked_by is None


def test_block_stops_before_redaction_and_names_the_detector() -> None:
    policy = SidePolicy([detector("cards", "block", entities=["payment_card"]), detector("pii", "redact")], "answer")
    value, report = policy.apply_json({"answer": TEXT})
    assert report.blocked_by == "cards"
    assert value == {"answer": TEXT}  # not redacted: the caller refuses it whole


def test_flag_reports_and_changes_nothing() -> None:
    policy = SidePolicy([detector("watch", "flag", entities=["email"])], "answer")
    text, report = policy.apply_text(TEXT)
    assert text == TEXT
    assert report.flagged == ["watch"]
    assert report.entities == ["email"]


def test_monitor_mode_turns_block_and_redact_into_flag() -> None:
    policy = SidePolicy([detector("cards", "block"), detector("pii", "redact")], "answer", mode="monitor")
    text, report = policy.apply_text(TEXT)
    assert (text, report.blocked_by, report.flagged) == (TEXT, None, ["cards", "pii"])


def test_sides_are_kept_apart() -> None:
    only_requests = [detector("in", "redact", appliesTo="request")]
    assert not SidePolicy(only_requests, "answer")
    assert SidePolicy(only_requests, "request").apply_text(TEXT)[0] == "Write to [EMAIL] or pay [PAYMENT_CARD]."
    both = [detector("all", "redact", appliesTo="both")]
    assert SidePolicy(both, "answer")
    assert SidePolicy(both, "request")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64])
def test_a_stream_is_redacted_as_the_whole_text_is(size: int) -> None:
    policy = SidePolicy([detector("mail", "redact", entities=["email"]), detector("pii", "redact")], "answer")
    assert stream(policy, TEXT, size) == policy.apply_text(TEXT)[0]


@pytest.mark.parametrize("size", [1, 4, 64])
def test_a_blocked_stream_never_sends_the_finding(size: int) -> None:
    policy = SidePolicy([detector("cards", "block", entities=["payment_card"])], "answer")
    f = policy.stream()
    sent = ""
    for i in range(0, len(TEXT), size):
        piece = f.feed(TEXT[i : i + size])
        if piece is None:
            break
        sent += piece
    else:
        assert f.finish() is None
    assert "4111" not in sent
    assert f.report.blocked_by == "cards"
    assert "Write to jane@example.com or pay".startswith(sent)  # what was sent is text before the card


def test_detector_rules() -> None:
    with pytest.raises(ValueError, match="only a pii detector can redact"):
        Detector.model_validate({"name": "c", "kind": "classifier", "action": "redact", "model": {"name": "tox"}})
    with pytest.raises(ValueError, match="needs a model"):
        Detector.model_validate({"name": "c", "kind": "classifier", "action": "block"})
    with pytest.raises(ValueError, match="not a model"):
        Detector.model_validate({"name": "p", "kind": "pii", "action": "block", "model": {"name": "tox"}})
