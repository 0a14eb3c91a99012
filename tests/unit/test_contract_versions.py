"""Deprecation of a contract version (gateway/infodip/versions.py; Res. Conjunta 6/2020 art. 4º §2º) and the INFODIP
1.1 bridge (gateway/consulta/contract.py)."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import etree

from gateway.consulta import contract as v11
from gateway.errors import OperatorError
from gateway.infodip import contract as v10
from gateway.infodip.versions import deprecation_of
from gateway.schemas import INFODIP_11_XSD, xml_schema


def test_deprecation_needs_thirty_days_notice() -> None:
    """Art. 4º §2º: a sunset 29 days after the announcement is refused (INFODIP-E093); 30 days is accepted; one date
    without the other, or a date that is not ISO, is a configuration error (GATEWAY-E001); none: no deprecation."""
    with pytest.raises(OperatorError) as short:
        deprecation_of("1.0", "2026-01-01", "2026-01-30", "/soap/infodip-1.1?wsdl")
    assert short.value.code == "INFODIP-E093"
    assert deprecation_of("1.0", "2026-01-01", "2026-01-31", "/x") is not None
    assert deprecation_of("1.0", "", "", "/x") is None
    for announced, sunset in (("2026-01-01", ""), ("01/01/2026", "2026-06-01")):
        with pytest.raises(OperatorError) as bad:
            deprecation_of("1.0", announced, sunset, "/x")
        assert bad.value.code == "GATEWAY-E001"


def test_deprecation_headers_and_retirement() -> None:
    """RFC 9745 ``Deprecation: @<Unix seconds>``, RFC 8594 ``Sunset: <HTTP-date>``, a successor ``Link``; retired
    from the sunset day on; the WSDL notice names both dates."""
    d = deprecation_of("1.0", "2026-01-01", "2026-03-01", "/soap/infodip-1.1?wsdl")
    assert d is not None
    assert d.headers() == {"Deprecation": "@1767225600", "Sunset": "Sun, 01 Mar 2026 00:00:00 GMT",
                           "Link": '</soap/infodip-1.1?wsdl>; rel="successor-version"'}
    assert not d.retired(date(2026, 2, 28)) and d.retired(date(2026, 3, 1))
    assert "2026-01-01" in d.notice() and "2026-03-01" in d.notice()


def test_v11_death_fields_bridge_to_v10_and_duplicate_notice_hides_the_protocol() -> None:
    """A 1.1 death with ``obito/nomePai`` becomes a 1.0 operation with ``pessoa/nomePai`` (before ``sexo``) and
    without the fields 1.0 lacks; a 1.0 receipt's ``duplicidade`` becomes, in 1.1, ``jaRegistrado`` with no
    protocol, and the answer is valid against the 1.1 XSD."""
    op = etree.fromstring(f"""<i:enviarComunicacao xmlns:i="{v11.NS}"><i:comunicacao tipo="VI"><i:cabecalho>
      <i:referenciaRemetente>R1</i:referenciaRemetente><i:pessoa><i:nome>Maria</i:nome><i:cpf>52998224725</i:cpf>
      <i:sexo>F</i:sexo></i:pessoa><i:dataFato>2026-01-02</i:dataFato></i:cabecalho><i:obito>
      <i:dataObito>2026-01-02</i:dataObito><i:matriculaCertidao>12345601552024400012034000056750</i:matriculaCertidao>
      <i:nomePai>José</i:nomePai><i:municipioIBGE>3304557</i:municipioIBGE><i:dataRegistro>2026-01-03</i:dataRegistro>
      </i:obito></i:comunicacao></i:enviarComunicacao>""".encode())
    v11.validate(op)
    old = v11.as_v10(op)
    assert etree.QName(old).namespace == v10.NS
    pessoa = old.find(f".//{{{v10.NS}}}pessoa")
    assert pessoa is not None and [etree.QName(c).localname for c in pessoa] == ["nome", "cpf", "nomePai", "sexo"]
    assert old.find(f".//{{{v10.NS}}}municipioIBGE") is None and old.find(f".//{{{v10.NS}}}dataRegistro") is None
    v10.validate_operation(old)
    answer = v10.operation_response("enviarComunicacao", (
        "<i:recibo><i:protocolo>20260101-ABCDEFGHJKMN</i:protocolo><i:versao>1</i:versao><i:idMensagem>m</i:idMensagem>"
        "<i:operacao>envio</i:operacao><i:dataRecebimento>2026-01-01T00:00:00Z</i:dataRecebimento>"
        "<i:reenvio>false</i:reenvio><i:duplicidade><i:protocoloAnterior>20251231-ZZZZZZZZZZZZ</i:protocoloAnterior>"
        "<i:mensagem>x</i:mensagem></i:duplicidade><i:destino>TSE</i:destino></i:recibo>"))
    new = v11.answer_as_v11(answer)
    assert "20251231-ZZZZZZZZZZZZ" not in new and "jaRegistrado>true</" in new
    assert xml_schema(INFODIP_11_XSD).validate(etree.fromstring(new.encode()))
