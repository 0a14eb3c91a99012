"""The clock interface: the real clock's two readings, and the fake clock tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.clock import Clock, FakeClock, SystemClock


def test_system_clock_tells_aware_utc_and_a_monotonic_reading() -> None:
    """``now()`` is timezone-aware UTC; ``monotonic()`` never goes back between two readings."""
    clock: Clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_fake_clock_stands_still_until_advanced_and_moves_both_readings() -> None:
    """A fake clock returns the same instant and monotonic reading until advanced; ``advance`` moves both by the
    same number of seconds."""
    clock = FakeClock(datetime(2026, 3, 1, 9, 30, tzinfo=UTC), monotonic=50.0)
    assert clock.now() == clock.now() == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert clock.monotonic() == 50.0
    clock.advance(90.5)
    assert clock.now() == datetime(2026, 3, 1, 9, 31, 30, 500000, tzinfo=UTC)
    assert clock.monotonic() == 140.5


def test_fake_clock_keeps_utc_and_refuses_to_go_back() -> None:
    """An instant given with another offset (or naive, read as UTC) is kept in UTC; moving back is an error, as a
    monotonic clock never goes back."""
    brasilia = timezone(timedelta(hours=-3))
    assert FakeClock(datetime(2026, 3, 1, 9, 0, tzinfo=brasilia)).now() == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert FakeClock(datetime(2026, 3, 1, 9, 0)).now().tzinfo == UTC
    clock = FakeClock()
    with pytest.raises(ValueError):
        clock.advance(-1)
