"""A hostile app hides a fabrication in a trailing fragment: a sentence of fewer than three words after a grounded
one ("… within 14 days. Planet Mars."). Such fragments used to be dropped as chit-chat, so the fabrication reached
the client unchecked. Now the fragment is checked read after the sentence before it (`claims.claim_texts`), on the
JSON and the streaming path alike: it lowers the answer's score below the grounded sentence's own, and both paths
give the same score.

Blocking it is the model's quality, not this mechanism's: with the shipped model the fragment read after a
verbatim quote of the knowledge base still scores above the suite's threshold (the quote attack, docs/models.md).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from .conftest import GROUNDED, Sidecar, chat, events

pytestmark = pytest.mark.integration

FRAGMENTS = ["Planet Mars.", "Moon tickets."]


def _score(response: httpx.Response, stream: bool) -> float:
    assert response.status_code == 200
    if not stream:
        return float(response.json()["guardrail"]["score"])
    fields = [e["guardrail"] for e in events(response) if isinstance(e, dict) and "guardrail" in e]
    return float(fields[-1]["score"])


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_a_trailing_fragment_is_scored_on_both_paths(sidecar: Sidecar, fragment: str) -> None:
    grounded = [_score(chat(sidecar, answer="grounded", stream=s), s) for s in (False, True)]
    hidden = [_score(chat(sidecar, answer=quote(f"{GROUNDED} {fragment}"), stream=s), s) for s in (False, True)]
    assert grounded[0] == grounded[1]
    assert hidden[0] == hidden[1]  # the same claims on the JSON and the streaming path
    assert hidden[0] < grounded[0]  # the fragment was read: dropped, the answer would score as the sentence alone
