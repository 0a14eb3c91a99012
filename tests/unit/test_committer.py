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
