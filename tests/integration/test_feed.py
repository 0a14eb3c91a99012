"""The change feed (Res. Conjunta 6/2020 art. 12) on a real database (SQLite file and PostgreSQL): every accepted
version in commit order per destination, resumable by an opaque cursor, minimised by the routing table, from the
beginning for a new subscriber; and, on PostgreSQL, two writers committing concurrently — one of them slow between
its insert and its commit — read by a concurrent reader with no gap and no duplicate."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from gateway.bootstrap import console, create_app
from gateway.clock import SystemClock
from gateway.db.committer import WriteContext
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log, feed_entries, organs
from gateway.demo_grants import seed_sandbox
from gateway.infodip import feed
from gateway.infodip.domain import Kind
from gateway.sandbox import DEMO_ORGANS
from gateway.settings import Settings
from tests.support import (
    KDF_N,
    password_of,
    retification,
    running_committer,
    sample,
    store_version,
    test_settings,
    wait_until,
)


@pytest.fixture
def gateway(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """A gateway without partners (nothing delivered: the feed is independent of delivery) whose organs hold the
    sandbox's grants (TSE and CNJ: ``feed:ler``)."""
    settings = test_settings(db_url, tmp_path, admin_token="token-do-operador")
    with console(settings) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
    with TestClient(create_app(settings)) as client:
        yield client, db_url


def bearer(client: TestClient, user: str) -> dict[str, str]:
    """An Authorization header with a token for *user* (every grant of its organ)."""
    r = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": user,
                                          "client_secret": password_of(user)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def submit(client: TestClient, body: bytes) -> str:
    """Send an INFODIP request; return the protocol."""
    r = client.post("/soap/infodip", content=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 200, r.text
    found = re.search(r"protocolo>([^<]+)<", r.text)
    assert found, r.text
    return found.group(1)


def drain(client: TestClient, headers: dict[str, str], cursor: str | None = None, limit: int = 100
          ) -> tuple[list[dict[str, Any]], str]:
    """Every item of the caller's feed after *cursor*, page by page; returns them and the last cursor."""
    items: list[dict[str, Any]] = []
    while True:
        r = client.get("/api/v1/feed", params={"limite": limit, **({"cursor": cursor} if cursor else {})},
                       headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        items.extend(page["itens"])
        cursor = page["proximo"]
        if page["fim"]:
            return items, cursor


def test_each_store_reads_only_what_the_routing_table_gives_it_in_commit_order(
        gateway: tuple[TestClient, str]) -> None:
    """A kind I (improbity: TSE and CNJ), a kind VI (death: TSE only) and a retificação of the I: the TSE's feed has
    the three versions, the CNJ's only the two of the I, each in commit order with increasing positions; each item
    carries the version's ids, operation, kind, sender and the stored communication."""
    client, _ = gateway
    first = submit(client, sample(Kind.I))
    submit(client, sample(Kind.VI))
    submit(client, retification(first, Kind.I))
    tse, _ = drain(client, bearer(client, "tse-repositorio"))
    cnj, _ = drain(client, bearer(client, "cnj-cadastro"))
    assert [(i["tipo"], i["operacao"]) for i in tse] == [("I", "envio"), ("VI", "envio"), ("I", "retificacao")]
    assert [(i["protocolo"], i["versao"], i["operacao"]) for i in cnj] == [(first, 1, "envio"),
                                                                           (first, 2, "retificacao")]
    for items in (tse, cnj):
        positions = [i["posicao"] for i in items]
        assert positions == sorted(set(positions))
    assert tse[0]["orgaoRemetente"] == "TJRJ" and tse[0]["comunicacaoXml"].startswith("<")
    assert tse[0]["idMensagem"] == cnj[0]["idMensagem"]  # one message id per version, the same to every destination


def test_the_cursor_resumes_where_the_reader_stopped(gateway: tuple[TestClient, str]) -> None:
    """Read one item at a time: each page's ``proximo`` gives the next item, never one already read; at the end
    ``fim`` is true and ``proximo`` still resumes — a version accepted later is the next page's only item. Every
    read is an audit entry ``feed.leitura``."""
    client, db_url = gateway
    for kind in (Kind.I, Kind.IV, Kind.VI):
        submit(client, sample(kind))
    tse = bearer(client, "tse-repositorio")
    one_by_one, cursor = drain(client, tse, limit=1)
    everything, _ = drain(client, tse)
    assert [i["idMensagem"] for i in one_by_one] == [i["idMensagem"] for i in everything]
    assert len(everything) == 3
    later = submit(client, sample(Kind.IX))
    more, _ = drain(client, tse, cursor)
    assert [i["protocolo"] for i in more] == [later]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        reads = conn.execute(select(audit_log.c.detail).where(audit_log.c.event == "feed.leitura")).all()
    engine.dispose()
    assert len(reads) >= 5 and all('"destino": "TSE"' in r.detail or '"destino":"TSE"' in r.detail for r in reads)


def test_who_may_read_the_feed_and_bad_cursors(gateway: tuple[TestClient, str]) -> None:
    """Without ``feed:ler`` a caller is refused (403 GATEWAY-E063); an organ given ``feed:ler`` that is no store is
    GATEWAY-E101 (403); a cursor not issued by the gateway, or the CNJ's cursor used by the TSE, is GATEWAY-E100
    (422); ``limite`` over 1000 is 422 (GATEWAY-E070), never a truncated page."""
    client, _ = gateway
    submit(client, sample(Kind.I))
    tjrj = bearer(client, "tjrj-sistema")
    assert client.get("/api/v1/feed", headers=tjrj).json()["codigo"] == "GATEWAY-E063"
    with console(Settings.from_env({}, database_url=gateway[1], password_kdf_n=KDF_N)) as con:
        con.admin.grant("TJRJ", ["feed:ler"])
    # the grant was given by another process: the gateway sees it within its revocation bound
    r = wait_until(lambda: (lambda x: x if x.json()["codigo"] != "GATEWAY-E063" else None)(
        client.get("/api/v1/feed", headers=bearer(client, "tjrj-sistema"))), timeout=10)
    assert (r.status_code, r.json()["codigo"]) == (403, "GATEWAY-E101")
    tse, cnj = bearer(client, "tse-repositorio"), bearer(client, "cnj-cadastro")
    cnj_cursor = client.get("/api/v1/feed", headers=cnj).json()["proximo"]
    for bad in ("não-é-um-cursor", "eyJ2IjoxfQ", cnj_cursor):
        r = client.get("/api/v1/feed", params={"cursor": bad}, headers=tse)
        assert (r.status_code, r.json()["codigo"], r.json()["campo"]) == (422, "GATEWAY-E100", "cursor"), bad
    r = client.get("/api/v1/feed", params={"limite": 1001}, headers=tse)
    assert (r.status_code, r.json()["codigo"]) == (422, "GATEWAY-E070")


def test_versions_accepted_before_the_feed_existed_are_numbered_by_the_migration(tmp_path: Path) -> None:
    """Backfill: versions stored before migration 0009 (outbox rows only; their payloads are placeholders, so the
    database starts at 0008, after the person index's own backfill) are in the feed after it, in the outbox's
    order, one row per destination, numbered from 1."""
    from gateway.db import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url, writer=True)
    migrate.upgrade(engine, "0008_consulta")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(organs).values(code="TJRJ", name="TJRJ", organ_type="tribunal", active=True,
                                           created_at=now))
        ids = [store_version(conn, "20250101-OLD00000000A", 1, ["TSE", "CNJ"], now),
               store_version(conn, "20250101-OLD00000000B", 1, ["TSE"], now)]
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(feed_entries.c.seq, feed_entries.c.message_id, feed_entries.c.destination)
                            .order_by(feed_entries.c.seq)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, ids[0], "TSE"), (2, ids[0], "CNJ"), (3, ids[1], "TSE")]


@pytest.mark.postgres
def test_two_concurrent_writers_on_postgresql_leave_no_gap_and_no_duplicate(pg_url: str) -> None:
    """The classic gap of sequence-ordered outbox reads: writer A inserts its rows and stays in its transaction for a
    while (0–30 ms, random) while writer B, another connection as another gateway process would have, commits
    batches behind it. A reader polling the feed by cursor all along (as ``GET /api/v1/feed`` does) must end with
    every version exactly once: no gap (a row committed late by the slow writer is never skipped) and no duplicate;
    the positions it saw are strictly increasing and contiguous."""
    db_url = pg_url
    clock = SystemClock()
    per_writer, stop = 120, threading.Event()
    written: dict[str, list[str]] = {"A": [], "B": []}
    seen: list[tuple[int, str]] = []
    reader = make_engine(db_url)

    def job_for(name: str, n: int, slow: bool) -> Any:
        def job(ctx: WriteContext) -> str:
            protocol = f"20250101-{name}{n:011d}"[:21]
            message_id = store_version(ctx.conn, protocol, 1, ["TSE"], clock.now())
            feed.record(ctx, [(message_id, protocol, 1, "TSE")])
            if slow:
                time.sleep(random.uniform(0, 0.03))  # inserted, not committed: a later writer commits first
            written[name].append(message_id)
            return message_id
        return job

    def read_forever() -> None:
        after = 0
        while True:
            finished = stop.is_set()
            with reader.connect() as conn:
                page = feed.read_page(conn, "TSE", after, 50)
            seen.extend((i.position, i.message_id) for i in page.items)
            after = page.position
            if finished and page.end:
                return
            time.sleep(0.002)

    with running_committer(db_url, clock) as a, running_committer(db_url, clock) as b:
        pulling = threading.Thread(target=read_forever)
        pulling.start()
        futures = []
        for n in range(per_writer):
            futures.append(a.submit(job_for("A", n, slow=True)))
            futures.append(b.submit(job_for("B", n, slow=False)))
        for f in futures:
            f.result(timeout=120)
        stop.set()
        pulling.join(timeout=120)
    reader.dispose()
    stored = written["A"] + written["B"]
    assert len(stored) == 2 * per_writer
    ids = [m for _, m in seen]
    assert len(ids) == len(set(ids)), "duplicate in the feed"
    assert set(ids) == set(stored), f"gap: {len(set(stored) - set(ids))} versions never read"
    positions = [p for p, _ in seen]
    assert positions == list(range(1, len(stored) + 1))
