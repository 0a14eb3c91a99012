"""The intimations brought back to the procuradorias, end to end: ``gateway serve`` as a real process, its collector
asking the two simulated courts (real processes) through the MNI hub, the REST API with bearer tokens, a callback
receiver on loopback — on SQLite and PostgreSQL. An intimation issued by a court arrives in the feed without notice
being taken; ciência is taken once even when asked twice (the court's ``/_mock/received`` counts one
``consultarTeorComunicacao``) and audited with the acting person; a failing court loses nothing of the others nor of
itself; the listing's filters and cursor paging."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.bootstrap import console
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log, intimacoes
from gateway.settings import Settings
from mocks.tribunal_data import cnj_number
from tests.support import KDF_N, GatewayProcess, Tribunals, configure_hub, password_of, test_settings, wait_until

pytestmark = pytest.mark.e2e
PROCURADOR = "52998224725"  # the natural person taking notice (a valid CPF)
NEW_819 = cnj_number(4242, 2026, 8, 19, 1)  # a process the PJe simulator does not hold yet
NEW_404 = cnj_number(5042424, 2026, 4, 4, 7100)
FAST = {"GATEWAY_INTIMACOES_INTERVALO_S": "0.3", "GATEWAY_INTIMACOES_TIMEOUT_S": "3",
        "GATEWAY_INTIMACOES_BACKOFF_MAX_S": "1", "GATEWAY_FEED_WEBHOOK_POLL_S": "0.2",
        "GATEWAY_FEED_WEBHOOK_MAX_BACKOFF_S": "0.5", "GATEWAY_FEED_WEBHOOK_BASE_BACKOFF_S": "0.1"}


class Receiver:
    """A callback receiver on 127.0.0.1 that keeps what it is sent (answering *status*)."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.calls.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/intimacoes"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(db_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway whose hub reaches both simulated courts and whose collector runs every 0.3 s; PGFN and PGF hold
    ``intimacoes:ler`` (TJRJ only ``divida:ler``)."""
    tribunals.reset()
    with console(Settings.from_env({}, database_url=db_url, password_kdf_n=KDF_N)) as con:
        con.admin.grant("PGFN", ["intimacoes:ler"])
        con.admin.grant("PGF", ["intimacoes:ler"])
        con.admin.grant("TJRJ", ["divida:ler"])
    settings = configure_hub(db_url, test_settings(db_url, tmp_path), tribunals, tmp_path)
    proc = GatewayProcess(settings, tmp_path / "gateway.log", FAST).start()
    yield proc
    proc.stop()
    tribunals.reset()


def token(gw: GatewayProcess, username: str = "pgfn-mni") -> str:
    """A bearer token of *username*'s organ (every grant it holds)."""
    r = httpx.post(gw.url + "/oauth/token", auth=(username, password_of(username)),
                   data={"grant_type": "client_credentials"}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def listing(gw: GatewayProcess, tok: str, **params: object) -> httpx.Response:
    """GET /api/v1/intimacoes."""
    return httpx.get(gw.url + "/api/v1/intimacoes", params=params, headers={"Authorization": f"Bearer {tok}"},
                     timeout=30)


def ciencia(gw: GatewayProcess, tok: str, ident: str, person: str | None = PROCURADOR) -> httpx.Response:
    """POST /api/v1/intimacoes/{ident}/ciencia for *person*."""
    headers = {"Authorization": f"Bearer {tok}"}
    if person:
        headers["On-Behalf-Of"] = person
    return httpx.post(f"{gw.url}/api/v1/intimacoes/{ident}/ciencia", headers=headers, timeout=30)


def issue(tribunals: Tribunals, jtr: str, numero: str) -> dict[str, Any]:
    """Have the simulated court *jtr* intimate the procuradoria on *numero* now."""
    r = httpx.post(tribunals.url(jtr) + "/_mock/intimacoes", json={"numeroProcesso": numero}, timeout=10)
    assert r.status_code == 201, r.text
    return dict(r.json())


def teor_calls(tribunals: Tribunals, jtr: str, numero: str) -> int:
    """How many consultarTeorComunicacao the court received about *numero*."""
    return sum(1 for e in tribunals.received(jtr)
               if e["operation"] == "consultarTeorComunicacao" and e["numeroProcesso"] == numero)


def arrived(gw: GatewayProcess, tok: str, numero: str) -> list[dict[str, Any]]:
    """The intimations listed for *numero* (empty until collected)."""
    r = listing(gw, tok, numeroProcesso=numero)
    assert r.status_code == 200, r.text
    return list(r.json()["itens"])


def test_an_intimation_arrives_is_announced_and_ciencia_is_taken_once(gateway: GatewayProcess,
                                                                     tribunals: Tribunals, db_url: str) -> None:
    """A court's new intimation reaches the feed with its process, class, parties and value and the tacit day
    10 days on, without notice taken (the court still lists it pending, no teor asked); the callback announces it
    signed; ciência asked twice reaches the court once and answers the same content, both audited with the acting
    person; another procuradoria cannot see it; no On-Behalf-Of is a 400."""
    tok = token(gateway)
    receiver = Receiver()
    try:
        r = httpx.put(gateway.url + "/api/v1/intimacoes/callback", json={"url": receiver.url},
                      headers={"Authorization": f"Bearer {tok}"}, timeout=30)
        assert r.status_code == 200, r.text
        secret = r.json()["segredo"]
        aviso = issue(tribunals, "8.19", NEW_819)
        (item,) = wait_until(lambda: arrived(gateway, tok, NEW_819), timeout=30, what="the intimation collected")
        assert item["idAviso"] == aviso["idAviso"] and item["tribunal"] == "8.19" and item["instancia"] == "1"
        assert item["classeProcessual"] == 1116 and item["valorCausa"] == "10000.00"
        assert [p["documento"] for p in item["partes"]] == ["00394460005887", "11222333000181"]
        assert item["situacao"] == "pendente" and item["cienciaEm"] is None
        sent = aviso["dataDisponibilizacao"]
        deemed = date(int(sent[:4]), int(sent[4:6]), int(sent[6:8])) + timedelta(days=10)
        assert item["cienciaPresumidaEm"] == deemed.isoformat()
        # listing took no notice: the court was never asked for the teor and still lists the aviso as pending
        assert teor_calls(tribunals, "8.19", NEW_819) == 0
        demo = tribunals.demo("8.19")["avisos"]
        assert any(a["idAviso"] == aviso["idAviso"] and a["pending"] for a in demo)  # type: ignore[union-attr]

        def announced() -> list[dict[str, Any]]:
            return [json.loads(b) for _h, b in receiver.calls
                    if any(i["id"] == item["id"] for i in json.loads(b)["itens"])]
        (event,) = wait_until(announced, timeout=15, what="the callback")
        headers, body = next((h, b) for h, b in receiver.calls if item["id"] in b.decode())
        stamp = headers["X-Gateway-Timestamp"]
        expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Gateway-Assinatura"] == "sha256=" + expected
        assert headers["X-Gateway-Evento-Id"].startswith("intimacoes:PGFN:")
        assert event["evento"] == "intimacoes.novas" and "teor" not in json.dumps(event)

        assert ciencia(gateway, tok, item["id"], person=None).status_code == 400
        other = ciencia(gateway, token(gateway, "pgf-mni"), item["id"])
        assert other.status_code == 404 and other.json()["codigo"] == "INTIM-E010"
        first = ciencia(gateway, tok, item["id"])
        assert first.status_code == 200, first.text
        one = first.json()
        assert one["repetida"] is False and "tentativa de citação" in one["teor"]
        assert one["intimacao"]["situacao"] == "ciente" and one["intimacao"]["cienciaEm"] is not None
        assert one["documentos"] and one["comunicacaoXml"].lstrip().startswith("<")
        again = ciencia(gateway, tok, item["id"], person="11144477735")
        assert again.status_code == 200 and again.json()["repetida"] is True
        assert again.json()["comunicacaoXml"] == one["comunicacaoXml"]
        assert again.json()["intimacao"]["cienciaEm"] == one["intimacao"]["cienciaEm"]
        assert teor_calls(tribunals, "8.19", NEW_819) == 1  # the court was called once
        assert arrived(gateway, tok, NEW_819)[0]["situacao"] == "ciente"
    finally:
        receiver.stop()

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            entries = [json.loads(r.detail) for r in conn.execute(
                select(audit_log.c.detail).where(audit_log.c.event == "intimacao.ciencia"))]
            stored = conn.execute(select(intimacoes.c.ciencia_por, intimacoes.c.ciencia_tipo).where(
                intimacoes.c.process_number == NEW_819)).one()
    finally:
        engine.dispose()
    assert [(e["pessoa"], e["repetida"], e["intimacao"]) for e in entries] == [
        (PROCURADOR, False, item["id"]), ("11144477735", True, item["id"])]
    assert tuple(stored) == (PROCURADOR, "expressa")


def test_a_failing_court_loses_nothing(gateway: GatewayProcess, tribunals: Tribunals) -> None:
    """With the eproc court down, the PJe court's new intimation still arrives; the eproc court's own arrives once
    it is back (backoff, then collected). A ciência while its court is down is a coded 502/503 problem and records
    nothing: the intimation stays pending, and asking again later takes notice. ``/readyz`` (200) and ``/metrics``
    show which court fails."""
    tok = token(gateway)
    wait_until(lambda: listing(gateway, tok, tribunal="4.04").json()["itens"], timeout=30, what="eproc's avisos")
    tribunals.faults("4.04", down=True)
    issue(tribunals, "4.04", NEW_404)
    issue(tribunals, "8.19", NEW_819)
    wait_until(lambda: arrived(gateway, tok, NEW_819), timeout=30, what="the PJe court's intimation")
    assert arrived(gateway, tok, NEW_404) == []
    ready = httpx.get(gateway.url + "/readyz", timeout=10)
    assert ready.status_code == 200  # a failing court is reported, never a reason for 503
    assert ready.json()["intimacoes"]["PGFN@8.19/1"].startswith("ok")
    assert not ready.json()["intimacoes"]["PGFN@4.04/1"].startswith("ok")
    metrics = httpx.get(gateway.url + "/metrics", timeout=10).text
    assert 'gateway_intimacoes_collections_total{installation="4.04/1",outcome="erro"}' in metrics
    (pending,) = [i for i in listing(gateway, tok, tribunal="4.04", limite=100).json()["itens"]
                  if i["numeroProcesso"].startswith("5012345")]
    failed = ciencia(gateway, tok, pending["id"])
    assert failed.status_code in (502, 503) and failed.json()["codigo"] in ("INTIM-E020", "INTIM-E021"), failed.text
    assert failed.headers["content-type"].startswith("application/problem+json")
    after = [i for i in listing(gateway, tok, tribunal="4.04").json()["itens"] if i["id"] == pending["id"]]
    assert after[0]["cienciaEm"] is None
    tribunals.faults("4.04")
    (late,) = wait_until(lambda: arrived(gateway, tok, NEW_404), timeout=30, what="the eproc court's intimation")
    assert late["tribunal"] == "4.04"
    ok = ciencia(gateway, tok, pending["id"])
    assert ok.status_code == 200 and ok.json()["repetida"] is False, ok.text


def test_listing_filters_and_cursor_paging(gateway: GatewayProcess, tribunals: Tribunals) -> None:
    """PGFN's five demo avisos (2 at TJRJ, 3 at TRF4, sent in June 2025: tacitly notified long ago) and a new one:
    pages of 2 cover them once each in order; filters by court, state, period and process; bad filters are 422
    problems naming the field."""
    tok = token(gateway)
    issue(tribunals, "8.19", NEW_819)
    wait_until(lambda: arrived(gateway, tok, NEW_819), timeout=30, what="collected")
    wait_until(lambda: len(listing(gateway, tok, limite=100).json()["itens"]) == 6, timeout=30, what="all six")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limite": 2, **({"cursor": cursor} if cursor else {})}
        page = listing(gateway, tok, **params).json()
        seen += [i["id"] for i in page["itens"]]
        pages += 1
        cursor = page["proximo"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 6
    assert len(listing(gateway, tok, tribunal="4.04").json()["itens"]) == 3
    assert [i["numeroProcesso"] for i in listing(gateway, tok, situacao="pendente").json()["itens"]] == [NEW_819]
    tacit = listing(gateway, tok, situacao="ciencia_tacita").json()["itens"]
    assert len(tacit) == 5 and all(i["cienciaEfetivaEm"] == i["cienciaPresumidaEm"] for i in tacit)
    june = listing(gateway, tok, desde="2025-06-11", ate="2025-06-12").json()["itens"]
    assert sorted(i["disponibilizadaEm"][:10] for i in june) == ["2025-06-11", "2025-06-12"]
    assert all(i["numeroProcesso"] != NEW_819 for i in june)
    for params, code, field in (({"limite": 101}, "INTIM-E003", "limite"), ({"cursor": "x"}, "INTIM-E004", "cursor"),
                                ({"numeroProcesso": "1"}, "INTIM-E001", "numeroProcesso"),
                                ({"situacao": "lida"}, "INTIM-E002", "situacao")):
        bad = listing(gateway, tok, **params)
        assert bad.status_code == 422 and (bad.json()["codigo"], bad.json()["campo"]) == (code, field), bad.text
    assert listing(gateway, token(gateway, "tjrj-sistema")).status_code == 403  # no intimacoes:ler


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_court_intimates_on_a_filed_execucao_fiscal_by_its_timer(gateway: GatewayProcess,
                                                                     tribunals: Tribunals) -> None:
    """The whole loop in the sandbox: PGFN files a class-1116 initial petition through the hub, the simulated court
    gives it a new number and, on its timer, intimates the exequente "to speak after the citação attempt"; the
    collector brings it back with the class, parties and value the filing carried."""
    content = base64.b64encode(b"%PDF-1.4\npeticao inicial\n%%EOF").decode()
    tipos, inter = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2", "http://www.cnj.jus.br/intercomunicacao-2.2.2"
    body = (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:ser="http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/" xmlns:tip="{tipos}" '
            f'xmlns:int="{inter}"><soap:Body><ser:entregarManifestacaoProcessual>'
            "<tip:idManifestante>pgfn-mni</tip:idManifestante>"
            f"<tip:senhaManifestante>{password_of('pgfn-mni')}</tip:senhaManifestante>"
            '<tip:dadosBasicos numero="00000000000000000000" classeProcessual="1116" codigoLocalidade="1" '
            'competencia="1" nivelSigilo="0"><int:polo polo="AT"><int:parte><int:pessoa nome="UNIÃO (FAZENDA '
            'NACIONAL)" tipoPessoa="juridica" numeroDocumentoPrincipal="00394460000141"/></int:parte></int:polo>'
            '<int:polo polo="PA"><int:parte><int:pessoa nome="EMPRESA DEVEDORA LTDA" tipoPessoa="juridica" '
            'numeroDocumentoPrincipal="11222333000181"/></int:parte></int:polo>'
            '<int:assunto><int:codigoNacional>6017</int:codigoNacional></int:assunto>'
            '<int:valorCausa>25000.00</int:valorCausa></tip:dadosBasicos>'
            f'<tip:documento mimetype="application/pdf" tipoDocumento="58"><int:conteudo>{content}</int:conteudo>'
            '<int:assinatura assinatura="cDdz"/></tip:documento><tip:dataEnvio>20261121120000</tip:dataEnvio>'
            '<int:outroParametro nome="tribunal" valor="8.19"/>'
            "</ser:entregarManifestacaoProcessual></soap:Body></soap:Envelope>").encode()
    config = tribunals.url("8.19") + "/_mock/intimacoes/config"
    httpx.post(config, json={"intervalo_s": 0.5}, timeout=10).raise_for_status()
    try:
        r = httpx.post(gateway.url + "/soap/mni", content=body, headers={"Content-Type": "text/xml"}, timeout=60)
        found = re.search(r'nome="numeroProcesso" valor="(\d{20})"', r.text)
        assert r.status_code == 200 and found is not None, r.text
        numero = found.group(1)
        (item,) = wait_until(lambda: arrived(gateway, token(gateway), numero), timeout=30, what="the timer's one")
    finally:
        httpx.post(config, json={"intervalo_s": 0}, timeout=10).raise_for_status()
    assert item["classeProcessual"] == 1116 and item["valorCausa"] == "25000.00"
    assert [p["documento"] for p in item["partes"]] == ["00394460000141", "11222333000181"]
    assert item["situacao"] == "pendente"
