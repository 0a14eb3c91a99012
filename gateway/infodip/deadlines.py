"""Deadlines of INFODIP communications (art. 7º of Res. Conjunta 6/2020; Código Eleitoral art. 71 §3º).

Inferred counting rule, configurable through settings: calendar days counted from the day after the fact, due at
the end of the N-th day, in the tribunal's local time (America/Sao_Paulo). Deaths follow only the monthly rule: by
day 15 of the month after the death. Late communications are accepted and flagged, never refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.infodip.domain import Kind


@dataclass(frozen=True)
class Deadline:
    """When a communication was due, and by how many days it was late."""

    due: date
    late: bool
    days_late: int


def due_date(kind: Kind, fact_date: date, days: int = 10, death_day: int = 15) -> date:
    """The last day on which a communication of *kind* about a fact of *fact_date* is on time."""
    if kind is Kind.VI:
        year, month = (fact_date.year + 1, 1) if fact_date.month == 12 else (fact_date.year, fact_date.month + 1)
        return date(year, month, death_day)
    return fact_date + timedelta(days=days)


def deadline_for(
    kind: Kind,
    fact_date: date,
    received_at: datetime,
    tz: ZoneInfo,
    days: int = 10,
    death_day: int = 15,
) -> Deadline:
    """The deadline of a communication received at *received_at* (an aware datetime)."""
    due = due_date(kind, fact_date, days, death_day)
    local_day = received_at.astimezone(tz).date()
    late_by = (local_day - due).days
    return Deadline(due=due, late=late_by > 0, days_late=max(late_by, 0))


def local_today(now: datetime, tz: ZoneInfo) -> date:
    """Today's date in *tz* at the instant *now*."""
    return now.astimezone(tz).date()
