"""The timeline facts stored with each version (``messages.facts``, migration 0016) on SQLite and PostgreSQL: written
by intake for every kind, for retificações, never for cancelamentos; equal to what parsing the payload gives; and a
consultation answers the same bytes whether it reads them or parses the payloads (versions stored before 0016)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.bootstrap import create_app
from gateway.consulta.facts import decode, encode_death, fact_of
from gateway.db.tables import communications, consulta_pessoas, messages
from gateway.infodip.domain import Kind
from gateway.infodip.samples import SAMPLE_USERNAME
from tests.integration.test_consulta import ACTING, PURPOSE, as_person, protocol_of
from tests.integration.test_oauth import bearer, token, with_demo_grants
from tests.support import (
    assert_stored_facts,
    comunicacao_of,
    infodip_request,
    recent_day,
    retification,
    sample,
    test_settings,
    unique_ref,
)


@pytest.fixture
def gateway(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A gateway whose TJRJ holds ``direitos-politicos:consultar``, the per-client limit out of the way."""
    settings = test_settings(db_url, tmp_path, admin_token="token-do-operador", consulta_rate_per_minute=10_000)
    passwords = with_demo_grants(settings)
    with TestClient(create_app(settings)) as client:
        yield client, passwords


def _store_every_kind(client: TestClient) -> dict[str, str]:
    """One communication of each kind I–IX; IV and V about the same person (V ends IV); IV retified with another
    fact date; III retified; IX cancelled; VII retified then cancelled. The protocol of each kind."""
    protocols = {}
    for kind in Kind:
        body = sample(kind, fact_date=recent_day(40 if kind is Kind.IV else 10))
        if kind is Kind.V:
            body = as_person(body)
        protocols[kind.value] = protocol_of(client.post("/soap/infodip", content=body))
    for kind, days in ((Kind.IV, 35), (Kind.III, 12), (Kind.VII, 9)):
        fix = retification(protocols[kind.value], kind, reference=unique_ref("R"), days_ago=days)
        assert client.post("/soap/infodip", content=fix).status_code == 200, kind
    for kind in (Kind.IX, Kind.VII):
        cancel = infodip_request("cancelarComunicacao", f"<i:protocolo>{protocols[kind.value]}</i:protocolo>"
                                 f"<i:referenciaRemetente>{unique_ref('CA')}</i:referenciaRemetente>"
                                 "<i:motivo>Comunicação enviada por engano.</i:motivo>", SAMPLE_USERNAME[kind])
        assert client.post("/soap/infodip", content=cancel).status_code == 200, kind
    return protocols


def test_intake_stores_the_facts_parsing_would_give(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """For every kind I–IX, each envio and retificação stores facts that decode to exactly ``fact_of`` of its
    payload (kind, dates, process, link, term, inelegibility, alínea, nature, legal basis); a cancelamento stores
    none; a retified communication's current facts are the retificação's (its new fact date)."""
    client, _ = gateway
    protocols = _store_every_kind(client)
    with client.app.state.gateway.reader_engine.connect() as conn:  # type: ignore[attr-defined]
        checked = assert_stored_facts(conn)
        rows = conn.execute(select(messages.c.protocol, messages.c.version, messages.c.operation,
                                   messages.c.facts)).all()
        status = dict(conn.execute(select(communications.c.protocol, communications.c.status)).all())
    assert checked == 9 + 3
    assert sorted(r.operation for r in rows if r.facts is None) == ["cancelamento", "cancelamento"]
    assert {decode(p, "ativa", f).kind for p, _, _, f in rows if f} == {k.value for k in Kind}
    iv = [r for r in rows if r.protocol == protocols["IV"]]
    assert [decode(r.protocol, "ativa", r.facts).fact_date for r in sorted(iv, key=lambda r: r.version)] == \
        [recent_day(40), recent_day(35)]
    assert status[protocols["IX"]] == status[protocols["VII"]] == "cancelada"


def test_death_batch_facts_equal_parsed() -> None:
    """The facts a death batch writes without building the domain object (``encode_death``) are those of the kind
    VI payload it stores (``gateway/obitos/contract.py``), records with and without CPF or título alike."""
    from gateway.obitos import contract
    from tests.e2e.obitos_support import recs

    for rec in recs(12, seed=7):
        reg = contract.registro_of(rec)
        assert reg.data_obito is not None
        payload = contract.communication_payload(reg, unique_ref("OB"))
        assert decode("P", "ativa", encode_death(reg.data_obito)) == fact_of("P", "ativa", payload)


def _answers(client: TestClient, tok: str, cpfs: list[str]) -> list[bytes]:
    out = []
    for cpf in cpfs:
        r = client.post("/api/v1/pessoas/situacao", json={"cpf": cpf, "finalidade": PURPOSE,
                                                          "data": recent_day(1).isoformat()},
                        headers=bearer(tok) | {"On-Behalf-Of": ACTING})
        assert r.status_code == 200, r.text
        out.append(r.content)
    return out


def test_answer_identical_with_and_without_stored_facts(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Every stored person's consultation answers the same bytes from the stored facts as from the payloads parsed
    (the facts set to NULL, as versions stored before migration 0016 have them): timeline, intervals, versions."""
    client, passwords = gateway
    _store_every_kind(client)
    gw: Any = client.app.state.gateway  # type: ignore[attr-defined]
    with gw.reader_engine.connect() as conn:
        cpfs = sorted({c for c in conn.execute(select(consulta_pessoas.c.cpf)).scalars() if c})
    assert len(cpfs) >= 5
    tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
    stored = _answers(client, tok, cpfs)
    assert any(b'"intervalos":[{' in a for a in stored)
    with gw.writer_engine.begin() as conn:
        assert conn.execute(update(messages).values(facts=None)).rowcount > 0
    parsed = _answers(client, tok, cpfs)
    assert parsed == stored


def test_retified_comunicacao_facts_follow_the_current_version(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """A retificação that changes the person's process and date: the stored facts of the new version are the ones
    the timeline reads, the old version's stay as they were."""
    client, _ = gateway
    protocol = protocol_of(client.post("/soap/infodip", content=sample(Kind.I, fact_date=recent_day(30))))
    fix = infodip_request("retificarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>"
                          + comunicacao_of(sample(Kind.I, reference=unique_ref("R"), fact_date=recent_day(25))))
    assert client.post("/soap/infodip", content=fix).status_code == 200
    with client.app.state.gateway.reader_engine.connect() as conn:  # type: ignore[attr-defined]
        assert assert_stored_facts(conn) == 2
        facts = conn.execute(select(messages.c.facts).where(messages.c.protocol == protocol)
                             .order_by(messages.c.version)).scalars().all()
    assert [decode(protocol, "ativa", f).fact_date for f in facts] == [recent_day(30), recent_day(25)]


def test_one_statement_by_cpf_reads_what_find_and_load_read(db_url: str) -> None:
    """For every CPF of a generated store (800 communications, retificações and cancelamentos among them), and for
    a person one of whose communications is indexed by título only (its CPF removed from the index), the single
    statement of a consultation by CPF (``communications_by_cpf``) gives exactly what ``find_person`` then
    ``load_communications`` give: the same communications, versions, bytes and stored facts, in the same order."""
    from datetime import UTC, datetime

    from sqlalchemy import func

    from gateway.clock import FakeClock
    from gateway.consulta.store import communications_by_cpf, find_person, load_communications
    from gateway.datagen import generate
    from gateway.db.engine import make_engine

    engine = make_engine(db_url, writer=True)
    try:
        generate(engine, FakeClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC)), 800, seed=5)
        with engine.begin() as conn:  # a communication known by título alone, beside others with CPF and título
            cpf, titulo = conn.execute(
                select(consulta_pessoas.c.cpf, consulta_pessoas.c.titulo)
                .where(consulta_pessoas.c.titulo.is_not(None)).group_by(consulta_pessoas.c.cpf,
                                                                        consulta_pessoas.c.titulo)
                .having(func.count() >= 3).limit(1)).one()
            one = conn.execute(select(consulta_pessoas.c.protocol).where(consulta_pessoas.c.cpf == cpf)
                               .order_by(consulta_pessoas.c.protocol).limit(1)).scalar_one()
            conn.execute(update(consulta_pessoas).where(consulta_pessoas.c.protocol == one).values(cpf=None))
        with engine.connect() as conn:
            cpfs = sorted({c for c in conn.execute(select(consulta_pessoas.c.cpf)).scalars() if c})
            assert cpf in cpfs
            for each in cpfs:
                found = find_person(conn, cpf=each)
                assert not found.ambiguous
                assert communications_by_cpf(conn, each) == load_communications(conn, found.protocols), each
            joined = communications_by_cpf(conn, cpf)
            assert one in {c.protocol for c in joined} and titulo
    finally:
        engine.dispose()
