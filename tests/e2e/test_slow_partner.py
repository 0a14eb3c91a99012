"""Two relays and partners slower than a short lease (issue 9, points 1 and 2): ``gateway serve`` and
``gateway relay`` as two processes on PostgreSQL (and the same pair on SQLite), every partner call taking 1.5 s of
a 3.5 s lease, one message per call, histories whose destinations change. Before issue 9 this livelocked: each
relay dropped the partner's positive answers for rows whose lease had expired, 10 messages became 190 entries at
the store and later versions waited for ever."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from gateway.db.engine import make_engine
from gateway.db.tables import delivery_attempts, messages, outbox
from tests.saf_support import (
    RelayProcess,
    cancellation,
    conviction_without_inelegibility,
    relay_settings_env,
    retification_with_inelegibility,
)
from tests.support import GatewayProcess, Mocks, test_settings, wait_until

pytestmark = pytest.mark.e2e
SLOW = {**relay_settings_env(lease_s=3.5, partner_timeout_s=2.0), "GATEWAY_PARTNER_BATCH_MAX": "1",
        "GATEWAY_RELAY_MAX_ATTEMPTS": "1000"}


@pytest.fixture
def pair(db_url: str, mocks: Mocks, tmp_path: Path) -> Iterator[tuple[GatewayProcess, RelayProcess]]:
    """``gateway serve`` (with its relay) and ``gateway relay`` on the same database, partners 1.5 s slow."""
    mocks.reset()
    settings = test_settings(db_url, tmp_path)
    env = {**mocks.env(), **SLOW}
    serve = GatewayProcess(settings, tmp_path / "serve.log", extra_env=env).start()
    relay = RelayProcess(settings, tmp_path / "relay.log", env).start()
    mocks.faults("tse", latency_ms=1500)
    mocks.faults("cnj", latency_ms=1500)
    yield serve, relay
    relay.stop()
    serve.stop()
    mocks.reset()


def submit(gw: GatewayProcess, body: bytes) -> tuple[str, str]:
    """(protocolo, idMensagem) of an accepted request."""
    r = httpx.post(gw.url + "/soap/infodip", content=body, timeout=15)
    assert r.status_code == 200, r.text
    return (re.search(r"<i:protocolo>([^<]+)", r.text).group(1),  # type: ignore[union-attr]
            re.search(r"<i:idMensagem>([^<]+)", r.text).group(1))  # type: ignore[union-attr]


def test_two_relays_and_a_partner_slower_than_the_lease_deliver_everything_once_in_order(
    db_url: str, mocks: Mocks, pair: tuple[GatewayProcess, RelayProcess]
) -> None:
    """Twelve IV without inelegibility (TSE only; three waves of four calls, longer than the lease), each retified
    with inelegibility (the CNJ joins: it must get v1 and v2), four of them then cancelled: every version reaches
    each of its stores once, in order within each history, with at most a few resends on the wire (the stores
    deduplicate them), and no row was ever held by two attempts at once."""
    serve, relay = pair
    histories: dict[str, list[str]] = {}
    for _ in range(12):
        protocol, v1 = submit(serve, conviction_without_inelegibility())
        histories[protocol] = [v1]
    for protocol in histories:
        histories[protocol].append(submit(serve, retification_with_inelegibility(protocol))[1])
    for protocol in list(histories)[:4]:
        histories[protocol].append(submit(serve, cancellation(protocol))[1])
    engine = make_engine(db_url)
    try:
        def undelivered() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(outbox)
                                        .where(outbox.c.status != "delivered")).scalar_one())

        wait_until(lambda: undelivered() == 0, timeout=90, interval=0.2, what="every version delivered")
        assert relay.alive()
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 28
            attempts = conn.execute(select(delivery_attempts.c.outbox_id, delivery_attempts.c.started_at,
                                           delivery_attempts.c.finished_at)
                                    .order_by(delivery_attempts.c.outbox_id, delivery_attempts.c.started_at)).all()
    finally:
        engine.dispose()
    every = {m for versions in histories.values() for m in versions}
    resends = 0
    for name in ("tse", "cnj"):
        received = mocks.received(name)
        kept = [str(e["id"]) for e in received if not e["duplicate"]]
        resends += len(received) - len(kept)
        assert len(kept) == len(set(kept)) and set(kept) == every, f"{name}: not every version once"
        position = {m: i for i, m in enumerate(kept)}
        for versions in histories.values():
            assert [position[m] for m in versions] == sorted(position[m] for m in versions), f"{name}: order"
    assert resends <= 3, f"{resends} resends on the wire for {len(every) * 2} deliveries"
    for (row, _s1, f1), (row2, s2, _f2) in itertools.pairwise(attempts):
        if row == row2:
            assert s2 >= f1, f"row {row}: overlapping delivery attempts"
