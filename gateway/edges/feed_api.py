"""REST edge of the change feed (Res. Conjunta 6/2020 art. 12): ``GET /api/v1/feed`` (pull) and the webhook
subscriptions (push) under ``/api/v1/feed/assinaturas``.

Scope ``feed:ler``; the subscriber is the organ of the token, and its slice of the feed is the destination its code
names (``TSE``, ``CNJ``; any other organ: GATEWAY-E101). The operations token (scope ``operador``) lists, pauses and
resumes every subscription. Errors are problems (:mod:`gateway.edges.problems`).
"""

# No "from __future__ import annotations": FastAPI must see the local dependencies in the annotations.

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, Field

from gateway.auth import Caller
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem, responses
from gateway.infodip.feed import MAX_PAGE, FeedService, encode_cursor, item_json
from gateway.infodip.webhooks import Subscription, WebhookService

ISO = "ISO 8601, com fuso"
READER = require_scopes("feed:ler")
MANAGER = require_scopes()  # a subscriber (feed:ler, checked by the service) or the operations token


class ItemFeed(BaseModel):
    """One accepted version in the subscriber's feed."""

    posicao: int = Field(description="ordem de commit no feed do assinante (crescente)")
    idMensagem: str
    protocolo: str
    versao: int
    operacao: str = Field(description="envio | retificacao | cancelamento")
    tipo: str = Field(examples=["I", "IV"])
    orgaoRemetente: str
    dataRecebimento: str = Field(description=ISO)
    comunicacaoXml: str = Field(description="a comunicação como o gateway a guardou (C14N exclusiva)")


class PaginaFeed(BaseModel):
    """A page of the feed: ``proximo`` is always the cursor to resume from (also at the end, to poll again);
    ``fim`` says the page reached what is committed now."""

    itens: list[ItemFeed]
    proximo: str
    fim: bool


class NovaAssinatura(BaseModel):
    """A webhook to receive the subscriber's feed by push, from the beginning unless ``cursor`` is given."""

    url: str = Field(examples=["https://cnj.example/feed/eventos"])
    cursor: str | None = Field(None, description="começar após este cursor (omitido: desde o início)")


class Assinatura(BaseModel):
    """A webhook subscription."""

    id: str
    orgao: str
    destino: str
    url: str
    situacao: str = Field(description="ativa | pausada")
    motivoPausa: str | None
    posicao: int = Field(description="última posição entregue (2xx do receptor)")
    tentativas: int
    ultimoErro: str | None
    segredo: str | None = Field(None, description="chave HMAC-SHA256 de X-Gateway-Assinatura (só na criação)")


def assinatura(s: Subscription, secret: str | None = None) -> Assinatura:
    """The REST shape of *s*."""
    return Assinatura(id=s.id, orgao=s.organ_code, destino=s.destination, url=s.url, situacao=s.state,
                      motivoPausa=s.paused_reason, posicao=s.position, tentativas=s.attempts, ultimoErro=s.last_error,
                      segredo=secret)


def _caller(p: Principal) -> Caller | None:
    return p.caller


def install(app: FastAPI, feed: FeedService, webhooks: WebhookService) -> None:
    """Add the feed's routes to *app*."""
    router = APIRouter(prefix="/api/v1/feed", tags=["feed"])

    @router.get("", summary="Feed de alterações do assinante (versões aceitas, em ordem de commit)",
                responses=responses(401, 403, 422, 503))
    async def pull(who: Annotated[Principal, Depends(READER)], cursor: str | None = None,
                   limite: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> PaginaFeed:
        if who.caller is None:
            raise HTTPProblem(403, "GATEWAY-E101", "O token de operação não é assinante do feed.",
                              campo="Authorization")
        destination, page = await feed.pull(who.caller, cursor, limite, channel=f"rest:{who.via}")
        return PaginaFeed(itens=[ItemFeed(**item_json(i)) for i in page.items],
                          proximo=encode_cursor(destination, page.position), fim=page.end)

    @router.post("/assinaturas", status_code=201, summary="Cria um webhook do feed (o segredo vem só nesta resposta)",
                 responses=responses(401, 403, 422, 503))
    async def create(body: NovaAssinatura, who: Annotated[Principal, Depends(READER)]) -> Assinatura:
        if who.caller is None:
            raise HTTPProblem(403, "GATEWAY-E101", "O token de operação não é assinante do feed.",
                              campo="Authorization")
        sub, secret = await webhooks.create(who.caller, body.url, body.cursor, actor=f"api:{who.actor}")
        return assinatura(sub, secret)

    @router.get("/assinaturas", summary="Webhooks do órgão (todos, para o token de operação)",
                responses=responses(401, 403, 422, 503))
    async def listing(who: Annotated[Principal, Depends(MANAGER)]) -> list[Assinatura]:
        subs = await anyio.to_thread.run_sync(webhooks.list, _owner(who))
        return [assinatura(s) for s in subs]

    @router.post("/assinaturas/{ident}/pausar", summary="Pausa um webhook (as entregas param; a posição fica)",
                 responses=responses(401, 403, 404, 422, 503))
    async def pause(ident: str, who: Annotated[Principal, Depends(MANAGER)]) -> Assinatura:
        return assinatura(await webhooks.pause(ident, _owner(who), actor=f"api:{who.actor}"))

    @router.post("/assinaturas/{ident}/retomar",
                 summary="Retoma um webhook pausado (da posição em que parou; tentativas zeradas)",
                 responses=responses(401, 403, 404, 422, 503))
    async def resume(ident: str, who: Annotated[Principal, Depends(MANAGER)]) -> Assinatura:
        return assinatura(await webhooks.resume(ident, _owner(who), actor=f"api:{who.actor}"))

    app.include_router(router)


def _owner(who: Principal) -> int | None:
    """The organ whose subscriptions *who* manages (None: every one, for the operations token or scope
    ``operador``); a subscriber needs ``feed:ler``."""
    if who.caller is None or "operador" in who.scopes:
        return None
    if "feed:ler" not in who.scopes:
        raise HTTPProblem(403, "GATEWAY-E063", "Escopo insuficiente: feed:ler.", campo="Authorization")
    return who.caller.organ_id
