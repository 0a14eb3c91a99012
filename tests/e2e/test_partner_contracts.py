"""The contracts shared by the adapters and the store simulators: what the adapters send is what the contracts
declare, and a zeep client built from the TSE simulator's WSDL speaks to it."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import zeep
from lxml import etree

from adapters.base import OutboundMessage
from adapters.tse import WSDL, render_batch
from tests.support import Mocks

pytestmark = pytest.mark.e2e
PAYLOAD = b'<i:comunicacao xmlns:i="urn:gateway-interop:infodip:1.0" tipo="VI"><i:x>&amp;1</i:x></i:comunicacao>'


def message(n: int) -> OutboundMessage:
    """An outbound message with the payload above."""
    return OutboundMessage(f"id-{n}", "20261121-ABCDEFGHJKMN", 1, "envio", "VI", "RCPN-097543",
                           dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC), PAYLOAD)


def test_rendered_batch_is_valid_and_carries_the_stored_bytes_verbatim() -> None:
    """The adapter's request validates against the schema in the TSE WSDL, and each stored payload appears in
    it byte for byte (a retry sends exactly what was audited)."""
    wsdl = etree.parse(str(WSDL))
    schema_el = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema")
    assert schema_el is not None
    schema = etree.XMLSchema(etree.fromstring(etree.tostring(schema_el)))  # keeps the in-scope namespaces
    body = render_batch([message(1), message(2)])
    assert body.count(PAYLOAD) == 2
    op = etree.fromstring(body).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]  # type: ignore[index]
    assert schema.validate(op), schema.error_log


def test_zeep_client_from_the_simulator_wsdl_registers_and_deduplicates(mocks: Mocks) -> None:
    """A zeep client built from the simulator's served WSDL registers a batch; the same id again is 'duplicado'."""
    mocks.reset()
    client = zeep.Client(mocks.tse.url + "/?wsdl")
    registro = {"idMensagem": "zeep-1", "protocolo": "20261121-ABCDEFGHJKMN", "versao": 1, "operacao": "envio",
                "tipo": "VI", "orgaoRemetente": "RCPN", "dataRecebimento": dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
                "conteudo": {"_value_1": etree.fromstring(PAYLOAD)}}
    first = client.service.registrarComunicacoes(registro=[registro])
    again = client.service.registrarComunicacoes(registro=[registro])
    assert first[0].situacao == "registrado" and again[0].situacao == "duplicado"
    assert first[0].recibo == again[0].recibo
    received = mocks.received("tse")
    assert [e["duplicate"] for e in received] == [False, True]
    mocks.reset()


def test_cnj_openapi_declares_what_the_adapter_sends(mocks: Mocks) -> None:
    """The CNJ simulator's OpenAPI requires exactly the fields the adapter sends."""
    spec = httpx.get(mocks.cnj.url + "/openapi.json").json()
    schema = spec["paths"]["/api/v1/registros"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    required = set(schema["properties"]["registros"]["items"]["required"])
    assert required == {"idMensagem", "protocolo", "versao", "operacao", "tipo", "comunicacaoXml"}
