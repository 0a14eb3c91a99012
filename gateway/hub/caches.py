"""The hub's in-memory caches of what every call needs (pure: the loading is the caller's, time is an injected
:class:`~gateway.clock.Clock`).

- decrypted credentials towards installations, each kept 60 s so a changed credential is picked up quickly;
- where processes live, kept until a probe learns otherwise (bounded; the database keeps the full map).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.clock import Clock

if TYPE_CHECKING:  # the credential store's module reads the database; the cache only holds its values
    from gateway.hub.credentials import TribunalCredential

#: (organ id, J.TR, instance)
CredentialKey = tuple[int, str, str]


class CredentialCache:
    """Credentials (or their absence) per client and installation, each for *ttl* (60 s) by *clock*."""

    def __init__(self, clock: Clock, ttl: timedelta = timedelta(seconds=60)) -> None:
        self.clock = clock
        self.ttl = ttl
        self._items: dict[CredentialKey, tuple[float, TribunalCredential | None]] = {}

    def get(self, key: CredentialKey,
            load: Callable[[], TribunalCredential | None]) -> TribunalCredential | None:
        """The credential under *key*: the cached one while fresh, else ``load()`` (kept *ttl* from now, a missing
        credential too). Errors of *load* propagate and nothing is cached."""
        now = self.clock.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        cred = load()
        self._items[key] = (now + self.ttl.total_seconds(), cred)
        return cred


class LocationCache:
    """``(J.TR, process number) → instance``, at most *limit* entries (cleared when full)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._items: dict[tuple[str, str], str] = {}

    def get(self, jtr: str, number: str) -> str | None:
        """The remembered instance of *number*, or None."""
        return self._items.get((jtr, number))

    def put(self, jtr: str, number: str, instance: str) -> None:
        """Remember that *number* lives in ``jtr/instance``."""
        if len(self._items) >= self.limit and (jtr, number) not in self._items:
            self._items.clear()
        self._items[(jtr, number)] = instance
