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


def _cells(conn) -> dict[tuple[str, int, int, str], int]:  # type: ignore[no-untyped-def]
    return {(r.kind, r.organ_id, r.mes, r.situacao): r.pessoas
            for r in conn.execute(select(estatisticas_contagens)) if r.pessoas}


def test_deferred_counts_equal_immediate_ones_within_one_group_transaction(db_url: str) -> None:
    """Intake defers its counts to the end of the group transaction (issue 17: one multi-row upsert per commit); a
    cancelamento and a retificação naming another person in the same transaction flush them first, so the cells are
    those of counting each step at once: envio A and B (person X), cancel A, rekey B to Y, envio C (person Z)."""
    from datetime import UTC, date, datetime

    from gateway.audit import AuditChain
    from gateway.clock import SystemClock
    from gateway.db.committer import WriteContext
    from gateway.db.tables import communications
    from gateway.estatisticas.store import (
        count_new_at_commit,
        count_rekeyed,
        count_withdrawn,
        rekeyed_at_commit,
        withdrawn_at_commit,
    )

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)

    def row(protocol: str, person: str) -> dict[str, object]:
        return {"protocol": protocol, "kind": "IV", "organ_id": 1, "person_key": person, "process_number": None,
                "fact_date": date(2026, 11, 1), "status": "ativa", "current_version": 1, "duplicate_of": None,
                "created_at": now, "updated_at": now}

    results = []
    for deferred, prefix in ((False, "20261120-00000"), (True, "20261120-00001")):
        engine = make_engine(db_url, writer=True)
        try:
            with engine.begin() as conn:
                conn.execute(estatisticas_contagens.delete())
                conn.execute(estatisticas_pessoas.delete())
                ctx = WriteContext(conn, AuditChain.start(conn, now, None, 1000), SystemClock())
                a, b, c = (row(prefix + n, p) for n, p in (("1", "cpf:X"), ("2", "cpf:X"), ("3", "cpf:Z")))
                for r in (a, b):
                    conn.execute(communications.insert(), r)
                    count_new_at_commit(ctx, r) if deferred else count_new(conn, (r,))
                conn.execute(communications.update().where(communications.c.protocol == a["protocol"])
                             .values(status="cancelada"))
                if deferred:
                    withdrawn_at_commit(ctx, a["protocol"], "IV", 1)
                    rekeyed_at_commit(ctx, b["protocol"], "IV", 1, "cpf:X", "cpf:Y")
                else:
                    count_withdrawn(conn, a["protocol"], "IV", 1)
                    count_rekeyed(conn, b["protocol"], "IV", 1, "cpf:X", "cpf:Y")
                conn.execute(communications.insert(), c)
                count_new_at_commit(ctx, c) if deferred else count_new(conn, (c,))
                ctx.finish()
                results.append(_cells(conn))
        finally:
            engine.dispose()
    assert results[0] == results[1] == {("IV", 1, MONTH, "ativa"): 2, ("IV", 1, MONTH, "cancelada"): 1}
