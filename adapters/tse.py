"""The TSE INFODIP store over SOAP 1.1 with zeep, in batches, each message carrying the gateway's message id.

zeep is built once from the contract file (``schemas/partners/tse-infodip``) and bound to the configured URL; the
stored payload travels as the ``xs:any`` content of each ``registro``, so retries send the same element.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import zeep
import zeep.exceptions
from lxml import etree
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from adapters.base import DeliveryResult, OutboundMessage, PartnerError, status_error, translating

WSDL = Path(__file__).resolve().parent.parent / "schemas" / "partners" / "tse-infodip" / "1.0" / "tse-infodip-1.0.wsdl"
BINDING = "{urn:gateway-interop:tse-infodip:1.0}RepositorioInfodipBinding"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class _HeaderTransport(AsyncTransport):
    """Adds ``X-Gateway-Message-Id`` (the ids of the batch) to each post."""

    message_ids = ""

    async def post(self, address: str, message: str, headers: dict[str, str]) -> httpx.Response:  # type: ignore[override]
        headers = {**headers, "X-Gateway-Message-Id": self.message_ids}
        return await super().post(address, message, headers)


class TseAdapter:
    """Delivers to the TSE store's ``registrarComunicacoes``."""

    name = "TSE"

    def __init__(self, url: str, timeout: float = 10.0, max_batch: int = 100) -> None:
        self.url = url.rstrip("/") + "/"
        self.max_batch = max_batch
        client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                   limits=httpx.Limits(max_connections=16))
        self.transport = _HeaderTransport(client=client, wsdl_client=httpx.Client(timeout=timeout))
        self.zeep = zeep.AsyncClient(str(WSDL), transport=self.transport,
                                     settings=zeep.Settings(strict=True, xml_huge_tree=False))
        # AsyncClient.create_service would give a synchronous proxy: build the async one for our binding
        self.service = AsyncServiceProxy(self.zeep, self.zeep.wsdl.bindings[BINDING], address=self.url)

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Deliver *batch* in one call."""
        registros = [{
            "idMensagem": m.message_id, "protocolo": m.protocol, "versao": m.version, "operacao": m.operation,
            "tipo": m.kind, "orgaoRemetente": m.organ, "dataRecebimento": m.received_at,
            "conteudo": {"_value_1": etree.fromstring(m.payload, _PARSER)},
        } for m in batch]
        self.transport.message_ids = ",".join(m.message_id for m in batch)
        with translating(self.name):
            try:
                answer = await self.service.registrarComunicacoes(registro=registros)
            except zeep.exceptions.Fault as exc:
                raise PartnerError(f"TSE: SOAP Fault {exc.code}: {exc.message}",
                                   retryable=not str(exc.code or "").endswith("Client")) from exc
            except zeep.exceptions.TransportError as exc:
                if exc.status_code == 200:  # an answer that is not SOAP: the batch may be stored, resend is safe
                    raise PartnerError("TSE: resposta ilegível (não é SOAP)", retryable=True) from exc
                raise status_error(self.name, exc.status_code) from exc
            out = []
            for item in answer:
                if item.situacao in ("registrado", "duplicado"):
                    out.append(DeliveryResult(item.idMensagem, True, receipt=item.recibo))
                else:
                    out.append(DeliveryResult(item.idMensagem, False, error=f"TSE rejeitou: {item.motivo}",
                                              retryable=False))
        if {r.message_id for r in out} != {m.message_id for m in batch}:
            raise PartnerError("TSE: resposta não corresponde ao lote enviado", retryable=True)
        return out

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self.transport.aclose()
