"""The group committer on a real migrated SQLite file, in milliseconds: jobs queued together commit together,
one job's refusal or bug never sinks the others, futures resolve only once their commit is durable, and an
IntegrityError re-runs the job once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from gateway import audit
from gateway.clock import FakeClock
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.engine import make_engine
from gateway.db.tables import organs
from gateway.errors import ServerError, ValidationFailed
from tests.support import running_committer


@pytest.fixture
def clock() -> FakeClock:
    """The committer's clock."""
    return FakeClock()


@pytest.fixture
def reader(sqlite_url: str) -> Iterator[Engine]:
    """A second engine on the same file: what another process sees."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def add_organ(code: str, calls: list[str] | None = None) -> Callable[[WriteContext], str]:
    """A job inserting organ *code* and an audit entry; it notes each run in *calls*."""
    def job(ctx: WriteContext) -> str:
        if calls is not None:
            calls.append(code)
        ctx.conn.execute(insert(organs).values(code=code, name=f"Órgão {code}", organ_type="tribunal",
                                               created_at=ctx.clock.now()))
        ctx.audit.append(ctx.conn, "teste.orgao", ctx.clock.now(), detail={"codigo": code})
        return code
    return job


def stored(reader: Engine, *codes: str) -> int:
    """How many of *codes* another connection sees."""
    with reader.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(organs).where(organs.c.code.in_(codes)))
                   .scalar_one())


def chain_ok(reader: Engine) -> bool:
    """Whether the audit chains verify."""
    with reader.connect() as conn:
        return audit.verify(conn, None).ok


def held(committer: GroupCommitter) -> tuple[threading.Event, Future[None]]:
    """Occupy the writer with a job that waits for the returned event: whatever is submitted meanwhile is queued
    and taken as one batch when the event is set."""
    entered, release = threading.Event(), threading.Event()

    def gate(_ctx: WriteContext) -> None:
        entered.set()
        assert release.wait(10)

    fut = committer.submit(gate)
    assert entered.wait(10)
    return release, fut


def test_jobs_queued_together_commit_in_one_transaction(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """Five jobs queued while the writer is busy are run and committed as one batch (the fast path: each job runs
    once), and each future returns its own job's result."""
    with running_committer(sqlite_url, clock) as committer:
        release, gate = held(committer)
        before = committer.batches
        calls: list[str] = []
        futures = [committer.submit(add_organ(f"ORG-{n}", calls)) for n in range(5)]
        release.set()
        assert [f.result(10) for f in futures] == [f"ORG-{n}" for n in range(5)]
        gate.result(10)
        assert committer.batches - before == 2, "the held job's batch, then one batch of five"
        assert calls == [f"ORG-{n}" for n in range(5)]
    assert stored(reader, *calls) == 5 and chain_ok(reader)


def test_a_refusal_does_not_touch_the_others_of_its_batch(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """A job refusing (a GatewayError before writing) gets its error; the others of the batch commit in the same
    transaction, each run once."""
    def refuse(_ctx: WriteContext) -> None:
        raise ValidationFailed("INFODIP-E030", field="cpf")

    with running_committer(sqlite_url, clock) as committer:
        release, _ = held(committer)
        calls: list[str] = []
        first, refused, last = (committer.submit(add_organ("ORG-A", calls)), committer.submit(refuse),
                                committer.submit(add_organ("ORG-B", calls)))
        release.set()
        assert (first.result(10), last.result(10)) == ("ORG-A", "ORG-B")
        with pytest.raises(ValidationFailed) as err:
            refused.result(10)
        assert err.value.code == "INFODIP-E030"
        assert calls == ["ORG-A", "ORG-B"]
    assert stored(reader, "ORG-A", "ORG-B") == 2


def test_a_failing_job_does_not_sink_the_others(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """A job that writes and then fails with a bug rolls back alone: the batch is re-run job by job, the others
    commit, the failing one's rows and audit entry vanish (the chain still verifies) and its caller gets
    INFODIP-E090 caused by the bug."""
    def broken(ctx: WriteContext) -> None:
        add_organ("ORG-BROKEN")(ctx)
        raise RuntimeError("bug")

    with running_committer(sqlite_url, clock) as committer:
        release, _ = held(committer)
        futures = [committer.submit(add_organ("ORG-1")), committer.submit(broken), committer.submit(add_organ("ORG-2"))]
        release.set()
        assert futures[0].result(10) == "ORG-1" and futures[2].result(10) == "ORG-2"
        with pytest.raises(ServerError) as err:
            futures[1].result(10)
        assert err.value.code == "INFODIP-E090" and isinstance(err.value.__cause__, RuntimeError)
        assert committer.run_sync(add_organ("ORG-3")) == "ORG-3", "the writer goes on"
    assert stored(reader, "ORG-1", "ORG-2", "ORG-3") == 3
    assert stored(reader, "ORG-BROKEN") == 0
    assert chain_ok(reader)


def test_futures_resolve_only_after_the_commit(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """Just before the commit no future of the batch is resolved and another connection sees nothing; at the
    moment a future resolves (thread or asyncio caller) another connection already sees the job's row."""
    futures: list[Future[str]] = []
    calls: list[str] = []
    seen: dict[str, object] = {}

    def hook(point: str) -> None:
        if point == "before_commit" and calls == ["ORG-T"]:  # the batch that ran ORG-T, about to commit
            seen.setdefault("before", ([f.done() for f in futures], stored(reader, "ORG-T")))

    with running_committer(sqlite_url, clock, crash_hook=hook) as committer:
        release, _ = held(committer)
        futures.append(committer.submit(add_organ("ORG-T", calls)))
        futures[0].add_done_callback(lambda _f: seen.setdefault("resolved", stored(reader, "ORG-T")))
        release.set()
        assert futures[0].result(10) == "ORG-T"

        async def from_the_loop() -> int:
            await committer.run(add_organ("ORG-L"))
            return stored(reader, "ORG-L")

        assert asyncio.run(from_the_loop()) == 1
    assert seen == {"before": ([False], 0), "resolved": 1}


def test_a_failed_commit_runs_each_job_alone(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """When the group transaction fails (here the database refuses at commit time), nothing of it is kept and each
    job runs again in its own transaction: every caller still gets its result once that one is durable."""
    failures = [OperationalError("COMMIT", {}, Exception("disk I/O error"))]
    calls: list[str] = []

    def hook(point: str) -> None:
        if point == "before_commit" and calls and failures:  # the batch of the three jobs, once
            raise failures.pop()

    with running_committer(sqlite_url, clock, crash_hook=hook) as committer:
        release, _ = held(committer)
        futures = [committer.submit(add_organ(f"ORG-{n}", calls)) for n in range(3)]
        release.set()
        assert [f.result(10) for f in futures] == ["ORG-0", "ORG-1", "ORG-2"]
        assert calls == ["ORG-0", "ORG-1", "ORG-2"] * 2
    assert stored(reader, *calls) == 3 and chain_ok(reader)


def test_an_integrity_error_reruns_the_job_once_and_it_then_sees_the_stored_row(
    sqlite_url: str, clock: FakeClock
) -> None:
    """A job losing a race on a unique key (another process stored TJRJ first; the job's lookup missed it) is run
    again alone, and its second run finds the row. A job that conflicts every time gets INFODIP-E091 after that
    one re-run."""
    runs: list[int] = []

    def racing(ctx: WriteContext) -> int:
        runs.append(1)
        if len(runs) <= 2:  # the group run and the first lone run lose the race
            ctx.conn.execute(insert(organs).values(code="TJRJ", name="x", organ_type="tribunal",
                                                   created_at=ctx.clock.now()))
        return int(ctx.conn.execute(select(organs.c.id).where(organs.c.code == "TJRJ")).scalar_one())

    always: list[int] = []

    def conflicting(ctx: WriteContext) -> Any:
        always.append(1)
        return ctx.conn.execute(insert(organs).values(code="TJRJ", name="x", organ_type="tribunal",
                                                      created_at=ctx.clock.now()))

    with running_committer(sqlite_url, clock) as committer:
        assert committer.run_sync(racing) > 0
        assert len(runs) == 3
        with pytest.raises(ServerError) as err:
            committer.run_sync(conflicting)
        assert err.value.code == "INFODIP-E091" and len(always) == 3


# -- bounded waits, overload, priority (issue 9) ------------------------------------------------------------------


def insert_once(code: str, calls: list[str] | None = None) -> Callable[[WriteContext], str]:
    """An idempotent job (like intake's, keyed by *code*): inserts organ *code* unless it is stored already."""
    def job(ctx: WriteContext) -> str:
        if calls is not None:
            calls.append(code)
        if ctx.conn.execute(select(organs.c.id).where(organs.c.code == code)).first() is None:
            add_organ(code)(ctx)
        return code
    return job


def test_every_caller_is_answered_within_the_budget_while_another_process_holds_the_lock(
    sqlite_url: str, clock: FakeClock, reader: Engine
) -> None:
    """Another connection holds SQLite's write lock: three callers waiting on the committer are each answered
    INFODIP-E091 within the commit budget (0.5 s; the test's own bound is 10 s, against the 30 s busy wait of each
    lone retry before), the writer goes on once the lock is released, and retrying the same idempotent jobs stores
    each key exactly once."""
    import sqlite3

    codes = ["ORG-W1", "ORG-W2", "ORG-W3"]
    with running_committer(sqlite_url, clock, timeout_s=0.5) as committer:
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")

        async def callers() -> list[BaseException | str]:
            return await asyncio.wait_for(asyncio.gather(*(committer.run(insert_once(c)) for c in codes),
                                                         return_exceptions=True), timeout=10)

        try:
            answers = asyncio.run(callers())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert all(isinstance(a, ServerError) and a.code == "INFODIP-E091" for a in answers), answers

        async def retry() -> list[str]:
            return list(await asyncio.gather(*(committer.run(insert_once(c)) for c in codes)))

        assert asyncio.run(retry()) == codes
    for code in codes:
        assert stored(reader, code) == 1
    assert chain_ok(reader)


def test_a_job_abandoned_before_the_writer_reached_it_is_never_run(sqlite_url: str, clock: FakeClock,
                                                                   reader: Engine) -> None:
    """A caller whose wait runs out while its job is still queued gets INFODIP-E091, and the writer skips the job
    (its caller was answered): only the jobs still awaited are run."""
    calls: list[str] = []
    with running_committer(sqlite_url, clock) as committer:
        release, gate = held(committer)

        async def impatient() -> None:
            await committer.run(add_organ("ORG-GONE", calls), timeout=0.05)

        with pytest.raises(ServerError) as err:
            asyncio.run(impatient())
        assert err.value.code == "INFODIP-E091"
        kept = committer.submit(add_organ("ORG-KEPT", calls))
        release.set()
        assert kept.result(10) == "ORG-KEPT"
        gate.result(10)
    assert calls == ["ORG-KEPT"]
    assert stored(reader, "ORG-GONE") == 0


def test_callers_beyond_the_queue_bound_are_refused_at_once(sqlite_url: str, clock: FakeClock,
                                                            reader: Engine) -> None:
    """With two callers' jobs queued behind a busy writer and a bound of two, a third is refused at once with
    INFODIP-E092 (retry-safe, with a Retry-After hint), queueing nothing; the two queued commit."""
    from gateway.errors import Overloaded

    with running_committer(sqlite_url, clock, queue_max=2) as committer:
        release, _ = held(committer)
        queued = [committer.submit(add_organ(f"ORG-Q{n}")) for n in range(2)]
        with pytest.raises(Overloaded) as err:
            committer.submit(add_organ("ORG-Q2"))
        assert err.value.code == "INFODIP-E092" and err.value.retryable and err.value.retry_after_s >= 1
        assert committer.refused == 1
        release.set()
        assert [f.result(10) for f in queued] == ["ORG-Q0", "ORG-Q1"]
    assert stored(reader, "ORG-Q0", "ORG-Q1", "ORG-Q2") == 2


def test_background_jobs_yield_to_callers(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """Five relay (background) jobs queued before three callers' jobs: the next batch runs the callers first and
    takes at most ``background_share`` (1) background job beside them; the other background jobs follow."""
    calls: list[str] = []
    with running_committer(sqlite_url, clock, background_share=1) as committer:
        release, _ = held(committer)
        background = [committer.submit(add_organ(f"ORG-B{n}", calls), background=True) for n in range(5)]
        callers = [committer.submit(add_organ(f"ORG-C{n}", calls)) for n in range(3)]
        before = committer.batches
        release.set()
        for f in callers + background:
            f.result(10)
        assert calls[:4] == ["ORG-C0", "ORG-C1", "ORG-C2", "ORG-B0"]
        assert calls[4:] == ["ORG-B1", "ORG-B2", "ORG-B3", "ORG-B4"]
        assert committer.batches - before >= 2
    assert stored(reader, *calls) == 8


def test_queue_returns_before_the_commit_and_durable_awaits_it(sqlite_url: str, clock: FakeClock,
                                                               reader: Engine) -> None:
    """``queue()`` hands the job to the writer and returns at once, while the writer is still busy; the caller's
    other work runs meanwhile; ``durable()`` returns the job's result once its transaction is committed (issue 14:
    the consultation renders its answer while its audit entry commits)."""
    with running_committer(sqlite_url, clock) as committer:
        release, gate = held(committer)

        async def main() -> tuple[bool, str, int]:
            queued = committer.queue(add_organ("ORG-Q"))
            seen_before = stored(reader, "ORG-Q")  # the writer is held: nothing committed yet
            release.set()
            result = await queued.durable()
            return seen_before == 0, result, stored(reader, "ORG-Q")

        not_yet, result, after = asyncio.run(main())
        gate.result(10)
    assert not_yet and result == "ORG-Q" and after == 1 and chain_ok(reader)


def test_queued_job_times_out_from_when_it_was_queued(sqlite_url: str, clock: FakeClock, reader: Engine) -> None:
    """The deadline of a queued job counts from ``queue()``: awaited after its budget has passed with the writer
    still held, ``durable()`` answers INFODIP-E091 at once and the job is skipped (never committed)."""
    from gateway.errors import StorageUnavailable

    with running_committer(sqlite_url, clock) as committer:
        release, gate = held(committer)

        async def main() -> str:
            queued = committer.queue(add_organ("ORG-LATE"), timeout=0.05)
            await asyncio.sleep(0.1)
            try:
                await queued.durable()
            except StorageUnavailable as exc:
                return exc.code
            return "committed"

        code = asyncio.run(main())
        release.set()
        gate.result(10)
    assert code == "INFODIP-E091" and stored(reader, "ORG-LATE") == 0
