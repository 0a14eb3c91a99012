"""Group commit: the intake transactions of many concurrent requests in one durable commit.

One writer thread owns one connection and this process's audit chain. Requests hand it a *job* — a function run
inside the shared transaction — and await the result, which is delivered only after the commit that made the job
durable. Business refusals happen before a job writes; any other failure rolls the batch back and its jobs are
run again one by one, each in its own transaction, so one job's failure never touches another's rows.
One thread hop per batch, not per request; on SQLite this turns ~4k commits/s into tens of thousands of rows per
second (DESIGN.md). The gathering window (``wait_ms``) is measured on the injected clock's monotonic reading.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.audit import AuditChain, Signer
from gateway.clock import Clock
from gateway.errors import GatewayError, ServerError, StorageUnavailable

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


Job = Callable[[WriteContext], T]


class _Pending(Generic[T]):
    __slots__ = ("error", "future", "job", "loop", "result")

    def __init__(self, job: Job[T], loop: asyncio.AbstractEventLoop | None, future: Any) -> None:
        self.job = job
        self.loop = loop
        self.future = future
        self.result: Any = None
        self.error: BaseException | None = None


def _settle(batch: list[_Pending[Any]]) -> None:
    """Resolve the futures of *batch* (on their loop's thread for asyncio futures)."""
    for p in batch:
        if p.future.done():  # an asyncio request cancelled while it waited
            continue
        if p.error is not None:
            p.future.set_exception(p.error)
        else:
            p.future.set_result(p.result)


class GroupCommitter:
    """The single writer of this process."""

    def __init__(self, engine: Engine, clock: Clock, signer: Signer | None, *, max_batch: int = 256,
                 wait_ms: float = 0.0, checkpoint_every: int = 1000, crash_hook: Callable[[str], None] | None = None):
        self.engine = engine
        self.clock = clock
        self.signer = signer
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000
        self.checkpoint_every = checkpoint_every
        self.crash_hook = crash_hook
        self._queue: queue.SimpleQueue[_Pending[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self.audit: AuditChain | None = None
        self.batches = 0

    def start(self) -> None:
        """Open the connection, start this writer's audit chain and the thread."""
        if self._thread is not None:
            return
        self._conn = self.engine.connect()
        with self._conn.begin():
            self.audit = AuditChain.start(self._conn, self.clock.now(), self.signer, self.checkpoint_every)
        self._thread = threading.Thread(target=self._run, name="group-committer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish queued work, sign the chain's head, close the connection."""
        if self._thread is None:
            return
        self._queue.put(None)
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

    async def run(self, job: Job[T]) -> T:
        """Run *job* in the next group transaction; return its result once that transaction is durable (raise
        its :class:`GatewayError`, or ``ServerError`` INFODIP-E090/E091 for any other failure)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(job, loop, fut))
        return await fut

    def submit(self, job: Job[T]) -> concurrent.futures.Future[T]:
        """Queue *job* from any thread without waiting; the future resolves once its transaction is durable."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Pending(job, None, fut))
        return fut

    def run_sync(self, job: Job[T], timeout: float = 60.0) -> T:
        """Run *job* from a thread that has no event loop (CLI), waiting up to *timeout* seconds for the commit."""
        return self.submit(job).result(timeout=timeout)

    # -- the writer thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = self.clock.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                try:
                    timeout = deadline - self.clock.monotonic()
                    item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit_batch(batch)
        # drain anything left after the stop marker
        rest: list[_Pending[Any]] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rest.append(item)
        if rest:
            self._commit_batch(rest)

    def _commit_batch(self, batch: list[_Pending[Any]]) -> None:
        if not self._commit_together(batch):
            self._commit_one_by_one(batch)
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

    def _commit_together(self, batch: list[_Pending[Any]]) -> bool:
        """The fast path: every job of the batch in one transaction, no savepoints. Jobs raise GatewayError only
        before their first write (the job contract), so such an error leaves nothing to undo. Any other failure
        rolls the whole batch back and returns False: the slow path then runs each job alone."""
        conn, audit = self._conn, self.audit
        assert conn is not None and audit is not None
        mark = audit.mark()
        ctx = WriteContext(conn, audit, self.clock)
        try:
            with conn.begin():
                for p in batch:
                    try:
                        p.result = p.job(ctx)
                        p.error = None
                    except GatewayError as exc:
                        p.error = exc
                if self.crash_hook:
                    self.crash_hook("before_commit")
        except Exception:
            audit.restore(mark)
            return False
        if self.crash_hook:
            self.crash_hook("after_commit")
        return True

    def _commit_one_by_one(self, batch: list[_Pending[Any]]) -> None:
        """The slow path: each job in its own transaction; an IntegrityError (another process stored the same key
        first) runs the job once more, and it then sees the stored row."""
        conn, audit = self._conn, self.audit
        assert conn is not None and audit is not None
        ctx = WriteContext(conn, audit, self.clock)
        for p in batch:
            p.result, p.error = None, None
            for attempt in (1, 2):
                mark = audit.mark()
                try:
                    with conn.begin():
                        p.result = p.job(ctx)
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
