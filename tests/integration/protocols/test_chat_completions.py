"""Chat completions through the sidecar with the official `openai` SDK: a passed answer, a blocked answer and a
stream blocked mid-way all parse, streamed and not, and say what was decided."""

from __future__ import annotations

import openai
import pytest

from tests.integration.protocols.conftest import QUESTION, REFUSAL, answer
from tests.integration.protocols.scripted_app import GROUNDED, MARKER_TOKEN

pytestmark = pytest.mark.integration
MESSAGES = [{"role": "user", "content": QUESTION}]


def test_a_grounded_answer_passes(openai_client: openai.OpenAI) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, extra_headers=answer("grounded")
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == GROUNDED
    assert completion.choices[0].finish_reason == "stop"
    assert raw.headers["x-guardrail-verdict"] == "pass"
    assert (completion.model_extra or {})["guardrail"]["verdict"] == "pass"


def test_an_ungrounded_answer_is_refused(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=answer("marker"))
    assert completion.choices[0].message.content == REFUSAL
    assert completion.choices[0].finish_reason == "content_filter"
    assert (completion.model_extra or {})["guardrail"]["reason"] == "ungrounded"


def test_a_stream_that_passes(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, extra_headers=answer("grounded")
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == GROUNDED
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_stream_blocked_mid_way_keeps_the_checked_sentence_and_ends_well_formed(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, extra_headers=answer("grounded-then-marker")
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == GROUNDED  # the first sentence was checked and sent; the second never
    assert MARKER_TOKEN not in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "content_filter"
    assert (last.model_extra or {})["guardrail"]["reason"] == "ungrounded"
