"""The relay's state machine, in milliseconds: a real migrated SQLite file, the real group committer, a fake clock
and scripted fake partners (``adapters/fake.py``). Leases, retries and dead letters, order within a history,
replay, the breaker around real rounds, and bugs told apart from partner failures."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from adapters.base import OutboundMessage
from adapters.fake import FakeAdapter, accept, reject
from gateway import audit
from gateway.clock import FakeClock, utc
from gateway.db.committer import GroupCommitter
from gateway.db.tables import audit_log, delivery_attempts, messages, outbox
from gateway.errors import PartnerRefused, PartnerTimeout, PartnerUnreachable, PartnerUnreadable
from gateway.metrics import Metrics
from gateway.relay import Relay, RelayPolicy, replay_dead
from tests.support import running_committer, store_version

POLICY = RelayPolicy(batch_size=50, lease_seconds=60.0, base_backoff_s=1.0, max_backoff_s=8.0, max_attempts=3,
                     breaker_threshold=100, breaker_cooldown_s=10.0)
JITTER = 0.5  # every backoff is half its ceiling: 0.5 s after attempt 1, 1 s after attempt 2, 2 s after 3…


@pytest.fixture
def clock() -> FakeClock:
    """The one clock of the committer and the relays."""
    return FakeClock()


@pytest.fixture
def committer(sqlite_url: str, clock: FakeClock) -> Iterator[GroupCommitter]:
    """The group committer on a fresh migrated SQLite file."""
    with running_committer(sqlite_url, clock) as c:
        yield c


def relay(committer: GroupCommitter, clock: FakeClock, *partners: FakeAdapter, owner: str = "relay-a",
          **policy: Any) -> Relay:
    """A relay over *partners* with :data:`POLICY` (changed by *policy*) and a fixed jitter."""
    return Relay(committer, {p.name: p for p in partners}, clock, Metrics(), policy=replace(POLICY, **policy),
                 owner=owner, jitter=lambda: JITTER)


def store(committer: GroupCommitter, clock: FakeClock, protocol: str, version: int = 1,
          destinations: tuple[str, ...] = ("TSE",)) -> str:
    """Store one version (see :func:`tests.support.store_version`); returns its message id."""
    return committer.run_sync(lambda ctx: store_version(ctx.conn, protocol, version, destinations, clock.now()))


def rounds(r: Relay, n: int = 1) -> list[int]:
    """Run *n* rounds of *r*; how many rows each sent."""
    return [asyncio.run(r.run_once()) for _ in range(n)]


def row(committer: GroupCommitter, message_id: str, destination: str = "TSE") -> Any:
    """The outbox row of *message_id* towards *destination*."""
    return committer.run_sync(lambda ctx: ctx.conn.execute(select(outbox).where(
        outbox.c.message_id == message_id, outbox.c.destination == destination)).one())


def outcomes(committer: GroupCommitter, message_id: str, destination: str = "TSE") -> list[tuple[str, str]]:
    """(relay, outcome) of every recorded attempt of *message_id* towards *destination*, in order."""
    return [(r.relay, r.outcome) for r in committer.run_sync(lambda ctx: ctx.conn.execute(
        select(delivery_attempts.c.relay, delivery_attempts.c.outcome).where(
            delivery_attempts.c.message_id == message_id, delivery_attempts.c.destination == destination)
        .order_by(delivery_attempts.c.id)).all())]


def test_delivers_the_stored_bytes_and_records_the_attempt_with_its_audit_entry(
    committer: GroupCommitter, clock: FakeClock
) -> None:
    """One round sends the stored payload verbatim with its ids, marks the row delivered with the receipt, and
    records the attempt and an ``entrega.delivered`` audit entry in the same transaction."""
    tse = FakeAdapter("TSE")
    mid = store(committer, clock, "20260105-AAAAAAAAAAAA")
    assert rounds(relay(committer, clock, tse)) == [1]
    [sent] = tse.calls[0]
    payload = committer.run_sync(lambda ctx: ctx.conn.execute(
        select(messages.c.payload).where(messages.c.message_id == mid)).scalar_one())
    assert (sent.message_id, sent.protocol, sent.version, sent.organ) == (mid, "20260105-AAAAAAAAAAAA", 1, "TJRJ")
    assert sent.payload == payload
    stored = row(committer, mid)
    assert (stored.status, stored.receipt, stored.attempts, stored.lease_owner) == ("delivered", f"recibo-{mid}", 1,
                                                                                   None)
    assert outcomes(committer, mid) == [("relay-a", "delivered")]
    events = committer.run_sync(lambda ctx: [r.event for r in ctx.conn.execute(
        select(audit_log.c.event).where(audit_log.c.message_id == mid))])
    assert events == ["entrega.delivered"]


def test_retryable_failures_back_off_then_become_a_dead_letter_after_max_attempts(
    committer: GroupCommitter, clock: FakeClock
) -> None:
    """A partner timing out is retried only once each backoff has passed (0.5 s, then 1 s with the fixed
    jitter), and after the third attempt the row is dead with the partner's error and "tentativas esgotadas"."""
    timeout = PartnerTimeout("TSE: tempo esgotado (ReadTimeout)", retryable=True, partner="TSE")
    tse = FakeAdapter("TSE", timeout, timeout, timeout)
    r = relay(committer, clock, tse)
    mid = store(committer, clock, "20260105-BBBBBBBBBBBB")
    assert rounds(r) == [1]
    first = row(committer, mid)
    assert first.status == "failed" and "GATEWAY-E011" in first.last_error
    clock.advance(0.499)
    assert rounds(r) == [0], "not due before its backoff"
    clock.advance(0.001)
    assert rounds(r, 2) == [1, 0]
    assert row(committer, mid).status == "failed"
    clock.advance(1.0)
    assert rounds(r) == [1]
    dead = row(committer, mid)
    assert dead.status == "dead" and dead.attempts == 3
    assert "tempo esgotado" in dead.last_error and "tentativas esgotadas: 3" in dead.last_error
    clock.advance(3600)
    assert rounds(r) == [0] and len(tse.calls) == 3, "a dead letter is never sent again by itself"
    assert outcomes(committer, mid) == [("relay-a", "failed"), ("relay-a", "failed"), ("relay-a", "dead")]


@pytest.mark.parametrize("step", [reject("TSE rejeitou: conteúdo inválido"),
                                  PartnerRefused("TSE: HTTP 400", retryable=False, partner="TSE")])
def test_a_refusal_is_a_dead_letter_at_once(committer: GroupCommitter, clock: FakeClock, step: Any) -> None:
    """A per-message ``rejeitado`` or a refused call (4xx) is not retried: dead after one attempt, with the
    partner's reason."""
    mid = store(committer, clock, "20260105-CCCCCCCCCCCC")
    assert rounds(relay(committer, clock, FakeAdapter("TSE", step))) == [1]
    dead = row(committer, mid)
    assert dead.status == "dead" and dead.attempts == 1
    assert "rejeitou" in dead.last_error or "HTTP 400" in dead.last_error


def test_garbage_answers_stay_retryable(committer: GroupCommitter, clock: FakeClock) -> None:
    """An unreadable answer (the partner may have stored the batch) is retried, never a dead letter on the
    first attempt: resending is safe because the partner deduplicates by message id."""
    garbage = PartnerUnreadable("TSE: resposta ilegível (XML malformado)", retryable=True, partner="TSE")
    mid = store(committer, clock, "20260105-DDDDDDDDDDDD")
    r = relay(committer, clock, FakeAdapter("TSE", garbage))
    assert rounds(r) == [1]
    assert row(committer, mid).status == "failed" and "GATEWAY-E013" in row(committer, mid).last_error
    clock.advance(1)
    assert rounds(r) == [1] and row(committer, mid).status == "delivered"


class Died(Exception):
    """Plays a relay process dying at a crash point."""


def die_after_claim(point: str) -> None:
    """A crash hook killing the round right after it leased its rows."""
    if point == "after_claim":
        raise Died(point)


def test_rows_leased_by_a_dead_relay_are_taken_over_after_the_lease(committer: GroupCommitter,
                                                                    clock: FakeClock) -> None:
    """Relay A leases a row and dies before sending. Relay B leaves it alone while A's lease lasts (60 s) and
    takes it over as soon as the lease has expired; the row was sent once, by B, on its second attempt."""
    a_partner, b_partner = FakeAdapter("TSE"), FakeAdapter("TSE")
    a = relay(committer, clock, a_partner, owner="relay-a")
    a.crash_hook = die_after_claim
    b = relay(committer, clock, b_partner, owner="relay-b")
    mid = store(committer, clock, "20260105-EEEEEEEEEEEE")
    with pytest.raises(Died):
        rounds(a)
    leased = row(committer, mid)
    assert (leased.status, leased.lease_owner) == ("sending", "relay-a")
    assert rounds(b) == [0]
    clock.advance(60)
    assert rounds(b) == [0], "the lease lasts until lease_until inclusive"
    clock.advance(0.001)
    assert rounds(b) == [1]
    assert a_partner.calls == [] and b_partner.received == [mid]
    done = row(committer, mid)
    assert (done.status, done.attempts) == ("delivered", 2)
    assert outcomes(committer, mid) == [("relay-b", "delivered")]


def test_an_answer_arriving_after_the_lease_was_taken_over_is_not_recorded(committer: GroupCommitter,
                                                                           clock: FakeClock) -> None:
    """Relay A's partner answers only after A's lease expired and relay B delivered and recorded the row: A's late
    result is dropped, so the row's record is B's alone and no row is ever recorded by two relays."""
    b = relay(committer, clock, FakeAdapter("TSE"), owner="relay-b")

    async def slow(batch: list[OutboundMessage]) -> Any:
        clock.advance(61)
        assert await b.run_once() == 1
        return accept(batch)

    a = relay(committer, clock, FakeAdapter("TSE", slow), owner="relay-a")
    mid = store(committer, clock, "20260105-FFFFFFFFFFFF")
    assert rounds(a) == [1]
    assert outcomes(committer, mid) == [("relay-b", "delivered")]
    assert row(committer, mid).status == "delivered"


def test_an_attempt_starts_when_its_lease_is_taken_not_when_its_claim_was_queued(committer: GroupCommitter,
                                                                                 clock: FakeClock) -> None:
    """Relay B's claim waits 2 s at the writer behind another write, while relay A's failed attempt on the row
    (zero backoff: due at once) was recorded. B's attempt starts when B took the lease — never before A's attempt
    finished, which is what lets the crash storm check that no row was held by two attempts at once."""
    timeout = PartnerTimeout("TSE: tempo esgotado", retryable=True, partner="TSE")
    a = relay(committer, clock, FakeAdapter("TSE", timeout), owner="relay-a")
    a.jitter = lambda: 0.0
    b = relay(committer, clock, FakeAdapter("TSE"), owner="relay-b")
    mid = store(committer, clock, "20260105-GGGGGGGGGGGG")
    entered, release = threading.Event(), threading.Event()

    def other_write(ctx: Any) -> None:
        entered.set()
        release.wait(5)
        clock.advance(2)  # the time B's claim spends queued behind this write

    async def scenario() -> int:
        assert await a.run_once() == 1
        blocker = asyncio.ensure_future(committer.run(other_write))
        assert await asyncio.to_thread(entered.wait, 5)
        b_round = asyncio.ensure_future(b.run_once())
        for _ in range(5):
            await asyncio.sleep(0)  # B's round reaches the writer's queue
        release.set()
        await blocker
        return await b_round

    lease_taken = clock.now() + timedelta(seconds=2)
    assert asyncio.run(scenario()) == 1
    attempts = committer.run_sync(lambda ctx: ctx.conn.execute(
        select(delivery_attempts.c.relay, delivery_attempts.c.started_at, delivery_attempts.c.finished_at)
        .where(delivery_attempts.c.message_id == mid).order_by(delivery_attempts.c.id)).all())
    assert [r.relay for r in attempts] == ["relay-a", "relay-b"]
    assert utc(attempts[1].started_at) == lease_taken >= utc(attempts[0].finished_at)
    assert row(committer, mid).status == "delivered"


def test_versions_reach_each_destination_in_order(committer: GroupCommitter, clock: FakeClock) -> None:
    """v2 waits ("blocked") at a destination until v1 is delivered there, and only there: TSE, healthy, gets v1
    then v2 at once while CNJ, failing once, gets v2 only after its v1 was delivered."""
    tse = FakeAdapter("TSE")
    cnj = FakeAdapter("CNJ", PartnerUnreachable("CNJ: inacessível", retryable=True, partner="CNJ"))
    r = relay(committer, clock, tse, cnj)
    protocol = "20260105-GGGGGGGGGGGG"
    v1 = store(committer, clock, protocol, 1, ("TSE", "CNJ"))
    v2 = store(committer, clock, protocol, 2, ("TSE", "CNJ"))
    assert row(committer, v2, "TSE").status == row(committer, v2, "CNJ").status == "blocked"
    rounds(r, 3)
    assert tse.received == [v1, v2]
    assert cnj.received == [v1]
    assert row(committer, v1, "CNJ").status == "failed" and row(committer, v2, "CNJ").status == "blocked"
    clock.advance(0.5)
    rounds(r, 2)
    assert cnj.received == [v1, v1, v2]
    assert row(committer, v2, "CNJ").status == "delivered"


def test_a_dead_original_blocks_its_retification_until_replayed_then_both_go_in_order(
    committer: GroupCommitter, clock: FakeClock, sqlite_url: str
) -> None:
    """CNJ refuses v1: it dies and v2 stays blocked there however long we wait. Replaying CNJ's dead letters
    (audited, attempts reset) delivers v1 and then v2; the audit chain still verifies."""
    cnj = FakeAdapter("CNJ", reject("CNJ rejeitou: campo ausente"))
    r = relay(committer, clock, cnj)
    protocol = "20260105-HHHHHHHHHHHH"
    v1 = store(committer, clock, protocol, 1, ("CNJ",))
    v2 = store(committer, clock, protocol, 2, ("CNJ",))
    rounds(r)
    clock.advance(3600)
    rounds(r, 2)
    assert cnj.received == [v1]
    assert row(committer, v1, "CNJ").status == "dead" and row(committer, v2, "CNJ").status == "blocked"
    replayed = committer.run_sync(lambda ctx: replay_dead(ctx, destination="CNJ", actor="teste"))
    assert replayed == [(v1, "CNJ")]
    again = row(committer, v1, "CNJ")
    assert (again.status, again.attempts) == ("pending", 0)
    rounds(r, 3)
    assert cnj.received == [v1, v1, v2]
    assert row(committer, v2, "CNJ").status == "delivered"

    def check(ctx: Any) -> tuple[list[str], bool]:
        events = [e.event for e in ctx.conn.execute(select(audit_log.c.event).where(audit_log.c.message_id == v1)
                                                    .order_by(audit_log.c.id))]
        return events, audit.verify(ctx.conn, None).ok

    assert committer.run_sync(check) == (["entrega.dead", "entrega.reprocessamento", "entrega.delivered"], True)


def test_an_adapter_bug_is_the_gateways_failure_never_the_partners(
    committer: GroupCommitter, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A TypeError out of an adapter is logged with its traceback, leaves the partner's breaker closed (its
    threshold is 1 here), and the row is retried as "erro interno do gateway"; when retries run out the dead
    letter says so, with no partner error code."""
    bug = TypeError("unsupported operand type(s)")
    tse = FakeAdapter("TSE", bug, bug, bug)
    r = relay(committer, clock, tse, breaker_threshold=1)
    mid = store(committer, clock, "20260105-JJJJJJJJJJJJ")
    with caplog.at_level(logging.ERROR, logger="gateway.relay"):
        assert rounds(r) == [1]
    assert any(rec.exc_info and rec.exc_info[0] is TypeError for rec in caplog.records)
    failed = row(committer, mid)
    assert failed.status == "failed" and "erro interno do gateway" in failed.last_error
    assert r.circuit_states() == {"TSE": "closed"}
    clock.advance(0.5)
    rounds(r)
    clock.advance(1)
    rounds(r)
    dead = row(committer, mid)
    assert dead.status == "dead" and dead.last_error.startswith("erro interno do gateway")
    assert "TypeError" in dead.last_error and "GATEWAY-E01" not in dead.last_error
    assert r.circuit_states() == {"TSE": "closed"} and len(tse.calls) == 3


def test_an_answer_missing_a_message_is_an_adapter_bug(committer: GroupCommitter, clock: FakeClock) -> None:
    """An adapter breaking its contract (no result for one message of the batch) fails the batch as the
    gateway's own error; the rows are retried, and delivered once the adapter answers properly."""
    tse = FakeAdapter("TSE", lambda batch: accept(batch[:1]))
    r = relay(committer, clock, tse)
    ids = [store(committer, clock, f"20260105-KKKKKKKKKKK{n}") for n in range(2)]
    assert rounds(r) == [2]
    assert [row(committer, m).status for m in ids] == ["failed", "failed"]
    assert "erro interno do gateway" in row(committer, ids[0]).last_error
    clock.advance(0.5)
    rounds(r)
    assert [row(committer, m).status for m in ids] == ["delivered", "delivered"]


def test_breaker_stops_calls_while_open_and_probes_with_one_batch(committer: GroupCommitter,
                                                                  clock: FakeClock) -> None:
    """Two failed calls open TSE's breaker: due rows are not sent while it is open. After the cooldown one probe
    (one call, one adapter batch of 2 of the 5 rows) goes; its success closes the breaker and the rest follows."""
    down = PartnerUnreachable("TSE: inacessível", retryable=True, partner="TSE")
    tse = FakeAdapter("TSE", down, down, down, max_batch=2)
    r = relay(committer, clock, tse, breaker_threshold=2, max_attempts=10, base_backoff_s=0.01)
    for n in range(5):
        store(committer, clock, f"20260105-MMMMMMMMMMM{n}")
    assert rounds(r) == [5] and len(tse.calls) == 3
    assert r.circuit_states() == {"TSE": "open"}
    clock.advance(9.9)
    assert rounds(r) == [0] and len(tse.calls) == 3, "no call while open, though every row is due"
    assert r.metrics.registry.get_sample_value("gateway_circuit_open", {"destination": "TSE"}) == 1
    clock.advance(0.1)
    assert rounds(r) == [2] and len(tse.calls) == 4 and len(tse.calls[3]) == 2
    assert r.circuit_states() == {"TSE": "closed"}
    assert rounds(r) == [3]
    assert r.metrics.registry.get_sample_value("gateway_circuit_open", {"destination": "TSE"}) == 0
    assert len(tse.received) == 5 + 2 + 3


def test_a_failed_probe_opens_the_breaker_again(committer: GroupCommitter, clock: FakeClock) -> None:
    """The half-open probe fails: the breaker opens for a new full cooldown; the next probe, succeeding,
    closes it."""
    down = PartnerUnreachable("TSE: inacessível", retryable=True, partner="TSE")
    tse = FakeAdapter("TSE", down, down)
    r = relay(committer, clock, tse, breaker_threshold=1, max_attempts=10, base_backoff_s=0.01)
    mid = store(committer, clock, "20260105-NNNNNNNNNNNN")
    rounds(r)
    assert r.circuit_states() == {"TSE": "open"}
    clock.advance(10)
    assert rounds(r) == [1] and len(tse.calls) == 2
    assert r.circuit_states() == {"TSE": "open"}
    clock.advance(9.9)
    assert rounds(r) == [0] and len(tse.calls) == 2
    clock.advance(0.1)
    assert rounds(r) == [1] and r.circuit_states() == {"TSE": "closed"}
    assert row(committer, mid).status == "delivered"


def test_a_bug_during_the_probe_does_not_leave_the_breaker_half_open_forever(committer: GroupCommitter,
                                                                            clock: FakeClock) -> None:
    """A probe ending in a bug of ours says nothing about the partner: the next round probes again."""
    down = PartnerUnreachable("TSE: inacessível", retryable=True, partner="TSE")
    tse = FakeAdapter("TSE", down, KeyError("idMensagem"))
    r = relay(committer, clock, tse, breaker_threshold=1, max_attempts=10, base_backoff_s=0.01)
    mid = store(committer, clock, "20260105-PPPPPPPPPPPP")
    rounds(r)
    clock.advance(10)
    assert rounds(r) == [1]
    assert r.circuit_states() == {"TSE": "half-open"}
    clock.advance(1)
    assert rounds(r) == [1]
    assert row(committer, mid).status == "delivered" and r.circuit_states() == {"TSE": "closed"}


def test_run_forever_sends_when_woken_and_stops_when_asked(committer: GroupCommitter, clock: FakeClock) -> None:
    """With a poll interval of a minute, a row stored after the loop went idle is sent as soon as the relay is
    woken (as intake does after each commit), and setting *stop* ends the loop without waiting for the poll."""
    arrived = asyncio.Event()

    async def signal(batch: list[OutboundMessage]) -> Any:
        arrived.set()
        return accept(batch)

    tse = FakeAdapter("TSE", signal)
    r = relay(committer, clock, tse, poll_interval_s=60.0)

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(r.run_forever(stop))
        await committer.run(lambda ctx: store_version(ctx.conn, "20260105-QQQQQQQQQQQQ", 1, ("TSE",), clock.now()))
        r.wake()
        await asyncio.wait_for(arrived.wait(), timeout=10)
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    asyncio.run(scenario())
    assert len(tse.calls) == 1
