"""The canary split: which revision scores a request, by a stable hash of its request id."""

from __future__ import annotations

import hashlib
import random


def bucket(request_id: str) -> int:
    """A stable bucket 0..99 for a request id (the same id always lands in the same bucket)."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def use_canary(request_id: str | None, weight: int, rng: random.Random | None = None) -> bool:
    """True for `weight` percent of requests: by hash when an id is given, at random otherwise."""
    if weight <= 0:
        return False
    if weight >= 100:
        return True
    if request_id:
        return bucket(request_id) < weight
    return (rng or random).randrange(100) < weight
