"""The consultation's latency aids on SQLite and PostgreSQL (issue 14): the start-up warm-up reads a stored person's
whole consultation on each pooled connection and stops at its budget; the REST answer is sent only with its audit
entry durable (rendered meanwhile)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.bootstrap import build, create_app
from gateway.db.tables import audit_log
from gateway.infodip.domain import Kind
from tests.integration.test_consulta import ACTING, CPF, PURPOSE, protocol_of
from tests.integration.test_oauth import bearer, token, with_demo_grants
from tests.support import sample, test_settings


def test_warm_up_reads_a_stored_person_on_every_pooled_connection_within_its_budget(db_url: str,
                                                                                   tmp_path: Path) -> None:
    """With one communication stored, the warm-up completes every page read (4) well inside 5 s, on 10 pooled
    connections; a budget of 0 does nothing; an exhausted budget ends it at once (0 reads) without failing."""
    settings = test_settings(db_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.post("/soap/infodip", content=sample(Kind.IV)).status_code == 200
    gw = build(settings, relay_wanted=False)
    gw.start()
    try:
        assert gw.consulta is not None
        started = time.monotonic()
        assert gw.consulta.warm_up(5.0, 10) == 4
        assert time.monotonic() - started < 5.0
        assert gw.consulta.warm_up(0, 10) == 0
        assert gw.consulta.warm_up(0.000001, 2) == 0
    finally:
        gw.stop()


def test_situation_answer_carries_its_durable_audit_entry(db_url: str, tmp_path: Path) -> None:
    """Each 200 answer of ``POST /api/v1/pessoas/situacao`` has its ``consulta.situacao`` entry committed by the
    time the client reads it (the entry is queued before the answer is rendered, awaited before it is sent)."""
    settings = test_settings(db_url, tmp_path)
    passwords = with_demo_grants(settings)
    with TestClient(create_app(settings)) as client:
        iv = protocol_of(client.post("/soap/infodip", content=sample(Kind.IV)))
        tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
        gw = client.app.state.gateway  # type: ignore[attr-defined]
        for n in range(1, 4):
            r = client.post("/api/v1/pessoas/situacao", json={"cpf": CPF, "finalidade": PURPOSE},
                            headers=bearer(tok) | {"On-Behalf-Of": ACTING})
            assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
            assert [c["protocolo"] for c in r.json()["comunicacoes"]] == [iv]
            with gw.reader_engine.connect() as conn:
                entries = conn.execute(select(func.count()).select_from(audit_log).where(
                    audit_log.c.event == "consulta.situacao")).scalar()
            assert entries == n


def test_a_warm_up_statement_that_would_not_end_is_interrupted_at_the_deadline(db_url: str) -> None:
    """What bounds the warm-up's reads (the whole consultation read of its sample person included: a person with
    tens of thousands of communications once held a start for minutes): a statement that would run for ever
    inside ``_until`` is interrupted at the deadline with SQLAlchemy's OperationalError, on SQLite (progress
    handler) and PostgreSQL (``statement_timeout``); the connection stays usable after a rollback."""
    import pytest
    from sqlalchemy.exc import OperationalError

    from gateway.consulta.service import _until
    from gateway.db.engine import make_engine

    engine = make_engine(db_url)
    endless = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
               if engine.dialect.name == "sqlite" else "SELECT count(*) FROM generate_series(1, 10000000000000)")
    try:
        with engine.connect() as conn:
            with pytest.raises(OperationalError), _until(conn, time.monotonic() + 0.2):
                conn.exec_driver_sql(endless).all()
            conn.rollback()
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_a_consultation_reads_in_autocommit_on_postgresql_and_leaves_the_pool_transactional(
        db_url: str, tmp_path: Path) -> None:
    """On PostgreSQL a consultation's statements run in autocommit (no BEGIN/ROLLBACK round trips: p99 at 100,000
    communications and 200 req/s 14.8–17.4 → 9.5–12.3 ms, bench/README.md); the connection goes back to the pool
    in the engine's own isolation, so the other readers (the feed, the listing) keep their transactions. On SQLite
    every read keeps its transaction."""
    import threading

    from sqlalchemy import event

    from gateway.consulta.service import PersonQuery

    settings = test_settings(db_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.post("/soap/infodip", content=sample(Kind.IV)).status_code == 200
    gw = build(settings, relay_wanted=False)
    gw.start()
    engine = gw.reader_engine
    sqlite = engine.dialect.name == "sqlite"
    seen: list[bool] = []
    me = threading.get_ident()

    def record(conn, _cursor, _statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if threading.get_ident() == me:  # not the gateway's background readers
            seen.append(False if sqlite else conn.connection.driver_connection.autocommit)
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert gw.consulta is not None
        _found, comms, _cover = gw.consulta._read(PersonQuery(cpf=CPF))
        assert len(comms) == 1 and seen, "the read ran"
        assert all(seen) is (not sqlite), seen
        with engine.connect() as conn:
            if not sqlite:
                assert conn.connection.driver_connection.autocommit is False
            assert conn.get_isolation_level() != "AUTOCOMMIT"
    finally:
        event.remove(engine, "before_cursor_execute", record)
        gw.stop()
