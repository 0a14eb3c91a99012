"""INFODIP end to end with zeep as the SOAP client, against a real ``gateway serve`` process on 127.0.0.1.

zeep fetches the WSDL and the XSD it imports over HTTP from the gateway, builds typed requests and parses the
typed answers: what an integrator's code does. The requests' content comes from the contract's own samples
(``schemas/infodip/1.0/samples``), parsed by zeep into its typed values, so the nine kinds are not hand-written.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.wsse import utils as wsse_utils
from zeep.wsse.username import UsernameToken

from gateway.infodip.domain import Kind
from gateway.infodip.samples import SAMPLE_USERNAME
from gateway.schemas import INFODIP_WSDL, INFODIP_XSD
from gateway.xml.soap import PASSWORD_TEXT, WSSE_NS
from tests.support import GatewayProcess, password_of, recent_day, sample, unique_ref

pytestmark = pytest.mark.e2e

NS = "urn:gateway-interop:infodip:1.0"
N = {"i": NS}
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

#: Where each sample must be routed (gateway/infodip/routing.py): TSE always; CNJ for the improbity kinds I, II, III and
#: for VIII; for IV, VII and IX when the sample says the fact causes inelegibility (all three samples do, and VII's
#: nature is improbity); V goes where the conviction it ends went (unknown here → TSE only); VI (death) → TSE.
EXPECTED_DESTINATIONS: dict[Kind, list[str]] = {
    Kind.I: ["TSE", "CNJ"],
    Kind.II: ["TSE", "CNJ"],
    Kind.III: ["TSE", "CNJ"],
    Kind.IV: ["TSE", "CNJ"],
    Kind.V: ["TSE"],
    Kind.VI: ["TSE"],
    Kind.VII: ["TSE", "CNJ"],
    Kind.VIII: ["TSE", "CNJ"],
    Kind.IX: ["TSE", "CNJ"],
}


class PasswordTextWithNonce(UsernameToken):
    """A PasswordText UsernameToken that also carries ``wsse:Nonce`` and ``wsu:Created``.

    zeep's :class:`UsernameToken` accepts ``nonce=`` but only writes it for PasswordDigest; a client that retries
    with a fresh token (as WS-Security clients do) sends a new Nonce with the same PasswordText password.
    """

    def _create_password_text(self) -> list[Any]:
        nonce = self.nonce.encode() if self.nonce else os.urandom(16)
        return [
            *super()._create_password_text(),
            wsse_utils.WSSE.Nonce(base64.b64encode(nonce).decode(),
                                  EncodingType=f"{self.soap_message_secutity_ns}#Base64Binary"),
            wsse_utils.WSU.Created(wsse_utils.get_timestamp(self.created, zulu_timestamp=True)),
        ]


# -- fixtures and helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wsdl_client(server: GatewayProcess) -> zeep.Client:
    """A zeep client built from the gateway's ``?wsdl`` over HTTP (the WSDL imports its XSD over HTTP too)."""
    return zeep.Client(server.url + "/soap/infodip?wsdl")


def client_as(base: zeep.Client, username: str, *, password: str | None = None, nonce: str | None = None,
              history: HistoryPlugin | None = None) -> zeep.Client:
    """A zeep client on the already loaded WSDL, authenticating as *username* (PasswordText)."""
    pw = password if password is not None else password_of(username)
    token = (PasswordTextWithNonce(username, pw, nonce=nonce) if nonce is not None
             else UsernameToken(username, pw))
    return zeep.Client(base.wsdl, wsse=token, plugins=[history] if history else None)


def sample_operation(kind: Kind, **kwargs: Any) -> etree._Element:
    """The ``enviarComunicacao`` element of *kind*'s rendered sample (fresh reference, recent date)."""
    root = etree.fromstring(sample(kind, **kwargs))
    op = root.find(f"{{{SOAP11_NS}}}Body/{{{NS}}}enviarComunicacao")
    assert op is not None
    return op


def comunicacao_value(client: zeep.Client, kind: Kind, **kwargs: Any) -> Any:
    """zeep's typed value of *kind*'s sample ``comunicacao``, parsed from the sample XML by zeep itself."""
    op = sample_operation(kind, **kwargs)
    wrapper = client.get_element(f"{{{NS}}}enviarComunicacao")
    return wrapper.parse(op, client.wsdl.types).comunicacao


def fault_code_of(fault: Fault) -> str | None:
    """The ``INFODIP-E…`` code carried in a zeep Fault's detail."""
    assert fault.detail is not None
    return fault.detail.findtext(f".//{{{NS}}}codigo")


def _due(kind: Kind, fact: date) -> date:
    if kind is Kind.VI:
        year, month = (fact.year + 1, 1) if fact.month == 12 else (fact.year, fact.month + 1)
        return date(year, month, 15)
    return fact + timedelta(days=10)


# -- the WSDL and its XSD over HTTP ------------------------------------------------------------------------------


def test_zeep_loads_wsdl_over_http_and_uses_the_servers_address(server: GatewayProcess,
                                                                wsdl_client: zeep.Client) -> None:
    """zeep builds a client from ``/soap/infodip?wsdl`` (with the XSD it imports fetched over HTTP), finds the four
    operations, and its service address is this server's URL: the WSDL's ``soap:address`` was rewritten."""
    port = wsdl_client.wsdl.services["InfodipService"].ports["InfodipPort"]
    assert port.binding_options["address"] == server.url + "/soap/infodip"
    assert wsdl_client.service._binding_options["address"] == server.url + "/soap/infodip"
    operations = set(wsdl_client.service._operations)
    assert operations == {"enviarComunicacao", "retificarComunicacao", "cancelarComunicacao",
                          "consultarComunicacao"}
    # the types come from the XSD the WSDL imports, which zeep could only get over HTTP
    assert wsdl_client.get_type(f"{{{NS}}}tipoComunicacao") is not None


def test_served_wsdl_differs_from_the_contract_only_in_soap_address(server: GatewayProcess) -> None:
    """``?wsdl`` is the contract file verbatim except ``soap:address/@location``, which points at the gateway as
    the client reached it (here through the Host header)."""
    r = httpx.get(server.url + "/soap/infodip?wsdl", timeout=5)
    assert r.status_code == 200
    served = etree.fromstring(r.content)
    address = served.find(f".//{{{WSDL_SOAP_NS}}}address")
    assert address is not None
    assert address.get("location") == server.url + "/soap/infodip"
    original = etree.parse(str(INFODIP_WSDL)).getroot()
    orig_address = original.find(f".//{{{WSDL_SOAP_NS}}}address")
    assert orig_address is not None
    orig_address.set("location", server.url + "/soap/infodip")
    assert etree.tostring(served, method="c14n") == etree.tostring(original, method="c14n")

    other = httpx.get(server.url + "/soap/infodip?wsdl", headers={"Host": f"localhost:{server.port}"}, timeout=5)
    other_address = etree.fromstring(other.content).find(f".//{{{WSDL_SOAP_NS}}}address")
    assert other_address is not None
    assert other_address.get("location") == f"http://localhost:{server.port}/soap/infodip"


def test_imported_xsd_resolves_over_http(server: GatewayProcess) -> None:
    """The XSD the WSDL imports (``../xsd/infodip-1.0.xsd`` relative to ``/soap/infodip``) is served at
    ``/xsd/infodip-1.0.xsd`` and at ``/soap/infodip?xsd=infodip-1.0.xsd``, byte for byte the contract file, and it
    compiles as a schema of the INFODIP namespace."""
    wsdl = etree.fromstring(httpx.get(server.url + "/soap/infodip?wsdl", timeout=5).content)
    imp = wsdl.find(f".//{{{XSD_NS}}}import")
    assert imp is not None
    location = str(httpx.URL(server.url + "/soap/infodip?wsdl").join(imp.get("schemaLocation", "")))
    assert location == server.url + "/xsd/infodip-1.0.xsd"
    expected = Path(INFODIP_XSD).read_bytes()
    for url in (location, server.url + "/soap/infodip?xsd=infodip-1.0.xsd"):
        r = httpx.get(url, timeout=5)
        assert r.status_code == 200, url
        assert r.headers["content-type"].startswith("text/xml")
        assert r.content == expected
        schema = etree.XMLSchema(etree.fromstring(r.content))
        assert schema is not None
        assert etree.fromstring(r.content).get("targetNamespace") == NS
    assert httpx.get(server.url + "/xsd/nao-existe.xsd", timeout=5).status_code == 404
    assert httpx.get(server.url + "/soap/infodip?xsd=nao-existe.xsd", timeout=5).status_code == 404


# -- the nine kinds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
def test_each_kind_submitted_through_zeep(wsdl_client: zeep.Client, kind: Kind) -> None:
    """Each of the nine kinds, sent by zeep with a credential whose organ type is competent for it, is accepted:
    a receipt of version 1 of a new protocol (operation envio, not a replay), with the deadline of the kind and
    the destinations the routing table gives it."""
    user = SAMPLE_USERNAME[kind]
    client = client_as(wsdl_client, user)
    fact = recent_day()
    comm = comunicacao_value(client, kind, fact_date=fact)
    assert comm.tipo == kind.value
    assert comm.cabecalho.dataFato == fact

    recibo = client.service.enviarComunicacao(comunicacao=comm)

    assert recibo.protocolo and len(recibo.protocolo) == 21
    assert recibo.versao == 1
    assert recibo.idMensagem
    assert recibo.operacao == "envio"
    assert recibo.reenvio is False
    assert recibo.prazo is not None
    assert recibo.prazo.dataLimite == _due(kind, fact)
    assert recibo.prazo.emAtraso is False
    assert recibo.prazo.diasAtraso == 0
    assert list(recibo.destino) == EXPECTED_DESTINATIONS[kind]


def test_samples_say_what_the_expected_routing_assumes() -> None:
    """The routing expected above for IV, VII and IX rests on their samples declaring inelegibility (and VII's
    nature being improbity); this pins those facts of the samples."""
    for kind in (Kind.IV, Kind.VII, Kind.IX):
        op = sample_operation(kind)
        assert op.findtext(".//i:causaInelegibilidade", namespaces=N) == "true", kind
    assert sample_operation(Kind.VII).findtext(".//i:natureza", namespaces=N) == "improbidade"


@pytest.mark.parametrize("kind", [Kind.IV, Kind.IX], ids=["IV", "IX"])
def test_kind_without_inelegibility_goes_to_tse_only(wsdl_client: zeep.Client, kind: Kind) -> None:
    """A IV or IX whose ``causaInelegibilidade`` is false is routed to TSE only (CNJ only receives them when the
    fact causes inelegibility)."""
    client = client_as(wsdl_client, SAMPLE_USERNAME[kind])
    comm = comunicacao_value(client, kind)
    block = comm.condenacaoCriminal if kind is Kind.IV else comm.outraHipotese
    block.inelegibilidade.causaInelegibilidade = False
    recibo = client.service.enviarComunicacao(comunicacao=comm)
    assert list(recibo.destino) == ["TSE"]


# -- retificação, cancelamento, consultation ----------------------------------------------------------------------


def _history(wsdl_client: zeep.Client) -> dict[str, Any]:
    """Send a I, retify it (new reference, corrected name) and cancel it; return what was sent and answered."""
    client = client_as(wsdl_client, SAMPLE_USERNAME[Kind.I])
    original = comunicacao_value(client, Kind.I)
    sent = client.service.enviarComunicacao(comunicacao=original)

    corrected = comunicacao_value(client, Kind.I)  # a NEW reference
    corrected.cabecalho.pessoa.nome = "Ricardo Antunes Falcão Filho"
    retified = client.service.retificarComunicacao(protocolo=sent.protocolo, comunicacao=corrected)

    cancel_ref = unique_ref("CANC")
    cancelled = client.service.cancelarComunicacao(protocolo=sent.protocolo, referenciaRemetente=cancel_ref,
                                                   motivo="Comunicação enviada ao órgão errado.")
    return {"client": client, "original": original, "sent": sent, "corrected": corrected, "retified": retified,
            "cancel_ref": cancel_ref, "cancelled": cancelled}


def test_retify_and_cancel_through_zeep(wsdl_client: zeep.Client) -> None:
    """retificarComunicacao (with a NEW reference) makes version 2 of the same protocol with a new message id;
    cancelarComunicacao (new reference, motivo) makes version 3, operation cancelamento, with no deadline."""
    h = _history(wsdl_client)
    sent, retified, cancelled = h["sent"], h["retified"], h["cancelled"]

    assert retified.protocolo == sent.protocolo
    assert retified.versao == 2
    assert retified.operacao == "retificacao"
    assert retified.reenvio is False
    assert retified.idMensagem != sent.idMensagem
    assert list(retified.destino) == ["TSE", "CNJ"]

    assert cancelled.protocolo == sent.protocolo
    assert cancelled.versao == 3
    assert cancelled.operacao == "cancelamento"
    assert cancelled.reenvio is False
    assert cancelled.idMensagem not in (sent.idMensagem, retified.idMensagem)
    assert cancelled.prazo is None
    assert list(cancelled.destino) == ["TSE", "CNJ"]


def test_cancelled_communication_refuses_retification_and_second_cancel(wsdl_client: zeep.Client) -> None:
    """Once cancelled, a communication admits neither a retificação nor another cancelamento (INFODIP-E052,
    soap:Client)."""
    h = _history(wsdl_client)
    client, protocol = h["client"], h["sent"].protocolo
    again = comunicacao_value(client, Kind.I)
    with pytest.raises(Fault) as retify:
        client.service.retificarComunicacao(protocolo=protocol, comunicacao=again)
    assert retify.value.code == "soap:Client"
    assert fault_code_of(retify.value) == "INFODIP-E052"
    with pytest.raises(Fault) as cancel:
        client.service.cancelarComunicacao(protocolo=protocol, referenciaRemetente=unique_ref("C2"), motivo="x")
    assert fault_code_of(cancel.value) == "INFODIP-E052"


def test_consultation_returns_every_version_and_delivery(wsdl_client: zeep.Client) -> None:
    """consultarComunicacao after envio → retificação → cancelamento answers: situacao cancelada, versaoAtual 3,
    the current content (the retified one), the three versions in order with their operations, message ids and
    references, and one delivery per version × destination: version 1 pending, later versions blocked behind it
    (no relay runs in this server)."""
    h = _history(wsdl_client)
    client, sent, retified, cancelled = h["client"], h["sent"], h["retified"], h["cancelled"]

    view = client.service.consultarComunicacao(protocolo=sent.protocolo)

    assert view.protocolo == sent.protocolo
    assert view.tipo == "I"
    assert view.situacao == "cancelada"
    assert view.versaoAtual == 3
    assert view.comunicacao.cabecalho.pessoa.nome == "Ricardo Antunes Falcão Filho"
    assert view.comunicacao.cabecalho.referenciaRemetente == h["corrected"].cabecalho.referenciaRemetente

    versions = view.versoes.versao
    assert [v.numero for v in versions] == [1, 2, 3]
    assert [v.operacao for v in versions] == ["envio", "retificacao", "cancelamento"]
    assert [v.idMensagem for v in versions] == [sent.idMensagem, retified.idMensagem, cancelled.idMensagem]
    assert [v.referenciaRemetente for v in versions] == [
        h["original"].cabecalho.referenciaRemetente, h["corrected"].cabecalho.referenciaRemetente, h["cancel_ref"]]
    assert versions[0].comunicacao.cabecalho.pessoa.nome == "Ricardo Antunes Falcão"
    assert versions[1].comunicacao.cabecalho.pessoa.nome == "Ricardo Antunes Falcão Filho"
    assert versions[2].comunicacao is None
    assert versions[2].motivoCancelamento == "Comunicação enviada ao órgão errado."
    assert all(v.emAtraso is False for v in versions)

    deliveries = {(e.versao, e.destino): e for e in view.entregas.entrega}
    assert set(deliveries) == {(v, d) for v in (1, 2, 3) for d in ("TSE", "CNJ")}
    for (version, _dest), e in deliveries.items():
        assert e.situacao == ("pendente" if version == 1 else "bloqueada")
        assert e.tentativas == 0


def test_consultation_of_active_communication(wsdl_client: zeep.Client) -> None:
    """Right after envio the consultation shows situacao ativa, one version (envio) and its pending deliveries."""
    client = client_as(wsdl_client, SAMPLE_USERNAME[Kind.VI])
    comm = comunicacao_value(client, Kind.VI)
    sent = client.service.enviarComunicacao(comunicacao=comm)
    view = client.service.consultarComunicacao(protocolo=sent.protocolo)
    assert view.situacao == "ativa"
    assert view.tipo == "VI"
    assert view.versaoAtual == 1
    assert [(v.numero, v.operacao, v.idMensagem) for v in view.versoes.versao] == [(1, "envio", sent.idMensagem)]
    assert [(e.versao, e.destino, e.situacao) for e in view.entregas.entrega] == [(1, "TSE", "pendente")]


def test_consultation_is_restricted_to_the_sending_organ(wsdl_client: zeep.Client) -> None:
    """Another organ asking for a protocol it did not send gets the same fault as for an unknown protocol
    (INFODIP-E051), never the communication."""
    owner = client_as(wsdl_client, "tjrj-sistema")
    sent = owner.service.enviarComunicacao(comunicacao=comunicacao_value(owner, Kind.I))
    other = client_as(wsdl_client, "tjsp-sistema")
    with pytest.raises(Fault) as foreign:
        other.service.consultarComunicacao(protocolo=sent.protocolo)
    assert foreign.value.code == "soap:Client"
    assert fault_code_of(foreign.value) == "INFODIP-E051"
    with pytest.raises(Fault) as unknown:
        owner.service.consultarComunicacao(protocolo="20000101-AAAAAAAAAAAA")
    assert fault_code_of(unknown.value) == "INFODIP-E051"


# -- idempotency -----------------------------------------------------------------------------------------------


def test_resubmission_with_new_nonce_returns_the_original_receipt(wsdl_client: zeep.Client) -> None:
    """The same reference and payload sent again with a NEW UsernameToken (fresh Nonce and Created, still
    PasswordText) is a replay: same protocolo and idMensagem, reenvio true."""
    user = SAMPLE_USERNAME[Kind.IV]
    history = HistoryPlugin()
    first_client = client_as(wsdl_client, user, nonce=secrets.token_hex(16), history=history)
    comm = comunicacao_value(first_client, Kind.IV)
    first = first_client.service.enviarComunicacao(comunicacao=comm)
    first_token = history.last_sent["envelope"].find(f".//{{{WSSE_NS}}}UsernameToken")

    second_client = client_as(wsdl_client, user, nonce=secrets.token_hex(16), history=history)
    second = second_client.service.enviarComunicacao(comunicacao=comm)
    second_token = history.last_sent["envelope"].find(f".//{{{WSSE_NS}}}UsernameToken")

    for token in (first_token, second_token):
        password = token.find(f"{{{WSSE_NS}}}Password")
        assert password is not None and password.get("Type") == PASSWORD_TEXT
    assert first_token.findtext(f"{{{WSSE_NS}}}Nonce") != second_token.findtext(f"{{{WSSE_NS}}}Nonce")

    assert first.reenvio is False
    assert second.reenvio is True
    assert second.protocolo == first.protocolo
    assert second.idMensagem == first.idMensagem
    assert second.versao == 1
    assert second.operacao == "envio"
    assert list(second.destino) == list(first.destino)


def test_same_reference_with_other_payload_is_a_client_fault(wsdl_client: zeep.Client) -> None:
    """The same reference with a different payload is refused: zeep raises a Fault whose code is soap:Client and
    whose detail carries INFODIP-E050; the original communication is untouched."""
    client = client_as(wsdl_client, SAMPLE_USERNAME[Kind.II])
    comm = comunicacao_value(client, Kind.II)
    first = client.service.enviarComunicacao(comunicacao=comm)

    comm.cabecalho.observacao = "Outro conteúdo com a mesma referência."
    with pytest.raises(Fault) as info:
        client.service.enviarComunicacao(comunicacao=comm)
    assert info.value.code == "soap:Client"
    assert fault_code_of(info.value) == "INFODIP-E050"
    assert info.value.message  # the Portuguese faultstring

    view = client.service.consultarComunicacao(protocolo=first.protocolo)
    assert view.versaoAtual == 1
    assert view.comunicacao.cabecalho.observacao != "Outro conteúdo com a mesma referência."


def test_retification_replay_and_its_conflicts(wsdl_client: zeep.Client) -> None:
    """A retificação sent twice (same reference, same content) is stored once and replayed (reenvio true, same
    idMensagem); one that changes the kind is refused (INFODIP-E053); another organ cannot retify the protocol
    (INFODIP-E051, as if it did not exist)."""
    client = client_as(wsdl_client, "tjrj-sistema")
    sent = client.service.enviarComunicacao(comunicacao=comunicacao_value(client, Kind.I))
    corrected = comunicacao_value(client, Kind.I)
    corrected.cabecalho.observacao = "Retificação: corrigido o órgão julgador."
    first = client.service.retificarComunicacao(protocolo=sent.protocolo, comunicacao=corrected)
    again = client.service.retificarComunicacao(protocolo=sent.protocolo, comunicacao=corrected)
    assert (first.versao, first.reenvio) == (2, False)
    assert (again.versao, again.reenvio, again.idMensagem) == (2, True, first.idMensagem)

    with pytest.raises(Fault) as other_kind:
        client.service.retificarComunicacao(protocolo=sent.protocolo, comunicacao=comunicacao_value(client, Kind.IV))
    assert other_kind.value.code == "soap:Client"
    assert fault_code_of(other_kind.value) == "INFODIP-E053"

    stranger = client_as(wsdl_client, "tjsp-sistema")
    with pytest.raises(Fault) as foreign:
        stranger.service.retificarComunicacao(protocolo=sent.protocolo,
                                              comunicacao=comunicacao_value(stranger, Kind.I))
    assert fault_code_of(foreign.value) == "INFODIP-E051"

    view = client.service.consultarComunicacao(protocolo=sent.protocolo)
    assert view.versaoAtual == 2
    assert [v.operacao for v in view.versoes.versao] == ["envio", "retificacao"]
