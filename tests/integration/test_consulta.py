"""Consultation of a person's political-rights situation (issue 14 points 1–3) in the gateway as bootstrap wires it,
on a real database (SQLite file and PostgreSQL): each key (CPF, título, name + birth date + mother's name), the
timeline and its rule version, the refusals (no grant, no purpose, no acting person, an ambiguous person, the rate
limit), the audit entries, a sender's listing and the lateness report (JSON and CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import insert, inspect, select

from gateway.bootstrap import create_app
from gateway.consulta.service import person_digest
from gateway.db.engine import make_engine
from gateway.db.migrate import MIGRATIONS, upgrade
from gateway.db.tables import audit_log, consulta_pessoas, messages, store_outcomes
from gateway.infodip.domain import Kind
from tests.integration.test_oauth import bearer, problem, token, with_demo_grants
from tests.support import SECRET, comunicacao_of, infodip_request, recent_day, sample, test_settings
from tests.support import unique_ref as _unique_ref

CPF = "18273645053"  # the kind IV sample's person (Cláudio Henrique Bastos Viana)
TITULO = "526137080388"
PROCESS = "02674153720258190001"
ACTING = "52998224725"  # the natural person acting (On-Behalf-Of)
PURPOSE = "0045218-09.2024.8.19.0001"


def unique_ref(prefix: str) -> str:
    return _unique_ref(prefix)


def protocol_of(r: Any) -> str:
    assert r.status_code == 200, r.text
    return str(r.text.split("<i:protocolo>")[1].split("<")[0])


def as_person(body: bytes, *, cpf: str = CPF, process: str | None = PROCESS, name: str | None = None) -> bytes:
    """A sample request rewritten to be about the kind IV sample's person (same CPF, process, name, birth, mother)."""
    text = body.decode()
    start, end = text.index("<inf:pessoa>"), text.index("</inf:pessoa>")
    person = ("<inf:pessoa><inf:nome>" + (name or "Cláudio Henrique Bastos Viana") + f"</inf:nome><inf:cpf>{cpf}"
              "</inf:cpf><inf:dataNascimento>1971-11-30</inf:dataNascimento><inf:nomeMae>Regina Bastos Viana"
              "</inf:nomeMae>")
    text = text[:start] + person + text[end:]
    if process:
        i = text.index("<inf:numero>") + len("<inf:numero>")
        text = text[:i] + process + text[i + 20:]
    return text.encode()


@pytest.fixture
def gateway(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A gateway whose organs hold the sandbox's grants (TJRJ: direitos-politicos:consultar), 5 consultations a
    minute per client."""
    settings = test_settings(db_url, tmp_path, admin_token="token-do-operador", consulta_rate_per_minute=5)
    passwords = with_demo_grants(settings)
    with TestClient(create_app(settings)) as client:
        yield client, passwords


def ask(client: TestClient, tok: str, body: dict[str, Any], acting: str | None = ACTING) -> Any:
    headers = bearer(tok) | ({"On-Behalf-Of": acting} if acting else {})
    return client.post("/api/v1/pessoas/situacao", json=body, headers=headers)


def test_situation_by_each_key_with_timeline_audit_and_refusals(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """A conviction (IV, with inelegibility "e") and its extinction (V, from another sender) give the suspension
    [IV, V) (CF art. 15 III, Súmula TSE 9) and an inelegibility until 8 years after V (LC 64/1990 art. 1º I "e"),
    found by CPF, by título (V carries no título: joined through the CPF) and by name + birth + mother's name; each
    answer names the rule version in force on ``data`` and the coverage; each consultation is one audit entry
    (organ, acting person, purpose, keyed digest of the person). No grant: 403; no purpose: E080; no acting person:
    GATEWAY-E064; a name matching two CPFs: E081 listing no one (and still audited)."""
    client, passwords = gateway
    iv = protocol_of(client.post("/soap/infodip", content=sample(Kind.IV, fact_date=recent_day(20))))
    v = protocol_of(client.post("/soap/infodip", content=as_person(sample(Kind.V, fact_date=recent_day(5)))))
    tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]

    answers = []
    for key in ({"cpf": CPF}, {"tituloEleitor": TITULO},
                {"nome": "CLAUDIO henrique  Bastos Viana", "dataNascimento": "1971-11-30",
                 "nomeMae": "Regina Bastos Viana"}):
        r = ask(client, tok, {**key, "finalidade": PURPOSE})
        assert r.status_code == 200, r.text
        answers.append(r.json())
    for body in answers:
        assert {c["protocolo"] for c in body["comunicacoes"]} == {iv, v}
        assert {c["remetente"] for c in body["comunicacoes"]} == {"TJRJ", "TJRJ-VEP"}
        assert body["regras"]["versao"] == "LC219-2025" and body["cobertura"]["desde"] is not None
        [susp] = [i for i in body["intervalos"] if i["tipo"] == "suspensao_direitos_politicos"]
        assert (susp["inicio"], susp["fim"]) == (recent_day(20).isoformat(), recent_day(5).isoformat())
        [inel] = [i for i in body["intervalos"] if i["tipo"] == "inelegibilidade"]
        assert inel["alinea"] == "e" and inel["fim"] == recent_day(5).replace(year=recent_day(5).year + 8).isoformat()
        assert body["situacao"] == {"direitosPoliticosSuspensos": False, "inelegivel": True,
                                    "inscricaoCancelada": False}
        assert all(ver["conteudo"].startswith("<") for c in body["comunicacoes"] for ver in c["versoes"])
    assert [b["chave"] for b in answers] == ["cpf", "titulo", "nome"]

    # the situation at a past date applies the rules then in force to what is known now
    past = ask(client, tok, {"cpf": CPF, "finalidade": PURPOSE, "data": "2024-01-01"}).json()
    assert past["regras"]["versao"] == "L14230-2021" and past["data"] == "2024-01-01"
    assert past["situacao"]["direitosPoliticosSuspensos"] is False

    # refusals
    pgfn = token(client, "pgfn-mni", passwords["pgfn-mni"])["access_token"]
    problem(ask(client, pgfn, {"cpf": CPF, "finalidade": PURPOSE}), 403, "GATEWAY-E063")
    problem(ask(client, tok, {"cpf": CPF}), 422, "INFODIP-E080")
    problem(ask(client, tok, {"cpf": CPF, "finalidade": "123"}), 422, "INFODIP-E080")
    problem(ask(client, tok, {"cpf": CPF, "finalidade": PURPOSE}, acting=None), 400, "GATEWAY-E064")
    problem(ask(client, tok, {"cpf": CPF, "tituloEleitor": TITULO, "finalidade": PURPOSE}), 422, "INFODIP-E082")

    audited = _audit(client)
    assert len(audited) == 4
    keys = ("cpf:" + CPF, "titulo:" + TITULO, None, "cpf:" + CPF)
    for (organ_id, detail), digest_key in zip(audited, keys, strict=True):
        assert organ_id is not None and detail["usuario"] == "tjrj-sistema" and detail["solicitante"] == ACTING
        assert detail["finalidade"] == "00452180920248190001" and detail["canal"] == "rest:bearer"
        assert set(detail["protocolos"]) == {iv, v} and CPF not in json.dumps(detail)
        if digest_key:
            assert detail["pessoa"] == person_digest(SECRET.encode(), digest_key)


def test_ambiguous_person_lists_no_one(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Name + birth date + mother's name shared by two people with different CPFs: INFODIP-E081, no communication
    in the answer, and the consultation audited as ``ambigua``."""
    client, passwords = gateway
    protocol_of(client.post("/soap/infodip", content=sample(Kind.IV)))
    protocol_of(client.post("/soap/infodip", content=as_person(sample(Kind.IX), cpf="52998224725",
                                                               process=None)))
    tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
    r = ask(client, tok, {"nome": "Cláudio Henrique Bastos Viana", "dataNascimento": "1971-11-30",
                          "nomeMae": "Regina Bastos Viana", "finalidade": PURPOSE})
    body = problem(r, 422, "INFODIP-E081")
    assert CPF not in r.text and "52998224725" not in r.text and "protocolo" not in json.dumps(body).lower()
    [(_organ, detail)] = _audit(client)
    assert detail["resultado"] == "ambigua" and detail["protocolos"] == []


def test_rate_limit_per_client(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """Beyond GATEWAY_CONSULTA_RATE_PER_MINUTE (5 here) a client is refused with 429 INFODIP-E084 and Retry-After;
    an unknown person is an answer with no communication, not an error."""
    client, passwords = gateway
    tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
    for _ in range(5):
        r = ask(client, tok, {"cpf": "52998224725", "finalidade": PURPOSE})
        assert r.status_code == 200 and r.json()["comunicacoes"] == [] and r.json()["intervalos"] == []
    r = ask(client, tok, {"cpf": "52998224725", "finalidade": PURPOSE})
    problem(r, 429, "INFODIP-E084")
    assert int(r.headers["retry-after"]) >= 1


def test_listing_and_lateness_report(gateway: tuple[TestClient, dict[str, str]]) -> None:
    """A sender lists only its own communications, filtered (kind, process, reference, delivery state) and
    cursor-paged (no item twice, none missing); ``limite`` over the maximum is E087, a forged cursor E086. The
    lateness report counts on-time and late versions per kind and month for the sender (JSON and CSV); every sender
    only with ``relatorios:ler`` (E088 otherwise)."""
    client, passwords = gateway
    mine = [protocol_of(client.post("/soap/infodip", content=sample(Kind.IV, reference=unique_ref("L"))))
            for _ in range(3)]
    late = protocol_of(client.post("/soap/infodip", content=sample(Kind.I, fact_date=date(2025, 1, 2))))
    other = protocol_of(client.post("/soap/infodip", content=sample(Kind.V)))  # TJRJ-VEP's
    auth = ("tjrj-sistema", passwords["tjrj-sistema"])
    seen: list[str] = []
    cursor = None
    while True:
        r = client.get("/api/v1/comunicacoes", params={"limite": 2, **({"cursor": cursor} if cursor else {})},
                       auth=auth)
        assert r.status_code == 200, r.text
        seen += [i["protocolo"] for i in r.json()["itens"]]
        cursor = r.json()["proximo"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([*mine, late]) and other not in seen
    r = client.get("/api/v1/comunicacoes", params={"tipo": "I"}, auth=auth)
    [item] = r.json()["itens"]
    assert item["protocolo"] == late and item["emAtraso"] is True and item["diasAtraso"] > 300
    assert {e["destino"] for e in item["entregas"]} >= {"TSE"}
    assert len(client.get("/api/v1/comunicacoes", params={"processo": PROCESS}, auth=auth).json()["itens"]) == 3
    assert client.get("/api/v1/comunicacoes", params={"entrega": "pendente"}, auth=auth).json()["itens"]
    assert client.get("/api/v1/comunicacoes", params={"entrega": "morta"}, auth=auth).json()["itens"] == []
    problem(client.get("/api/v1/comunicacoes", params={"limite": 5000}, auth=auth), 422, "INFODIP-E087")
    problem(client.get("/api/v1/comunicacoes", params={"cursor": "não-é-cursor"}, auth=auth), 422, "INFODIP-E086")
    # the last representable day as a bound: no upper bound, not a 500 (the day after it does not exist)
    far = client.get("/api/v1/comunicacoes", params={"desde": "0001-01-01", "ate": "9999-12-31"}, auth=auth)
    assert far.status_code == 200 and len(far.json()["itens"]) == 4, far.text
    far = client.get("/api/v1/relatorios/atrasos", params={"desde": "0001-01-01", "ate": "9999-12-31"}, auth=auth)
    assert far.status_code == 200 and {line["tipo"] for line in far.json()["linhas"]} >= {"I", "IV"}, far.text

    report = client.get("/api/v1/relatorios/atrasos", auth=auth).json()["linhas"]
    by_kind = {line["tipo"]: line for line in report}
    assert {line["remetente"] for line in report} == {"TJRJ"}
    assert by_kind["IV"]["noPrazo"] == 3 and by_kind["IV"]["emAtraso"] == 0
    assert by_kind["I"]["emAtraso"] == 1 and by_kind["I"]["piorAtrasoDias"] == item["diasAtraso"]
    csv_text = client.get("/api/v1/relatorios/atrasos", params={"formato": "csv"}, auth=auth).text
    assert csv_text.splitlines()[0] == "remetente;tipo;mes;noPrazo;emAtraso;atrasoMedianoDias;piorAtrasoDias"
    assert any(line.startswith("TJRJ;IV;") and ";3;0;" in line for line in csv_text.splitlines())
    problem(client.get("/api/v1/relatorios/atrasos", params={"remetente": "TJRJ-VEP"}, auth=auth), 403,
            "INFODIP-E088")
    operator = token(client, "operacao-gateway", passwords["operacao-gateway"])["access_token"]
    everyone = client.get("/api/v1/relatorios/atrasos", headers=bearer(operator)).json()["linhas"]
    assert {line["remetente"] for line in everyone} == {"TJRJ", "TJRJ-VEP"}


def _audit(client: TestClient) -> list[tuple[int, dict[str, Any]]]:
    with client.app.state.gateway.reader_engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(audit_log.c.organ_id, audit_log.c.detail).where(
            audit_log.c.event == "consulta.situacao").order_by(audit_log.c.id)).all()
    return [(o, json.loads(d)) for o, d in rows]


def test_person_index_follows_retification_and_is_backfilled(db_url: str, tmp_path: Path) -> None:
    """A retificação that corrects the person's CPF moves the communication to the corrected person (the index is
    rewritten in the acceptance's transaction); migration 0008 fills the index from the payloads already stored
    (downgraded to 0006 and upgraded again, the same answer); a registered outcome reader's
    ``resultadoProcessamento`` appears in the listing."""
    settings = test_settings(db_url, tmp_path, admin_token="token-do-operador")
    passwords = with_demo_grants(settings)
    corrected = "52998224725"
    with TestClient(create_app(settings)) as client:
        protocol = protocol_of(client.post("/soap/infodip", content=sample(Kind.IV)))
        fix = infodip_request("retificarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>"
                              + comunicacao_of(as_person(sample(Kind.IV, reference=unique_ref("R")), cpf=corrected)))
        assert client.post("/soap/infodip", content=fix).status_code == 200
        tok = token(client, "tjrj-sistema", passwords["tjrj-sistema"])["access_token"]
        assert ask(client, tok, {"cpf": CPF, "finalidade": PURPOSE}).json()["comunicacoes"] == []
        [found] = ask(client, tok, {"cpf": corrected, "finalidade": PURPOSE}).json()["comunicacoes"]
        assert found["protocolo"] == protocol and found["versaoAtual"] == 2 and len(found["versoes"]) == 2

        gw = client.app.state.gateway  # type: ignore[attr-defined]
        with gw.writer_engine.begin() as conn:  # the TSE store reported the current version for manual review
            [mid] = conn.execute(select(messages.c.message_id).where(messages.c.protocol == protocol,
                                                                     messages.c.version == 2)).scalars().all()
            conn.execute(insert(store_outcomes).values(message_id=mid, destination="TSE", outcome="revisao-manual",
                                                       detail="homônimo", processed_at=None,
                                                       recorded_at=datetime.now(UTC)))
        [item] = client.get("/api/v1/comunicacoes", auth=("tjrj-sistema", passwords["tjrj-sistema"])).json()["itens"]
        tse = next(e for e in item["entregas"] if e["destino"] == "TSE")
        assert tse["resultadoProcessamento"] == {"situacao": "revisaoManual", "informadoEm": None,
                                                 "detalhe": "homônimo"}

    engine = make_engine(db_url, writer=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006_client_certificates")
        with engine.connect() as conn:
            assert "consulta_pessoas" not in inspect(conn).get_table_names()
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(select(consulta_pessoas.c.protocol, consulta_pessoas.c.cpf)).all()
    finally:
        engine.dispose()
    assert [(r.protocol, r.cpf) for r in rows] == [(protocol, corrected)]
