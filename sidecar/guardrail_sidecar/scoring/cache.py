"""The score cache: cachetools' TTL cache (least recently used first, entries expire after `ttl`), counting
hits and misses (exported as the cache hit rate).

Bounded twice: in entries and in bytes (each entry's size as `sizeof` measures it), so a stream of long,
distinct texts cannot grow the process past its memory limit while the entry count stays low.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
ENTRY_OVERHEAD = 200  # bytes of bookkeeping per entry (dict slot, tuple, float, object headers), approximate


class TTLCache(Generic[K, V]):
    """At most `max_entries` values and `max_bytes` bytes, each valid for `ttl` seconds; least recently used
    go first. `sizeof(key, value)` gives an entry's size in bytes (without `max_bytes`: only entries count)."""

    def __init__(
        self,
        max_entries: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int | None = None,
        sizeof: Callable[[K, V], int] | None = None,
    ) -> None:
        # cachetools bounds one measure: bytes when a byte budget is set (each entry counted as its size),
        # entries otherwise; the entry cap is kept on top in `put`.
        by_bytes = max_bytes is not None
        self._data: cachetools.TTLCache[K, tuple[V, int]] = cachetools.TTLCache(
            maxsize=max(max_bytes if max_bytes is not None else max_entries, 0),
            ttl=ttl,
            timer=clock,
            getsizeof=(lambda item: item[1]) if by_bytes else None,
        )
        self._max = max_entries
        self._max_bytes = max_bytes
        self._sizeof = sizeof
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        self._data.expire()
        return len(self._data)

    @property
    def bytes(self) -> int:
        """Bytes held (entries' sizes, with ENTRY_OVERHEAD each)."""
        self._data.expire()
        if self._max_bytes is not None:
            return int(self._data.currsize)  # cachetools sums the entries' sizes
        return sum(size for _, size in self._data.values())

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            self.misses += 1
            return None
        self.hits += 1
        return item[0]

    def put(self, key: K, value: V) -> None:
        if self._max <= 0 or self._max_bytes == 0:
            return
        size = ENTRY_OVERHEAD + (self._sizeof(key, value) if self._sizeof is not None else 0)
        if self._max_bytes is not None and size > self._max_bytes:
            return  # one entry larger than the whole budget is not worth keeping
        self._data.pop(key, None)
        self._data[key] = (value, size)
        while len(self._data) > self._max:
            self._data.popitem()  # the least recently used
