"""PGF's inscriptions through the API of our own design (``mocks/README_pgf.md``: no public PGF API exists): httpx's
request and response types sent by aiohttp (:class:`adapters.aiohttp_transport.PartnerClient`).

- ``X-API-Key`` on every call; 401 (``CHAVE_AUSENTE``/``CHAVE_INVALIDA``) is ``DIVIDA-E030``.
- ``POST {url}/api/v1/inscricoes/consulta`` ``{"documento", "pagina", "tamanho_pagina": 100}`` → pages of
  inscriptions where the document answers, with its ``responsabilidade``; a person owing nothing is an empty page.
  Every page is fetched (page 1, then the others a few at a time), up to ``max_paginas`` (beyond: ``DIVIDA-E022``,
  never a silently truncated list); pages whose items do not add up to ``total_itens`` are ``DIVIDA-E022`` too.
- ``GET {url}/api/v1/inscricoes/{numero}`` → the detail with every party; 404 ``INSCRICAO_NAO_ENCONTRADA`` → None.
- Money in integer cents (``valores.atualizado_centavos``), ISO dates, the creditor autarchy on each inscription
  (``credor.sigla`` becomes ``orgaoCredor``), ``situacao.codigo`` mapped by :data:`gateway.divida.parsing.SITUACOES_PGF`
  with ``situacao.descricao`` kept as the original text.

Errors go through :func:`adapters.divida_base.reading` into the one tree. Every call has the client's timeout.
"""

from __future__ import annotations

import asyncio
import math
from datetime import date
from typing import Any

import httpx

from adapters.aiohttp_transport import PartnerClient
from adapters.base import parse_json
from adapters.divida_base import (
    fora_do_contrato,
    gather_or_raise,
    inteiro,
    lista,
    objeto,
    processo_judicial,
    reading,
    status_error,
    texto,
    texto_opcional,
)
from gateway.clock import Clock, SystemClock
from gateway.divida import parsing
from gateway.divida.domain import (
    Credor,
    Devedor,
    Inscricao,
    InscricaoDetalhada,
    Papel,
    Responsavel,
    RespostaDevedor,
    TipoPessoa,
    tipo_pessoa,
)
from gateway.errors import PartnerError
from gateway.identifiers import only_digits

NAME = "PGF"
API = "/api/v1"
PAGE_SIZE = 100  # the contract's maximum


class PgfPartner:
    """The :class:`~gateway.divida.partners.DebtPartner` of PGF (see the module docstring)."""

    credor = Credor.PGF

    def __init__(self, url: str, api_key: str, *, timeout: float = 5.0, max_paginas: int = 50,
                 page_concurrency: int = 4, clock: Clock | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.api = url.rstrip("/") + API
        self.max_paginas = max_paginas
        self.clock = clock or SystemClock()
        self.client = PartnerClient(timeout, transport, headers={"X-API-Key": api_key})
        self._pages = asyncio.Semaphore(page_concurrency)

    async def devedor(self, documento: str) -> RespostaDevedor:
        """The inscriptions where *documento* answers, every page (see :meth:`DebtPartner.devedor`). PGF's list does
        not name the person: ``nome`` is None."""
        first = await self._page(documento, 1)
        with reading(NAME):
            paginacao = objeto(NAME, first.get("paginacao"), "paginacao")
            total_itens = inteiro(NAME, paginacao, "total_itens")
            total_paginas = inteiro(NAME, paginacao, "total_paginas")
        if total_paginas > self.max_paginas:
            raise PartnerError(f"{NAME}: {total_paginas} páginas, acima do limite de {self.max_paginas} "
                               "(GATEWAY_PGF_MAX_PAGINAS)", retryable=False, partner=NAME, code="DIVIDA-E022")
        if total_paginas != math.ceil(total_itens / PAGE_SIZE):
            raise fora_do_contrato(NAME, f"{total_itens} itens em {total_paginas} páginas de {PAGE_SIZE}")
        rest = await gather_or_raise(self._bounded_page(documento, n) for n in range(2, total_paginas + 1))
        with reading(NAME):
            items = [objeto(NAME, i, "inscrição") for page in (first, *rest)
                     for i in lista(NAME, page.get("inscricoes"), "inscricoes")]
            if len({i.get("numero") for i in items}) != total_itens or len(items) != total_itens:
                raise fora_do_contrato(NAME, f"{len(items)} inscrições lidas para total_itens {total_itens}")
            return RespostaDevedor(None, tuple(_inscricao(i, parsing.papel(i.get("responsabilidade")))
                                               for i in items))

    async def inscricao(self, numero: str) -> InscricaoDetalhada | None:
        """Inscription *numero* (15 digits) in detail with every party, or None when PGF does not know it."""
        with reading(NAME):
            r = await self.client.get(f"{self.api}/inscricoes/{numero}")
        if r.status_code == 404 and _erro_codigo(r) == "INSCRICAO_NAO_ENCONTRADA":
            return None
        if r.status_code != 200:
            raise status_error(NAME, r, self.clock.now())
        with reading(NAME):
            d = objeto(NAME, parse_json(NAME, r.content), "detalhe da inscrição")
            processo = d.get("processo_judicial")
            return InscricaoDetalhada(
                _inscricao(d, None),
                tuple(_responsavel(objeto(NAME, p, "responsável"))
                      for p in lista(NAME, d.get("responsaveis"), "responsaveis")),
                processo_administrativo=texto_opcional(NAME, d, "processo_administrativo"),
                fundamento_legal=texto_opcional(NAME, objeto(NAME, d.get("receita"), "receita"), "fundamento_legal"),
                data_ajuizamento=_data_opcional(objeto(NAME, processo, "processo_judicial"), "data_ajuizamento")
                if processo is not None else None)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def _bounded_page(self, documento: str, pagina: int) -> dict[str, Any]:
        async with self._pages:
            return await self._page(documento, pagina)

    async def _page(self, documento: str, pagina: int) -> dict[str, Any]:
        with reading(NAME):
            r = await self.client.post(f"{self.api}/inscricoes/consulta",
                                       json={"documento": documento, "pagina": pagina, "tamanho_pagina": PAGE_SIZE})
        if r.status_code != 200:
            raise status_error(NAME, r, self.clock.now())
        with reading(NAME):
            return objeto(NAME, parse_json(NAME, r.content), "página")


def _erro_codigo(response: httpx.Response) -> str | None:
    """The ``erro.codigo`` of one of the contract's error bodies, or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    erro = body.get("erro") if isinstance(body, dict) else None
    codigo = erro.get("codigo") if isinstance(erro, dict) else None
    return codigo if isinstance(codigo, str) else None


def _data_opcional(obj: dict[str, Any], key: str) -> date | None:
    value = obj.get(key)
    return None if value is None else parsing.data_iso(value)


def _inscricao(item: dict[str, Any], papel: Papel | None) -> Inscricao:
    """A normalised inscription from one of PGF's inscription objects (list item or detail)."""
    credor = objeto(NAME, item.get("credor"), "credor")
    situacao = objeto(NAME, item.get("situacao"), "situacao")
    valores = objeto(NAME, item.get("valores"), "valores")
    receita = objeto(NAME, item.get("receita"), "receita")
    processo = item.get("processo_judicial")
    codigo = texto(NAME, situacao, "codigo")
    return Inscricao(
        credor=Credor.PGF,
        orgao_credor=texto_opcional(NAME, credor, "sigla") or texto(NAME, credor, "nome"),
        numero_inscricao=only_digits(texto(NAME, item, "numero")),
        situacao=parsing.situacao_pgf(codigo),
        situacao_original=texto_opcional(NAME, situacao, "descricao") or codigo,
        papel_devedor=papel,
        valor_consolidado=parsing.centavos(valores.get("atualizado_centavos")),
        data_inscricao=parsing.data_iso(item.get("data_inscricao")),
        data_atualizacao=_data_opcional(valores, "data_atualizacao"),
        receita=texto_opcional(NAME, receita, "descricao") or texto(NAME, receita, "codigo"),
        numero_processo_judicial=processo_judicial(texto(NAME, objeto(NAME, processo, "processo_judicial"),
                                                         "numero")) if processo is not None else None,
    )


def _responsavel(p: dict[str, Any]) -> Responsavel:
    documento = only_digits(texto(NAME, p, "documento")).upper()
    kind = texto_opcional(NAME, p, "tipo_pessoa")
    tipo = TipoPessoa(kind.lower()) if kind and kind.lower() in ("fisica", "juridica") else tipo_pessoa(documento)
    return Responsavel(Devedor(documento, texto_opcional(NAME, p, "nome"), tipo),
                       parsing.papel(p.get("responsabilidade")))
