"""The change feed's pure parts and its place in the group commit: opaque cursors bound to one subscriber, who is a
subscriber, webhook signatures and backoff, and feed numbers assigned once per transaction just before its commit —
in commit order, contiguous, and never for a job whose transaction rolled back."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.clock import FakeClock
from gateway.db.committer import WriteContext
from gateway.db.engine import make_engine
from gateway.db.tables import feed_entries
from gateway.errors import ClientError, GatewayError
from gateway.infodip import feed
from gateway.infodip.webhooks import PushPolicy, check_url, sign
from tests.support import running_committer, store_version


@given(st.sampled_from(["TSE", "CNJ"]), st.integers(min_value=0, max_value=2**62))
def test_a_cursor_gives_back_its_position_to_its_own_subscriber_only(destination: str, position: int) -> None:
    """Any position round-trips through its cursor for the same destination; the other destination's reader gets
    GATEWAY-E100 on the field ``cursor``."""
    cursor = feed.encode_cursor(destination, position)
    assert feed.decode_cursor(cursor, destination) == position
    other = "CNJ" if destination == "TSE" else "TSE"
    with pytest.raises(ClientError) as refused:
        feed.decode_cursor(cursor, other)
    assert (refused.value.code, refused.value.field) == ("GATEWAY-E100", "cursor")


@pytest.mark.parametrize("bad", ["x", "%%%", "eyJ2IjoyLCJkIjoiVFNFIiwicCI6MX0", "eyJ2IjoxLCJkIjoiVFNFIiwicCI6LTF9",
                                 "bnVsbA",
                                 # forged: "p": true, "p": 10**26 (past a BIGINT: it failed in the database, 500),
                                 # "p": 1.0
                                 "eyJ2IjogMSwgImQiOiAiVFNFIiwgInAiOiB0cnVlfQ",
                                 "eyJ2IjogMSwgImQiOiAiVFNFIiwgInAiOiA5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OX0",
                                 "eyJ2IjogMSwgImQiOiAiVFNFIiwgInAiOiAxLjB9"])
def test_cursors_not_issued_by_the_gateway_are_refused(bad: str) -> None:
    """Garbage, another format version, a negative position, JSON that is no object, a position that is a boolean,
    a float or beyond a BIGINT: GATEWAY-E100; an absent or empty cursor starts at 0 (backfill)."""
    with pytest.raises(ClientError) as refused:
        feed.decode_cursor(bad, "TSE")
    assert refused.value.code == "GATEWAY-E100"
    assert feed.decode_cursor(None, "TSE") == feed.decode_cursor("", "TSE") == 0


def test_only_the_stores_are_subscribers() -> None:
    """TSE and CNJ read their own slice; any other organ (or the operations token, no organ) is GATEWAY-E101."""
    assert feed.subscriber_destination("TSE") == "TSE" and feed.subscriber_destination("CNJ") == "CNJ"
    for other in ("TJRJ", "OPERACAO", None):
        with pytest.raises(GatewayError) as refused:
            feed.subscriber_destination(other)
        assert refused.value.code == "GATEWAY-E101"


def test_the_signature_is_the_hmac_of_timestamp_dot_body_and_urls_are_checked() -> None:
    """DESIGN.md callbacks: ``sha256=`` + hex HMAC-SHA256 of ``"timestamp.body"`` with the subscriber's secret; a
    webhook URL is http(s) with a host (GATEWAY-E103 otherwise)."""
    body = b'{"itens": []}'
    expected = hmac.new(b"segredo", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("segredo", 1700000000, body) == "sha256=" + expected
    assert check_url(" https://cnj.example/feed ") == "https://cnj.example/feed"
    for bad in ("ftp://x/feed", "https:///sem-host", "/relativa", "http://" + "a" * 500):
        with pytest.raises(ClientError) as refused:
            check_url(bad)
        assert refused.value.code == "GATEWAY-E103"


def test_the_webhook_backoff_doubles_up_to_its_maximum() -> None:
    """1, 2, 4, 8 … seconds after each failure in a row, never above the maximum."""
    policy = PushPolicy(base_backoff_s=1.0, max_backoff_s=10.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_feed_numbers_are_assigned_at_commit_in_order_and_never_for_a_rolled_back_job(sqlite_url: str) -> None:
    """Two jobs of one batch get positions in the order they ran, contiguous after what was there; a job that fails
    after recording its rows (its transaction rolled back, the others run again alone) leaves no position behind,
    and the next transaction continues without a hole."""
    clock = FakeClock()
    now = datetime(2025, 1, 1, tzinfo=UTC)

    def version(protocol: str, fail: bool = False) -> Callable[[WriteContext], str]:
        def job(ctx: WriteContext) -> str:
            message_id = store_version(ctx.conn, protocol, 1, ["TSE"], now)
            feed.record(ctx, [(message_id, protocol, 1, "TSE")])
            if fail:
                raise RuntimeError("falha depois de escrever")
            return message_id
        return job

    with running_committer(sqlite_url, clock) as committer:
        futures = [committer.submit(version("20250101-AAAAAAAAAAA1")),
                   committer.submit(version("20250101-AAAAAAAAAAA2", fail=True)),
                   committer.submit(version("20250101-AAAAAAAAAAA3"))]
        first, third = futures[0].result(timeout=30), futures[2].result(timeout=30)
        with pytest.raises(GatewayError):
            futures[1].result(timeout=30)
        fourth = committer.submit(version("20250101-AAAAAAAAAAA4")).result(timeout=30)
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(select(feed_entries.c.seq, feed_entries.c.message_id).order_by(feed_entries.c.seq)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, first), (2, third), (3, fourth)]


def test_the_pusher_reads_for_active_subscriptions_at_most_once_per_poll_period_while_there_are_none() -> None:
    """Intake wakes the pusher after every commit (issue 17: each wake was a thread hop and a read): with no active
    subscription, rounds within ``poll_s`` of a look that found none do not read again; a subscription created,
    resumed or paused here (:meth:`WebhookPusher.subscriptions_changed`) is looked for at once."""
    import asyncio

    from gateway.infodip.webhooks import WebhookPusher

    clock = FakeClock()
    pusher = WebhookPusher(object(), object(), clock, PushPolicy(poll_s=1.0), client=object())  # type: ignore[arg-type]
    reads: list[float] = []

    def none_active() -> bool:
        reads.append(clock.monotonic())
        return False

    pusher._any_active = none_active  # type: ignore[method-assign]

    async def rounds() -> None:
        for _ in range(5):
            assert await pusher.round() is False
        assert len(reads) == 1
        clock.advance(0.999)
        assert await pusher.round() is False
        assert len(reads) == 1
        clock.advance(0.001)
        assert await pusher.round() is False
        assert len(reads) == 2
        pusher.subscriptions_changed()
        assert await pusher.round() is False
        assert len(reads) == 3

    asyncio.run(rounds())
