"""The TSE INFODIP store over SOAP 1.1, in batches, each message carrying the gateway's message id.

The contract is ``schemas/partners/tse-infodip/1.0`` (its WSDL is what zeep-based clients and our contract tests
use). On the hot path the envelope is rendered around the **stored bytes** of each version, verbatim ("render once,
store the bytes, send those bytes": a retry sends exactly what was audited), and the answer is read with lxml.
zeep was measured here at ~360 µs per message (building 100 ``xs:any`` registros per call on the event loop), the
largest cost of delivery; this renderer costs a few µs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from adapters.base import (
    DeliveryResult,
    OutboundMessage,
    check_one_result_each,
    status_error,
    translating,
    unreadable,
)
from gateway.errors import PartnerError, PartnerRefused

WSDL = Path(__file__).resolve().parent.parent / "schemas" / "partners" / "tse-infodip" / "1.0" / "tse-infodip-1.0.wsdl"
NS = "urn:gateway-interop:tse-infodip:1.0"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ACTION = f'"{NS}/registrarComunicacoes"'
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_HEAD = (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
         f'<t:registrarComunicacoes xmlns:t="{NS}">').encode()
_TAIL = b"</t:registrarComunicacoes></soap:Body></soap:Envelope>"


def render_batch(batch: Sequence[OutboundMessage]) -> bytes:
    """The ``registrarComunicacoes`` request for *batch*, each stored payload inserted byte for byte."""
    parts = [_HEAD]
    for m in batch:
        parts.append((
            f"<t:registro><t:idMensagem>{escape(m.message_id)}</t:idMensagem>"
            f"<t:protocolo>{escape(m.protocol)}</t:protocolo><t:versao>{m.version}</t:versao>"
            f"<t:operacao>{escape(m.operation)}</t:operacao><t:tipo>{escape(m.kind)}</t:tipo>"
            f"<t:orgaoRemetente>{escape(m.organ)}</t:orgaoRemetente>"
            f"<t:dataRecebimento>{m.received_at.isoformat()}</t:dataRecebimento><t:conteudo>"
        ).encode())
        parts.append(m.payload)
        parts.append(b"</t:conteudo></t:registro>")
    parts.append(_TAIL)
    return b"".join(parts)


def read_answer(data: bytes, partner: str = "TSE") -> list[DeliveryResult]:
    """The per-message results of a ``registrarComunicacoesResposta``.

    A SOAP Fault raises :class:`PartnerRefused` (``soap:Client``) or a retryable :class:`PartnerError`
    (``soap:Server``); bytes that are not XML, or an answer without what the contract requires (one
    ``resultado`` per message with ``idMensagem`` and a ``situacao`` of ``registrado|duplicado|rejeitado``), raise
    :class:`PartnerUnreadable`."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise unreadable(partner, f"XML malformado: {exc}") from exc
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) != 1:
        raise unreadable(partner, "sem soap:Body com um elemento")
    op = body[0]
    if op.tag == f"{{{SOAP}}}Fault":
        code = op.findtext("faultcode") or ""
        message = f"{partner}: SOAP Fault {code}: {op.findtext('faultstring')}"
        if code.endswith("Client"):
            raise PartnerRefused(message, retryable=False, partner=partner)
        raise PartnerError(message, retryable=True, partner=partner)
    if op.tag != f"{{{NS}}}registrarComunicacoesResposta":
        raise unreadable(partner, f"elemento inesperado {op.tag}")
    out = []
    for item in op.iterfind(f"{{{NS}}}resultado"):
        message_id = item.findtext(f"{{{NS}}}idMensagem")
        situacao = item.findtext(f"{{{NS}}}situacao")
        if not message_id:
            raise unreadable(partner, "resultado sem idMensagem")
        if situacao in ("registrado", "duplicado"):
            out.append(DeliveryResult(message_id, True, receipt=item.findtext(f"{{{NS}}}recibo")))
        elif situacao == "rejeitado":
            out.append(DeliveryResult(message_id, False, retryable=False,
                                      error=f"{partner} rejeitou: {item.findtext(f'{{{NS}}}motivo')}"))
        else:
            raise unreadable(partner, f"situacao desconhecida {situacao!r}")
    return out


@dataclass(frozen=True)
class ProcessingReport:
    """The store's word on one version: ``situacao`` as the contract says it, when, and why (or None)."""

    message_id: str
    situacao: str
    processed_at: datetime | None
    reason: str | None


PROCESSING_STATES = ("pendente", "processado", "eleitor-nao-encontrado", "revisao-manual", "desconhecido")


def read_outcomes(data: bytes, partner: str = "TSE") -> list[ProcessingReport]:
    """The reports of a ``consultarProcessamentoResposta``. Errors: PartnerUnreadable for anything outside the
    contract."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise unreadable(partner, f"XML malformado: {exc}") from exc
    op = root.find(f"{{{SOAP}}}Body/{{{NS}}}consultarProcessamentoResposta")
    if op is None:
        raise unreadable(partner, "sem consultarProcessamentoResposta")
    out = []
    for item in op.iterfind(f"{{{NS}}}processamento"):
        message_id, situacao = item.findtext(f"{{{NS}}}idMensagem"), item.findtext(f"{{{NS}}}situacao")
        if not message_id or situacao not in PROCESSING_STATES:
            raise unreadable(partner, f"processamento fora do contrato ({message_id!r}, {situacao!r})")
        when = item.findtext(f"{{{NS}}}dataProcessamento")
        try:
            at = datetime.fromisoformat(when) if when else None
        except ValueError as exc:
            raise unreadable(partner, f"dataProcessamento ilegível: {when!r}") from exc
        out.append(ProcessingReport(message_id, situacao, at, item.findtext(f"{{{NS}}}motivo")))
    return out


class TseAdapter:
    """Delivers to the TSE store's ``registrarComunicacoes``."""

    name = "TSE"

    def __init__(self, url: str, timeout: float = 10.0, max_batch: int = 100,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/") + "/"
        self.max_batch = max_batch
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                        limits=httpx.Limits(max_connections=16), transport=transport)

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Deliver *batch* in one call; one result per message. Raises the partner errors of
        :mod:`adapters.base`."""
        with translating(self.name):
            r = await self.client.post(self.url, content=render_batch(batch), headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION,
                "X-Gateway-Message-Id": ",".join(m.message_id for m in batch)})
        if r.status_code == 500 and b"Fault" in r.content:
            read_answer(r.content, self.name)  # raises the Fault's PartnerError
        if r.status_code != 200:
            raise status_error(self.name, r.status_code)
        out = read_answer(r.content, self.name)
        check_one_result_each(self.name, batch, out)
        return out

    async def outcomes(self, message_ids: Sequence[str]) -> list[ProcessingReport]:
        """What the store did with each of *message_ids* (``consultarProcessamento``: at most 500 per call), in the
        store's words: ``pendente``, ``processado``, ``eleitor-nao-encontrado``, ``revisao-manual`` or
        ``desconhecido``. Raises the partner errors of :mod:`adapters.base`."""
        ids = "".join(f"<t:idMensagem>{escape(m)}</t:idMensagem>" for m in message_ids)
        envelope = (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
                    f'<t:consultarProcessamento xmlns:t="{NS}">{ids}</t:consultarProcessamento>'
                    "</soap:Body></soap:Envelope>").encode()
        with translating(self.name):
            r = await self.client.post(self.url, content=envelope, headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}/consultarProcessamento"'})
        if r.status_code == 500 and b"Fault" in r.content:
            read_answer(r.content, self.name)  # raises the Fault's PartnerError
        if r.status_code != 200:
            raise status_error(self.name, r.status_code)
        return read_outcomes(r.content, self.name)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
