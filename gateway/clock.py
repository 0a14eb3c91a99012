"""Time and identifiers behind small interfaces, so tests can fix them.

One :class:`Clock` gives two readings: ``now()``, the wall-clock instant (aware UTC) for what is stored or compared
with stored times (receipts, due times, leases, audit entries), and ``monotonic()``, seconds on a clock that never
goes back, for durations and timeouts inside one process (the circuit breaker's cooldown, the group committer's
gathering window). :class:`SystemClock` is the real one; :class:`FakeClock` stands still until a test moves it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Clock(Protocol):
    """Something that tells the current instant (always timezone-aware, UTC) and measures durations."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds since an arbitrary origin, never decreasing: for durations, never for stored times."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()


class FakeClock:
    """A clock that stands still until a test moves it; both readings move together."""

    def __init__(self, at: datetime | None = None, monotonic: float = 1000.0) -> None:
        self.at = utc(at) if at is not None else datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        self._monotonic = monotonic

    def now(self) -> datetime:
        """The fixed instant."""
        return self.at

    def monotonic(self) -> float:
        """The fixed monotonic reading (seconds)."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both readings forward by *seconds* (never back: a monotonic clock does not go back)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.at += timedelta(seconds=seconds)
        self._monotonic += seconds


def new_message_id() -> str:
    """A new gateway message id (one per version of a communication, the same towards every destination)."""
    return str(uuid.uuid4())


def new_protocol(day: date) -> str:
    """A new protocol number: the local date and 12 random Crockford base-32 characters (60 bits)."""
    bits = int.from_bytes(secrets.token_bytes(8), "big") >> 4  # 60 random bits, 12 base-32 characters
    return day.strftime("%Y%m%d") + "-" + "".join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in range(11, -1, -1))


def utc(dt: datetime) -> datetime:
    """*dt* as an aware UTC datetime (naive values read back from SQLite are UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
