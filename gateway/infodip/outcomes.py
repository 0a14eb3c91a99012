"""The TSE store's processing outcome (DOMAIN.md §2a): after registering a version the store processes it on its own
time — processed, voter not found, or sent to manual review — and the gateway asks it.

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
from sqlalchemy import select
from sqlalchemy.engine import Engine

from adapters.tse import ProcessingReport, TseAdapter
from gateway.clock import Clock
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import STORE_OUTCOMES, outbox, store_outcomes
from gateway.errors import PartnerError
from gateway.infodip.routing import TSE

log = logging.getLogger("gateway.outcomes")
#: versions asked per round
BATCH = 500

_Q_UNREPORTED = (
    select(outbox.c.message_id)
    .outerjoin(store_outcomes, (store_outcomes.c.message_id == outbox.c.message_id)
               & (store_outcomes.c.destination == outbox.c.destination))
    .where(outbox.c.destination == TSE, outbox.c.status == "delivered", store_outcomes.c.message_id.is_(None))
    .order_by(outbox.c.id)
    .limit(BATCH)
)


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

    def unreported(self) -> list[str]:
        """Versions delivered to the TSE without an outcome yet (oldest first, at most :data:`BATCH`)."""
        with self.reader.connect() as conn:
            return [r.message_id for r in conn.execute(_Q_UNREPORTED)]

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
