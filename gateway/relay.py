"""The relay: delivers outbox rows to partners, in order within each history, through crashes and outages.

Each loop: release rows whose earlier versions reached their destination ("blocked" → "pending"); lease due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several relays never send the same row at once; a crashed relay's
lease expires); send them in batches per destination through the adapters; record every attempt and its audit
entry in the same transaction as the new state. Retryable failures back off exponentially with full jitter; a
circuit breaker per destination stops calling a partner that keeps failing; non-retryable answers and exhausted
retries are dead letters, replayable by command or REST. An error that is not a partner's (a bug, ours or an
adapter's) is logged with its traceback and retried as the gateway's own failure ("erro interno do gateway"),
never counted against the partner's breaker.

Leases and slow partners (issue 9). A lease is measured by the database's clock — ``now()`` in SQL on
PostgreSQL, where relays on several hosts share rows; on SQLite the single host's clock (the injected one) is the
database's — so replicas whose clocks differ never take each other's live rows. A relay refuses to start with a
lease not longer than the partner timeout plus :data:`LEASE_MARGIN_S`; every adapter call is bounded by that
timeout; and before each call of a round the relay extends the lease of the round's rows when what is left of it
(measured on its monotonic clock from before the lease was taken) could not cover the call and the record. A
positive answer is a fact: it is recorded even when the row's lease was meanwhile taken by another relay (the
partners deduplicate by message id), so a slow partner can never make two relays send the same rows for ever.

Under load the relay yields to intake: its transactions are the group committer's *background* jobs, and while
callers' jobs are queued (or ``intake_busy`` says intake is near its admission limit) a round leases at most one
adapter batch per destination.

Time comes from the injected :class:`~gateway.clock.Clock`: ``now()`` for what is stored (due times, leases on
SQLite, attempts), ``monotonic()`` for the breakers' cooldowns and the lease's remaining time; the jitter source
is injected too, so tests are exact.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from adapters.base import Adapter, DeliveryResult, OutboundMessage, PartnerError
from gateway.clock import Clock, utc
from gateway.db.bulk import execute_many, insert_many
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.outbox import (
    MARK_LATE_DELIVERED,
    Q_CLAIMED,
    Q_STILL_MINE,
    SQL,
    release_after_delivery,
    release_blocked,
)
from gateway.db.tables import delivery_attempts, outbox
from gateway.errors import PartnerTimeout
from gateway.metrics import Metrics
from gateway.settings import Settings, SettingsError

log = logging.getLogger("gateway.relay")

#: what a lease must leave, beyond the partner's timeout, for the record transaction after the answer (seconds)
LEASE_MARGIN_S = 1.0


@dataclass(frozen=True)
class RelayPolicy:
    """Tunables of delivery (defaults for tests; a gateway builds it from its settings, :meth:`of`)."""

    batch_size: int = 800
    lease_seconds: float = 60.0
    base_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    max_attempts: int = 12
    poll_interval_s: float = 0.5
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 10.0
    concurrency_per_destination: int = 4
    #: the bound of every adapter call (``GATEWAY_PARTNER_TIMEOUT_S``)
    partner_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.lease_seconds <= self.partner_timeout_s + LEASE_MARGIN_S:
            raise SettingsError(
                f"GATEWAY_RELAY_LEASE_S ({self.lease_seconds:g} s) deve ser maior que GATEWAY_PARTNER_TIMEOUT_S "
                f"({self.partner_timeout_s:g} s) mais {LEASE_MARGIN_S:g} s: um parceiro lento faria outro "
                "entregador reenviar o que ainda está em curso")

    @classmethod
    def of(cls, settings: Settings) -> RelayPolicy:
        """The policy configured by ``GATEWAY_RELAY_*``, ``GATEWAY_BREAKER_*`` and ``GATEWAY_PARTNER_TIMEOUT_S``.
        Errors: SettingsError (GATEWAY-E001) for a lease not longer than the partner timeout plus
        :data:`LEASE_MARGIN_S`."""
        return cls(batch_size=settings.relay_batch_size, lease_seconds=settings.relay_lease_s,
                   base_backoff_s=settings.relay_base_backoff_s, max_backoff_s=settings.relay_max_backoff_s,
                   max_attempts=settings.relay_max_attempts, poll_interval_s=settings.relay_poll_interval_s,
                   breaker_threshold=settings.breaker_threshold, breaker_cooldown_s=settings.breaker_cooldown_s,
                   partner_timeout_s=settings.partner_timeout_s)


def backoff(attempt: int, policy: RelayPolicy, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` ≥ 0 made so far): full jitter — ``rng()`` in
    [0, 1) times the ceiling ``min(max_backoff_s, base_backoff_s · 2^(attempt−1))`` —, so never negative and never
    above ``max_backoff_s``, whatever the attempt (the exponent stops growing long before a float overflows)."""
    ceiling = min(policy.max_backoff_s, policy.base_backoff_s * 2.0 ** min(max(attempt - 1, 0), 64))
    return ceiling * rng()


@dataclass
class CircuitBreaker:
    """Per-destination breaker: opens after ``threshold`` consecutive failed calls; after ``cooldown_s`` seconds
    (of the clock's monotonic reading) it is half-open and lets one probe through: a success closes it, a failure
    opens it for another cooldown."""

    threshold: int
    cooldown_s: float
    clock: Clock
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        """closed | open | half-open."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock.monotonic() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        """Whether a call may be made now."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.probing = True
            return True
        return False

    def cancel_probe(self) -> None:
        """The probe allowed did not reach the partner (nothing to send, or a bug of ours): the next may."""
        self.probing = False

    def success(self) -> None:
        """A call succeeded: close."""
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        """A call failed as a whole."""
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock.monotonic()


@dataclass(frozen=True)
class Claimed:
    """A leased outbox row with what it takes to send it."""

    outbox_id: int
    destination: str
    attempts: int
    message: OutboundMessage


@dataclass
class _Lease:
    """The rows of one round and until when (on this relay's monotonic clock) their lease surely holds."""

    ids: list[int]
    deadline: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    extensions: int = 0


@dataclass
class Relay:
    """Delivery worker; runs inside ``gateway serve`` or alone as ``gateway relay``."""

    committer: GroupCommitter
    adapters: Mapping[str, Adapter]
    clock: Clock
    metrics: Metrics
    policy: RelayPolicy = field(default_factory=RelayPolicy)
    is_postgres: bool = False
    crash_hook: Callable[[str], None] | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 30)}")
    #: the backoff's jitter source, a float in [0, 1)
    jitter: Callable[[], float] = random.random
    #: whether intake is near its admission limit (bootstrap wires the admission gate); the relay then yields
    intake_busy: Callable[[], bool] | None = None
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        for name in self.adapters:
            self.breakers[name] = CircuitBreaker(self.policy.breaker_threshold, self.policy.breaker_cooldown_s,
                                                 self.clock)
        self._sql = SQL[self.is_postgres]

    def wake(self) -> None:
        """Ask the loop to look for work now (called after intake commits)."""
        self._wake.set()

    def circuit_states(self) -> dict[str, str]:
        """State of each destination's breaker."""
        return {name: b.state for name, b in self.breakers.items()}

    def yielding(self) -> bool:
        """Whether intake has priority now: callers' jobs are queued at the writer, or intake is near its limit."""
        return self.committer.queued() > 0 or bool(self.intake_busy and self.intake_busy())

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until *stop* is set. When a round sent nothing, wait for :meth:`wake` (a wake during the round
        counts), *stop*, or the poll interval — a bounded wait on the event loop, not a time measurement. While
        intake has priority (:meth:`yielding`), a round that sent rows is followed by a pause of the poll interval:
        the relay catches up once intake calms down (``make bench``, section ``delivery``)."""
        while not stop.is_set():
            self._wake.clear()
            try:
                done = await self.run_once()
            except Exception:
                log.exception("relay loop failed; retrying")
                done = 0
            if done == 0:
                await self._idle(stop)
            elif self.yielding():  # intake first: a pause between rounds (intake's wake-ups do not shorten it)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.policy.poll_interval_s)
                except TimeoutError:
                    pass

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=self.policy.poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def run_once(self) -> int:
        """One round: release, lease, send, record. Returns how many rows were sent.

        A destination whose breaker is open is skipped; a half-open one gets one call (at most one adapter batch).
        While intake has priority (:meth:`yielding`) a round leases one adapter batch per destination at most."""
        allowed = [name for name, b in self.breakers.items() if b.allow()]
        for name, b in self.breakers.items():
            self.metrics.circuit_open.labels(name).set(0 if b.state == "closed" else 1)
        if not allowed:
            await self.committer.run(lambda ctx: release_blocked(ctx.conn), background=True)
            return 0
        closed = [name for name in allowed if not self.breakers[name].probing]
        groups = [([name], self.adapters[name].max_batch) for name in allowed if self.breakers[name].probing]
        if closed:
            limit = self.policy.batch_size
            if self.yielding():
                limit = min(limit, min(self.adapters[name].max_batch for name in closed) * len(closed))
            groups.insert(0, (closed, limit))
        leased_at = self.clock.monotonic()  # before the lease is taken: the lease surely holds lease_seconds after
        claimed, started = await self.committer.run(lambda ctx: self._claim(ctx, groups), background=True)
        if not claimed:
            # a half-open probe that found nothing to send must not keep the breaker waiting forever
            for name in allowed:
                self.breakers[name].cancel_probe()
            return 0
        if self.crash_hook:
            self.crash_hook("after_claim")
        lease = _Lease([c.outbox_id for c in claimed], leased_at + self.policy.lease_seconds)
        by_dest: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_dest.setdefault(c.destination, []).append(c)
        tasks = []
        for dest, rows in by_dest.items():
            size = self.adapters[dest].max_batch
            batches = [rows[i:i + size] for i in range(0, len(rows), size)]
            tasks.append(self._send_destination(dest, batches, lease))
        outcomes = await asyncio.gather(*tasks)
        results: list[tuple[Claimed, DeliveryResult]] = [pair for outcome in outcomes for pair in outcome]
        if self.crash_hook:
            self.crash_hook("after_partner_answer")
        await self.committer.run(lambda ctx: self._record(ctx, results, started), background=True)
        return len(results)

    async def _keep_leased(self, lease: _Lease) -> None:
        """Before a call: extend the round's lease when what is left of it could not cover the call (the partner
        timeout) and the record after it (:data:`LEASE_MARGIN_S`). A failed extension is logged and the call goes
        on: a resend is deduplicated by the partner, and a positive answer is recorded whoever holds the row."""
        async with lease.lock:
            if self.clock.monotonic() + self.policy.partner_timeout_s + LEASE_MARGIN_S < lease.deadline:
                return
            asked = self.clock.monotonic()
            try:
                await self.committer.run(lambda ctx: self._extend(ctx, lease.ids), background=True)
            except Exception:
                log.warning("could not extend the lease of %d rows", len(lease.ids), exc_info=True)
                return
            lease.deadline = asked + self.policy.lease_seconds
            lease.extensions += 1

    async def _send_destination(self, dest: str, batches: list[list[Claimed]],
                                lease: _Lease) -> list[tuple[Claimed, DeliveryResult]]:
        adapter = self.adapters[dest]
        breaker = self.breakers[dest]
        sem = asyncio.Semaphore(self.policy.concurrency_per_destination)
        out: list[tuple[Claimed, DeliveryResult]] = []
        bound = self.policy.partner_timeout_s

        async def one(batch: list[Claimed]) -> None:
            async with sem:
                await self._keep_leased(lease)
                try:
                    try:
                        async with asyncio.timeout(bound):
                            answers = await adapter.deliver([c.message for c in batch])
                    except TimeoutError as exc:
                        raise PartnerTimeout(f"{dest}: tempo esgotado ({bound:g} s)", retryable=True,
                                             partner=dest) from exc
                    by_id = {a.message_id: a for a in answers}
                    results = [(c, by_id[c.message.message_id]) for c in batch]
                except PartnerError as exc:
                    breaker.failure()
                    out.extend((c, DeliveryResult(c.message.message_id, False, error=str(exc),
                                                  retryable=exc.retryable)) for c in batch)
                    return
                except Exception as exc:
                    # a bug (ours, or the adapter's — e.g. a result missing for a message): the partner is not to
                    # blame and its breaker is left alone; the rows are retried as the gateway's own failure
                    log.exception("erro interno do gateway ao entregar a %s", dest)
                    breaker.cancel_probe()
                    error = f"erro interno do gateway ao entregar a {dest} ({type(exc).__name__}: {exc})"
                    out.extend((c, DeliveryResult(c.message.message_id, False, error=error, retryable=True))
                               for c in batch)
                    return
                breaker.success()
                out.extend(results)

        await asyncio.gather(*(one(b) for b in batches))
        return out

    # -- transactions ------------------------------------------------------------------------------------------

    def _lease_params(self, ctx: WriteContext) -> dict[str, Any]:
        """Parameters of the lease statements: the database computes the lease on PostgreSQL, the clock on SQLite."""
        now = ctx.clock.now()
        if self.is_postgres:
            return {"now": now, "lease_for": timedelta(seconds=self.policy.lease_seconds)}
        return {"now": now, "lease_until": now + timedelta(seconds=self.policy.lease_seconds)}

    def _claim(self, ctx: WriteContext,
               groups: Sequence[tuple[Sequence[str], int]]) -> tuple[list[Claimed], datetime]:
        """Lease up to *limit* due rows for each (destinations, limit) of *groups*, as of the database's now; the
        rows, and when the attempt started.

        The start is read after the rows were found, not before the claim was queued at the writer: a row is found
        only once the previous attempt's record committed, and that record's ``finished_at`` was read before its
        commit, so one row's attempts never overlap in time — also when the claim waited behind other writes and a
        zero backoff (full jitter) made the row due at once (tests/e2e/test_crash.py, invariant 5)."""
        conn = ctx.conn
        sql = self._sql
        release_blocked(conn)
        now = ctx.clock.now()
        ids: list[int] = []
        for destinations, limit in groups:
            taken = 0
            # three index-driven queries (status, next_attempt_at) rather than one OR ordered by id, which would
            # walk the delivered rows of the whole history
            for query, params in (
                (sql.due, {"status": "pending", "now": now}),
                (sql.due, {"status": "failed", "now": now}),
                (sql.expired, {"now": now}),
            ):
                if taken >= limit:
                    break
                q = query.where(outbox.c.destination.in_(destinations)).limit(limit - taken)
                if self.is_postgres:
                    q = q.with_for_update(skip_locked=True)
                found = [r.id for r in conn.execute(q, params)]
                ids.extend(found)
                taken += len(found)
        if not ids:
            return [], now
        started = ctx.clock.now()
        conn.execute(sql.lease, {"ids": ids, "owner": self.owner, **self._lease_params(ctx)})
        rows = conn.execute(Q_CLAIMED, {"ids": ids}).all()
        return [Claimed(r.id, r.destination, r.attempts, OutboundMessage(
            message_id=r.message_id, protocol=r.protocol, version=r.version, operation=r.operation, kind=r.kind,
            organ=r.code, received_at=utc(r.received_at), payload=bytes(r.payload))) for r in rows], started

    def _extend(self, ctx: WriteContext, ids: list[int]) -> int:
        """Extend the lease of the rows of *ids* still held by this relay; how many were."""
        return int(ctx.conn.execute(self._sql.extend, {"ids": ids, "owner": self.owner,
                                                       **self._lease_params(ctx)}).rowcount or 0)

    def _record(self, ctx: WriteContext, results: list[tuple[Claimed, DeliveryResult]], started: datetime) -> None:
        conn = ctx.conn
        now = ctx.clock.now()
        if not results:
            return
        # a failure on a row whose lease another relay took over is that relay's to record; a positive answer is
        # a fact and is recorded whoever holds the row (unless it is recorded delivered already)
        mine = {r.id for r in conn.execute(Q_STILL_MINE, {"ids": [c.outbox_id for c, _ in results],
                                                           "owner": self.owner})}
        updates: dict[str, list[dict[str, Any]]] = {"delivered": [], "failed": [], "dead": []}
        attempts: list[dict[str, Any]] = []
        entries: list[tuple[str, dict[str, Any]]] = []
        delivered: set[tuple[str, str]] = set()
        counts: dict[tuple[str, str], int] = {}
        for claimed, result in results:
            error: str | None = None
            if claimed.outbox_id not in mine:
                if not result.ok or not conn.execute(MARK_LATE_DELIVERED, {
                        "row_id": claimed.outbox_id, "receipt": (result.receipt or "")[:200], "now": now}).rowcount:
                    continue
                outcome = "delivered"
                delivered.add((claimed.message.protocol, claimed.destination))
            elif result.ok:
                outcome = "delivered"
                updates[outcome].append({"row_id": claimed.outbox_id, "receipt": (result.receipt or "")[:200],
                                         "now": now})
                delivered.add((claimed.message.protocol, claimed.destination))
            elif result.retryable and claimed.attempts < self.policy.max_attempts:
                outcome = "failed"
                error = result.error
                delay = timedelta(seconds=backoff(claimed.attempts, self.policy, self.jitter))
                updates[outcome].append({"row_id": claimed.outbox_id, "error": error, "now": now,
                                         **({"delay": delay} if self.is_postgres else {"next": now + delay})})
            else:
                outcome = "dead"
                error = result.error if not result.retryable else (
                    f"{result.error} (tentativas esgotadas: {claimed.attempts})")
                updates[outcome].append({"row_id": claimed.outbox_id, "error": error, "now": now})
            attempts.append({"outbox_id": claimed.outbox_id, "message_id": claimed.message.message_id,
                             "destination": claimed.destination, "attempt": claimed.attempts, "relay": self.owner,
                             "started_at": started, "finished_at": now, "outcome": outcome, "error": error,
                             "receipt": result.receipt})
            entries.append((f"entrega.{outcome}", {
                "message_id": claimed.message.message_id, "protocol": claimed.message.protocol,
                "detail": {"destino": claimed.destination, "tentativa": claimed.attempts, "recibo": result.receipt,
                           "erro": error}}))
            counts[(claimed.destination, outcome)] = counts.get((claimed.destination, outcome), 0) + 1
            log.log(logging.WARNING if outcome == "dead" else logging.INFO, "entrega %s", outcome, extra={
                "message_id": claimed.message.message_id, "protocol": claimed.message.protocol,
                "destination": claimed.destination, "attempt": claimed.attempts, "error": error})
        for (destination, outcome), n in counts.items():
            self.metrics.deliveries.labels(destination, outcome).inc(n)
        for outcome, params in updates.items():
            if params:
                execute_many(conn, self._sql.mark[outcome], params)
        if attempts:
            insert_many(conn, delivery_attempts, attempts)
            ctx.audit.append_many(conn, entries, now)
        if delivered:
            release_after_delivery(conn, delivered)


def replay_dead(ctx: WriteContext, *, destination: str | None = None, message_id: str | None = None,
                actor: str = "cli") -> list[tuple[str, str]]:
    """Put dead letters back in the queue (all, or one destination, or one message); audited. Returns the
    (message id, destination) pairs replayed."""
    conn = ctx.conn
    now = ctx.clock.now()
    cond = [outbox.c.status == "dead"]
    if destination:
        cond.append(outbox.c.destination == destination)
    if message_id:
        cond.append(outbox.c.message_id == message_id)
    rows = conn.execute(select(outbox.c.id, outbox.c.message_id, outbox.c.protocol, outbox.c.destination,
                               outbox.c.last_error).where(*cond)).all()
    if not rows:
        return []
    conn.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(
        status="pending", attempts=0, next_attempt_at=now, updated_at=now))
    for r in rows:
        ctx.audit.append(conn, "entrega.reprocessamento", now, message_id=r.message_id, protocol=r.protocol,
                         detail={"destino": r.destination, "por": actor, "erroAnterior": r.last_error})
    return [(r.message_id, r.destination) for r in rows]
