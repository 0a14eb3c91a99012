"""REST operations on organs and credentials (``/api/v1/admin``, scope ``operador``): what an operator does with
``gateway organ disable|enable`` and ``gateway credential rotate|revoke``, through a running replica.

A change made here takes effect on this replica at once and on every other within ``GATEWAY_AUTH_REFRESH_S``
(:mod:`gateway.auth_state`); it is audited with the caller's credential (or ``token-de-operacao``) as operator.
Refusals are :class:`~gateway.admin.AdminError` (``GATEWAY-E002``), answered by the REST edge's error mapping.
"""

# No "from __future__ import annotations": FastAPI must see the dependencies' annotations.

from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from gateway.admin import Actor, AdminService
from gateway.edges import problems
from gateway.edges.oauth import Principal, require_scopes

OPERATOR = require_scopes("operador")


class OrganState(BaseModel):
    """An organ's new state."""

    ativo: bool


class OrganChanged(BaseModel):
    """The organ and its state after the change."""

    orgao: str
    ativo: bool


class NewPassword(BaseModel):
    """The credential's new, generated password (shown once)."""

    usuario: str
    senha: str


class Revoked(BaseModel):
    """The credential revoked."""

    usuario: str
    revogada: bool


def install(app: FastAPI, admin: AdminService) -> None:
    """Add the ``/api/v1/admin`` routes to *app*."""
    router = APIRouter(prefix="/api/v1/admin", tags=["operação"], responses=problems.responses(401, 403, 422, 429, 503))

    def as_actor(principal: Principal) -> Actor:
        return Actor(principal.actor, "rest")

    @router.patch("/orgaos/{codigo}", summary="Desativa (ativo=false) ou reativa um órgão")
    async def set_organ(codigo: str, body: OrganState,
                        principal: Annotated[Principal, Depends(OPERATOR)]) -> OrganChanged:
        await anyio.to_thread.run_sync(partial(admin.set_organ_active, codigo, body.ativo,
                                               actor=as_actor(principal)))
        return OrganChanged(orgao=codigo, ativo=body.ativo)

    @router.post("/credenciais/{usuario}/senha", summary="Troca a senha de uma credencial (gerada; a anterior deixa "
                 "de valer)")
    async def rotate(usuario: str, principal: Annotated[Principal, Depends(OPERATOR)]) -> NewPassword:
        password = await anyio.to_thread.run_sync(partial(admin.rotate_credential, usuario,
                                                          actor=as_actor(principal)))
        return NewPassword(usuario=usuario, senha=password)

    @router.delete("/credenciais/{usuario}", summary="Revoga uma credencial (senha e tokens)")
    async def revoke(usuario: str, principal: Annotated[Principal, Depends(OPERATOR)]) -> Revoked:
        await anyio.to_thread.run_sync(partial(admin.revoke_credential, usuario, actor=as_actor(principal)))
        return Revoked(usuario=usuario, revogada=True)

    app.include_router(router)
