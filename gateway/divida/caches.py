"""The optional short-lived cache of the partners' answers (issue 11, point 4: configurable, off by default).

cachetools' ``TTLCache`` (bounded size, least recently used evicted first, expiry by the injected clock's monotonic
reading) holds each successful answer with when it was asked; a hit reports its age, which the result shows in its
``fontes`` (``idade_cache_s``). Failures are never cached: the next request asks the partner again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from cachetools import TTLCache

from gateway.clock import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class Cached(Generic[T]):
    """An answer served from the cache: the answer, when the partner was asked, and its age in seconds."""

    answer: T
    consultado_em: datetime
    idade_s: float


class AnswerCache:
    """Answers by key for ``ttl_s`` seconds, at most ``max_entries`` of them; ``ttl_s`` 0 disables it."""

    def __init__(self, clock: Clock, ttl_s: float, max_entries: int = 10_000) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._entries: TTLCache[object, tuple[object, datetime, float]] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl_s, timer=clock.monotonic) if ttl_s > 0 else None)

    @property
    def enabled(self) -> bool:
        """Whether answers are kept at all."""
        return self._entries is not None

    def get(self, key: object) -> Cached[object] | None:
        """The answer kept under *key* with its age, or None (absent, expired, or the cache is off)."""
        if self._entries is None:
            return None
        found = self._entries.get(key)
        if found is None:
            return None
        answer, consultado_em, stored_at = found
        return Cached(answer, consultado_em, max(0.0, self.clock.monotonic() - stored_at))

    def put(self, key: object, answer: object, consultado_em: datetime) -> None:
        """Keep *answer*, asked at *consultado_em*, under *key* (nothing when the cache is off)."""
        if self._entries is not None:
            self._entries[key] = (answer, consultado_em, self.clock.monotonic())
