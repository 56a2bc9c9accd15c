"""monitor mode on the Responses and Messages APIs: nothing is withheld, streams included, and the verdict is
still reported (the `guardrail` field of the last event)."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.integration.adversarial.conftest import StartSidecar
from tests.integration.protocols.conftest import QUESTION, ScriptedApp, answer, in_front_of
from tests.integration.protocols.scripted_app import MARKER
from tests.integration.sidecar.conftest import Sidecar

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def watching(start_sidecar: StartSidecar, scripted: ScriptedApp) -> Sidecar:
    return start_sidecar(in_front_of(scripted, {"mode": "monitor"}), name="protocols-monitor")


def test_a_responses_stream_is_annotated_not_cut(watching: Sidecar) -> None:
    client = openai.OpenAI(base_url=watching.url + "/v1", api_key="k", max_retries=0, timeout=60)
    with client.responses.stream(model="m", input=QUESTION, extra_headers=answer("grounded-then-marker")) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert MARKER in final.output_text
    assert final.status == "completed"
    assert events[-1].type == "response.completed"
    assert (final.model_extra or {})["guardrail"]["verdict"] == "block"


def test_a_messages_stream_is_annotated_not_cut(watching: Sidecar) -> None:
    client = anthropic.Anthropic(base_url=watching.url, api_key="k", max_retries=0, timeout=60)
    with client.messages.stream(
        model="m",
        max_tokens=64,
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers=answer("grounded-then-marker"),
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert final.content[0].type == "text"
    assert MARKER in final.content[0].text
    assert final.stop_reason == "end_turn"
    delta = next(e for e in events if e.type == "message_delta")
    assert (delta.model_extra or {})["guardrail"]["verdict"] == "block"
