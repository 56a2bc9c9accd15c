"""The canary split: which revision scores a request.

By default every request is split at random by the sidecar itself (`secrets`, not the client's request id or
any other header), so no client can pick the revision that scores it. With `routing.stickyHeader` set, a
request carrying that header is split by a stable hash of its value (the same user keeps the same revision);
that is a convenience, not a security boundary: whoever writes the header chooses the bucket.
"""

from __future__ import annotations

import hashlib
import secrets


def bucket(key: str) -> int:
    """A stable bucket 0..99 for a sticky key (the same value always lands in the same bucket)."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def use_canary(weight: int, sticky_key: str | None = None) -> bool:
    """True for `weight` percent of requests: by hash of `sticky_key` when given, at random otherwise."""
    if weight <= 0:
        return False
    if weight >= 100:
        return True
    if sticky_key:
        return bucket(sticky_key) < weight
    return secrets.randbelow(100) < weight
