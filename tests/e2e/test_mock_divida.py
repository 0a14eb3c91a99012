"""The PGFN (SERPRO "Consulta Dívida Ativa" shape) and PGF (our own design) simulators as real processes on
127.0.0.1: the token flow, lookups and their error shapes, pagination and cents, every fault on GETs and POSTs,
the received log, reset, and that what they serve is the seed's data (the same as built in this process)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from validate_docbr import CNPJ, CPF

from gateway.sandbox import start_mock
from mocks.divida_data import DEFAULT_SEED, PGF, PGFN, Base, default_base, generate
from mocks.divida_ids import format_pgf, format_sida, pgf_number, sida_check_digits
from tests.support import DebtPartners

pytestmark = pytest.mark.e2e
MONEY = re.compile(r"^\d{1,3}(\.\d{3})*,\d{2}$")
BR_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
SUMMARY_KEYS = {"numeroInscricao", "numeroProcesso", "situacaoInscricao", "situacaoDescricao", "nomeDevedor",
                "tipoDevedor", "valorTotalConsolidadoMoeda", "cpfCnpj", "codigoSida", "nomeUnidade", "codigoComprot",
                "codigoUorg"}


@pytest.fixture(scope="module")
def partners() -> Iterator[DebtPartners]:
    """Both simulators for this module."""
    p = DebtPartners()
    yield p
    p.stop()


@pytest.fixture
def sims(partners: DebtPartners) -> Iterator[DebtPartners]:
    """The simulators, reset before and after each test."""
    partners.reset()
    yield partners
    partners.reset()


@pytest.fixture(scope="module")
def base() -> Base:
    """The data the simulators serve, built in this process from the same seed."""
    return default_base()


def centavos(moeda: str) -> int:
    """``"13.676,34"`` → 1367634."""
    return int(moeda.replace(".", "").replace(",", ""))


# --- PGFN: token flow ---------------------------------------------------------------------------------------------

def test_basic_credentials_get_a_bearer_token_of_3600_s(sims: DebtPartners) -> None:
    """``POST /token`` with HTTP Basic key:secret and ``grant_type=client_credentials`` gives a bearer token of
    3600 s that opens the API; wrong secret → 401 invalid_client; another grant → 400; no Basic → 401."""
    c = sims.demo["pgfn"]["credentials"]
    url = sims.url("pgfn") + "/token"
    r = sims.http.post(url, auth=(c["consumer_key"], c["consumer_secret"]), data={"grant_type": "client_credentials"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
    doc = sims.demo["pgfn"]["devedores"]["pgfn"][0]
    assert sims.pgfn_get(f"/devedor/{doc}", body["access_token"]).status_code == 200
    wrong = sims.http.post(url, auth=(c["consumer_key"], "errado"), data={"grant_type": "client_credentials"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = sims.http.post(url, auth=(c["consumer_key"], c["consumer_secret"]), data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    bare = sims.http.post(url, data={"grant_type": "client_credentials"})
    assert bare.status_code == 401


def test_missing_unknown_and_expired_tokens_get_401(sims: DebtPartners) -> None:
    """No token, a made-up token, a token expired by ``/_mock/expire-tokens`` and one issued with a zero TTL are
    all 401 with a ``fault`` body and ``WWW-Authenticate``; a new token works again."""
    doc = sims.demo["pgfn"]["devedores"]["pgfn"][0]
    missing = sims.pgfn_get(f"/devedor/{doc}", None)
    assert missing.status_code == 401 and missing.json()["fault"]["code"] == 900902
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert sims.pgfn_get(f"/devedor/{doc}", "inventado").json()["fault"]["code"] == 900901
    token = sims.token()
    assert sims.pgfn_get(f"/devedor/{doc}", token).status_code == 200
    r = sims.http.post(sims.url("pgfn") + "/_mock/expire-tokens")
    assert r.json()["expirados"] >= 1
    expired = sims.pgfn_get("/inscricao/2261500060512", token)
    assert expired.status_code == 401 and expired.json()["fault"]["code"] == 900901
    assert sims.pgfn_get(f"/devedor/{doc}", sims.token()).status_code == 200
    sims.http.post(sims.url("pgfn") + "/_mock/config", json={"token_ttl_s": 0}).raise_for_status()
    short = sims.token()
    assert sims.pgfn_get(f"/devedor/{doc}", short).status_code == 401
    sims.reset()  # restores the start-up TTL
    assert sims.http.get(sims.url("pgfn") + "/_mock/config").json() == {"token_ttl_s": 3600}
    assert sims.pgfn_get(f"/devedor/{doc}", sims.token()).status_code == 200


# --- PGFN: lookups ------------------------------------------------------------------------------------------------

def test_a_known_debtor_gets_every_inscription_in_serpro_shape(sims: DebtPartners, base: Base) -> None:
    """A demo debtor's array has one object per inscription with SERPRO's keys, pt-BR money strings and the
    values of the seed's data; a masked CPF finds the same."""
    doc = sims.demo["pgfn"]["devedores"]["pgfn"][0]
    token = sims.token()
    r = sims.pgfn_get(f"/devedor/{doc}", token)
    assert r.status_code == 200
    items = r.json()
    expected = base.inscricoes_de(PGFN, doc)
    assert [x["numeroInscricao"] for x in items] == [i.numero for i, _ in expected]
    for item, (i, role) in zip(items, expected, strict=True):
        assert set(item) == SUMMARY_KEYS
        assert MONEY.match(item["valorTotalConsolidadoMoeda"])
        assert centavos(item["valorTotalConsolidadoMoeda"]) == i.valor_consolidado
        assert item["cpfCnpj"] == doc and item["tipoDevedor"] == role.tipo == "PRINCIPAL"
        assert item["nomeDevedor"] == base.pessoas[doc].nome
        assert item["situacaoDescricao"] == i.situacao.descricao
    masked = f"{doc[:3]}.{doc[3:6]}.{doc[6:9]}-{doc[9:]}"
    assert sims.pgfn_get(f"/devedor/{masked}", token).json() == items


def test_co_responsible_and_alphanumeric_cnpj_debtors(sims: DebtPartners, base: Base) -> None:
    """A co-responsible only sees the full value of each inscription under their own name and role; an
    alphanumeric CNPJ is found, also masked and in lower case."""
    token = sims.token()
    demo = sims.demo["pgfn"]["devedores"]["pgfn"]
    co = sims.pgfn_get(f"/devedor/{demo[3]}", token).json()
    assert co and all(x["tipoDevedor"] in ("CORRESPONSAVEL", "SOLIDARIO") for x in co)
    for x in co:
        i = base.inscricoes[PGFN][x["numeroInscricao"]]
        assert centavos(x["valorTotalConsolidadoMoeda"]) == i.valor_consolidado
        principal = sims.pgfn_get(f"/devedor/{i.principal.documento}", token).json()
        same = next(p for p in principal if p["numeroInscricao"] == x["numeroInscricao"])
        assert same["valorTotalConsolidadoMoeda"] == x["valorTotalConsolidadoMoeda"]
    alnum = demo[2]
    assert not alnum.isdigit() and CNPJ().validate(alnum)
    found = sims.pgfn_get(f"/devedor/{alnum}", token)
    assert found.status_code == 200 and all(x["cpfCnpj"] == alnum for x in found.json())
    masked = f"{alnum[:2]}.{alnum[2:5]}.{alnum[5:8]}%2F{alnum[8:12]}-{alnum[12:]}".lower()
    assert sims.pgfn_get(f"/devedor/{masked}", token).json() == found.json()


def test_not_found_is_a_404_with_serpros_message_array(sims: DebtPartners) -> None:
    """Valid documents owing nothing get 404 ``[{"message": "CPF não encontrado."}]`` (CNPJ for both CNPJ
    kinds); an invalid document is a 400 in the same shape."""
    token = sims.token()
    cpf_, cnpj_, alnum = sims.demo["pgfn"]["devedores"]["nenhum"]
    r = sims.pgfn_get(f"/devedor/{cpf_}", token)
    assert r.status_code == 404 and r.json() == [{"message": "CPF não encontrado."}]
    for doc in (cnpj_, alnum):
        r = sims.pgfn_get(f"/devedor/{doc}", token)
        assert r.status_code == 404 and r.json() == [{"message": "CNPJ não encontrado."}]
    bad = sims.pgfn_get("/devedor/12345678900", token)
    assert bad.status_code == 400 and bad.json()[0]["message"]


def test_inscription_detail_by_number_masked_or_without_leading_zeros(sims: DebtPartners, base: Base) -> None:
    """``/inscricao/{numero}`` gives the CDA's content (debtors with domicile, dates DD/MM/AAAA, amounts, nature,
    legal basis, CNJ number when ajuizada); the masked number and the number without its leading zeros find it;
    wrong check digits → 400; an unknown valid number → 404."""
    token = sims.token()
    ajuizada = next(i for i in base.inscricoes[PGFN].values() if i.processo_judicial and len(i.responsaveis) > 1)
    r = sims.pgfn_get(f"/inscricao/{ajuizada.numero}", token)
    assert r.status_code == 200
    d = r.json()
    assert d["numeroInscricao"] == ajuizada.numero and d["indicadorAjuizado"] == "SIM"
    assert d["numeroProcessoJudicialNovo"].replace("-", "").replace(".", "") == ajuizada.processo_judicial
    assert BR_DATE.match(d["dataInscricao"]) and MONEY.match(d["valorTotalInscritoMoeda"])
    assert centavos(d["valorPrincipalMoeda"]) == ajuizada.valor_originario
    assert [x["cpfCnpj"] for x in d["devedores"]] == [r.documento for r in ajuizada.responsaveis]
    assert all(x["ufDevedor"] and x["municipioDevedor"] for x in d["devedores"])
    assert d["fundamentoLegal"] and d["processoAdministrativo"]
    assert sims.pgfn_get(f"/inscricao/{format_sida(ajuizada.numero)}", token).json() == d
    zero = next(n for n in base.inscricoes[PGFN] if n.startswith("0"))
    stripped = sims.pgfn_get(f"/inscricao/{zero.lstrip('0')}", token)
    assert stripped.status_code == 200 and stripped.json()["numeroInscricao"] == zero
    wrong = ajuizada.numero[:12] + str((int(ajuizada.numero[12]) + 1) % 10)
    assert sims.pgfn_get(f"/inscricao/{wrong}", token).status_code == 400
    unknown = next(b + sida_check_digits(b) for b in (f"80699{n:06d}" for n in range(1, 1000))
                   if b + sida_check_digits(b) not in base.inscricoes[PGFN])
    missing = sims.pgfn_get(f"/inscricao/{unknown}", token)
    assert missing.status_code == 404 and missing.json() == [{"message": "Inscrição não encontrada."}]


# --- PGF ----------------------------------------------------------------------------------------------------------

def test_pgf_requires_its_api_key_on_every_route(sims: DebtPartners) -> None:
    """Without ``X-API-Key`` or with a wrong one, each PGF route answers 401 with its own error shape."""
    url = sims.url("pgf") + "/api/v1"
    calls = [("GET", url + "/credores", None), ("GET", url + "/inscricoes/201202300123457", None),
             ("POST", url + "/inscricoes/consulta", {"documento": sims.demo["pgf"]["devedores"]["pgf"][0]})]
    for method, target, body in calls:
        none = sims.http.request(method, target, json=body)
        assert none.status_code == 401 and none.json()["erro"]["codigo"] == "CHAVE_AUSENTE"
        wrong = sims.http.request(method, target, json=body, headers={"X-API-Key": "errada"})
        assert wrong.status_code == 401 and wrong.json()["erro"]["codigo"] == "CHAVE_INVALIDA"
        assert sims.http.request(method, target, json=body, headers=sims.pgf_headers()).status_code in (200, 404)


def test_pgf_paginates_and_counts_in_cents(sims: DebtPartners, base: Base) -> None:
    """A debtor with more than a page: pages of ``tamanho_pagina`` put together are every inscription once, in
    order; totals are right; amounts are integer cents of the seed's data, dates ISO; the creditor autarchy is on
    each; a page past the end is empty; a page size over 100 or a page 0 is a 422."""
    doc = sims.demo["pgf"]["devedores"]["pgf"][2]
    url = sims.url("pgf") + "/api/v1/inscricoes/consulta"
    expected = [i for i, _ in base.inscricoes_de(PGF, doc)]
    got: list[dict[str, object]] = []
    for page in range(1, 4):
        r = sims.http.post(url, json={"documento": doc, "pagina": page, "tamanho_pagina": 20},
                           headers=sims.pgf_headers())
        assert r.status_code == 200
        body = r.json()
        assert body["paginacao"] == {"pagina": page, "tamanho_pagina": 20, "total_itens": len(expected),
                                     "total_paginas": 3}
        got += body["inscricoes"]
    assert len(expected) == 45
    assert [x["numero"] for x in got] == [i.numero for i in expected]
    for x, i in zip(got, expected, strict=True):
        valores = x["valores"]
        assert isinstance(valores, dict)
        assert valores["atualizado_centavos"] == i.valor_consolidado and isinstance(valores["originario_centavos"], int)
        assert date.fromisoformat(str(x["data_inscricao"])) == i.data_inscricao
        assert x["credor"]["codigo"] == x["numero"][:3]  # type: ignore[index]
        assert x["responsabilidade"] == "principal"
    past = sims.http.post(url, json={"documento": doc, "pagina": 9}, headers=sims.pgf_headers()).json()
    assert past["inscricoes"] == [] and past["paginacao"]["total_itens"] == 45
    for bad in ({"tamanho_pagina": 101}, {"pagina": 0}, {"pagina": "1"}):
        r = sims.http.post(url, json={"documento": doc, **bad}, headers=sims.pgf_headers())
        assert r.status_code == 422 and r.json()["erro"]["codigo"] == "PAGINACAO_INVALIDA"


def test_pgf_no_debt_is_an_empty_page_and_bad_input_a_422(sims: DebtPartners) -> None:
    """Unlike PGFN, a person owing nothing gets 200 with no inscriptions; an invalid document, a wrong check
    digit and an unknown creditor code are 422s naming the field."""
    url = sims.url("pgf") + "/api/v1"
    for doc in sims.demo["pgf"]["devedores"]["nenhum"]:
        r = sims.http.post(url + "/inscricoes/consulta", json={"documento": doc}, headers=sims.pgf_headers())
        assert r.status_code == 200 and r.json()["inscricoes"] == [] and r.json()["paginacao"]["total_itens"] == 0
    r = sims.http.post(url + "/inscricoes/consulta", json={"documento": "11111111111"}, headers=sims.pgf_headers())
    assert r.status_code == 422 and r.json()["erro"] == {"codigo": "DOCUMENTO_INVALIDO",
                                                         "mensagem": "CPF ou CNPJ inválido.", "campo": "documento"}
    r = sims.http.get(url + "/inscricoes/201202300123458", headers=sims.pgf_headers())
    assert r.status_code == 422 and r.json()["erro"]["codigo"] == "NUMERO_INVALIDO"
    r = sims.http.get(url + "/inscricoes/" + pgf_number(999, 2023, 1), headers=sims.pgf_headers())
    assert r.status_code == 422 and r.json()["erro"]["codigo"] == "CREDOR_DESCONHECIDO"


def test_pgf_detail_names_every_responsible_and_the_creditor(sims: DebtPartners, base: Base) -> None:
    """The detail of an inscription with co-debtors lists them all with domicile; the masked number finds it; the
    creditor table lists the code of every number; an unknown valid number is a 404."""
    i = next(x for x in base.inscricoes[PGF].values() if len(x.responsaveis) > 1 and x.processo_judicial)
    url = sims.url("pgf") + "/api/v1"
    r = sims.http.get(url + "/inscricoes/" + format_pgf(i.numero), headers=sims.pgf_headers())
    assert r.status_code == 200
    d = r.json()
    assert [x["documento"] for x in d["responsaveis"]] == [x.documento for x in i.responsaveis]
    assert d["responsaveis"][0]["responsabilidade"] == "principal" and d["responsaveis"][0]["domicilio"]["uf"]
    assert d["processo_judicial"]["numero"] == i.processo_judicial and d["situacao"]["ajuizada"] is True
    codes = {c["codigo"] for c in sims.http.get(url + "/credores", headers=sims.pgf_headers()).json()["credores"]}
    assert {n[:3] for n in base.inscricoes[PGF]} <= codes
    unknown = next(pgf_number(201, 2001, n) for n in range(1, 99) if pgf_number(201, 2001, n) not in
                   base.inscricoes[PGF])
    r = sims.http.get(url + "/inscricoes/" + unknown, headers=sims.pgf_headers())
    assert r.status_code == 404 and r.json()["erro"]["codigo"] == "INSCRICAO_NAO_ENCONTRADA"


def test_the_pgf_openapi_declares_the_routes_and_the_key(sims: DebtPartners) -> None:
    """``/openapi.json`` documents the three routes and the API key header, and says it is our own design."""
    spec = sims.http.get(sims.url("pgf") + "/openapi.json").json()
    assert set(spec["paths"]) == {"/api/v1/credores", "/api/v1/inscricoes/consulta", "/api/v1/inscricoes/{numero}"}
    assert spec["components"]["securitySchemes"]["chave"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert "desenho próprio" in spec["info"]["title"]


# --- faults, received, reset --------------------------------------------------------------------------------------

def _pgfn_call(sims: DebtPartners, token: str, timeout: float = 30) -> httpx.Response:
    return sims.pgfn_get(f"/devedor/{sims.demo['pgfn']['devedores']['pgfn'][0]}", token, timeout=timeout)


def _pgf_call(sims: DebtPartners, _token: str, timeout: float = 30) -> httpx.Response:
    n = next(iter(default_base().inscricoes[PGF]))
    return sims.http.get(sims.url("pgf") + "/api/v1/inscricoes/" + n, headers=sims.pgf_headers(), timeout=timeout)


def _pgf_post(sims: DebtPartners, _token: str, timeout: float = 30) -> httpx.Response:
    return sims.http.post(sims.url("pgf") + "/api/v1/inscricoes/consulta", headers=sims.pgf_headers(),
                          json={"documento": sims.demo["pgf"]["devedores"]["pgf"][0]}, timeout=timeout)


CALLS = [("pgfn", _pgfn_call), ("pgf", _pgf_call), ("pgf", _pgf_post)]
IDS = ["pgfn-GET-devedor", "pgf-GET-inscricao", "pgf-POST-consulta"]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=IDS)
def test_status_faults_answer_5xx_401_and_429(sims: DebtPartners, name: str, call: object) -> None:
    """``error_rate`` 1 answers the chosen status on business GETs and POSTs alike: 503 by default, 500, 401
    (a partner refusing credentials) and 429 with ``Retry-After``; ``{}`` brings the route back."""
    assert callable(call)
    token = sims.token()
    assert call(sims, token).status_code == 200
    for status in (None, 500, 401, 429):
        sims.faults(name, error_rate=1.0, status=status)
        r = call(sims, token)
        assert r.status_code == (status or 503)
        if status == 429:
            assert r.headers["Retry-After"] == "1"
    sims.faults(name)
    assert call(sims, token).status_code == 200


@pytest.mark.parametrize(("name", "call"), CALLS, ids=IDS)
def test_down_slow_and_garbage(sims: DebtPartners, name: str, call: object) -> None:
    """``down`` drops the connection, ``latency_ms`` outlasts a short client timeout, ``malformed`` answers bytes
    that are not JSON — each on a GET as on a POST — while ``/_mock/*`` keeps answering."""
    assert callable(call)
    token = sims.token()
    sims.faults(name, down=True)
    with pytest.raises(httpx.TransportError):
        call(sims, token)
    assert sims.http.get(sims.url(name) + "/_mock/received").status_code == 200
    assert sims.http.get(sims.url(name) + "/_mock/demo").status_code == 200
    sims.faults(name, latency_ms=3000)
    with pytest.raises(httpx.ReadTimeout):
        call(sims, token, timeout=0.3)
    sims.faults(name, malformed=True)
    r = call(sims, token)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    sims.faults(name)
    assert call(sims, token).json()


def test_the_token_endpoint_has_faults_too(sims: DebtPartners) -> None:
    """The token POST can be down or answer 503, so the gateway's token refresh is testable."""
    sims.faults("pgfn", error_rate=1.0)
    with pytest.raises(httpx.HTTPStatusError):
        sims.token()
    sims.faults("pgfn", down=True)
    with pytest.raises(httpx.TransportError):
        sims.token()
    sims.faults("pgfn")
    assert sims.token()


def test_received_lists_each_query_with_its_id_and_reset_clears_it(sims: DebtPartners) -> None:
    """``/_mock/received`` has one entry per call — operation, the document or number asked, status, the
    caller's ``X-Request-Id`` (duplicates flagged) — and never a secret; reset clears it and the faults."""
    token = sims.token()
    doc = sims.demo["pgfn"]["devedores"]["pgfn"][0]
    headers = {"Authorization": f"Bearer {token}", "X-Request-Id": "req-1"}
    api = sims.url("pgfn") + "/consulta-divida-ativa-df/api/v1"
    sims.http.get(f"{api}/devedor/{doc}", headers=headers)
    sims.http.get(f"{api}/devedor/{doc}", headers=headers)
    sims.http.get(f"{api}/inscricao/2261500060512", headers={**headers, "X-Request-Id": "req-2"})
    got = sims.received("pgfn")
    assert [(e["operation"], e["body"], e["status"]) for e in got] == [
        ("token", "", 200), ("devedor", doc, 200), ("devedor", doc, 200), ("inscricao", "2261500060512", 404)]
    assert [e["id"] for e in got[1:]] == ["req-1", "req-1", "req-2"]
    assert [e["duplicate"] for e in got[1:]] == [False, True, False]
    secret = sims.demo["pgfn"]["credentials"]["consumer_secret"]
    assert secret not in str(got) and token not in str(got)
    pgf_doc = sims.demo["pgf"]["devedores"]["pgf"][0]
    sims.http.post(sims.url("pgf") + "/api/v1/inscricoes/consulta", json={"documento": pgf_doc},
                   headers={**sims.pgf_headers(), "X-Gateway-Message-Id": "gw-1"})
    assert [(e["id"], e["operation"], e["body"]) for e in sims.received("pgf")] == [("gw-1", "consulta", pgf_doc)]
    sims.faults("pgf", error_rate=1.0)
    sims.reset()
    assert sims.received("pgfn") == [] and sims.received("pgf") == []
    assert sims.http.get(sims.url("pgf") + "/_mock/faults").json()["error_rate"] == 0
    assert _pgf_post(sims, "").status_code == 200
    assert _pgfn_call(sims, token).status_code == 200  # tokens survive a reset


def test_a_wsdl_fetch_and_the_soap_simulators_gets_stay_out_of_faults() -> None:
    """On the TSE simulator (SOAP), ``down`` drops the POSTs but ``GET /?wsdl`` still answers, so a sandbox starts
    while a partner is 'down' — only routes a simulator marks as business GETs take faults."""
    tse = start_mock("tse", "127.0.0.1", 0)
    try:
        httpx.post(tse.url + "/_mock/faults", json={"down": True, "error_rate": 1.0}, timeout=10).raise_for_status()
        wsdl = httpx.get(tse.url + "/?wsdl", timeout=10)
        assert wsdl.status_code == 200 and b"definitions" in wsdl.content
        with pytest.raises(httpx.TransportError):
            httpx.post(tse.url + "/", content=b"<x/>", timeout=10)
    finally:
        tse.stop()


# --- the data served ----------------------------------------------------------------------------------------------

def test_both_processes_serve_the_seeds_data_and_documents_are_valid(sims: DebtPartners, base: Base) -> None:
    """Each simulator's fingerprint equals the base built here from the same seed (determinism across
    processes), the demo lists are :func:`demo_documents`, and every demo document is a valid CPF or CNPJ by
    validate-docbr."""
    for name in ("pgfn", "pgf"):
        demo = sims.demo[name]
        assert demo["seed"] == DEFAULT_SEED and demo["fingerprint"] == base.fingerprint()
        assert demo["devedores"] == base.demo_documents()
        for doc in (d for docs in demo["devedores"].values() for d in docs):
            assert CPF().validate(doc) if len(doc) == 11 else CNPJ().validate(doc)


def test_another_seed_on_the_command_line_serves_that_seeds_data() -> None:
    """``python -m mocks.pgfn --seed 7 --devedores 200`` serves exactly ``generate(7, 200)``."""
    sim = start_mock("pgfn", "127.0.0.1", 0, args=("--seed", "7", "--devedores", "200"))
    try:
        demo = httpx.get(sim.url + "/_mock/demo", timeout=10).json()
        other = generate(7, 200)
        assert demo["seed"] == 7 and demo["fingerprint"] == other.fingerprint()
        assert demo["inscricoes"] == len(other.inscricoes[PGFN])
    finally:
        sim.stop()
