"""PGFN's inscriptions through SERPRO's *Consulta Dívida Ativa* (DOMAIN.md §5): httpx's request and response types
sent by aiohttp (:class:`adapters.aiohttp_transport.PartnerClient`).

- Token: OAuth2 client credentials (RFC 6749 §4.4): ``POST {token_url}`` with HTTP Basic ``client_id:secret`` and
  ``grant_type=client_credentials`` → a bearer token (3600 s at SERPRO). :class:`TokenSource` caches it and renews
  it ``margin`` seconds before it expires (by the injected clock's monotonic reading), one renewal at a time (an
  ``asyncio.Lock`` whose wait has a timeout); a 401 on a lookup renews the token that failed — once, however many
  lookups saw it fail at the same time — and the lookup is sent once more; a 401 again is ``DIVIDA-E030``.
- ``GET {url}/consulta-divida-ativa-df/api/v1/devedor/{cpfCnpj}`` → one summary per inscription where the document
  answers (pt-BR money, ``tipoDevedor``); 404 ``[{"message": "… não encontrado."}]`` is "no inscriptions", not an
  error. The summary has neither dates nor the execução fiscal's number, so each inscription's detail
  (``GET …/inscricao/{numero}``: ``dataInscricao`` DD/MM/AAAA, ``dataConsolidacao``, ``nomeNaturezaReceita``,
  ``numeroProcessoJudicialNovo``) is fetched too, a few at a time (``detalhes=False`` skips them: dates and
  process numbers then stay null).

Errors go through :func:`adapters.divida_base.reading` into the one tree; the token endpoint's refusals are
``DIVIDA-E030`` too. Every call has the client's timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any

import httpx

from adapters.aiohttp_transport import PartnerClient
from adapters.base import parse_json, unreadable
from adapters.divida_base import (
    gather_or_raise,
    lista,
    message_list_says_not_found,
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
    ORGAO_PGFN,
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
from gateway.errors import PartnerRefused
from gateway.identifiers import only_digits

NAME = "PGFN"
API = "/consulta-divida-ativa-df/api/v1"


class TokenSource:
    """The bearer token of the client-credentials grant: cached, renewed before it expires, one renewal at a time."""

    def __init__(self, client: PartnerClient, token_url: str, client_id: str, client_secret: str, clock: Clock,
                 margin_s: float = 60.0, lock_timeout_s: float = 10.0) -> None:
        self.client = client
        self.token_url = token_url
        self.credentials = (client_id, client_secret)
        self.clock = clock
        self.margin_s = margin_s
        self.lock_timeout_s = lock_timeout_s
        self.fetches = 0  # tokens obtained so far (tests and metrics)
        self._token: str | None = None
        self._renew_at = 0.0  # monotonic seconds
        self._lock = asyncio.Lock()

    def _fresh(self) -> str | None:
        return self._token if self._token and self.clock.monotonic() < self._renew_at else None

    async def get(self) -> str:
        """A token valid for at least the margin: the cached one, else one obtained now (by one caller; the others
        wait for it). Raises the partner errors (``DIVIDA-E030`` when the credentials are refused)."""
        token = self._fresh()
        if token:
            return token
        async with self._locked():
            return self._fresh() or await self._fetch()

    async def renew(self, stale: str) -> str:
        """A token other than *stale*, which the API refused: the first caller fetches a new one, the callers that
        saw the same token refused get that one."""
        async with self._locked():
            if self._token and self._token != stale:
                return self._token
            return await self._fetch()

    def _locked(self) -> _TimedLock:
        return _TimedLock(self._lock, self.lock_timeout_s)

    async def _fetch(self) -> str:
        with reading(NAME):
            r = await self.client.post(self.token_url, auth=self.credentials,
                                       data={"grant_type": "client_credentials"})
            body = parse_json(NAME, r.content) if r.status_code == 200 else None
        if r.status_code == 400:  # invalid_client / unsupported_grant_type: our configuration
            raise PartnerRefused(f"{NAME}: pedido de token recusado (HTTP 400)", retryable=False, partner=NAME,
                                 code="DIVIDA-E030")
        if r.status_code != 200:
            raise status_error(NAME, r, self.clock.now())
        answer = objeto(NAME, body, "resposta do token")
        token = texto(NAME, answer, "access_token")
        if str(answer.get("token_type", "bearer")).lower() != "bearer":
            raise unreadable(NAME, f"token_type {answer.get('token_type')!r}")
        expires_in = answer.get("expires_in", 3600)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in < 0:
            raise unreadable(NAME, f"expires_in {expires_in!r}")
        self._token = token
        self._renew_at = self.clock.monotonic() + expires_in - min(self.margin_s, expires_in / 2)
        self.fetches += 1
        return token


class _TimedLock:
    """``async with`` an asyncio lock whose wait is bounded (a timeout on every lock wait: STYLE.md §7)."""

    def __init__(self, lock: asyncio.Lock, timeout: float) -> None:
        self.lock = lock
        self.timeout = timeout

    async def __aenter__(self) -> None:
        async with asyncio.timeout(self.timeout):
            await self.lock.acquire()

    async def __aexit__(self, *_exc: object) -> None:
        self.lock.release()


class PgfnPartner:
    """The :class:`~gateway.divida.partners.DebtPartner` of PGFN (see the module docstring)."""

    credor = Credor.PGFN

    def __init__(self, url: str, token_url: str, client_id: str, client_secret: str, *, timeout: float = 5.0,
                 clock: Clock | None = None, token_margin_s: float = 60.0, detalhes: bool = True,
                 detail_concurrency: int = 8, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.api = url.rstrip("/") + API
        self.clock = clock or SystemClock()
        self.detalhes = detalhes
        self.client = PartnerClient(timeout, transport)
        self.tokens = TokenSource(self.client, token_url or url.rstrip("/") + "/token", client_id, client_secret,
                                  self.clock, token_margin_s, lock_timeout_s=timeout)
        self._details = asyncio.Semaphore(detail_concurrency)

    async def devedor(self, documento: str) -> RespostaDevedor:
        """The inscriptions where *documento* answers (see :meth:`DebtPartner.devedor`)."""
        r = await self._get(f"/devedor/{documento}")
        if r.status_code == 404 and message_list_says_not_found(r):
            return RespostaDevedor(None)
        if r.status_code != 200:
            raise status_error(NAME, r, self.clock.now())
        with reading(NAME):
            items = [objeto(NAME, i, "inscrição") for i in lista(NAME, parse_json(NAME, r.content), "resposta")]
            numeros = [only_digits(texto(NAME, i, "numeroInscricao")) for i in items]
        details: Sequence[dict[str, Any] | None] = [None] * len(items)
        if self.detalhes and items:
            details = await gather_or_raise(self._detail_of_listed(n) for n in numeros)
        with reading(NAME):
            inscricoes = tuple(_inscricao(i, n, d, papel=parsing.papel(i.get("tipoDevedor")))
                               for i, n, d in zip(items, numeros, details, strict=True))
            nome = texto_opcional(NAME, items[0], "nomeDevedor") if items else None
        return RespostaDevedor(nome, inscricoes)

    async def inscricao(self, numero: str) -> InscricaoDetalhada | None:
        """Inscription *numero* (13 digits) in detail with every debtor, or None when PGFN does not know it."""
        detail = await self._detail(numero)
        if detail is None:
            return None
        with reading(NAME):
            responsaveis = tuple(_responsavel(objeto(NAME, d, "devedor"))
                                 for d in lista(NAME, detail.get("devedores"), "devedores"))
            return InscricaoDetalhada(
                _inscricao(detail, numero, detail, papel=None), responsaveis,
                processo_administrativo=texto_opcional(NAME, detail, "processoAdministrativo"),
                fundamento_legal=texto_opcional(NAME, detail, "fundamentoLegal"),
                data_ajuizamento=_data_opcional(detail, "dataAjuizamento"))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def _detail_of_listed(self, numero: str) -> dict[str, Any]:
        async with self._details:
            detail = await self._detail(numero)
        if detail is None:
            raise unreadable(NAME, "inscrição listada sem detalhe (404)")
        return detail

    async def _detail(self, numero: str) -> dict[str, Any] | None:
        r = await self._get(f"/inscricao/{numero}")
        if r.status_code == 404 and message_list_says_not_found(r):
            return None
        if r.status_code != 200:
            raise status_error(NAME, r, self.clock.now())
        with reading(NAME):
            return objeto(NAME, parse_json(NAME, r.content), "detalhe da inscrição")

    async def _get(self, path: str) -> httpx.Response:
        """GET *path* with the bearer token; on a 401 renew the token once and send once more."""
        token = await self.tokens.get()
        r = await self._send(path, token)
        if r.status_code == 401:
            r = await self._send(path, await self.tokens.renew(token))
            if r.status_code == 401:
                raise PartnerRefused(f"{NAME}: token recusado mesmo após renovação (HTTP 401)", retryable=False,
                                     partner=NAME, code="DIVIDA-E030")
        return r

    async def _send(self, path: str, token: str) -> httpx.Response:
        with reading(NAME):
            return await self.client.get(self.api + path, headers={"Authorization": f"Bearer {token}"})


def _data_opcional(obj: dict[str, Any], key: str) -> date | None:
    value = obj.get(key)
    return None if value is None else parsing.data_br(value)


def _inscricao(item: dict[str, Any], numero: str, detail: dict[str, Any] | None, papel: Papel | None) -> Inscricao:
    """A normalised inscription from a summary *item* (or the detail itself) and, when fetched, its *detail*."""
    descricao = texto(NAME, item, "situacaoDescricao")
    receita = texto_opcional(NAME, detail, "nomeNaturezaReceita") if detail else None
    return Inscricao(
        credor=Credor.PGFN, orgao_credor=ORGAO_PGFN, numero_inscricao=numero,
        situacao=parsing.situacao_pgfn(descricao), situacao_original=descricao, papel_devedor=papel,
        valor_consolidado=parsing.moeda_br(item.get("valorTotalConsolidadoMoeda")),
        data_inscricao=_data_opcional(detail, "dataInscricao") if detail else None,
        data_atualizacao=_data_opcional(detail, "dataConsolidacao") if detail else None,
        receita=receita or texto(NAME, item, "codigoSida" if "codigoSida" in item else "codigoReceita"),
        numero_processo_judicial=processo_judicial(texto_opcional(NAME, detail, "numeroProcessoJudicialNovo"))
        if detail else None,
    )


def _responsavel(d: dict[str, Any]) -> Responsavel:
    documento = only_digits(texto(NAME, d, "cpfCnpj")).upper()
    kind = texto_opcional(NAME, d, "tipoPessoa")
    tipo = TipoPessoa(kind.lower()) if kind and kind.lower() in ("fisica", "juridica") else tipo_pessoa(documento)
    return Responsavel(Devedor(documento, texto_opcional(NAME, d, "nomeDevedor"), tipo),
                       parsing.papel(d.get("tipoDevedor")))
