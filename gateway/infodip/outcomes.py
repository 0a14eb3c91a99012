"""The TSE store's processing outcome (DOMAIN.md §2a): after registering a version the store processes it on its own
time — processed, voter not found, or sent to manual review — and the gateway asks it.

Which versions to ask about: the poller walks the TSE's slice of the change feed (:mod:`gateway.infodip.feed`:
gap-free, in commit order), from a floor just below the oldest version still without an outcome, and asks about
those delivered (a version not delivered yet — or dead, which may be replayed — is skipped and keeps the floor). The
floor lives in memory: a restarted poller walks from the beginning once. A version the store never reports on keeps
the floor where it is (each round then reads past it, at most :data:`BATCH` open versions at a time).

Why a pull (``consultarProcessamento``) and not a callback: the gateway already calls the store with its adapter
(timeouts, errors translated once, DESIGN.md's "send/query" interface), the store needs no credential at the gateway,
and a lost answer is simply asked again. Every ``poll_s`` seconds the poller takes the versions delivered to the TSE
and not yet reported on (oldest first, at most :data:`BATCH`), asks the store, and records each final outcome in
``store_outcomes`` with an audit entry ``infodip.processamento`` — one committer job per round. ``pendente`` and
``desconhecido`` are asked again at the next round. Several processes may poll: recording is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import anyio.to_thread
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Engine

from adapters.tse import ProcessingReport, TseAdapter
from gateway.clock import Clock
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import STORE_OUTCOMES, feed_entries, outbox, store_outcomes
from gateway.errors import PartnerError
from gateway.infodip.routing import TSE

log = logging.getLogger("gateway.outcomes")
#: versions asked per round
BATCH = 500

_Q_OPEN = (
    select(feed_entries.c.seq, feed_entries.c.message_id, outbox.c.status)
    .join(outbox, (outbox.c.message_id == feed_entries.c.message_id) & (outbox.c.destination == TSE))
    .outerjoin(store_outcomes, (store_outcomes.c.message_id == feed_entries.c.message_id)
               & (store_outcomes.c.destination == TSE))
    .where(feed_entries.c.destination == TSE, feed_entries.c.seq > bindparam("floor"),
           store_outcomes.c.message_id.is_(None))
    .order_by(feed_entries.c.seq)
    .limit(BATCH)
)
_Q_HEAD = select(func.max(feed_entries.c.seq)).where(feed_entries.c.destination == TSE)


def record_job(reports: Sequence[ProcessingReport], destination: str = TSE) -> Callable[[WriteContext], int]:
    """The committer job recording the final *reports* (the others skipped) with one audit entry each; returns how
    many were new."""

    def job(ctx: WriteContext) -> int:
        final = [r for r in reports if r.situacao in STORE_OUTCOMES]
        if not final:
            return 0
        known = {r.message_id for r in ctx.conn.execute(select(store_outcomes.c.message_id).where(
            store_outcomes.c.destination == destination,
            store_outcomes.c.message_id.in_([r.message_id for r in final])))}
        now = ctx.clock.now()
        new = [r for r in final if r.message_id not in known]
        if new:
            ctx.conn.execute(store_outcomes.insert(), [
                {"message_id": r.message_id, "destination": destination, "outcome": r.situacao, "detail": r.reason,
                 "processed_at": r.processed_at, "recorded_at": now} for r in new])
            ctx.audit.append_many(ctx.conn, [("infodip.processamento", {
                "message_id": r.message_id, "detail": {"destino": destination, "resultado": r.situacao}})
                for r in new], now)
        return len(new)

    return job


class OutcomePoller:
    """Asks the TSE store what it did with the versions delivered to it (module docstring)."""

    def __init__(self, adapter: TseAdapter, committer: GroupCommitter, reader: Engine, clock: Clock,
                 poll_s: float) -> None:
        self.adapter = adapter
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.poll_s = poll_s
        #: every TSE feed position up to here has its outcome (or its version is dead)
        self.floor = 0

    def unreported(self) -> list[str]:
        """Versions delivered to the TSE without an outcome yet (in feed order, at most :data:`BATCH`); moves the
        floor up to just below the oldest one still open."""
        with self.reader.connect() as conn:
            head = conn.execute(_Q_HEAD).scalar() or 0
            rows = conn.execute(_Q_OPEN, {"floor": self.floor}).all()
        if rows:
            self.floor = rows[0].seq - 1
        else:
            self.floor = max(self.floor, head)  # the feed is gap-free: nothing below head can appear later
        return [r.message_id for r in rows if r.status == "delivered"]

    async def round(self) -> int:
        """One round: ask about the unreported versions and record what is final; returns how many were new.
        Errors: the adapter's PartnerError (nothing recorded)."""
        ids = await anyio.to_thread.run_sync(self.unreported)
        if not ids:
            return 0
        reports = await self.adapter.outcomes(ids)
        asked = set(ids)
        return await self.committer.run(record_job([r for r in reports if r.message_id in asked]), background=True)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds every ``poll_s`` seconds until *stop* is set; a failed round is logged and retried."""
        while not stop.is_set():
            try:
                await self.round()
            except PartnerError as exc:
                log.warning("consulta de processamento ao TSE falhou: %s", exc)
            except Exception:  # one bad round must not end the poller
                log.exception("outcome round failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
