"""JSON answers: PII in every string value is redacted; identifiers the protocol needs are not touched."""

from __future__ import annotations

import json
from typing import Any

from guardrail_sidecar.detectors import PiiDetector, redact_json


def test_a_chat_completion_is_redacted_in_content_and_tool_arguments() -> None:
    completion: dict[str, Any] = {
        "id": "chatcmpl-Zx8q2LmN7vB4pQ9rT1sW6yU3eK5jH0gF",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Your card 4111 1111 1111 1111 is linked to jane@example.com.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "refund", "arguments": json.dumps({"iban": "DE89370400440532013000"})},
                        }
                    ],
                },
            }
        ],
    }
    redacted, counts = redact_json(completion, PiiDetector())
    message = redacted["choices"][0]["message"]
    assert message["content"] == "Your card [PAYMENT_CARD] is linked to [EMAIL]."
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"iban": "[IBAN]"}
    assert redacted["id"] == completion["id"]  # an id that looks random is an identifier, not a secret
    assert counts == {"payment_card": 1, "email": 1, "iban": 1}
    assert completion["choices"][0]["message"]["content"].startswith("Your card 4111")  # the input is not changed


def test_numbers_and_nesting_survive() -> None:
    value = {"answer": ["call +44 20 7946 0958", {"n": 3, "ok": True, "none": None}]}
    redacted, counts = redact_json(value, PiiDetector())
    assert redacted == {"answer": ["call [PHONE]", {"n": 3, "ok": True, "none": None}]}
    assert counts == {"phone": 1}
