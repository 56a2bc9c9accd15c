"""A bounded LRU cache with a time-to-live, counting hits and misses (exported as the cache hit rate).

Bounded twice: in entries and in bytes (each entry's size as `sizeof` measures it), so a stream of long,
distinct texts cannot grow the process past its memory limit while the entry count stays low.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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
        self._data: OrderedDict[K, tuple[float, V, int]] = OrderedDict()
        self._max = max_entries
        self._max_bytes = max_bytes
        self._sizeof = sizeof
        self._ttl = ttl
        self._clock = clock
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None or item[0] <= self._clock():
            if item is not None:
                self._drop(key)
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return item[1]

    def put(self, key: K, value: V) -> None:
        if self._max <= 0 or self._max_bytes == 0:
            return
        size = ENTRY_OVERHEAD + (self._sizeof(key, value) if self._sizeof is not None else 0)
        if self._max_bytes is not None and size > self._max_bytes:
            return  # one entry larger than the whole budget is not worth keeping
        if key in self._data:
            self._drop(key)
        self._data[key] = (self._clock() + self._ttl, value, size)
        self.bytes += size
        while len(self._data) > self._max or (self._max_bytes is not None and self.bytes > self._max_bytes):
            oldest = next(iter(self._data))
            self._drop(oldest)

    def _drop(self, key: K) -> None:
        _, _, size = self._data.pop(key)
        self.bytes -= size
