"""The CNJ registry over REST/JSON (httpx), in batches, each message carrying the gateway's message id."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from adapters.base import (
    DeliveryResult,
    OutboundMessage,
    check_one_result_each,
    parse_json,
    status_error,
    translating,
    unreadable,
)


def read_results(data: bytes, partner: str = "CNJ") -> list[DeliveryResult]:
    """The per-message results of ``POST /api/v1/registros``: ``{"resultados": [{"idMensagem", "situacao":
    "registrado"|"duplicado"|"rejeitado", "recibo"?, "motivo"?}]}``. Anything else raises
    :class:`gateway.errors.PartnerUnreadable`."""
    answer = parse_json(partner, data)
    results = answer.get("resultados") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        raise unreadable(partner, "sem a lista 'resultados'")
    out = []
    for item in results:
        message_id = item.get("idMensagem") if isinstance(item, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise unreadable(partner, "resultado sem idMensagem")
        situacao = item.get("situacao")
        if situacao in ("registrado", "duplicado"):
            receipt = item.get("recibo")
            out.append(DeliveryResult(message_id, True, receipt=str(receipt) if receipt is not None else None))
        elif situacao == "rejeitado":
            out.append(DeliveryResult(message_id, False, error=f"{partner} rejeitou: {item.get('motivo')}",
                                      retryable=False))
        else:
            raise unreadable(partner, f"situacao desconhecida {situacao!r}")
    return out


class CnjAdapter:
    """Delivers to ``POST {url}/api/v1/registros``."""

    name = "CNJ"

    def __init__(self, url: str, timeout: float = 10.0, max_batch: int = 100,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.max_batch = max_batch
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                        limits=httpx.Limits(max_connections=16), transport=transport)

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Deliver *batch* in one call; one result per message. Raises the partner errors of
        :mod:`adapters.base`."""
        body = {"registros": [{
            "idMensagem": m.message_id, "protocolo": m.protocol, "versao": m.version, "operacao": m.operation,
            "tipo": m.kind, "orgaoRemetente": m.organ, "dataRecebimento": m.received_at.isoformat(),
            "comunicacaoXml": m.payload.decode(),
        } for m in batch]}
        with translating(self.name):
            r = await self.client.post(self.url + "/api/v1/registros", json=body,
                                       headers={"X-Gateway-Message-Id": ",".join(m.message_id for m in batch)})
        if r.status_code != 200:
            raise status_error(self.name, r.status_code)
        out = read_results(r.content, self.name)
        check_one_result_each(self.name, batch, out)
        return out

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
