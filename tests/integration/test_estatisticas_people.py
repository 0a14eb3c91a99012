"""The statistics' markers under concurrent writers (issue 15: counts of people): several transactions counting the
same person in the same cell at once, each with its own connection, on a real SQLite file (writers serialised by the
write lock) and PostgreSQL (writers overlapping, kept exact by the upsert's row lock)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from gateway.db.engine import make_engine
from gateway.db.tables import estatisticas_contagens, estatisticas_pessoas
from gateway.estatisticas.store import count_new, person_digest

WRITERS = 8
MONTH = 202611


def test_concurrent_writers_count_one_person_once(db_url: str) -> None:
    """Eight writers each store, in one transaction held open a moment, a communication of the same person and one of
    their own person in the same cell: the cell counts 1 + 8 people and the shared marker 8 communications."""
    engine = make_engine(db_url, writer=True, pool_size=WRITERS, timeout_s=30)
    barrier = threading.Barrier(WRITERS, timeout=30)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            barrier.wait()
            with engine.begin() as conn:
                count_new(conn, [
                    {"protocol": f"{MONTH}01-{i:06d}", "kind": "I", "organ_id": 1, "person_key": "cpf:52998224725",
                     "status": "ativa"},
                    {"protocol": f"{MONTH}02-{i:06d}", "kind": "I", "organ_id": 1, "person_key": f"cpf:{i:011d}",
                     "status": "ativa"}])
                time.sleep(0.05)  # hold the row locks while the others try
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads) and errors == []
        with engine.connect() as conn:
            cells = {(r.kind, r.organ_id, r.mes, r.situacao): r.pessoas
                     for r in conn.execute(select(estatisticas_contagens))}
            shared = conn.execute(select(estatisticas_pessoas.c.ativas, estatisticas_pessoas.c.canceladas).where(
                estatisticas_pessoas.c.pessoa == person_digest("cpf:52998224725"))).one()
        assert cells == {("I", 1, MONTH, "ativa"): 1 + WRITERS}
        assert tuple(shared) == (WRITERS, 0)
    finally:
        engine.dispose()
