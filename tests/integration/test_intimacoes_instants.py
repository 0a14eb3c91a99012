"""An intimation's ``disponibilizada_em`` is the instant the court gave (``dataDisponibilizacao``, Brasília time) on
SQLite as on PostgreSQL — SQLite keeps a timestamp's wall time only, so the collector stores UTC — and migration
``0017_intimacoes_utc`` repairs the rows an earlier collector stored on SQLite as Brasília wall time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from gateway.clock import FakeClock
from gateway.db import migrate
from gateway.db.engine import make_engine
from gateway.db.tables import intimacoes, organs
from gateway.divida.intimacoes import store
from gateway.divida.intimacoes.contract import AvisoLido
from gateway.divida.intimacoes.domain import Parte
from tests.support import running_committer

BRT = ZoneInfo("America/Sao_Paulo")
#: 23:30 in Brasília on 10 June is 02:30 UTC on the 11th: a wrong zone moves it to another civil day
SENT = datetime(2025, 6, 10, 23, 30, tzinfo=BRT)
AVISO_XML = (b'<aviso xmlns="http://www.cnj.jus.br/intercomunicacao-2.2.2" idAviso="A-1" tipoComunicacao="INT">'
             b"<dataDisponibilizacao>20250610233000</dataDisponibilizacao></aviso>")


def _organ_id(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(organs.c.id).where(organs.c.code == "PGFN")).scalar_one())
    finally:
        engine.dispose()


def test_the_instant_made_available_reads_back_as_the_court_gave_it(db_url: str) -> None:
    """Stored by the collector's job and read back as the API reads it (``store.when``): the same instant, so
    02:30 UTC on 11 June, 23:30 in Brasília on the 10th."""
    organ_id = _organ_id(db_url)
    aviso = AvisoLido("A-1", "INT", "08123459320198190001", 1116, (Parte("AT", "UNIAO", "00394460005887"),),
                      "10.00", None, SENT, AVISO_XML)
    clock = FakeClock(datetime(2025, 6, 11, 12, tzinfo=UTC))
    with running_committer(db_url, clock) as committer:
        committer.run_sync(store.store_new(organ_id, "8.19", "1", [aviso], clock.now(), lambda d: d.date()))
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(intimacoes.c.disponibilizada_em)).scalar_one()
    finally:
        engine.dispose()
    got = store.when(stored)
    assert got == SENT
    assert got is not None and got.astimezone(UTC) == datetime(2025, 6, 11, 2, 30, tzinfo=UTC)
    assert got.astimezone(BRT).isoformat() == "2025-06-10T23:30:00-03:00"


def test_the_migration_repairs_what_an_earlier_collector_stored_on_sqlite(tmp_path: Path) -> None:
    """A row stored at 0016 as Brasília wall time (what SQLite kept of the aware value) reads back as the right
    instant after ``0017_intimacoes_utc``; a row whose aviso has no date (stored with the collection instant, UTC)
    is left as it was."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, "0016_consulta_facts")
        collected = datetime(2025, 6, 11, 12, 0)
        with engine.begin() as conn:
            conn.execute(insert(organs).values(code="PGFN", name="PGFN", organ_type="procuradoria", active=True,
                                               created_at=collected))
            organ_id = conn.execute(select(organs.c.id).where(organs.c.code == "PGFN")).scalar_one()
            base = {"organ_id": organ_id, "jtr": "8.19", "instance": "1", "process_number": None, "tipo": "INT",
                    "classe": None, "valor_causa": None, "partes": "[]", "destinatario": None,
                    "prazo_tacito": datetime(2025, 6, 20).date(), "collected_at": collected}
            conn.execute(insert(intimacoes), [
                {**base, "seq": 1, "id": "a" * 32, "aviso_id": "A-1", "aviso_xml": AVISO_XML,
                 "disponibilizada_em": datetime(2025, 6, 10, 23, 30)},  # the wall time an earlier collector left
                {**base, "seq": 2, "id": "b" * 32, "aviso_id": "A-2", "aviso_xml": b'<aviso idAviso="A-2"/>',
                 "disponibilizada_em": collected},
            ])
        migrate.upgrade(engine)
        with engine.connect() as conn:
            query = select(intimacoes.c.seq, intimacoes.c.disponibilizada_em)
            rows = {r.seq: r.disponibilizada_em for r in conn.execute(query)}
        assert store.when(rows[1]) == SENT
        assert store.when(rows[2]) == collected.replace(tzinfo=UTC)
    finally:
        engine.dispose()
