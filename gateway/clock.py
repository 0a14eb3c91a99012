"""Time and identifiers behind small interfaces, so tests can fix them."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Clock(Protocol):
    """Something that tells the current instant (always timezone-aware, UTC)."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved (tests)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """The fixed instant."""
        return self.at

    def advance(self, **kwargs: float) -> None:
        """Move the clock forward by a :class:`timedelta` built from *kwargs*."""
        self.at += timedelta(**kwargs)


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
