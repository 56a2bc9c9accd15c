"""Legacy completions (`/v1/completions`) with the official `openai` SDK: scored like chat completions, in the
`text_completion` shape, streamed and not; a prompt of token ids is refused (it cannot be checked)."""

from __future__ import annotations

import openai
import pytest

from tests.integration.protocols.conftest import QUESTION, REFUSAL, ScriptedApp, answer
from tests.integration.protocols.scripted_app import GROUNDED, MARKER_TOKEN

pytestmark = pytest.mark.integration


def test_a_grounded_completion_passes(openai_client: openai.OpenAI) -> None:
    completion = openai_client.completions.create(model="m", prompt=QUESTION, extra_headers=answer("grounded"))
    assert completion.choices[0].text == GROUNDED
    assert (completion.model_extra or {})["guardrail"]["verdict"] == "pass"


def test_an_ungrounded_completion_is_refused(openai_client: openai.OpenAI) -> None:
    completion = openai_client.completions.create(model="m", prompt=QUESTION, extra_headers=answer("marker"))
    assert completion.object == "text_completion"
    assert completion.choices[0].text == REFUSAL
    assert completion.choices[0].finish_reason == "content_filter"


def test_a_streamed_completion_passes(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.completions.create(model="m", prompt=QUESTION, stream=True, extra_headers=answer("grounded"))
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == GROUNDED
    assert all(c.object == "text_completion" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_streamed_completion_blocked_mid_way(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.completions.create(
            model="m", prompt=QUESTION, stream=True, extra_headers=answer("grounded-then-marker")
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text.strip() == GROUNDED
    assert MARKER_TOKEN not in text
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_a_prompt_of_token_ids_is_refused_not_forwarded(openai_client: openai.OpenAI, scripted: ScriptedApp) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.completions.create(
            model="m", prompt=[1, 2, 3], extra_headers={"x-request-id": "token-prompt"} | answer("marker")
        )
    assert "token ids" in refused.value.message
    assert "token-prompt" not in scripted.seen()
