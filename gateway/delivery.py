"""Operations on delivery: the outbox's counts, the dead letters and their replay.

What an operator asks about store-and-forward, by REST (``/api/v1/dead-letters``), by command (``gateway replay``)
and by scraping ``/metrics`` (outbox depth, dead letters). The relay (:mod:`gateway.relay`) delivers; this service
reads the outbox and puts dead letters back in the queue through the group committer, audited, then wakes the
relay (bootstrap adds its wake-up to :attr:`DeliveryService.listeners`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from gateway.clock import utc
from gateway.db.committer import GroupCommitter
from gateway.db.tables import outbox
from gateway.relay import replay_dead

_Q_COUNTS = select(outbox.c.destination, outbox.c.status, func.count()).group_by(outbox.c.destination,
                                                                                   outbox.c.status)
_Q_DEAD = select(outbox.c.message_id, outbox.c.protocol, outbox.c.version, outbox.c.destination, outbox.c.attempts,
                 outbox.c.last_error, outbox.c.updated_at).where(outbox.c.status == "dead").order_by(outbox.c.id)


@dataclass(frozen=True)
class DeadLetter:
    """An outbox row in the terminal state: which version, towards which destination, after how many attempts,
    why (the last error recorded by the relay), and since when (UTC)."""

    message_id: str
    protocol: str
    version: int
    destination: str
    attempts: int
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Replayed:
    """A dead letter put back in the queue."""

    message_id: str
    destination: str


class DeliveryService:
    """Outbox reads on the reader engine; replays through the group committer (one transaction, audited)."""

    def __init__(self, committer: GroupCommitter, reader: Engine) -> None:
        self.committer = committer
        self.reader = reader
        #: called after dead letters are put back in the queue (bootstrap adds the relay's wake-up)
        self.listeners: list[Callable[[], None]] = []

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """Outbox rows per destination and state: ``{"TSE": {"pending": 3, "dead": 1}, …}``."""
        out: dict[str, dict[str, int]] = {}
        with self.reader.connect() as conn:
            for destination, status, n in conn.execute(_Q_COUNTS):
                out.setdefault(destination, {})[status] = n
        return out

    def dead_letters(self, destination: str | None = None) -> list[DeadLetter]:
        """The dead letters, oldest row first (of one destination when given)."""
        query = _Q_DEAD if destination is None else _Q_DEAD.where(outbox.c.destination == destination)
        with self.reader.connect() as conn:
            return [DeadLetter(r.message_id, r.protocol, r.version, r.destination, r.attempts, r.last_error,
                               utc(r.updated_at)) for r in conn.execute(query)]

    async def replay(self, *, destination: str | None = None, message_id: str | None = None,
                     actor: str) -> list[Replayed]:
        """Put dead letters back in the queue — all of them, one destination's or one message's — in one audited
        transaction (*actor* is recorded), then wake the relay. Errors: StorageUnavailable (INFODIP-E091)."""
        done = await self.committer.run(
            lambda ctx: replay_dead(ctx, destination=destination, message_id=message_id, actor=actor))
        return self._woken(done)

    def replay_sync(self, *, destination: str | None = None, message_id: str | None = None,
                    actor: str) -> list[Replayed]:
        """:meth:`replay` for a caller without an event loop (the CLI)."""
        done = self.committer.run_sync(
            lambda ctx: replay_dead(ctx, destination=destination, message_id=message_id, actor=actor))
        return self._woken(done)

    def _woken(self, done: list[tuple[str, str]]) -> list[Replayed]:
        if done:
            for listener in self.listeners:
                listener()
        return [Replayed(m, d) for m, d in done]
