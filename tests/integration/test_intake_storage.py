"""Intake on a real database (SQLite file and PostgreSQL): one transaction per acceptance, idempotency, history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from gateway import audit
from gateway.bootstrap import create_app
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log, communications, messages, outbox
from gateway.infodip.contract import NS
from gateway.infodip.domain import Kind
from tests.support import comunicacao_of, infodip_request, recent_day, sample, test_settings, unique_ref

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
N = {"i": NS, "soap": SOAP}


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The gateway application in-process, on the test database."""
    app = create_app(test_settings(db_url, tmp_path))
    with TestClient(app) as c:
        c.db_url = db_url  # type: ignore[attr-defined]
        c.tmp = tmp_path  # type: ignore[attr-defined]
        yield c


def db_of(client: TestClient) -> str:
    """The database URL the in-process gateway uses."""
    return str(client.db_url)  # type: ignore[attr-defined]


def tmp_of(client: TestClient) -> Path:
    """The temporary directory of the in-process gateway."""
    return Path(client.tmp)  # type: ignore[attr-defined]


class Answer:
    """A parsed SOAP answer with its HTTP status; element methods delegate to the root."""

    def __init__(self, status: int, content: bytes) -> None:
        self.status = status
        self.raw = content
        self.root = etree.fromstring(content)

    def __getattr__(self, name: str) -> object:
        return getattr(self.root, name)


def post(client: TestClient, body: bytes) -> Answer:
    """POST a SOAP request and return the parsed answer."""
    r = client.post("/soap/infodip", content=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    return Answer(r.status_code, r.content)


def fault_code(root: Answer) -> str | None:
    """The INFODIP code of a Fault answer."""
    return root.findtext(".//i:erro/i:codigo", namespaces=N)


def counts(db_url: str) -> dict[str, int]:
    """Rows in the intake tables (of the audit log, intake's entries: seeding organs is audited too)."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        out = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
               for t in (communications, messages, outbox)}
        out["audit_log"] = conn.execute(select(func.count()).select_from(audit_log)
                                        .where(audit_log.c.event.like("infodip.%"))).scalar_one()
    engine.dispose()
    return out


def test_acceptance_writes_version_outbox_and_audit_in_one_transaction(client: TestClient) -> None:
    """An accepted communication is stored with one outbox row per destination and one audit entry."""
    before = counts(db_of(client))
    root = post(client, sample(Kind.I))
    assert root.status == 200
    dests = [d.text for d in root.iterfind(".//i:recibo/i:destino", N)]
    assert dests == ["TSE", "CNJ"]
    after = counts(db_of(client))
    assert after["communications"] - before["communications"] == 1
    assert after["messages"] - before["messages"] == 1
    assert after["outbox"] - before["outbox"] == 2
    assert after["audit_log"] - before["audit_log"] == 1


def test_same_key_same_payload_returns_original_and_stores_nothing(client: TestClient) -> None:
    """A resubmission with the same reference and payload gets the original receipt and adds no row."""
    body = sample(Kind.IV, reference=unique_ref())
    first = post(client, body)
    snapshot = counts(db_of(client))
    again = post(client, body)
    assert again.status == 200
    assert again.findtext(".//i:protocolo", namespaces=N) == first.findtext(".//i:protocolo", namespaces=N)
    assert again.findtext(".//i:idMensagem", namespaces=N) == first.findtext(".//i:idMensagem", namespaces=N)
    assert again.findtext(".//i:reenvio", namespaces=N) == "true"
    assert counts(db_of(client)) == snapshot


def test_same_key_different_payload_is_refused(client: TestClient) -> None:
    """Reusing a reference with another content is refused with INFODIP-E050 and stores nothing."""
    ref = unique_ref()
    post(client, sample(Kind.IV, reference=ref, fact_date=recent_day(3)))
    snapshot = counts(db_of(client))
    root = post(client, sample(Kind.IV, reference=ref, fact_date=recent_day(4)))
    assert root.status == 500
    assert fault_code(root) == "INFODIP-E050"
    assert counts(db_of(client)) == snapshot


def test_retification_and_cancellation_keep_every_version(client: TestClient) -> None:
    """A retificação is version 2 with a new message id; a cancelamento is version 3; all are kept, in order."""
    first = post(client, sample(Kind.I))
    protocol = first.findtext(".//i:protocolo", namespaces=N)
    fix = comunicacao_of(sample(Kind.I, reference=unique_ref("R"), fact_date=recent_day(1)))
    second = post(client, infodip_request("retificarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>{fix}"))
    assert second.status == 200, second.raw
    assert second.findtext(".//i:versao", namespaces=N) == "2"
    assert second.findtext(".//i:idMensagem", namespaces=N) != first.findtext(".//i:idMensagem", namespaces=N)
    third = post(client, infodip_request("cancelarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>"
                                     f"<i:referenciaRemetente>{unique_ref('C')}</i:referenciaRemetente>"
                                     "<i:motivo>Comunicação enviada por engano.</i:motivo>"))
    assert third.findtext(".//i:operacao", namespaces=N) == "cancelamento"
    view = post(client, infodip_request("consultarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>"))
    assert view.findtext(".//i:situacao", namespaces=N) == "cancelada"
    ops = [v.findtext("i:operacao", namespaces=N) for v in view.iterfind(".//i:versoes/i:versao", N)]
    assert ops == ["envio", "retificacao", "cancelamento"]
    # later versions wait for earlier ones (no relay runs here): version 1 pending, 2 and 3 blocked
    states = {(e.findtext("i:versao", namespaces=N), e.findtext("i:destino", namespaces=N)):
              e.findtext("i:situacao", namespaces=N) for e in view.iterfind(".//i:entregas/i:entrega", N)}
    assert states[("1", "TSE")] == "pendente" and states[("2", "TSE")] == "bloqueada"
    assert states[("3", "CNJ")] == "bloqueada"
    # a cancelled communication admits no further change
    again = post(client, infodip_request("retificarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>"
                                     + comunicacao_of(sample(Kind.I))))
    assert fault_code(again) == "INFODIP-E052"


def test_retification_by_another_organ_is_not_found(client: TestClient) -> None:
    """An organ cannot correct, cancel or read another organ's communication (INFODIP-E051)."""
    first = post(client, sample(Kind.IV))
    protocol = first.findtext(".//i:protocolo", namespaces=N)
    other = post(client, infodip_request("consultarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>",
                                     user="tjsp-sistema"))
    assert fault_code(other) == "INFODIP-E051"


def test_duplicate_fact_from_another_sender_is_linked(client: TestClient) -> None:
    """The same fact sent by another tribunal is stored, linked to the first, and the answer says so."""
    day = recent_day(5)
    first = post(client, sample(Kind.IV, fact_date=day))
    second = post(client, sample(Kind.IV, username="tjsp-sistema", fact_date=day))
    assert second.status == 200
    assert second.findtext(".//i:duplicidade/i:protocoloAnterior", namespaces=N) == \
        first.findtext(".//i:protocolo", namespaces=N)


def test_audit_chain_verifies_after_intake(client: TestClient) -> None:
    """After many acceptances (spanning signed checkpoints), the audit chain verifies and detects tampering."""
    for _ in range(60):
        assert post(client, sample(Kind.VI)).status == 200
    key = audit.load_signing_key(str(tmp_of(client) / "signing-key.pem"))
    engine = make_engine(db_of(client), writer=True)  # its BEGIN takes the write lock (the gateway is running)
    with engine.connect() as conn:
        report = audit.verify(conn, key.public_key)
        assert report.ok, report.broken
        assert report.entries >= 60 and report.checkpoints >= 1
    with engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 10).values(detail='{"forjado":true}'))
    with engine.connect() as conn:
        report = audit.verify(conn, key.public_key)
    engine.dispose()
    assert not report.ok and "entrada 10" in report.broken[0]


def test_failed_job_leaves_nothing_and_next_request_is_served(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure inside the intake transaction stores nothing (no version, outbox or audit row) and the
    writer keeps serving."""
    import gateway.infodip.service as service

    snapshot = counts(db_of(client))

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "_store_version", broken)
    root = post(client, sample(Kind.I))
    assert root.status == 500 and fault_code(root) == "INFODIP-E090"
    assert counts(db_of(client)) == snapshot
    monkeypatch.undo()
    assert post(client, sample(Kind.I)).status == 200


def test_concurrent_submissions_are_all_stored(db_url: str, tmp_path: Path) -> None:
    """Many concurrent submissions through the group committer are each stored once, with a verifying chain (the
    admission bound, 128 in flight by default, is raised above the 140 sent at once: this is about storage)."""
    import asyncio

    import httpx

    app = create_app(test_settings(db_url, tmp_path, intake_max_inflight=256))
    bodies = [sample(Kind.IV) for _ in range(120)]

    async def main() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
                rs = await asyncio.gather(*(c.post("/soap/infodip", content=b) for b in bodies + bodies[:20]))
                return [r.status_code for r in rs]

    statuses = asyncio.run(main())
    assert statuses == [200] * 140
    n = counts(db_url)
    assert n["messages"] == 120 and n["outbox"] == 120 * 2 and n["audit_log"] == 120
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert audit.verify(conn, None).ok
    engine.dispose()


def test_migrations_produce_the_declared_schema(db_url: str) -> None:
    """The Alembic migrations create exactly the tables and columns of gateway.db.tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from gateway.db.tables import metadata

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    relevant = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column")]
    assert relevant == []


def test_one_reference_twice_in_one_group_is_stored_once(db_url: str, tmp_path: Path) -> None:
    """An envio's message, outbox and audit rows are inserted with the group's at the commit (issue 17), so a second
    envio with the same reference in the same group transaction cannot see the first: the commit breaks the unique
    reference, the committer runs the jobs one by one, and every answer carries the one protocol stored. A gathering
    window of 200 ms puts the concurrent requests into one group; a fresh body of each pair is accepted alongside."""
    import asyncio

    import httpx

    app = create_app(test_settings(db_url, tmp_path, commit_wait_ms=200.0))
    twice = [sample(Kind.IV) for _ in range(4)]
    others = [sample(Kind.I) for _ in range(4)]

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
                return list(await asyncio.gather(*(c.post("/soap/infodip", content=b)
                                                   for b in twice + twice + others)))

    answers = asyncio.run(main())
    assert [r.status_code for r in answers] == [200] * 12
    protocols = [etree.fromstring(r.content).findtext(".//i:protocolo", namespaces=N) for r in answers]
    assert all(protocols) and protocols[:4] == protocols[4:8] and len(set(protocols)) == 8
    n = counts(db_url)
    assert n["messages"] == 8 and n["communications"] == 8 and n["audit_log"] == 8
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert audit.verify(conn, None).ok
    engine.dispose()
