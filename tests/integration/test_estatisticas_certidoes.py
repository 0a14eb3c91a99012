"""Public statistics and certificates (issue 15 points 1 and 2) in the gateway as bootstrap wires it, on a real database
(SQLite file and PostgreSQL): counts of people kept at acceptance and at cancelamento (equal to a recount of the
distinct people among the communications), the API's JSON and CSV with the same numbers, filters that only select, the
refusals; certificates negativa then positiva, PDF text read back by pypdf, the XML signature verified and broken by
one changed byte, a certificate issued before a conviction arrived still verifiable as issued, unknown codes, people
only, the rate limit and the audit entries."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from gateway.bootstrap import create_app
from gateway.certidoes.documents import verify_xml
from gateway.clock import SystemClock
from gateway.datagen import generate
from gateway.db.engine import make_engine
from gateway.db.migrate import MIGRATIONS, upgrade
from gateway.db.tables import audit_log, communications, estatisticas_contagens, estatisticas_pessoas
from gateway.infodip.domain import Kind
from tests.integration.test_consulta import as_person, protocol_of
from tests.integration.test_oauth import problem
from tests.saf_support import cancellation
from tests.support import recent_day, retification, sample, test_settings

CPF = "52998224725"
NAME = "Maria da Conceição Araújo"
OTHERS = ("11144477735", "39053344705", "84434895028", "71428793860", "06372948079")


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = test_settings(db_url, tmp_path, estatisticas_uf='{"TJRJ": "rj"}', estatisticas_cache_s=0,
                             certidoes_limite_por_minuto=4)
    with TestClient(create_app(settings)) as c:
        yield c


def issue(client: TestClient, cpf: str = CPF, name: str = NAME) -> Any:
    return client.post("/api/v1/certidoes", json={"cpf": cpf, "nome": name})


def pdf_text(body: dict[str, Any]) -> str:
    reader = pypdf.PdfReader(io.BytesIO(base64.b64decode(body["pdf"])))
    return " ".join((p.extract_text() or "") for p in reader.pages)


def kept_counts(conn: Connection) -> Counter[tuple[str, int, int, str]]:
    """The statistics' atomic counts as kept (cells of 0 left out)."""
    return Counter({(r.kind, r.organ_id, r.mes, r.situacao): r.pessoas
                    for r in conn.execute(select(estatisticas_contagens)) if r.pessoas})


def recount(conn: Connection) -> Counter[tuple[str, int, int, str]]:
    """The same counts recomputed from the stored communications: DISTINCT people (person keys) per kind × organ ×
    month of reception × situation."""
    people = {(r.kind, r.organ_id, int(r.protocol[:6]), r.status, r.person_key) for r in conn.execute(
        select(communications.c.kind, communications.c.organ_id, communications.c.protocol, communications.c.status,
               communications.c.person_key))}
    return Counter(cell[:4] for cell in people)


def test_statistics_count_people_not_communications(client: TestClient) -> None:
    """One person's two kind I communications from one organ in one month count 1 person in the ativa cell;
    cancelling one keeps them ativa (and adds them to the cancelada cell); cancelling both moves them out of the ativa
    cell; another person counts apart; the kept counts equal a recount of distinct people at every step, and the
    markers hold a SHA-256 digest, never the person key."""
    gw = client.app.state.gateway  # type: ignore[attr-defined]

    def send(cpf: str, day: int) -> str:
        r = client.post("/soap/infodip", content=as_person(sample(Kind.I, fact_date=recent_day(day)), cpf=cpf,
                                                          process=None))
        assert r.status_code == 200, r.text
        return protocol_of(r)

    def cells() -> dict[str, int]:
        with gw.reader_engine.connect() as conn:
            kept = kept_counts(conn)
            assert kept == recount(conn)
            return {s: n for (k, _, _, s), n in kept.items() if k == "I"}

    first, second = send(CPF, 3), send(CPF, 4)
    assert cells() == {"ativa": 1}
    send(OTHERS[0], 3)
    assert cells() == {"ativa": 2}
    assert client.post("/soap/infodip", content=cancellation(first)).status_code == 200
    assert cells() == {"ativa": 2, "cancelada": 1}
    assert client.post("/soap/infodip", content=cancellation(second)).status_code == 200
    assert cells() == {"ativa": 1, "cancelada": 1}
    with gw.reader_engine.connect() as conn:
        markers = {r.pessoa: (r.ativas, r.canceladas) for r in conn.execute(select(estatisticas_pessoas))}
        keys = set(conn.execute(select(communications.c.person_key)).scalars())
    assert sorted(markers.values()) == [(0, 2), (1, 0)]
    assert all(len(p) == 64 and p not in keys and not any(k in p for k in keys) for p in markers)


def test_statistics_follow_a_retificacao_naming_another_person(client: TestClient) -> None:
    """A retificação that corrects the person moves the communication between people: the old person stays counted
    while another communication of theirs is in force there, the new one is counted once."""
    gw = client.app.state.gateway  # type: ignore[attr-defined]

    def ok(body: bytes) -> str:
        r = client.post("/soap/infodip", content=body)
        assert r.status_code == 200, r.text
        return protocol_of(r)

    def ativa() -> int:
        with gw.reader_engine.connect() as conn:
            kept = kept_counts(conn)
            assert kept == recount(conn)
            return sum(n for (k, _, _, s), n in kept.items() if (k, s) == ("I", "ativa"))

    first, second = (ok(as_person(sample(Kind.I, fact_date=recent_day(d)), cpf=CPF, process=None)) for d in (3, 4))
    assert ativa() == 1
    ok(as_person(retification(first), cpf=OTHERS[1], process=None))
    assert ativa() == 2
    ok(as_person(retification(second), cpf=OTHERS[1], process=None))
    assert ativa() == 1


def test_statistics_follow_acceptance_and_cancelamento(client: TestClient) -> None:
    """Six kind I convictions from TJRJ (UF from the settings), one then withdrawn: the counts equal a recount of the
    communications; JSON and CSV say the same; the UF is the sender's; small cells are withheld (null), the rest
    are the true numbers; filters other than ano/tipo/uf are refused."""
    day = recent_day(3)
    protocols = [protocol_of(client.post("/soap/infodip", content=as_person(sample(Kind.I, fact_date=day), cpf=cpf,
                                                                          process=None)))
                 for cpf in (CPF, *OTHERS)]
    r = client.post("/soap/infodip", content=cancellation(protocols[-1]))
    assert r.status_code == 200, r.text
    gw = client.app.state.gateway  # type: ignore[attr-defined]
    with gw.reader_engine.connect() as conn:
        assert kept_counts(conn) == recount(conn)
    month = int(protocols[0][:6])
    year, m = month // 100, month % 100

    body = client.get(f"/api/v1/estatisticas?ano={year}&tipo=I").json()
    [table] = body["tabelas"]
    assert body["limiar"] == 5 and table["tipo"] == "I"
    [rj] = table["porUf"]
    assert rj["uf"] == "RJ"
    [organ] = table["porOrgao"]
    assert (organ["orgao"], organ["uf"]) == ("TJRJ", "RJ")
    assert table["porSituacao"]["cancelada"] is None  # 1 person: withheld
    # what is published is true; what is withheld cannot be told from the rest (checked in tests/unit)
    for published, true in ((rj["meses"][m - 1], 5), (rj["ano"], 5), (table["total"]["ano"], 5),
                            (table["porSituacao"]["ativa"], 5), (table["porSituacao"]["total"], 6)):
        assert published in (None, true)
    assert [v for v in rj["meses"] if v not in (None, 0)] in ([], [5])

    text = client.get(f"/api/v1/estatisticas?ano={year}&tipo=I", headers={"Accept": "text/csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text), delimiter=";"))
    uf_row = {int(x["mes"]) if x["mes"] else 0: x["pessoas"] for x in rows if x["tabela"] == "uf"}
    assert [uf_row[i] for i in range(1, 13)] == ["" if v is None else str(v) for v in rj["meses"]]
    assert uf_row[0] == ("" if rj["ano"] is None else str(rj["ano"]))
    # a UF filter selects the same cells, never new sums
    only = client.get(f"/api/v1/estatisticas?ano={year}&tipo=I&uf=RJ").json()["tabelas"][0]
    assert only["porUf"] == table["porUf"] and only["total"] == table["total"]
    assert client.get(f"/api/v1/estatisticas?ano={year}&tipo=I&uf=SP").json()["tabelas"][0]["porUf"] == []
    # every kind of the year when no tipo is given
    assert [t["tipo"] for t in client.get(f"/api/v1/estatisticas?ano={year}").json()["tabelas"]] == [
        k.value for k in Kind]
    problem(client.get("/api/v1/estatisticas?ano=20x4"), 422, "ESTAT-E001")
    problem(client.get("/api/v1/estatisticas?tipo=X"), 422, "ESTAT-E002")
    problem(client.get("/api/v1/estatisticas?uf=ZZ"), 422, "ESTAT-E003")
    problem(client.get("/api/v1/estatisticas?de=2024-01-01"), 422, "ESTAT-E004")
    page = client.get(f"/estatisticas?ano={year}&tipo=I")
    assert page.status_code == 200 and "Tipo I" in page.text and "content-security-policy" in page.headers
    assert client.get(f"/estatisticas/grafico.svg?ano={year}").headers["content-type"].startswith("image/svg+xml")
    assert client.get("/estatisticas?tipo=X").status_code == 422


def test_certificates_negativa_then_positiva_verifiable_as_issued(client: TestClient) -> None:
    """A negativa issued before the conviction arrives stays verifiable as issued (its stored hash, its PDF); the
    next certificate is a positiva listing the conviction; the PDF's text holds the data; the XML's signature
    verifies and one changed byte breaks it; unknown codes are 404; CNPJs and bad CPFs are refused; the fifth
    issuance in a minute is 429; each issuance is one audit entry without the CPF."""
    gw = client.app.state.gateway  # type: ignore[attr-defined]
    first = issue(client)
    assert first.status_code == 201, first.text
    neg = first.json()
    assert neg["tipo"] == "negativa" and neg["condenacoes"] == [] and len(neg["codigo"]) >= 10
    text = pdf_text(neg)
    assert "NEGATIVA" in text and NAME in text and "529.982.247-25" in text and "Abrangência" in text
    # the PDF's PAdES signature validates (pyHanko, the certificate as trust root) and covers the whole file
    reader = PdfFileReader(io.BytesIO(base64.b64decode(neg["pdf"])))
    [signature] = reader.embedded_signatures
    status = validate_pdf_signature(signature, ValidationContext(
        trust_roots=list(load_certs_from_pemder_data(gw.certidoes.key.cert_pem))))
    assert status.intact and status.valid and status.trusted and status.md_algorithm == "sha256"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    xml = base64.b64decode(neg["xml"])
    assert verify_xml(xml, gw.certidoes.key)
    i = xml.index(b"negativa")
    assert not verify_xml(xml[:i] + b"p" + xml[i + 1:], gw.certidoes.key)

    protocol = protocol_of(client.post("/soap/infodip", content=as_person(sample(Kind.I, fact_date=recent_day(4)),
                                                                           cpf=CPF, process=None)))
    second = issue(client, name="maria  da conceição araújo")
    pos = second.json()
    assert pos["tipo"] == "positiva" and [c["protocolo"] for c in pos["condenacoes"]] == [protocol]
    assert "POSITIVA" in pdf_text(pos) and protocol in pdf_text(pos)
    assert pos["codigo"] != neg["codigo"]

    # the negativa, issued before the conviction arrived, is still verifiable as issued
    found = client.get(f"/api/v1/certidoes/{neg['codigo']}").json()
    assert (found["tipo"], found["nome"], found["cpf"]) == ("negativa", NAME, "***.982.247-**")
    assert found["sha256"] == neg["sha256"] and found["emitidaEm"] == neg["emitidaEm"]
    checked = client.post(f"/api/v1/certidoes/{neg['codigo']}/conferir", content=base64.b64decode(neg["pdf"]))
    assert checked.json()["confere"] is True and checked.json()["documento"] == "pdf"
    assert client.post(f"/api/v1/certidoes/{neg['codigo']}/conferir", content=xml).json()["documento"] == "xml"
    assert client.post(f"/api/v1/certidoes/{neg['codigo']}/conferir",
                       content=base64.b64decode(pos["pdf"])).json()["confere"] is False
    # typed loosely (lower case, groups) it is the same code
    assert client.get(f"/api/v1/certidoes/{neg['codigoFormatado'].lower()}").status_code == 200
    page = client.get(f"/certidoes/verificar?codigo={neg['codigo']}")
    assert page.status_code == 200 and neg["sha256"]["pdf"] in page.text and "negativa" in page.text
    uploaded = client.post("/certidoes/verificar", data={"codigo": neg["codigo"]},
                           files={"arquivo": ("c.pdf", base64.b64decode(neg["pdf"]), "application/pdf")})
    assert uploaded.status_code == 200 and "confere" in uploaded.text and "NÃO confere" not in uploaded.text

    problem(client.get("/api/v1/certidoes/AAAAAAAAAAAA"), 404, "CERT-E010")
    problem(client.get("/api/v1/certidoes/nada"), 404, "CERT-E010")
    assert client.get("/certidoes/verificar?codigo=AAAAAAAAAAAA").status_code == 404
    problem(issue(client, cpf="11.222.333/0001-81"), 422, "CERT-E002")
    problem(issue(client, cpf="12345678900"), 422, "CERT-E001")
    problem(issue(client, name="  "), 422, "CERT-E003")
    assert issue(client).status_code == 201  # the third and fourth in this minute
    assert issue(client).status_code == 201
    refused = problem(issue(client), 429, "CERT-E004")
    assert refused["campo"] is None

    with gw.reader_engine.connect() as conn:
        entries = [json.loads(d) for d in conn.execute(
            select(audit_log.c.detail).where(audit_log.c.event == "certidao.emitida")).scalars()]
    assert [e["codigo"] for e in entries][:2] == [neg["codigo"], pos["codigo"]] and len(entries) == 4
    assert all(CPF not in json.dumps(e) for e in entries)


def test_migration_backfills_the_counts_from_the_stored_communications(db_url: str) -> None:
    """A store filled before 0014 (the generator's 400 communications, some withdrawn) gets, on upgrade, exactly the
    counts and markers that acceptance keeps (distinct people, equal to a recount); downgrade removes the tables and
    the organs' UF."""
    engine = make_engine(db_url, writer=True)
    try:
        upgrade(engine)
        generate(engine, SystemClock(), 400, deliveries=False)
        with engine.connect() as conn:
            kept = kept_counts(conn)
            assert kept == recount(conn) and any(k[3] == "cancelada" for k in kept)
            markers = set(conn.execute(select(estatisticas_pessoas)).all())
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0012_intimacoes")
        with engine.connect() as conn:
            assert not {"estatisticas_contagens", "estatisticas_pessoas"} & set(inspect(conn).get_table_names())
            assert "uf" not in {c["name"] for c in inspect(conn).get_columns("organs")}
        upgrade(engine)
        with engine.connect() as conn:
            assert kept_counts(conn) == kept
            assert set(conn.execute(select(estatisticas_pessoas)).all()) == markers
    finally:
        engine.dispose()
