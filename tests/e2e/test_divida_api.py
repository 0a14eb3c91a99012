"""The dívida ativa REST API as PJe calls it: ``gateway serve`` as a real process in front of the PGFN and PGF
simulators as real processes, a bearer token from ``POST /oauth/token``: answers checked against the simulators'
seed; each partner's fault (down, slow, garbage, 401, 429) reported in ``fontes`` with ``parcial``; no partner at
all a 503 problem; the PGFN token expiring mid-run; scopes, ``On-Behalf-Of`` and ``finalidade`` enforced; bad input
as 422 problems naming the field; the per-client limit (429, ``Retry-After``); an audit entry per access, on SQLite
and PostgreSQL; nothing of the answers in the gateway's log."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.bootstrap import console
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log, organs
from gateway.identifiers import is_valid_inscricao_pgfn, processo_cnj_check_digits
from gateway.settings import Settings
from mocks.divida_data import PGF, PGFN, Base, default_base
from tests.support import (
    KDF_N,
    DebtPartners,
    GatewayProcess,
    password_of,
    postgres_schema,
    seed,
    test_settings,
    wait_until,
)

pytestmark = pytest.mark.e2e

PG_URL = os.environ.get("GATEWAY_TEST_PG_URL")
JUIZ = "52998224725"  # the natural person acting (a valid CPF)
PROCESSO = "0001234-" + processo_cnj_check_digits("0001234", "2024", "8", "19", "0001") + ".2024.8.19.0001"
ROUTE = "/api/v1/devedores/inscricoes"


def partner_env(sims: DebtPartners, **extra: str) -> dict[str, str]:
    """The gateway's environment pointing the bridge at *sims* (short timeouts; breakers that never open, so one
    test's faults do not decide the next one's sources)."""
    c = sims.demo["pgfn"]["credentials"]
    return {"GATEWAY_PGFN_URL": sims.url("pgfn"), "GATEWAY_PGFN_CLIENT_ID": c["consumer_key"],
            "GATEWAY_PGFN_CLIENT_SECRET": c["consumer_secret"], "GATEWAY_PGF_URL": sims.url("pgf"),
            "GATEWAY_PGF_API_KEY": sims.demo["pgf"]["credentials"]["api_key"],
            "GATEWAY_PGFN_TIMEOUT_S": "1.5", "GATEWAY_PGF_TIMEOUT_S": "1.5", "GATEWAY_DIVIDA_DEADLINE_S": "10",
            "GATEWAY_BREAKER_THRESHOLD": "100000", "GATEWAY_LOG_LEVEL": "INFO", **extra}


def start_gateway(db_url: str, tmp: Path, sims: DebtPartners, **extra: str) -> GatewayProcess:
    """A gateway on *db_url* (seeded) whose TJRJ holds ``divida:ler`` and TJSP only ``relatorios:ler``."""
    with console(Settings.from_env({}, database_url=db_url, password_kdf_n=KDF_N)) as con:
        con.admin.grant("TJRJ", ["divida:ler"])
        con.admin.grant("TJSP", ["relatorios:ler"])
    return GatewayProcess(test_settings(db_url, tmp), tmp / "gateway.log", partner_env(sims, **extra)).start()


def token(gw: GatewayProcess, username: str = "tjrj-sistema") -> str:
    """A bearer token of *username*'s organ (all its grants)."""
    r = httpx.post(gw.url + "/oauth/token", auth=(username, password_of(username)),
                   data={"grant_type": "client_credentials"}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def headers(tok: str, on_behalf_of: str | None = JUIZ) -> dict[str, str]:
    """Authorization and On-Behalf-Of."""
    h = {"Authorization": f"Bearer {tok}"}
    if on_behalf_of is not None:
        h["On-Behalf-Of"] = on_behalf_of
    return h


@pytest.fixture(scope="module")
def sims() -> Iterator[DebtPartners]:
    """Both simulators for this module."""
    p = DebtPartners()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def gateway(sims: DebtPartners, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway on SQLite for the module."""
    tmp = tmp_path_factory.mktemp("divida-api")
    url = f"sqlite:///{tmp / 'gateway.db'}"
    seed(url)
    gw = start_gateway(url, tmp, sims)
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def base() -> Base:
    """The data the simulators serve, built here from the same seed."""
    return default_base()


@pytest.fixture(scope="module")
def tok(gateway: GatewayProcess) -> str:
    """TJRJ's token."""
    return token(gateway)


@pytest.fixture
def clean(sims: DebtPartners) -> Iterator[DebtPartners]:
    """The simulators, reset before and after the test."""
    sims.reset()
    yield sims
    sims.reset()


def ask(gw: GatewayProcess, tok: str, documentos: Any, finalidade: Any = PROCESSO, **kw: Any) -> httpx.Response:
    """POST the debtors' query."""
    body = {"documentos": documentos, "finalidade": finalidade}
    return httpx.post(gw.url + ROUTE, json=body, headers=kw.pop("hdrs", headers(tok)), timeout=60, **kw)


def seed_totals(base: Base, credor: str, doc: str) -> tuple[set[str], str, str]:
    """The seed's inscriptions of *doc* at *credor*: numbers and the two totals as the wire writes them."""
    found = base.inscricoes_de(credor, doc)
    principal = sum(i.valor_consolidado for i, r in found if r.tipo == "PRINCIPAL")
    co = sum(i.valor_consolidado for i, r in found if r.tipo != "PRINCIPAL")
    return {i.numero for i, _ in found}, f"{Decimal(principal) / 100:.2f}", f"{Decimal(co) / 100:.2f}"


def problem(r: httpx.Response, status: int, code: str, campo: str | None = "?") -> dict[str, Any]:
    """*r* is an RFC 9457 problem with *status* and *code* (and *campo*, unless "?")."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["codigo"] == code and body["status"] == status and body["type"].endswith(code)
    if campo != "?":
        assert body["campo"] == campo
    return body


def test_every_kind_of_debtor_in_one_call(gateway: GatewayProcess, tok: str, clean: DebtPartners,
                                          base: Base) -> None:
    """Every demo document (PGFN only, PGF only, both, neither — alphanumeric CNPJs included) in one call: one
    result each, in order, both sources ``ok``, inscriptions and totals per creditor exactly the seed's (money as
    decimal strings with a dot); the debtors with no inscription have an empty list and are not partial."""
    demo = clean.demo["pgfn"]["devedores"]
    docs = [d for group in ("pgfn", "pgf", "ambos", "nenhum") for d in demo[group]]
    r = ask(gateway, tok, docs)
    assert r.status_code == 200, r.text
    results = r.json()["resultados"]
    assert [x["devedor"]["cpfCnpj"] for x in results] == docs
    for x in results:
        assert x["parcial"] is False
        assert [(f["credor"], f["estado"]) for f in x["fontes"]] == [("PGFN", "ok"), ("PGF", "ok")]
        for credor, name in (("PGFN", PGFN), ("PGF", PGF)):
            numbers, principal, co = seed_totals(base, name, x["devedor"]["cpfCnpj"])
            assert {i["numeroInscricao"] for i in x["inscricoes"] if i["credor"] == credor} == numbers
            assert x["totais"]["porCredor"][credor] == {"principal": principal, "corresponsavel": co}
    by_doc = {x["devedor"]["cpfCnpj"]: x for x in results}
    for doc in demo["nenhum"]:
        assert by_doc[doc]["inscricoes"] == []
        assert by_doc[doc]["totais"]["geral"] == {"principal": "0.00", "corresponsavel": "0.00"}
    both = by_doc[demo["ambos"][0]]
    assert {i["credor"] for i in both["inscricoes"]} == {"PGFN", "PGF"}
    assert both["devedor"]["nome"] == base.pessoas[demo["ambos"][0]].nome
    one = both["inscricoes"][0]
    assert set(one) >= {"credor", "orgaoCredor", "numeroInscricao", "situacao", "situacaoOriginal", "papelDevedor",
                        "valorConsolidado", "dataInscricao", "dataAtualizacao", "receita", "numeroProcessoJudicial"}
    assert one["situacao"] in {"em_cobranca", "ajuizada", "parcelada", "suspensa", "garantida", "extinta", "outra"}
    ajuizadas = [i for x in results for i in x["inscricoes"] if i["situacao"] == "ajuizada"]
    assert ajuizadas and all(i["numeroProcessoJudicial"] for i in ajuizadas if i["credor"] == "PGFN")


def test_masked_and_repeated_documents(gateway: GatewayProcess, tok: str, clean: DebtPartners) -> None:
    """A masked CPF and the same CPF unmasked are one document: one result, under the unmasked number."""
    doc = clean.demo["pgfn"]["devedores"]["nenhum"][0]
    assert doc.isdigit() and len(doc) == 11
    masked = f"{doc[:3]}.{doc[3:6]}.{doc[6:9]}-{doc[9:]}"
    r = ask(gateway, tok, [masked, doc])
    assert r.status_code == 200, r.text
    assert [x["devedor"]["cpfCnpj"] for x in r.json()["resultados"]] == [doc]


FAULTS = [
    ({"down": True}, "indisponivel", "DIVIDA-E035"),
    ({"latency_ms": 5000}, "tempo_esgotado", "GATEWAY-E011"),
    ({"malformed": True}, "erro", "GATEWAY-E013"),
    ({"error_rate": 1, "status": 401}, "erro", "DIVIDA-E030"),
    ({"error_rate": 1, "status": 429}, "indisponivel", "DIVIDA-E031"),
]


@pytest.mark.parametrize("failing", ["pgfn", "pgf"])
@pytest.mark.parametrize(("fault", "estado", "code"), FAULTS, ids=["down", "slow", "garbage", "401", "429"])
def test_a_partners_fault_is_its_source_and_the_answer_is_partial(
        gateway: GatewayProcess, tok: str, clean: DebtPartners, base: Base, failing: str, fault: dict[str, Any],
        estado: str, code: str) -> None:
    """One partner down, slower than its timeout, answering garbage, refusing our credential (401, after a token
    renewal at PGFN) or asking us to wait (429): HTTP 200, that source has the right ``estado`` and ``codigo`` with
    a Portuguese ``detalhe``, the result is ``parcial``, its totals have no entry for that creditor, and the other
    partner's inscriptions and totals are the seed's — never a 500, never an empty list passing for "no debts"."""
    doc = clean.demo["pgfn"]["devedores"]["ambos"][1]
    clean.faults(failing, **fault)
    r = ask(gateway, tok, [doc])
    assert r.status_code == 200, r.text
    [x] = r.json()["resultados"]
    bad, good = ("PGFN", "PGF") if failing == "pgfn" else ("PGF", "PGFN")
    fontes = {f["credor"]: f for f in x["fontes"]}
    assert x["parcial"] is True
    assert (fontes[bad]["estado"], fontes[bad]["codigo"]) == (estado, code)
    assert fontes[bad]["detalhe"] and fontes[bad]["consultadoEm"]
    assert (fontes[good]["estado"], fontes[good]["codigo"]) == ("ok", None)
    assert set(x["totais"]["porCredor"]) == {good}
    numbers, principal, _ = seed_totals(base, PGFN if good == "PGFN" else PGF, doc)
    assert {i["numeroInscricao"] for i in x["inscricoes"]} == numbers
    assert x["totais"]["geral"]["principal"] == principal


def test_no_partner_answering_is_a_503_problem(gateway: GatewayProcess, tok: str, clean: DebtPartners) -> None:
    """Both simulators down: a 503 problem ``DIVIDA-E050`` with ``Retry-After``, for the list and for one
    inscription alike."""
    clean.faults("pgfn", down=True)
    clean.faults("pgf", down=True)
    r = ask(gateway, tok, clean.demo["pgfn"]["devedores"]["nenhum"])
    problem(r, 503, "DIVIDA-E050")
    assert int(r.headers["retry-after"]) >= 1
    r = httpx.get(f"{gateway.url}/api/v1/inscricoes/PGFN/{pgfn_number(clean)}", params={"finalidade": PROCESSO},
                  headers=headers(tok), timeout=60)
    problem(r, 503, "DIVIDA-E050")


def test_the_pgfn_token_expiring_mid_run_is_renewed_once(gateway: GatewayProcess, tok: str, clean: DebtPartners,
                                                         base: Base) -> None:
    """After a first answer, every PGFN token expires (``/_mock/expire-tokens``); the next call, five documents,
    renews the gateway's token once and answers everything from both partners."""
    demo = clean.demo["pgfn"]["devedores"]
    assert ask(gateway, tok, demo["pgfn"][:1]).status_code == 200
    clean.http.post(clean.url("pgfn") + "/_mock/expire-tokens").raise_for_status()
    before = sum(1 for e in clean.received("pgfn") if e["operation"] == "token")
    docs = [*demo["pgfn"][:4], demo["ambos"][1]]
    r = ask(gateway, tok, docs)
    assert r.status_code == 200, r.text
    assert all(x["parcial"] is False for x in r.json()["resultados"])
    received = clean.received("pgfn")
    assert sum(1 for e in received if e["operation"] == "token") == before + 1
    assert any(e["status"] == 401 for e in received)
    for x in r.json()["resultados"]:
        numbers, principal, _ = seed_totals(base, PGFN, x["devedor"]["cpfCnpj"])
        assert {i["numeroInscricao"] for i in x["inscricoes"] if i["credor"] == "PGFN"} == numbers
        assert x["totais"]["porCredor"]["PGFN"]["principal"] == principal


def pgfn_number(sims: DebtPartners) -> str:
    """An inscription number of a demo debtor at PGFN (from the seed)."""
    doc = sims.demo["pgfn"]["devedores"]["pgfn"][1]
    return sorted(i.numero for i, _ in default_base().inscricoes_de(PGFN, doc))[0]


def test_one_inscription_in_detail_and_one_unknown(gateway: GatewayProcess, tok: str, clean: DebtPartners,
                                                   base: Base) -> None:
    """``GET /api/v1/inscricoes/{credor}/{numero}``: a PGFN and a PGF inscription of the seed in detail (every party
    with its role, the value as the seed's, the source ok); a well-formed number nobody knows is 404
    ``DIVIDA-E010``."""
    demo = clean.demo["pgfn"]["devedores"]
    for credor, name, doc in (("PGFN", PGFN, demo["pgfn"][1]), ("PGF", PGF, demo["pgf"][0])):
        inscr, _ = base.inscricoes_de(name, doc)[0]
        r = httpx.get(f"{gateway.url}/api/v1/inscricoes/{credor}/{inscr.numero}", params={"finalidade": PROCESSO},
                      headers=headers(tok), timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["fonte"]["credor"] == credor and body["fonte"]["estado"] == "ok"
        d = body["inscricao"]
        assert d["numeroInscricao"] == inscr.numero and d["credor"] == credor
        assert d["valorConsolidado"] == f"{Decimal(inscr.valor_consolidado) / 100:.2f}"
        assert doc in {p["devedor"]["cpfCnpj"] for p in d["responsaveis"]}
        assert {p["papel"] for p in d["responsaveis"]} >= {"principal"}
    unknown = next(n for n in (f"{k:013d}" for k in range(10**12, 10**12 + 10_000))
                   if is_valid_inscricao_pgfn(n) and n not in base.inscricoes[PGFN])
    r = httpx.get(f"{gateway.url}/api/v1/inscricoes/PGFN/{unknown}", params={"finalidade": PROCESSO},
                  headers=headers(tok), timeout=60)
    problem(r, 404, "DIVIDA-E010", "numero")


def test_scopes_person_and_purpose_are_required(gateway: GatewayProcess, tok: str, clean: DebtPartners) -> None:
    """No token: 401 ``GATEWAY-E062`` with a Bearer challenge; an organ without ``divida:ler`` (TJSP holds only
    ``relatorios:ler``): 403 ``GATEWAY-E063``; the operations token neither; no ``On-Behalf-Of``: 400
    ``GATEWAY-E064``; not a CPF: 422 ``GATEWAY-E065``; no ``finalidade``: 422 naming it; a ``finalidade`` that is no
    CNJ process number: 422 ``DIVIDA-E007``. No partner was asked for any of them."""
    doc = clean.demo["pgfn"]["devedores"]["nenhum"][0]
    r = httpx.post(gateway.url + ROUTE, json={"documentos": [doc], "finalidade": PROCESSO}, timeout=30)
    problem(r, 401, "GATEWAY-E062", "Authorization")
    assert r.headers["www-authenticate"].startswith("Bearer")
    problem(ask(gateway, "", [doc], hdrs=headers(token(gateway, "tjsp-sistema"))), 403, "GATEWAY-E063")
    problem(ask(gateway, "", [doc], hdrs=headers("token-de-teste")), 401, "GATEWAY-E062")
    problem(ask(gateway, tok, [doc], hdrs=headers(tok, None)), 400, "GATEWAY-E064", "On-Behalf-Of")
    problem(ask(gateway, tok, [doc], hdrs=headers(tok, "12345678900")), 422, "GATEWAY-E065", "On-Behalf-Of")
    r = httpx.post(gateway.url + ROUTE, json={"documentos": [doc]}, headers=headers(tok), timeout=30)
    problem(r, 422, "GATEWAY-E070", "finalidade")
    problem(ask(gateway, tok, [doc], finalidade="para conferir"), 422, "DIVIDA-E007", "finalidade")
    problem(ask(gateway, tok, [doc], finalidade=PROCESSO[:-1] + "9"), 422, "DIVIDA-E007", "finalidade")
    r = httpx.get(f"{gateway.url}/api/v1/inscricoes/PGFN/{pgfn_number(clean)}", headers=headers(tok), timeout=30)
    problem(r, 422, "GATEWAY-E070", "finalidade")
    assert clean.received("pgfn") == [] and clean.received("pgf") == []


def test_bad_input_is_a_422_problem_naming_the_field(gateway: GatewayProcess, tok: str,
                                                     clean: DebtPartners) -> None:
    """An invalid CPF among valid documents names ``documentos[1]`` (``DIVIDA-E001``); none or 101 documents are
    ``DIVIDA-E002``; a body that is not JSON or not the contract's is ``GATEWAY-E070``; an unknown creditor is
    ``DIVIDA-E003`` and inscription numbers are checked by their creditor's rule (``DIVIDA-E004``/``E005``). No
    partner was asked."""
    good = clean.demo["pgfn"]["devedores"]["nenhum"][0]
    problem(ask(gateway, tok, [good, "12345678900"]), 422, "DIVIDA-E001", "documentos[1]")
    problem(ask(gateway, tok, [good, "00.000.000/0001-00"]), 422, "DIVIDA-E001", "documentos[1]")
    problem(ask(gateway, tok, []), 422, "DIVIDA-E002", "documentos")
    problem(ask(gateway, tok, [good] * 101), 422, "DIVIDA-E002", "documentos")
    problem(ask(gateway, tok, "11144477735"), 422, "GATEWAY-E070")
    r = httpx.post(gateway.url + ROUTE, content=b'{"documentos": [', timeout=30,
                   headers={**headers(tok), "Content-Type": "application/json"})
    problem(r, 422, "GATEWAY-E070")
    for path, code in (("OUTRO/123", "DIVIDA-E003"), ("PGFN/1234567890123", "DIVIDA-E004"),
                       ("PGF/123456789012346", "DIVIDA-E005"), ("PGF/123456789012345", "DIVIDA-E006")):
        r = httpx.get(f"{gateway.url}/api/v1/inscricoes/{path}", params={"finalidade": PROCESSO},
                      headers=headers(tok), timeout=30)
        problem(r, 422, code, "credor" if code == "DIVIDA-E003" else "numero")
    assert clean.received("pgfn") == [] and clean.received("pgf") == []


def test_one_hundred_documents_in_one_call(gateway: GatewayProcess, tok: str, clean: DebtPartners,
                                           base: Base) -> None:
    """The bound itself: 100 distinct documents are answered, one result each, none partial."""
    docs = list(dict.fromkeys(p for p in base.pessoas))[:100]
    r = ask(gateway, tok, docs)
    assert r.status_code == 200, r.text
    results = r.json()["resultados"]
    assert [x["devedor"]["cpfCnpj"] for x in results] == docs
    assert not any(x["parcial"] for x in results)


def audit_entries(db_url: str, event: str) -> list[dict[str, Any]]:
    """The audit entries of *event*: the organ's code and the decoded detail."""
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(organs.c.code, audit_log.c.detail)
                                .join(organs, organs.c.id == audit_log.c.organ_id)
                                .where(audit_log.c.event == event).order_by(audit_log.c.id)).all()
    finally:
        engine.dispose()
    return [{"organ": code, **json.loads(detail)} for code, detail in rows]


def check_audit(gw: GatewayProcess, db_url: str, sims: DebtPartners) -> None:
    """A query and a detail through *gw* leave one audit entry each: organ, credential, person, purpose, what was
    asked and which partners answered; none of the answer (the debtor's name) is in them."""
    tok = token(gw)
    before = len(audit_entries(db_url, "divida.inscricao"))
    doc = sims.demo["pgfn"]["devedores"]["ambos"][0]
    sims.faults("pgf", down=True)
    assert ask(gw, tok, [doc, JUIZ]).status_code == 200
    sims.reset()
    number = pgfn_number(sims)
    assert httpx.get(f"{gw.url}/api/v1/inscricoes/PGFN/{number}", params={"finalidade": PROCESSO},
                     headers=headers(tok), timeout=60).status_code == 200
    # committed with the next group commit, just after the answer (a read's rule): wait for it
    wait_until(lambda: len(audit_entries(db_url, "divida.inscricao")) > before, 10, what="the audit entries")
    [entry] = audit_entries(db_url, "divida.devedores")[-1:]
    assert entry["organ"] == "TJRJ" and entry["usuario"] == "tjrj-sistema" and entry["canal"] == "rest:bearer"
    assert entry["pessoa"] == JUIZ and entry["finalidade"] == "".join(c for c in PROCESSO if c.isdigit())
    assert entry["documentos"] == [doc, JUIZ]
    assert entry["fontes"] == {"PGFN": {"ok": 2}, "PGF": {"indisponivel": 2}}
    assert default_base().pessoas[doc].nome not in json.dumps(entry, ensure_ascii=False)
    [detail] = audit_entries(db_url, "divida.inscricao")[-1:]
    assert (detail["credor"], detail["numeroInscricao"], detail["pessoa"]) == ("PGFN", number, JUIZ)
    assert detail["fontes"] == {"PGFN": {"ok": 1}}


def test_every_access_is_audited_and_nothing_of_the_answer_is_logged(gateway: GatewayProcess, clean: DebtPartners,
                                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """The audit entries of an access (SQLite); the gateway's log (INFO) holds neither the debtors' names nor
    their inscription numbers, nor the documents asked."""
    db_url = gateway.settings.database_url
    check_audit(gateway, db_url, clean)
    log = gateway.log_path.read_text(encoding="utf-8")
    doc = clean.demo["pgfn"]["devedores"]["ambos"][0]
    assert default_base().pessoas[doc].nome not in log
    assert doc not in log and pgfn_number(clean) not in log


@pytest.mark.postgres
def test_audit_on_postgresql(sims: DebtPartners, tmp_path: Path) -> None:
    """The same audit entries with the gateway on PostgreSQL."""
    if not PG_URL:
        pytest.skip("GATEWAY_TEST_PG_URL não definido: testes em PostgreSQL não executados")
    sims.reset()
    with postgres_schema(PG_URL) as url:
        seed(url)
        gw = start_gateway(url, tmp_path, sims)
        try:
            check_audit(gw, url, sims)
        finally:
            gw.stop()
    sims.reset()


def test_the_per_client_limit_is_a_429_with_retry_after(sims: DebtPartners, tmp_path: Path) -> None:
    """With ``GATEWAY_DIVIDA_LIMITE_POR_MINUTO=3``, TJRJ's fourth call within the minute is a 429 problem
    ``DIVIDA-E040`` with ``Retry-After`` (seconds, at most two minutes), and the partners are not asked for it."""
    sims.reset()
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    seed(url)
    gw = start_gateway(url, tmp_path, sims, GATEWAY_DIVIDA_LIMITE_POR_MINUTO="3")
    try:
        tok = token(gw)
        doc = sims.demo["pgfn"]["devedores"]["nenhum"][0]
        assert [ask(gw, tok, [doc]).status_code for _ in range(3)] == [200, 200, 200]
        asked = len(sims.received("pgf"))
        r = ask(gw, tok, [doc])
        problem(r, 429, "DIVIDA-E040")
        assert 1 <= int(r.headers["retry-after"]) <= 120
        assert len(sims.received("pgf")) == asked
    finally:
        gw.stop()
        sims.reset()


def test_openapi_documents_both_routes_with_their_models_and_problems(gateway: GatewayProcess) -> None:
    """``/openapi.json`` describes the request body, the answers' models (inscriptions, totals, sources), the scope
    ``divida:ler`` and the problems each route may answer (422, 429, 503; 404 for one inscription)."""
    spec = httpx.get(gateway.url + "/openapi.json", timeout=30).json()
    post = spec["paths"][ROUTE]["post"]
    get = spec["paths"]["/api/v1/inscricoes/{credor}/{numero}"]["get"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ConsultaDevedores")
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Resultados")
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ResultadoInscricao")
    for op, statuses in ((post, ("401", "403", "422", "429", "503")), (get, ("404", "422", "429", "503"))):
        for status in statuses:
            assert "application/problem+json" in op["responses"][status]["content"]
        assert {"OAuth2": ["divida:ler"]} in op["security"]
    assert {p["name"] for p in get["parameters"]} >= {"credor", "numero", "finalidade"}
    schemas = spec["components"]["schemas"]
    assert set(schemas["Inscricao"]["properties"]) >= {"credor", "orgaoCredor", "numeroInscricao", "situacao",
                                                         "situacaoOriginal", "papelDevedor", "valorConsolidado",
                                                         "dataInscricao", "dataAtualizacao", "receita",
                                                         "numeroProcessoJudicial"}
    assert set(schemas["Fonte"]["properties"]) >= {"credor", "estado", "consultadoEm", "detalhe"}
    assert schemas["ConsultaDevedores"]["properties"]["documentos"]["maxItems"] == 100


def test_a_partner_not_listening_is_unreachable_nothing_sent() -> None:
    """Through the aiohttp transport, a refused connection is ``PartnerUnreachable`` (nothing sent: the source is
    ``indisponivel``), as it was through httpx's own pool."""
    import asyncio

    from adapters.pgf import PgfPartner
    from gateway.divida.domain import EstadoFonte, estado_da_falha
    from gateway.errors import PartnerUnreachable
    from tests.support import free_port

    async def main() -> None:
        partner = PgfPartner(f"http://127.0.0.1:{free_port()}", "chave", timeout=2)
        try:
            with pytest.raises(PartnerUnreachable) as e:
                await partner.devedor(JUIZ)
            assert estado_da_falha(e.value) is EstadoFonte.INDISPONIVEL
        finally:
            await partner.aclose()

    asyncio.run(main())
