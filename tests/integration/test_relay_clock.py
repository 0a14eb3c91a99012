"""Leases measured by the database's clock (issue 9, point 1): on PostgreSQL, relays on hosts whose clocks
disagree by hours never take each other's live rows, and a dead relay's rows are still taken back once its lease
has run out by the database's clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.fake import FakeAdapter
from gateway.clock import FakeClock, SystemClock
from gateway.metrics import Metrics
from gateway.relay import Relay, RelayPolicy
from tests.support import running_committer, store_version, wait_until

POLICY = RelayPolicy(lease_seconds=1.2, partner_timeout_s=0.1, max_attempts=5)


class Died(Exception):
    """Plays a relay process dying right after it leased its rows."""


def die_after_claim(point: str) -> None:
    """A crash hook killing the round right after the lease."""
    if point == "after_claim":
        raise Died(point)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_replicas_with_skewed_clocks_respect_each_others_leases(db_url: str) -> None:
    """Relay A, on a host an hour behind, leases a row and dies; relay B, on a host an hour ahead, finds nothing
    to take while A's lease (1.2 s by the database's clock) lasts — by B's own clock it expired long ago — and
    takes the row over, and delivers it, once the database says the lease ran out."""
    real = SystemClock().now()
    behind, ahead = FakeClock(real - timedelta(hours=1)), FakeClock(real + timedelta(hours=1))
    with running_committer(db_url, SystemClock()) as committer:
        committer.run_sync(lambda ctx: store_version(ctx.conn, "20260105-SKEWAAAAAAAA", 1, ("TSE",), real))
        a = Relay(committer, {"TSE": FakeAdapter("TSE")}, behind, Metrics(), policy=POLICY, is_postgres=True,
                  owner="relay-behind", crash_hook=die_after_claim)
        b_partner = FakeAdapter("TSE")
        b = Relay(committer, {"TSE": b_partner}, ahead, Metrics(), policy=POLICY, is_postgres=True,
                  owner="relay-ahead")
        with pytest.raises(Died):
            asyncio.run(a.run_once())
        assert asyncio.run(b.run_once()) == 0, "a live lease taken over by a host whose clock runs ahead"
        wait_until(lambda: asyncio.run(b.run_once()) == 1, timeout=15, interval=0.2,
                   what="the lease to run out by the database's clock")
        assert len(b_partner.received) == 1
