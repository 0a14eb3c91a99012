"""Death batches stored on SQLite and PostgreSQL through the service (in-process, a real group committer): the
kind VI rows INFODIP intake writes, outcomes across chunks and batches, resume after an interruption, digests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.auth import Caller
from gateway.bootstrap import Gateway, build
from gateway.consulta.store import find_person
from gateway.db.tables import communications, feed_entries, messages, obito_lotes, obito_registros, organs, outbox
from gateway.errors import Conflict, ValidationFailed
from gateway.infodip.domain import Kind
from gateway.obitos import contract, synthetic
from gateway.organs import OrganType
from tests.e2e.obitos_support import body, grant, recs
from tests.support import assert_stored_facts, seed, test_settings


@pytest.fixture
def gw(db_url: str, tmp_path: Path) -> Iterator[Gateway]:
    seed(db_url)
    grant(db_url)
    g = build(test_settings(db_url, tmp_path, obitos_chunk_records=7, obitos_sync_max=1000, obitos_max_records=300),
              relay_wanted=False)
    g.start()
    try:
        yield g
    finally:
        g.stop()


def caller_of(g: Gateway, code: str, organ_type: OrganType, user: str) -> Caller:
    with g.reader_engine.connect() as conn:
        oid = conn.execute(select(organs.c.id).where(organs.c.code == code)).scalar_one()
    return Caller(user, oid, code, organ_type, frozenset({Kind.VI}))


def batch_file(tmp: Path, name: str, lote: str, records: list[dict[str, object]]) -> Path:
    p = tmp / name
    p.write_bytes(body(lote, records))
    return p


def test_batch_across_chunks_with_duplicates_links_and_resume(gw: Gateway, tmp_path: Path) -> None:
    crc = caller_of(gw, "CRC", OrganType.CRC, "crc-nacional")
    good = recs(30, ("097543", "123456"), seed=31, first_termo=70_000)
    records = [*good[:20], dict(good[3]), {**good[5], "matricula": good[25]["matricula"]}, *good[20:25]]
    path = batch_file(tmp_path, "a.json", "INT-1", records)
    svc = gw.obitos
    batch = contract.JsonBatch(path)
    state, covered = svc.open(crc, batch, "rest")
    # an interruption after two chunks: process only what a crashed run would have committed
    original = svc.chunk
    stop_after = iter(range(2))

    class Stop(Exception):
        pass

    def crash_hook(point: str) -> None:
        if point == "obitos_chunk":
            try:
                next(stop_after)
            except StopIteration:
                raise Stop from None

    svc.committer.crash_hook = crash_hook
    with pytest.raises(Stop):
        svc.process(crc, batch, state, covered)
    svc.committer.crash_hook = None
    with gw.reader_engine.connect() as conn:
        row = conn.execute(select(obito_lotes)).mappings().one()
    assert row["status"] == "processando" and row["chunks_done"] >= 2 and row["processed"] == 7 * row["chunks_done"]
    # the resend continues after the last committed chunk
    again = contract.JsonBatch(path)
    state, covered = svc.open(crc, again, "rest")
    assert state.replay and state.chunks_done == row["chunks_done"]
    svc.process(crc, again, state, covered)
    view = svc.view(crc, "INT-1", None, 1000)
    assert view.status == "concluido" and view.processed == len(records) == 27 and original == 7
    outcomes = [o.outcome for o in view.outcomes]
    assert outcomes.count("aceito") == 25 and outcomes[20] == "duplicado" and outcomes[21] == "vinculado"
    assert view.outcomes[20].earlier == view.outcomes[3].protocol  # the duplicate across chunks, same sender
    assert view.outcomes[21].earlier == view.outcomes[5].protocol
    with gw.reader_engine.connect() as conn:
        vi = conn.execute(select(func.count()).select_from(communications).where(
            communications.c.kind == "VI")).scalar()
        queued = conn.execute(select(func.count()).select_from(outbox).where(outbox.c.destination == "TSE")).scalar()
        linked = conn.execute(select(communications.c.duplicate_of).where(
            communications.c.protocol == view.outcomes[21].protocol)).scalar()
        refs = conn.execute(select(func.count(func.distinct(messages.c.sender_reference))).select_from(
            messages.join(obito_registros, obito_registros.c.message_id == messages.c.message_id))).scalar()
    assert vi == queued == refs == 26 and linked == view.outcomes[5].protocol
    # a cartório sending the same matrícula later: duplicate, the CRC's protocol shown (it acts for the cartório)
    cartorio = caller_of(gw, "RCPN-097543", OrganType.CARTORIO, "rcpn-rj-capital-01")
    p2 = batch_file(tmp_path, "b.json", "INT-2", [good[0]])
    b2 = contract.JsonBatch(p2)
    st2, cov2 = svc.open(cartorio, b2, "rest")
    svc.process(cartorio, b2, st2, cov2)
    out = svc.view(cartorio, "INT-2", None, 10).outcomes[0]
    assert out.outcome == "duplicado" and out.earlier == view.outcomes[0].protocol
    # the same id with another record: refused when the differing chunk is reached, nothing added
    p3 = batch_file(tmp_path, "c.json", "INT-1", [*records[:26], recs(1, first_termo=99_999)[0]])
    b3 = contract.JsonBatch(p3)
    st3, cov3 = svc.open(crc, b3, "rest")
    with pytest.raises(Conflict) as e:
        svc.process(crc, b3, st3, cov3)
    assert e.value.code == "INFODIP-E061"


def test_limit_and_declarations(gw: Gateway, tmp_path: Path) -> None:
    crc = caller_of(gw, "CRC", OrganType.CRC, "crc-nacional")
    big = batch_file(tmp_path, "big.json", "INT-BIG", recs(301, seed=32, first_termo=80_000))
    with pytest.raises(ValidationFailed) as e:
        gw.obitos.open(crc, contract.JsonBatch(big), "rest")
    assert e.value.code == "INFODIP-E060"
    with gw.reader_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(obito_lotes)).scalar() == 0

    async def declare() -> tuple[bool, bool]:
        first = await gw.obitos.declare_none(crc, "123456", "2025-02")
        return first, await gw.obitos.declare_none(crc, "123456", "2025-02")

    assert asyncio.run(declare()) == (True, False)
    report = {p.cns: p for p in gw.obitos.pendencias("2025-02")}
    assert report["123456"].declarou_sem_obitos and not report["123456"].faltante
    assert report["097543"].faltante
    assert synthetic.matricula("097543", 2025, "4", 1, 1, 1)[:6] == "097543"


def test_batch_records_are_consultable_and_in_the_tse_feed(gw: Gateway, tmp_path: Path) -> None:
    """A death stored from a batch is an ordinary kind VI communication for the rest of the gateway too: the
    consultation's person index finds it by CPF (Res. Conjunta 6/2020 art. 4º and 10) and the TSE's change feed
    carries it, once, in commit order (art. 12) — the CNJ's never does (the routing table sends deaths to the TSE)."""
    crc = caller_of(gw, "CRC", OrganType.CRC, "crc-nacional")
    records = recs(10, ("097543",), seed=41, first_termo=90_000)
    batch = contract.JsonBatch(batch_file(tmp_path, "f.json", "INT-FEED", records))
    state, covered = gw.obitos.open(crc, batch, "rest")
    gw.obitos.process(crc, batch, state, covered)
    view = gw.obitos.view(crc, "INT-FEED", None, 100)
    stored = {o.protocol for o in view.outcomes if o.outcome == "aceito"}
    assert len(stored) == 10
    with gw.reader_engine.connect() as conn:
        with_cpf = [r for r in records if r.get("cpf")]
        assert with_cpf, "the synthetic batch carries CPFs"
        for rec in with_cpf:
            found = find_person(conn, cpf=str(rec["cpf"]))
            assert not found.ambiguous and found.protocols & stored
        assert assert_stored_facts(conn) == 10  # the timeline facts stored with each death (messages.facts)
        fed = conn.execute(select(feed_entries.c.protocol, feed_entries.c.destination, feed_entries.c.seq)
                           .order_by(feed_entries.c.seq)).all()
    assert sorted(p for p, d, _ in fed if d == "TSE") == sorted(stored)
    assert not [p for p, d, _ in fed if d == "CNJ" and p in stored]
    seqs = [s for _, _, s in fed]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
