"""REST edge of the intimations brought back to the procuradorias (issue 12, point 7), in the manner of the
Domicílio Judicial Eletrônico (DOMAIN.md §2b). Bearer scope ``intimacoes:ler`` (PGFN, PGF).

- ``GET /api/v1/intimacoes?numeroProcesso=&tribunal=&instancia=&situacao=&desde=&ate=&cursor=&limite=`` → ``{"itens":
  [...], "proximo"}``: the organ's intimations, by arrival, **without taking notice** (the court is not called);
- ``POST /api/v1/intimacoes/{id}/ciencia`` with the acting person's CPF in ``On-Behalf-Of`` → the content
  (``teor``, deadline, documents, the ``comunicacao`` bytes): takes notice through the court once — irreversible,
  idempotent, audited;
- ``PUT /api/v1/intimacoes/callback`` ``{"url"}`` (the secret answered only then) and ``GET`` of it: the callback
  announcing new intimations.

The edge parses and maps only (:class:`~gateway.divida.intimacoes.service.IntimacoesService`). Errors are problems
(:mod:`gateway.edges.problems`): 422 ``INTIM-E001``…``E004`` naming the field, 404 ``INTIM-E010``/``E012``, 502
``INTIM-E020``/``E022`` and 503 ``INTIM-E021`` (with ``Retry-After``) when the court failed — nothing recorded then.
"""

# No "from __future__ import annotations": FastAPI must see the dependencies' annotations.

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query

from gateway.auth import Caller
from gateway.divida.intimacoes import contract, domain
from gateway.divida.intimacoes.callbacks import Callbacks
from gateway.divida.intimacoes.service import IntimacoesService
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem, responses
from gateway.errors import PartnerUnreachable

READER = require_scopes("intimacoes:ler")
ACTING = require_scopes("intimacoes:ler", on_behalf_of=True)


def _caller(who: Principal) -> Caller:
    if who.caller is None:
        raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não é uma procuradoria.", campo="Authorization")
    return who.caller


def install(app: FastAPI, service: IntimacoesService, callbacks: Callbacks) -> None:
    """Add the intimations' routes to *app* (authentication and problems: :func:`gateway.edges.oauth.install`)."""
    router = APIRouter(prefix="/api/v1/intimacoes", tags=["intimações"])

    @router.get("", summary="Intimações dos tribunais à procuradoria (a listagem não dá ciência)",
                responses=responses(401, 403, 422, 503))
    async def listing(who: Annotated[Principal, Depends(READER)],
                      numeroProcesso: str | None = None, tribunal: str | None = Query(None, examples=["4.04"]),
                      instancia: str | None = None,
                      situacao: str | None = Query(None, description="pendente | ciente | ciencia_tacita"),
                      desde: str | None = Query(None, description="dataDisponibilizacao a partir de (AAAA-MM-DD)"),
                      ate: str | None = Query(None, description="dataDisponibilizacao até (AAAA-MM-DD)"),
                      cursor: str | None = None,
                      limite: int = Query(50, description=f"1 a {domain.MAX_PAGE}")) -> contract.PaginaIntimacoes:
        f = domain.filtro(numeroProcesso, tribunal, instancia, situacao, desde, ate, cursor, limite)
        page = await service.listar(_caller(who), f)
        return contract.PaginaIntimacoes(itens=page.itens, proximo=page.proximo)

    @router.post("/{ident}/ciencia", summary="Dá ciência da intimação (irreversível) e devolve o seu teor",
                 responses=responses(400, 401, 403, 404, 422, 502, 503))
    async def ciencia(ident: str, who: Annotated[Principal, Depends(ACTING)]) -> contract.Ciencia:
        assert who.on_behalf_of is not None  # ACTING requires it
        try:
            return await service.ciencia(_caller(who), ident, who.on_behalf_of, f"rest:{who.via}")
        except PartnerUnreachable as exc:
            raise HTTPProblem(503, exc.code, exc.message, headers={"Retry-After": "30"}) from None

    @router.put("/callback", summary="Define o callback que anuncia novas intimações (o segredo vem só aqui)",
                responses=responses(401, 403, 422, 503))
    async def set_callback(body: contract.NovoCallback,
                           who: Annotated[Principal, Depends(READER)]) -> contract.Callback:
        return await callbacks.set(_caller(who), body.url, f"api:{who.actor}")

    @router.get("/callback", summary="O callback da procuradoria", responses=responses(401, 403, 404))
    async def get_callback(who: Annotated[Principal, Depends(READER)]) -> contract.Callback:
        return await callbacks.get(_caller(who))

    app.include_router(router)
