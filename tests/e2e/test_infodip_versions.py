"""Both INFODIP contract versions end to end with zeep, against a real ``gateway serve`` process whose 1.0 is
deprecated by configuration (issue 14 point 5): 1.0 keeps being served at ``/soap/infodip`` and announces its sunset
(WSDL documentation, ``Deprecation``/``Sunset``/``Link`` headers); 1.1 at ``/soap/infodip-1.1`` takes the 1.0
operations in its namespace (with the death record's new fields and a ``duplicidade`` that names no protocol) and
the new ``consultarSituacaoDireitosPoliticos`` and ``listarComunicacoes``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from sqlalchemy import select
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from gateway.bootstrap import build, console
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log
from gateway.demo_grants import seed_sandbox
from gateway.errors import OperatorError
from gateway.infodip.domain import Kind
from gateway.sandbox import DEMO_ORGANS
from tests.support import GatewayProcess, password_of, recent_day, sample, seed, test_settings

pytestmark = pytest.mark.e2e

NS10 = "urn:gateway-interop:infodip:1.0"
NS11 = "urn:gateway-interop:infodip:1.1"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ANNOUNCED = date.today() - timedelta(days=5)
SUNSET = date.today() + timedelta(days=60)
CPF = "18273645053"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A ``gateway serve`` on SQLite with the sandbox's grants and INFODIP 1.0 deprecated (sunset in 60 days)."""
    tmp = tmp_path_factory.mktemp("versions")
    url = f"sqlite:///{tmp / 'gateway.db'}"
    seed(url)
    settings = test_settings(url, tmp)
    with console(settings) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
    proc = GatewayProcess(settings, tmp / "gateway.log", extra_env={
        "GATEWAY_INFODIP_1_0_DEPRECATION": ANNOUNCED.isoformat(),
        "GATEWAY_INFODIP_1_0_SUNSET": SUNSET.isoformat()}).start()
    yield proc
    proc.stop()


def client(server: GatewayProcess, path: str, username: str = "tjrj-sistema") -> zeep.Client:
    return zeep.Client(f"{server.url}{path}?wsdl", wsse=UsernameToken(username, password_of(username)))


def as_v11(kind: Kind, **kwargs: Any) -> etree._Element:
    """The ``comunicacao`` of *kind*'s sample, in the 1.1 namespace."""
    root = etree.fromstring(sample(kind, **kwargs))
    comm = root.find(f".//{{{NS10}}}comunicacao")
    assert comm is not None
    for el in comm.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace == NS10:
            el.tag = f"{{{NS11}}}{etree.QName(el).localname}"
    etree.cleanup_namespaces(comm)
    return comm


def typed(c: zeep.Client, element: etree._Element) -> Any:
    wrapper = c.get_element(f"{{{NS11}}}enviarComunicacao")
    op = etree.Element(f"{{{NS11}}}enviarComunicacao")
    op.append(element)
    return wrapper.parse(op, c.wsdl.types).comunicacao


def test_v10_still_served_and_announces_its_sunset(server: GatewayProcess) -> None:
    """1.0 answers at its own address (zeep, from its WSDL) with ``Deprecation`` (@ Unix seconds of the
    announcement), ``Sunset`` (HTTP-date) and ``Link`` to the successor; its WSDL's documentation states the dates;
    its operations are the four of 1.0."""
    c10 = client(server, "/soap/infodip")
    assert set(c10.service._operations) == {"enviarComunicacao", "retificarComunicacao", "cancelarComunicacao",
                                            "consultarComunicacao"}
    root = etree.fromstring(sample(Kind.IV))
    op = root.find(f"{{{SOAP11_NS}}}Body/{{{NS10}}}enviarComunicacao")
    assert op is not None
    comm = c10.get_element(f"{{{NS10}}}enviarComunicacao").parse(op, c10.wsdl.types).comunicacao
    recibo = c10.service.enviarComunicacao(comunicacao=comm)
    assert recibo.versao == 1
    wsdl = httpx.get(server.url + "/soap/infodip?wsdl")
    assert "DESCONTINUADA" in wsdl.text and SUNSET.isoformat() in wsdl.text
    answer = httpx.post(server.url + "/soap/infodip", content=sample(Kind.IV),
                        headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200
    assert answer.headers["deprecation"].startswith("@") and answer.headers["sunset"].endswith("GMT")
    assert "/soap/infodip-1.1?wsdl" in answer.headers["link"] and 'rel="successor-version"' in answer.headers["link"]
    assert "deprecation" not in httpx.get(server.url + "/soap/infodip-1.1?wsdl").headers


def test_v11_submission_consultation_and_listing_with_zeep(server: GatewayProcess) -> None:
    """zeep builds a 1.1 client from ``/soap/infodip-1.1?wsdl`` (XSD over HTTP): it submits a kind IV and a death
    with the new fields (1.1 only), gets a ``duplicidade`` notice without another organ's protocol for the same fact
    sent again by another sender, consults the person's situation by CPF (timeline, rule version, coverage, the
    stored communication as 1.1) and lists its own communications with a cursor."""
    c11 = client(server, "/soap/infodip-1.1")
    assert set(c11.service._operations) >= {"consultarSituacaoDireitosPoliticos", "listarComunicacoes",
                                            "enviarComunicacao"}
    fact = recent_day(3)
    first = c11.service.enviarComunicacao(comunicacao=typed(c11, as_v11(Kind.IV, fact_date=fact)))
    assert first.versao == 1 and first.duplicidade is None
    # the same fact from another tribunal: recorded, linked, and the earlier protocol not disclosed
    other = client(server, "/soap/infodip-1.1", "tjsp-sistema")
    again = other.service.enviarComunicacao(comunicacao=typed(other, as_v11(
        Kind.IV, fact_date=fact, username="tjsp-sistema")))
    assert again.duplicidade.jaRegistrado is True and first.protocolo not in str(again)

    death = as_v11(Kind.VI)
    obito = death.find(f"{{{NS11}}}obito")
    assert obito is not None
    for name, value in (("nomePai", "José Siqueira"), ("municipioIBGE", "3304557"),
                        ("dataRegistro", recent_day(1).isoformat())):
        etree.SubElement(obito, f"{{{NS11}}}{name}").text = value
    cart = client(server, "/soap/infodip-1.1", "rcpn-rj-capital-01")
    assert cart.service.enviarComunicacao(comunicacao=typed(cart, death)).versao == 1

    answer = c11.service.consultarSituacaoDireitosPoliticos(cpf=CPF, finalidade="0045218-09.2024.8.19.0001",
                                                           cpfSolicitante="52998224725")
    assert answer.regras.versao == "LC219-2025" and answer.chave == "cpf"
    assert answer.situacao.direitosPoliticosSuspensos is True and answer.situacao.inelegivel is True
    kinds = {i.tipo for i in answer.intervalo}
    assert kinds == {"suspensao_direitos_politicos", "inelegibilidade"}
    protocols = {c.protocolo for c in answer.comunicacaoPessoa}
    assert first.protocolo in protocols and again.protocolo in protocols
    assert answer.cobertura.desde is not None

    with pytest.raises(Fault) as no_purpose:
        c11.service.consultarSituacaoDireitosPoliticos(cpf=CPF, cpfSolicitante="52998224725")
    assert no_purpose.value.detail.findtext(f".//{{{NS11}}}codigo") == "INFODIP-E080"
    vep = client(server, "/soap/infodip-1.1", "tjrj-vep")
    with pytest.raises(Fault) as no_grant:
        vep.service.consultarSituacaoDireitosPoliticos(cpf=CPF, finalidade="00452180920248190001",
                                                       cpfSolicitante="52998224725")
    assert no_grant.value.detail.findtext(f".//{{{NS11}}}codigo") == "INFODIP-E083"

    engine = make_engine(server.settings.database_url)
    try:
        with engine.connect() as conn:
            audited = [json.loads(d) for (d,) in conn.execute(select(audit_log.c.detail).where(
                audit_log.c.event == "consulta.situacao"))]
    finally:
        engine.dispose()
    [entry] = audited  # the refused consultations (no purpose, no grant) answered nothing and record nothing
    assert (entry["canal"], entry["usuario"], entry["solicitante"], entry["finalidade"], entry["chave"]) == (
        "soap-1.1", "tjrj-sistema", "52998224725", "00452180920248190001", "cpf")
    assert set(entry["protocolos"]) == protocols

    page = c11.service.listarComunicacoes(limite=1)
    assert len(page.item) == 1 and page.proximo
    rest = c11.service.listarComunicacoes(cursor=page.proximo, limite=100)
    assert page.item[0].protocolo not in {i.protocolo for i in rest.item}
    assert first.protocolo in {i.protocolo for i in [*page.item, *rest.item]}


def test_retiring_with_less_than_30_days_notice_is_refused(tmp_path: Path) -> None:
    """Res. Conjunta 6/2020 art. 4º §2º: a configuration that retires 1.0 less than 30 days after announcing it stops
    the start with INFODIP-E093; 30 days is accepted."""
    settings = test_settings(f"sqlite:///{tmp_path / 'g.db'}", tmp_path, infodip_1_0_deprecation="2026-01-01",
                             infodip_1_0_sunset="2026-01-30")
    with pytest.raises(OperatorError) as refused:
        build(settings)
    assert refused.value.code == "INFODIP-E093"
    ok = build(settings.with_(infodip_1_0_sunset="2026-01-31"))
    assert ok.deprecation_10 is not None and ok.deprecation_10.sunset == date(2026, 1, 31)
