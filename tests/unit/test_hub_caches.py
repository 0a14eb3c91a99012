"""The hub's caches (gateway/hub/caches.py): credentials expire by the injected clock, locations are bounded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.clock import FakeClock
from gateway.hub.caches import CredentialCache, LocationCache
from gateway.hub.credentials import TribunalCredential


class Loader:
    """Counts loads and answers the credential it holds."""

    def __init__(self, cred: TribunalCredential | None) -> None:
        self.cred = cred
        self.loads = 0

    def __call__(self) -> TribunalCredential | None:
        self.loads += 1
        return self.cred


def test_credentials_are_reloaded_after_sixty_seconds_of_the_injected_clock() -> None:
    """A credential is loaded once, served from memory for 60 s of the injected clock, then loaded again (so a
    changed credential is picked up within a minute); the absence of a credential is cached the same way."""
    clock = FakeClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    cache = CredentialCache(clock)
    load = Loader(TribunalCredential("u", "p1"))
    assert cache.get((1, "8.19", "1"), load) == TribunalCredential("u", "p1")
    clock.advance(59)
    load.cred = TribunalCredential("u", "p2")
    assert cache.get((1, "8.19", "1"), load) == TribunalCredential("u", "p1") and load.loads == 1
    clock.advance(1)
    assert cache.get((1, "8.19", "1"), load) == TribunalCredential("u", "p2") and load.loads == 2
    missing = Loader(None)
    assert cache.get((1, "4.04", "1"), missing) is None
    assert cache.get((1, "4.04", "1"), missing) is None and missing.loads == 1


def test_a_failed_load_is_not_cached() -> None:
    """When loading fails (the database is down) the error reaches the caller and the next call loads again."""
    cache = CredentialCache(FakeClock(datetime(2026, 11, 21, tzinfo=UTC)))

    def broken() -> TribunalCredential | None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get((1, "8.19", "1"), broken)
    load = Loader(TribunalCredential("u", "p"))
    assert cache.get((1, "8.19", "1"), load) is not None and load.loads == 1


def test_locations_are_bounded() -> None:
    """Process locations are kept until replaced, and the map is cleared when it reaches its limit."""
    cache = LocationCache(limit=2)
    cache.put("8.19", "a", "1")
    cache.put("8.19", "a", "2")
    cache.put("8.19", "b", "1")
    assert cache.get("8.19", "a") == "2" and cache.get("8.19", "b") == "1"
    cache.put("8.19", "c", "1")
    assert cache.get("8.19", "a") is None and cache.get("8.19", "c") == "1"
