"""The CNJ registry over REST/JSON (httpx), in batches, each message carrying the gateway's message id."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from adapters.base import DeliveryResult, OutboundMessage, PartnerError, status_error, translating


class CnjAdapter:
    """Delivers to ``POST {url}/api/v1/registros``."""

    name = "CNJ"

    def __init__(self, url: str, timeout: float = 10.0, max_batch: int = 100) -> None:
        self.url = url.rstrip("/")
        self.max_batch = max_batch
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                        limits=httpx.Limits(max_connections=16))

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Deliver *batch* in one call."""
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
            results = r.json()["resultados"]
            out = []
            for item in results:
                situacao = item["situacao"]
                if situacao in ("registrado", "duplicado"):
                    out.append(DeliveryResult(item["idMensagem"], True, receipt=item.get("recibo")))
                else:
                    out.append(DeliveryResult(item["idMensagem"], False, error=f"CNJ rejeitou: {item.get('motivo')}",
                                              retryable=False))
        if {r.message_id for r in out} != {m.message_id for m in batch}:
            raise PartnerError("CNJ: resposta não corresponde ao lote enviado", retryable=True)
        return out

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
