"""The outbox's SQL on the relay's hot path: statements compiled once (parameters per execution), and the release
of versions waiting behind earlier ones.

Two dialects of time: PostgreSQL compares and computes leases (and due times) with the database's ``now()``, shared
by every host that runs a relay; SQLite, one host, with the injected clock's reading passed as ``now``
(:mod:`gateway.relay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Interval, bindparam, exists, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from gateway.db.tables import communications, messages, organs, outbox


@dataclass(frozen=True)
class Statements:
    """The statements whose time is the database's on PostgreSQL and the clock's on SQLite."""

    due: Any
    expired: Any
    lease: Any
    extend: Any
    mark: dict[str, Any]


def _statements(postgres: bool) -> Statements:
    db_now: ColumnElement[Any] = func.now() if postgres else bindparam("now")
    lease_until: ColumnElement[Any] = (func.now() + bindparam("lease_for", type_=Interval())) if postgres \
        else bindparam("lease_until")
    next_at: ColumnElement[Any] = (func.now() + bindparam("delay", type_=Interval())) if postgres \
        else bindparam("next")
    ids = outbox.c.id.in_(bindparam("ids", expanding=True))
    row = outbox.c.id == bindparam("row_id")
    return Statements(
        due=select(outbox.c.id).where(outbox.c.status == bindparam("status"), outbox.c.next_attempt_at <= db_now)
        .order_by(outbox.c.next_attempt_at),
        expired=select(outbox.c.id).where(outbox.c.status == "sending", outbox.c.lease_until < db_now),
        lease=update(outbox).where(ids).values(
            status="sending", lease_owner=bindparam("owner"), lease_until=lease_until,
            attempts=outbox.c.attempts + 1, updated_at=bindparam("now")),
        extend=update(outbox).where(ids, outbox.c.lease_owner == bindparam("owner"), outbox.c.status == "sending")
        .values(lease_until=lease_until),
        mark={
            "delivered": update(outbox).where(row).values(
                status="delivered", receipt=bindparam("receipt"), last_error=None, lease_owner=None,
                lease_until=None, updated_at=bindparam("now")),
            "failed": update(outbox).where(row).values(
                status="failed", last_error=bindparam("error"), next_attempt_at=next_at, lease_owner=None,
                lease_until=None, updated_at=bindparam("now")),
            "dead": update(outbox).where(row).values(
                status="dead", last_error=bindparam("error"), lease_owner=None, lease_until=None,
                updated_at=bindparam("now")),
        },
    )


SQL = {False: _statements(False), True: _statements(True)}
Q_CLAIMED = (
    select(outbox.c.id, outbox.c.destination, outbox.c.attempts, messages.c.message_id, messages.c.protocol,
           messages.c.version, messages.c.operation, messages.c.received_at, messages.c.payload,
           communications.c.kind, organs.c.code)
    .join(messages, messages.c.message_id == outbox.c.message_id)
    .join(communications, communications.c.protocol == messages.c.protocol)
    .join(organs, organs.c.id == messages.c.organ_id)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True))).order_by(outbox.c.id)
)
Q_STILL_MINE = select(outbox.c.id).where(outbox.c.id.in_(bindparam("ids", expanding=True)),
                                          outbox.c.lease_owner == bindparam("owner"), outbox.c.status == "sending")
#: a positive answer for a row another relay holds now (its lease expired meanwhile): delivered, unless it is already
MARK_LATE_DELIVERED = update(outbox).where(outbox.c.id == bindparam("row_id"), outbox.c.status != "delivered").values(
    status="delivered", receipt=bindparam("receipt"), last_error=None, lease_owner=None, lease_until=None,
    updated_at=bindparam("now"))
_Q_BLOCKED_IN = select(outbox.c.protocol, outbox.c.destination).where(
    outbox.c.status == "blocked", outbox.c.protocol.in_(bindparam("protocols", expanding=True)))


def release_after_delivery(conn: Connection, delivered: set[tuple[str, str]]) -> None:
    """Release the versions waiting behind the (protocol, destination) pairs just delivered."""
    protocols = sorted({p for p, _ in delivered})
    waiting = {(r.protocol, r.destination) for r in conn.execute(_Q_BLOCKED_IN, {"protocols": protocols})}
    for protocol, destination in waiting & delivered:
        release_blocked(conn, protocol, destination)


def release_blocked(conn: Connection, protocol: str | None = None, destination: str | None = None) -> int:
    """Turn "blocked" rows whose earlier versions (same communication and destination) are all delivered into
    "pending". Returns how many were released."""
    earlier = aliased(outbox)
    undelivered_before = exists().where(
        earlier.c.protocol == outbox.c.protocol,
        earlier.c.destination == outbox.c.destination,
        earlier.c.version < outbox.c.version,
        earlier.c.status != "delivered",
    )
    cond = [outbox.c.status == "blocked", ~undelivered_before]
    if protocol is not None:
        cond.append(outbox.c.protocol == protocol)
    if destination is not None:
        cond.append(outbox.c.destination == destination)
    return int(conn.execute(update(outbox).where(*cond).values(status="pending")).rowcount or 0)
