"""Leases under slow partners (issue 9, point 1), in milliseconds: a real migrated SQLite file, the real group
committer, a fake clock and scripted partners. A positive answer is recorded whoever holds the row, a lease is
extended while its round is still sending, every call is bounded by the partner timeout, a lease not longer than
that timeout is refused at start, and the relay takes a smaller share while intake is busy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from adapters.base import DeliveryResult, OutboundMessage
from adapters.fake import FakeAdapter, accept
from gateway.clock import FakeClock
from gateway.db.committer import GroupCommitter
from gateway.errors import PartnerTimeout
from gateway.metrics import Metrics
from gateway.relay import LEASE_MARGIN_S, Relay, RelayPolicy
from gateway.settings import Settings, SettingsError
from tests.support import running_committer
from tests.unit.test_relay import POLICY, outcomes, row, store


@pytest.fixture
def clock() -> FakeClock:
    """The one clock of the committer and the relays."""
    return FakeClock()


@pytest.fixture
def committer(sqlite_url: str, clock: FakeClock) -> Iterator[GroupCommitter]:
    """The group committer on a fresh migrated SQLite file."""
    with running_committer(sqlite_url, clock) as c:
        yield c


def relay(committer: GroupCommitter, clock: FakeClock, partner: FakeAdapter, owner: str, **policy: Any) -> Relay:
    """A relay over *partner* with the unit tests' policy changed by *policy*."""
    return Relay(committer, {partner.name: partner}, clock, Metrics(), policy=replace(POLICY, **policy),
                 owner=owner, jitter=lambda: 0.5)


def test_a_positive_answer_is_recorded_even_after_another_relay_took_the_row(committer: GroupCommitter,
                                                                             clock: FakeClock) -> None:
    """Relay A's partner answers "registrado" only after A's lease expired and relay B took the row, tried, and
    recorded a failure. Before, A dropped its answer and the row went round again (the livelock of issue 9); now the
    fact is recorded: the row is delivered, with A's attempt, and B's later failure did not undo it."""
    b = relay(committer, clock, FakeAdapter("TSE", PartnerTimeout("TSE: tempo esgotado", retryable=True,
                                                                  partner="TSE")), "relay-b")

    async def slow(batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        clock.advance(61)
        assert await b.run_once() == 1
        return accept(batch)

    a = relay(committer, clock, FakeAdapter("TSE", slow), "relay-a")
    mid = store(committer, clock, "20260105-LATEAAAAAAAA")
    assert asyncio.run(a.run_once()) == 1
    done = row(committer, mid)
    assert (done.status, done.lease_owner) == ("delivered", None)
    assert outcomes(committer, mid) == [("relay-b", "failed"), ("relay-a", "delivered")]
    clock.advance(3600)
    assert asyncio.run(b.run_once()) == 0, "a delivered row is never sent again"


def test_the_lease_is_extended_while_the_round_is_still_sending(committer: GroupCommitter, clock: FakeClock) -> None:
    """Four rows go one per call, one call at a time, each call taking 25 s of a 60 s lease: before the third call
    the round's lease is extended, so relay B, looking during the fourth call (75 s after the lease was taken),
    finds nothing to take; every row is sent once, by A, and recorded delivered."""
    b_partner = FakeAdapter("TSE")
    b = relay(committer, clock, b_partner, "relay-b")
    seen: list[int] = []

    async def slow(batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        clock.advance(25)
        if len(a_partner.calls) == 4:
            seen.append(await b.run_once())
        return accept(batch)

    a_partner = FakeAdapter("TSE", slow, slow, slow, slow, max_batch=1)
    a = relay(committer, clock, a_partner, "relay-a", concurrency_per_destination=1)
    ids = [store(committer, clock, f"20260105-EXTEND{n:06d}") for n in range(4)]
    assert asyncio.run(a.run_once()) == 4
    assert seen == [0] and b_partner.calls == []
    assert sorted(a_partner.received) == sorted(ids)
    assert all(row(committer, m).status == "delivered" for m in ids)


def test_every_call_is_bounded_by_the_partner_timeout(committer: GroupCommitter, clock: FakeClock) -> None:
    """A partner that never answers is given up after the partner timeout (50 ms here), as a retryable timeout
    (GATEWAY-E011), however long the adapter's own client would wait."""
    async def never(_batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    r = relay(committer, clock, FakeAdapter("TSE", never), "relay-a", partner_timeout_s=0.05)
    mid = store(committer, clock, "20260105-HANGAAAAAAAA")
    assert asyncio.run(asyncio.wait_for(r.run_once(), timeout=10)) == 1
    failed = row(committer, mid)
    assert failed.status == "failed" and "GATEWAY-E011" in failed.last_error and "tempo esgotado" in failed.last_error


def test_a_lease_not_longer_than_the_partner_timeout_is_refused_at_start() -> None:
    """A lease of 1 s with a partner timeout of 3 s (the livelock's configuration) is refused with GATEWAY-E001,
    from settings as from a policy; the timeout plus the margin is the least accepted."""
    with pytest.raises(SettingsError) as err:
        RelayPolicy.of(Settings.from_env({}, relay_lease_s=1.0, partner_timeout_s=3.0))
    assert err.value.code == "GATEWAY-E001" and "GATEWAY_RELAY_LEASE_S" in err.value.message
    with pytest.raises(SettingsError):
        RelayPolicy(lease_seconds=3.0 + LEASE_MARGIN_S, partner_timeout_s=3.0)
    assert RelayPolicy(lease_seconds=3.0 + LEASE_MARGIN_S + 0.1, partner_timeout_s=3.0).lease_seconds > 4.0


def test_the_relay_takes_one_batch_per_round_while_intake_is_busy(committer: GroupCommitter,
                                                                  clock: FakeClock) -> None:
    """Five due rows, adapter batches of two: while intake says it is busy a round leases only one batch (two
    rows); once intake is calm the rest goes in one round."""
    busy = [True]
    tse = FakeAdapter("TSE", max_batch=2)
    r = relay(committer, clock, tse, "relay-a")
    r.intake_busy = lambda: busy[0]
    for n in range(5):
        store(committer, clock, f"20260105-BUSY{n:08d}")
    assert asyncio.run(r.run_once()) == 2
    busy[0] = False
    assert asyncio.run(r.run_once()) == 3
