"""Group commit: the intake transactions of many concurrent requests in one durable commit.

One writer thread owns one connection and this process's audit chain. Requests hand it a *job* — a function run
inside the shared transaction — and await the result, which is delivered only after the commit that made the job
durable. Business refusals happen before a job writes; any other failure rolls the batch back and its jobs are
run again one by one, each in its own transaction, so one job's failure never touches another's rows.
One thread hop per batch, not per request; on SQLite this turns ~4k commits/s into tens of thousands of rows per
second (DESIGN.md). The gathering window (``wait_ms``) is measured on the injected clock's monotonic reading.

Bounded waits and overload (issue 9):

- every caller is answered within ``timeout_s`` (``GATEWAY_COMMIT_TIMEOUT_S``): a job still unanswered then is
  *abandoned* — its caller gets INFODIP-E091 (retry-safe: the idempotency key returns the original protocol if the
  job did commit) and the writer skips it if it has not started it yet; each transaction's lock wait is bounded by
  what is left of that budget (SQLite ``busy_timeout`` per transaction; PostgreSQL ``lock_timeout`` and
  ``statement_timeout`` per session, :func:`gateway.db.engine.make_engine`);
- two queues: *callers'* jobs (intake, the hub, operators) and *background* jobs (the relay's leases and records).
  A batch takes every caller's job queued and at most ``background_share`` background jobs while callers wait, so
  the relay's catch-up never delays intake by more than a few jobs;
- the callers' queue is bounded (``queue_max``, ``GATEWAY_COMMIT_QUEUE_MAX``): beyond it :meth:`run` refuses at
  once with :class:`~gateway.errors.Overloaded` (INFODIP-E092), nothing queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.audit import AuditChain, Signer
from gateway.clock import Clock
from gateway.db.bulk import insert_many
from gateway.db.tables import audit_log
from gateway.errors import GatewayError, Overloaded, ServerError, StorageUnavailable

log = logging.getLogger("gateway.committer")
T = TypeVar("T")


@dataclass
class WriteContext:
    """What a job receives: the connection inside the open transaction, the audit chain, the clock.

    The job contract: a job raises :class:`GatewayError` (a business refusal) only before its first write, and
    returns a result or raises anything else to have its transaction rolled back."""

    conn: Connection
    audit: AuditChain
    clock: Clock
    #: what jobs of this transaction leave for its end (e.g. the change feed's rows, :mod:`gateway.infodip.feed`)
    state: dict[str, Any] = field(default_factory=dict)
    _hooks: dict[str, Callable[[Connection], None]] = field(default_factory=dict)
    _later: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)

    def insert_later(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Insert *rows* into *table* together with every other row this transaction's jobs give for it: one bulk
        insert per table (:func:`gateway.db.bulk.insert_many`) just before the commit, tables in the order first
        given, before the :meth:`before_commit` hooks — instead of one statement per job (issue 17: per-statement
        work was a third of the writer's). Only for rows nothing reads back in the same transaction; a constraint
        they break fails the commit, and the committer then runs the jobs one by one, each in its own transaction."""
        self._later.setdefault(table, []).extend(rows)

    def audit_append(self, event: str, at: datetime, **fields_: Any) -> None:
        """:meth:`AuditChain.append` with its row inserted by :meth:`insert_later` (the chain's hashes and
        checkpoints are computed now, in the order of the jobs)."""
        self.audit.append_many(self.conn, [(event, fields_)], at,
                               defer=lambda rows: self.insert_later(audit_log, rows))

    def before_commit(self, name: str, hook: Callable[[Connection], None]) -> None:
        """Run *hook* once, after every job of this transaction and just before its commit (the first hook given
        under *name* counts). A hook that raises rolls the transaction back, as a job that raises does."""
        self._hooks.setdefault(name, hook)

    def finish(self) -> None:
        """Insert the rows given to :meth:`insert_later`, then run the hooks given by this transaction's jobs (the
        committer calls it just before committing)."""
        later, self._later = self._later, {}
        for table, rows in later.items():
            insert_many(self.conn, table, rows)
        for hook in self._hooks.values():
            hook(self.conn)
        self._hooks.clear()
        self.state.clear()


Job = Callable[[WriteContext], T]


class _Pending(Generic[T]):
    __slots__ = ("abandoned", "enqueued", "error", "future", "job", "loop", "result")

    def __init__(self, job: Job[T], loop: asyncio.AbstractEventLoop | None, future: Any, enqueued: float) -> None:
        self.job = job
        self.loop = loop
        self.future = future
        self.enqueued = enqueued
        self.result: Any = None
        self.error: BaseException | None = None
        #: set by the waiting side when it stopped waiting (timeout, cancellation): the writer skips the job if it
        #: has not started it (a benign race: a job already running commits, and the retry finds it)
        self.abandoned = False


def _settle(batch: list[_Pending[Any]]) -> None:
    """Resolve the futures of *batch* (on their loop's thread for asyncio futures)."""
    for p in batch:
        if p.future.done():  # an asyncio request cancelled or timed out while it waited
            continue
        if p.error is not None:
            p.future.set_exception(p.error)
        else:
            p.future.set_result(p.result)


def _timed_out() -> StorageUnavailable:
    return StorageUnavailable("INFODIP-E091", "Armazenamento indisponível (tempo esgotado); tente novamente com a "
                                              "mesma referência.")


class Queued(Generic[T]):
    """A job handed to the writer by :meth:`GroupCommitter.queue`, not yet awaited."""

    __slots__ = ("_deadline", "_future", "_pending")

    def __init__(self, pending: _Pending[T], future: asyncio.Future[T], deadline: float) -> None:
        self._pending = pending
        self._future = future
        self._deadline = deadline

    async def durable(self) -> T:
        """The job's result once its transaction is durable (waiting at most until the deadline set when it was
        queued). Errors: as :meth:`GroupCommitter.run`."""
        left = self._deadline - time.monotonic()
        try:
            if left <= 0 and not self._future.done():
                raise TimeoutError
            return await asyncio.wait_for(self._future, max(left, 0.001))
        except TimeoutError:
            self._pending.abandoned = True
            raise _timed_out() from None
        except asyncio.CancelledError:
            self._pending.abandoned = True
            raise

    def abandon(self) -> None:
        """Skip the job unless the writer has started it (the caller will not await it)."""
        self._pending.abandoned = True
        if not self._future.done():
            self._future.cancel()


class GroupCommitter:
    """The single writer of this process."""

    def __init__(self, engine: Engine, clock: Clock, signer: Signer | None, *, max_batch: int = 256,
                 wait_ms: float = 0.0, checkpoint_every: int = 1000, crash_hook: Callable[[str], None] | None = None,
                 timeout_s: float = 30.0, queue_max: int = 0, background_share: int = 4):
        self.engine = engine
        self.clock = clock
        self.signer = signer
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000
        self.checkpoint_every = checkpoint_every
        self.crash_hook = crash_hook
        #: seconds within which every caller is answered (``GATEWAY_COMMIT_TIMEOUT_S``)
        self.timeout_s = timeout_s
        #: callers' jobs queued beyond which :meth:`run` refuses at once (0: unbounded)
        self.queue_max = queue_max
        #: background jobs a batch takes while callers' jobs are queued
        self.background_share = max(1, background_share)
        self._cond = threading.Condition()
        self._callers: deque[_Pending[Any]] = deque()
        self._background: deque[_Pending[Any]] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._sqlite = engine.dialect.name == "sqlite"
        self._busy_ms: int | None = None
        self.audit: AuditChain | None = None
        self.batches = 0
        #: callers refused at once (queue full) since start
        self.refused = 0

    def start(self) -> None:
        """Open the connection, start this writer's audit chain and the thread."""
        if self._thread is not None:
            return
        self._conn = self.engine.connect()
        with self._conn.begin():
            self.audit = AuditChain.start(self._conn, self.clock.now(), self.signer, self.checkpoint_every)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="group-committer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish queued work, sign the chain's head, close the connection."""
        if self._thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=60)
        self._thread = None
        if self._conn is not None and self.audit is not None:
            try:
                with self._conn.begin():
                    self.audit.checkpoint(self._conn, self.clock.now())
            except SQLAlchemyError:
                log.exception("could not write the final audit checkpoint")
            self._conn.close()
            self._conn = None

    def queued(self) -> int:
        """Callers' jobs waiting for the writer now (what the relay yields to)."""
        return len(self._callers)

    def _put(self, pending: _Pending[Any], background: bool) -> None:
        with self._cond:
            if not background and self.queue_max and len(self._callers) >= self.queue_max:
                self.refused += 1
                raise Overloaded()
            (self._background if background else self._callers).append(pending)
            self._cond.notify()

    async def run(self, job: Job[T], *, background: bool = False, timeout: float | None = None) -> T:
        """Run *job* in the next group transaction; return its result once that transaction is durable.

        Waits at most *timeout* seconds (default ``timeout_s``). Errors: the job's :class:`GatewayError`;
        ``Overloaded`` (INFODIP-E092) at once when the callers' queue is full (*background* jobs — the relay's —
        are never refused: their queue is bounded by the relay's own rounds); ``StorageUnavailable`` (INFODIP-E091)
        when the storage failed or the wait ran out (the job is then skipped unless it had started: retrying with
        the same idempotency key is safe either way); ``ServerError`` (INFODIP-E090) for a bug in the job."""
        return await self.queue(job, background=background, timeout=timeout).durable()

    def queue(self, job: Job[T], *, background: bool = False, timeout: float | None = None) -> Queued[T]:
        """Queue *job* now and return at once: the caller does other work (reads, rendering) while the writer
        commits, then awaits :meth:`Queued.durable` before it answers — what :meth:`run` does with nothing in
        between. *timeout* counts from now. Errors: ``Overloaded`` (INFODIP-E092) at once; the others from
        :meth:`Queued.durable`, as for :meth:`run`. A Queued never awaited is abandoned by :meth:`Queued.abandon`
        (or left to commit: the job's effects are then durable, nobody is told)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        pending = _Pending(job, loop, fut, self.clock.monotonic())
        self._put(pending, background)
        # the wait is real time (asyncio's), whatever clock the writer's budget reads
        return Queued(pending, fut, time.monotonic() + (self.timeout_s if timeout is None else timeout))

    def submit(self, job: Job[T], *, background: bool = False) -> concurrent.futures.Future[T]:
        """Queue *job* from any thread without waiting; the future resolves once its transaction is durable.
        Errors: ``Overloaded`` at once when the callers' queue is full."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(_Pending(job, None, fut, self.clock.monotonic()), background)
        return fut

    def run_sync(self, job: Job[T], timeout: float | None = None) -> T:
        """Run *job* from a thread that has no event loop (CLI), waiting up to *timeout* seconds (default
        ``timeout_s``) for the commit. Errors: as :meth:`run`."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        pending = _Pending(job, None, fut, self.clock.monotonic())
        self._put(pending, False)
        try:
            return fut.result(timeout=self.timeout_s if timeout is None else timeout)
        except concurrent.futures.TimeoutError:
            pending.abandoned = True
            raise _timed_out() from None

    # -- the writer thread -------------------------------------------------------------------------------------

    def _take(self) -> list[_Pending[Any]] | None:
        """The next batch: every caller's job queued (up to ``max_batch``) and background jobs — at most
        ``background_share`` of them while callers' jobs were taken. None once stopping with nothing queued."""
        with self._cond:
            while not self._callers and not self._background:
                if self._stopping:
                    return None
                self._cond.wait(timeout=1.0)
            if self.wait_s > 0:
                deadline = self.clock.monotonic() + self.wait_s
                while len(self._callers) + len(self._background) < self.max_batch and not self._stopping:
                    left = deadline - self.clock.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(timeout=left)
            batch = [self._callers.popleft() for _ in range(min(self.max_batch, len(self._callers)))]
            share = self.background_share if batch else self.max_batch
            batch.extend(self._background.popleft() for _ in range(min(share, len(self._background))))
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Pending[Any]]) -> None:
        live = [p for p in batch if not self._skip(p)]
        if live and not self._commit_together(live):
            self._commit_one_by_one(live)
        self.batches += 1
        by_loop: dict[Any, list[_Pending[Any]]] = {}
        for p in batch:
            by_loop.setdefault(p.loop, []).append(p)
        for loop, items in by_loop.items():
            if loop is None:
                _settle(items)
            else:
                try:
                    loop.call_soon_threadsafe(_settle, items)
                except RuntimeError:  # the loop is closed: its requests are gone
                    pass

    def _skip(self, p: _Pending[Any]) -> bool:
        """Whether *p* is abandoned (its caller was answered E091 already): then it is not run."""
        if p.abandoned:
            p.result, p.error = None, _timed_out()
            return True
        return False

    def _bound_lock_wait(self, batch: list[_Pending[Any]]) -> None:
        """SQLite: let this transaction wait for the write lock no longer than what is left of the oldest job's
        budget (at least 50 ms), so a lock held elsewhere fails the batch in time instead of after 30 s."""
        if not self._sqlite or self._conn is None:
            return
        oldest = min(p.enqueued for p in batch)
        left = self.timeout_s - (self.clock.monotonic() - oldest)
        ms = max(50, int(left * 1000))
        if ms != self._busy_ms:
            self._conn.connection.driver_connection.execute(f"PRAGMA busy_timeout={ms}")  # type: ignore[union-attr]
            self._busy_ms = ms

    def _commit_together(self, batch: list[_Pending[Any]]) -> bool:
        """The fast path: every job of the batch in one transaction, no savepoints. Jobs raise GatewayError only
        before their first write (the job contract), so such an error leaves nothing to undo. Any other failure
        rolls the whole batch back and returns False: the slow path then runs each job alone."""
        conn, audit = self._conn, self.audit
        assert conn is not None and audit is not None
        mark = audit.mark()
        ctx = WriteContext(conn, audit, self.clock)
        try:
            self._bound_lock_wait(batch)
            with conn.begin():
                for p in batch:
                    try:
                        p.result = p.job(ctx)
                        p.error = None
                    except GatewayError as exc:
                        p.error = exc
                ctx.finish()
                if self.crash_hook:
                    self.crash_hook("before_commit")
        except Exception:
            audit.restore(mark)
            return False
        if self.crash_hook:
            self.crash_hook("after_commit")
        return True

    def _commit_one_by_one(self, batch: list[_Pending[Any]]) -> None:
        """The slow path: each job in its own transaction, skipping those abandoned meanwhile (their callers were
        answered); an IntegrityError (another process stored the same key first) runs the job once more, and it
        then sees the stored row."""
        conn, audit = self._conn, self.audit
        assert conn is not None and audit is not None
        for p in batch:
            p.result, p.error = None, None
            for attempt in (1, 2):
                if self._skip(p):
                    break
                mark = audit.mark()
                ctx = WriteContext(conn, audit, self.clock)
                try:
                    self._bound_lock_wait([p])
                    with conn.begin():
                        p.result = p.job(ctx)
                        ctx.finish()
                    p.error = None
                except IntegrityError as exc:
                    audit.restore(mark)
                    p.error = StorageUnavailable("INFODIP-E091")
                    if attempt == 2:
                        log.warning("job failed twice on integrity: %s", exc)
                    continue
                except GatewayError as exc:
                    audit.restore(mark)
                    p.error = exc
                except SQLAlchemyError:
                    audit.restore(mark)
                    log.exception("job failed in the database")
                    p.error = StorageUnavailable("INFODIP-E091")
                except Exception as exc:
                    audit.restore(mark)
                    log.exception("job failed")
                    p.error = ServerError("INFODIP-E090")
                    p.error.__cause__ = exc
                if p.error is None and self.crash_hook:
                    self.crash_hook("after_commit")
                break
