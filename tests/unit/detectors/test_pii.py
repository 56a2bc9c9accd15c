"""Each entity type is found where it is, named right, and redacted without leaving any of its characters."""

from __future__ import annotations

import pytest

from guardrail_sidecar.detectors import ENTITIES, PLACEHOLDER, PiiDetector
from support.pii_samples import EXAMPLES, LOOKALIKES, sentence


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


@pytest.mark.parametrize(("entity", "kind", "value"), EXAMPLES, ids=[f"{k}:{v[:20]}" for _, k, v in EXAMPLES])
def test_each_kind_is_found_and_redacted(detector: PiiDetector, entity: str, kind: str, value: str) -> None:
    text = sentence(value)
    [finding] = detector.find(text)
    assert (text[finding.start : finding.end], finding.entity) == (value, entity)
    assert kind in {m.kind for m in finding.matches}
    redacted = detector.redact(text)
    assert redacted.text == sentence(PLACEHOLDER[finding.entity])
    assert redacted.counts == {entity: 1}


def test_every_entity_type_has_an_example() -> None:
    assert {e for e, _, _ in EXAMPLES} == set(ENTITIES)


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_left_alone(detector: PiiDetector, text: str) -> None:
    assert detector.find(sentence(text)) == []


def test_only_the_configured_entities_are_looked_for() -> None:
    text = "mail jane@example.com, card 4111 1111 1111 1111"
    assert detector_text(PiiDetector(["payment_card"]), text) == "mail jane@example.com, card [PAYMENT_CARD]"
    assert detector_text(PiiDetector(["email"]), text) == "mail [EMAIL], card 4111 1111 1111 1111"


def detector_text(detector: PiiDetector, text: str) -> str:
    return detector.redact(text).text


def test_the_threshold_drops_weaker_checks() -> None:
    text = "BSN 1112.22.333 and SSN 123-45-6789"
    assert detector_text(PiiDetector(threshold=0.5), text) == "BSN [NATIONAL_ID] and SSN [NATIONAL_ID]"
    assert detector_text(PiiDetector(threshold=0.8), text) == "BSN 1112.22.333 and SSN [NATIONAL_ID]"


def test_overlapping_findings_become_one_region_named_after_the_longest() -> None:
    # a phone number (+CC ...) whose digits are also a valid 11-digit identifier: redacted once, as a phone
    text = "call +4915123456530 now"
    [finding] = PiiDetector().find(text)
    assert (text[finding.start : finding.end], finding.entity) == ("+4915123456530", "phone")


def test_national_numbers_of_other_regions_need_their_region() -> None:
    text = "ring 030 901820 today"
    assert PiiDetector().find(text) == []
    assert detector_text(PiiDetector(phone_regions=("US", "DE")), text) == "ring [PHONE] today"


def test_an_unterminated_private_key_is_redacted_to_the_end() -> None:
    text = "key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nand more"
    assert detector_text(PiiDetector(), text) == "key: [SECRET]"
