"""Which requests add client items to a conversation of the Responses API (checked for prompt injection like a
Responses request's `input`), and which do not."""

from __future__ import annotations

import pytest

from guardrail_contract.sidecar_config import Proxy
from guardrail_sidecar.apis.dispatch import conversation_items


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("POST", "/v1/conversations/conv_1/items", True),
        ("post", "/V1//conversations/conv_1/items/", True),
        ("POST", "/v1/conversations/conv_1/items?include=x", True),
        ("POST", "/v1/conversations", False),  # create: `items` optional
        ("GET", "/v1/conversations/conv_1/items", None),  # refused elsewhere (stored answers)
        ("POST", "/v1/conversations/conv_1", None),  # metadata update
        ("POST", "/v1/conversations/conv_1/items/msg_1", None),
        ("DELETE", "/v1/conversations/conv_1/items/msg_1", None),
        ("POST", "/v2/conversations/conv_1/items", None),  # beside no scored Responses path
    ],
)
def test_conversation_item_writes_are_found(method: str, target: str, expected: bool | None) -> None:
    assert conversation_items(Proxy(), method, target) is expected


def test_only_beside_a_scored_responses_path_of_the_openai_protocol() -> None:
    assert (
        conversation_items(Proxy.model_validate({"scoredPaths": ["/api/ask"]}), "POST", "/v1/conversations/c/items")
        is None
    )
    assert (
        conversation_items(
            Proxy.model_validate({"scoredPaths": ["/v2/responses"]}), "POST", "/v2/conversations/c/items"
        )
        is True
    )
    assert conversation_items(Proxy(protocol="json"), "POST", "/v1/conversations/c/items") is None
