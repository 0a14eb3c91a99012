"""The PGFN and PGF adapters in-process over httpx's own mock transport, for the contract's corners the simulators
cannot play: the token's cache, margin and single renewal (on a fake clock), the 401 → renew → retry rule, 404s
that are "no inscriptions" and 404s that are not, 429 with its Retry-After, values outside the contract (coded),
connections closed without an answer, details and pages. The same paths against the real simulators:
tests/e2e/test_divida_partners.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest

from adapters.pgf import PgfPartner
from adapters.pgfn import PgfnPartner
from gateway.clock import FakeClock
from gateway.divida.domain import Credor, Papel, ParceiroSobrecarregado, Situacao
from gateway.errors import PartnerError, PartnerRefused, PartnerTimeout, PartnerUnreachable, PartnerUnreadable

T = TypeVar("T")
URL = "http://pgfn.test"
CPF = "52998224725"
API = "/consulta-divida-ativa-df/api/v1"


def run(coro: Awaitable[T]) -> T:
    """Run *coro* on a new event loop."""
    async def main() -> T:
        return await coro
    return asyncio.run(main())


def resumo(numero: str = "8050900001631", **changes: Any) -> dict[str, Any]:
    """One item of SERPRO's ``devedor`` array."""
    item = {"numeroInscricao": numero, "numeroProcesso": "15596375305200854", "situacaoInscricao": "103",
            "situacaoDescricao": "ATIVA AJUIZADA", "nomeDevedor": "MARIA DA SILVA", "tipoDevedor": "PRINCIPAL",
            "valorTotalConsolidadoMoeda": "13.676,34", "cpfCnpj": CPF, "codigoSida": "2904",
            "nomeUnidade": "PFN", "codigoComprot": "1", "codigoUorg": "1"}
    return {**item, **changes}


def detalhe(numero: str = "8050900001631") -> dict[str, Any]:
    """A SERPRO ``inscricao`` record (the members the adapter reads)."""
    return {"numeroInscricao": numero, "situacaoDescricao": "ATIVA AJUIZADA", "dataInscricao": "17/06/2009",
            "valorTotalConsolidadoMoeda": "13.676,34", "dataConsolidacao": "31/10/2026",
            "nomeNaturezaReceita": "IRPF", "codigoReceita": "2904",
            "numeroProcessoJudicialNovo": "0001234-56.2010.4.03.6100", "dataAjuizamento": "01/02/2010",
            "processoAdministrativo": "15596.375305/2008-54", "fundamentoLegal": "Lei 9.250/1995",
            "devedores": [{"cpfCnpj": CPF, "nomeDevedor": "MARIA DA SILVA", "tipoDevedor": "PRINCIPAL",
                           "tipoPessoa": "FISICA"}]}


class Serpro:
    """A scripted SERPRO: tokens numbered from 1 and valid until expired by the test; lookups answered by
    ``devedor``/``inscricao`` functions of the path; every request recorded."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.issued = 0
        self.valid: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.token_answer: Callable[[], httpx.Response] | None = None
        self.devedor: Callable[[str], httpx.Response] = lambda _doc: httpx.Response(200, json=[resumo()])
        self.inscricao: Callable[[str], httpx.Response] = lambda n: httpx.Response(200, json=detalhe(n))

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0)  # let concurrent callers interleave
        if request.url.path == "/token":
            assert request.headers["Authorization"].startswith("Basic ")
            assert b"grant_type=client_credentials" in request.content
            if self.token_answer:
                return self.token_answer()
            self.issued += 1
            token = f"t{self.issued}"
            self.valid.add(token)
            return httpx.Response(200, json={"access_token": token, "token_type": "Bearer",
                                             "expires_in": self.expires_in, "scope": "default"})
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.valid:
            return httpx.Response(401, json={"fault": {"code": 900901}})
        path = request.url.path.removeprefix(API)
        if path.startswith("/devedor/"):
            return self.devedor(path.removeprefix("/devedor/"))
        return self.inscricao(path.removeprefix("/inscricao/"))

    @property
    def token_calls(self) -> int:
        """How many token requests were made."""
        return sum(1 for r in self.requests if r.url.path == "/token")


def pgfn(serpro: Serpro, clock: FakeClock | None = None, **kwargs: Any) -> PgfnPartner:
    """The PGFN adapter talking to *serpro*."""
    return PgfnPartner(URL, "", "chave", "segredo", clock=clock or FakeClock(),
                       transport=httpx.MockTransport(serpro), **kwargs)


def lookups(partner: PgfnPartner, *docs: str) -> list[Any]:
    """Look *docs* up at once, then close the adapter."""
    async def main() -> list[Any]:
        try:
            return list(await asyncio.gather(*(partner.devedor(d) for d in docs)))
        finally:
            await partner.aclose()
    return run(main())


def test_pgfn_summary_and_detail_become_one_normalised_inscription() -> None:
    """The summary's value, role and situation and the detail's dates, revenue and process number (20 digits)
    make the inscription; the name is the summary's."""
    serpro = Serpro()
    [answer] = lookups(pgfn(serpro), CPF)
    [i] = answer.inscricoes
    assert answer.nome == "MARIA DA SILVA"
    assert (i.credor, i.orgao_credor, i.numero_inscricao, i.situacao, i.situacao_original, i.papel_devedor) == (
        Credor.PGFN, "União — Fazenda Nacional", "8050900001631", Situacao.AJUIZADA, "ATIVA AJUIZADA",
        Papel.PRINCIPAL)
    assert str(i.valor_consolidado) == "13676.34"
    assert (i.data_inscricao, i.data_atualizacao, i.receita, i.numero_processo_judicial) == (
        date(2009, 6, 17), date(2026, 10, 31), "IRPF", "00012345620104036100")


def test_pgfn_without_details_asks_only_the_list() -> None:
    """``detalhes=False``: one lookup, no detail request; dates and process number stay null, revenue is the code."""
    serpro = Serpro()
    [answer] = lookups(pgfn(serpro, detalhes=False), CPF)
    [i] = answer.inscricoes
    assert (i.data_inscricao, i.numero_processo_judicial, i.receita) == (None, None, "2904")
    assert [r.url.path for r in serpro.requests] == ["/token", f"{API}/devedor/{CPF}"]


def test_pgfn_token_is_fetched_once_for_concurrent_lookups_and_renewed_before_it_expires() -> None:
    """Ten concurrent lookups get one token; it is reused until ``margin`` seconds before ``expires_in`` on the
    fake clock (3540 s of 3600 with a 60 s margin), then renewed."""
    serpro, clock = Serpro(), FakeClock()
    partner = pgfn(serpro, clock, detalhes=False)

    async def main() -> None:
        await asyncio.gather(*(partner.devedor(CPF) for _ in range(10)))
        assert serpro.token_calls == 1
        clock.advance(3539)
        await partner.devedor(CPF)
        assert serpro.token_calls == 1
        clock.advance(1)
        await partner.devedor(CPF)
        assert serpro.token_calls == 2 and partner.tokens.fetches == 2
        await partner.aclose()
    run(main())


def test_pgfn_401_renews_the_token_once_for_all_who_saw_it_and_retries_once() -> None:
    """When the token is revoked, five concurrent lookups all get 401, one renewal is made, and each lookup is
    sent once more with the new token and answered."""
    serpro = Serpro()
    partner = pgfn(serpro, detalhes=False)

    async def main() -> None:
        await partner.devedor(CPF)
        serpro.valid.clear()  # expired on the partner's side before our margin
        answers = await asyncio.gather(*(partner.devedor(CPF) for _ in range(5)))
        assert all(a.inscricoes for a in answers)
        assert serpro.token_calls == 2
        lookups_made = [r for r in serpro.requests if r.url.path.startswith(API)]
        assert len(lookups_made) == 1 + 5 + 5
        await partner.aclose()
    run(main())


def test_pgfn_401_after_a_renewal_and_refused_credentials_are_e030() -> None:
    """A lookup refused again with the renewed token, and a token endpoint refusing our credentials (401 or 400),
    are PartnerRefused DIVIDA-E030, not retryable."""
    serpro = Serpro()
    serpro.devedor = lambda _doc: httpx.Response(401, json={"fault": {}})
    with pytest.raises(PartnerRefused) as e:
        lookups(pgfn(serpro), CPF)
    assert e.value.code == "DIVIDA-E030" and not e.value.retryable and serpro.token_calls == 2
    for status in (401, 400):
        serpro = Serpro()
        serpro.token_answer = lambda s=status: httpx.Response(s, json={"error": "invalid_client"})
        with pytest.raises(PartnerRefused) as e:
            lookups(pgfn(serpro), CPF)
        assert e.value.code == "DIVIDA-E030"


def test_pgfn_not_found_is_no_inscriptions_but_another_404_is_not() -> None:
    """SERPRO's 404 ``[{"message": "CPF não encontrado."}]`` is an empty answer; a 404 without that body (a wrong
    URL) is a refusal, never "no debts"."""
    serpro = Serpro()
    serpro.devedor = lambda _doc: httpx.Response(404, json=[{"message": "CPF não encontrado."}])
    [answer] = lookups(pgfn(serpro), CPF)
    assert answer.inscricoes == () and answer.nome is None
    serpro.devedor = lambda _doc: httpx.Response(404, text="404: Not Found")
    with pytest.raises(PartnerRefused):
        lookups(pgfn(serpro), CPF)


def test_pgfn_429_keeps_its_retry_after_in_seconds_or_as_a_date() -> None:
    """A 429 is ParceiroSobrecarregado (DIVIDA-E031, retryable) with Retry-After in seconds, or computed from an
    HTTP-date against the injected clock."""
    clock = FakeClock()
    for header, wait in (("7", 7.0), (format_datetime(clock.now() + timedelta(seconds=42), usegmt=True), 42.0),
                         ("amanha", None)):
        serpro = Serpro()
        serpro.devedor = lambda _doc, h=header: httpx.Response(429, headers={"Retry-After": h})
        with pytest.raises(ParceiroSobrecarregado) as e:
            lookups(pgfn(serpro, clock), CPF)
        assert (e.value.code, e.value.retryable, e.value.retry_after) == ("DIVIDA-E031", True, wait)


@pytest.mark.parametrize(("item", "code"), [
    (resumo(valorTotalConsolidadoMoeda="-1,00"), "DIVIDA-E020"),
    (resumo(valorTotalConsolidadoMoeda=13676.34), "DIVIDA-E020"),
    (resumo(tipoDevedor="AVALISTA"), "DIVIDA-E022"),
    ({k: v for k, v in resumo().items() if k != "numeroInscricao"}, "DIVIDA-E022"),
    ("não é objeto", "DIVIDA-E022"),
])
def test_pgfn_values_outside_the_contract_are_unreadable_with_their_code(item: Any, code: str) -> None:
    """A negative or numeric amount, an unknown role, a missing number or an item that is not an object make the
    answer unreadable (retryable) with the DIVIDA code saying why — never a KeyError or a wrong total."""
    serpro = Serpro()
    serpro.devedor = lambda _doc: httpx.Response(200, json=[item])
    with pytest.raises(PartnerUnreadable) as e:
        lookups(pgfn(serpro, detalhes=False), CPF)
    assert e.value.code == code and e.value.retryable


def test_pgfn_a_listed_inscription_without_detail_or_with_a_bad_date_is_unreadable() -> None:
    """A detail answering 404 for a listed number, or a date in another layout, make the answer unreadable."""
    serpro = Serpro()
    serpro.inscricao = lambda _n: httpx.Response(404, json=[{"message": "Inscrição não encontrada."}])
    with pytest.raises(PartnerUnreadable):
        lookups(pgfn(serpro), CPF)
    serpro = Serpro()
    serpro.inscricao = lambda n: httpx.Response(200, json={**detalhe(n), "dataInscricao": "2009-06-17"})
    with pytest.raises(PartnerUnreadable) as e:
        lookups(pgfn(serpro), CPF)
    assert e.value.code == "DIVIDA-E021"


@pytest.mark.parametrize(("failure", "kind", "code"), [
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), PartnerTimeout, "DIVIDA-E035"),
    (httpx.ReadError("reset"), PartnerTimeout, "DIVIDA-E035"),
    (httpx.ReadTimeout("slow"), PartnerTimeout, "GATEWAY-E011"),
    (httpx.ConnectError("refused"), PartnerUnreachable, "GATEWAY-E010"),
])
def test_pgfn_transport_failures(failure: Exception, kind: type[PartnerError], code: str) -> None:
    """A connection closed without an answer is DIVIDA-E035 (the request went out: still a PartnerTimeout), a read
    timeout GATEWAY-E011, a refused connection GATEWAY-E010; all retryable."""
    serpro = Serpro()

    def devedor(_doc: str) -> httpx.Response:
        raise failure
    serpro.devedor = devedor
    with pytest.raises(kind) as e:
        lookups(pgfn(serpro), CPF)
    assert e.value.code == code and e.value.retryable


def test_pgfn_detail_of_one_inscription_lists_every_party() -> None:
    """``inscricao`` gives the normalised inscription (no role of its own) with each party and its role, the
    administrative process, the legal basis and the filing date; an unknown number is None."""
    serpro = Serpro()
    partner = pgfn(serpro)

    async def main() -> None:
        got = await partner.inscricao("8050900001631")
        assert got is not None and got.inscricao.papel_devedor is None
        assert [(r.devedor.cpf_cnpj, r.papel) for r in got.responsaveis] == [(CPF, Papel.PRINCIPAL)]
        assert (got.processo_administrativo, got.fundamento_legal, got.data_ajuizamento) == (
            "15596.375305/2008-54", "Lei 9.250/1995", date(2010, 2, 1))
        serpro.inscricao = lambda _n: httpx.Response(404, json=[{"message": "Inscrição não encontrada."}])
        assert await partner.inscricao("8050900001631") is None
        await partner.aclose()
    run(main())


# -- PGF ---------------------------------------------------------------------------------------------------------

def pgf_item(n: int, papel: str = "principal") -> dict[str, Any]:
    """One inscription of PGF's list."""
    return {"numero": f"20120230{n:06d}0", "credor": {"codigo": "201", "sigla": "IBAMA", "nome": "INSTITUTO"},
            "receita": {"codigo": "M-AMB", "descricao": "MULTA AMBIENTAL", "fundamento_legal": "Lei 9.605/1998"},
            "situacao": {"codigo": "parcelada_ajuizada", "descricao": "Ativa ajuizada - parcelamento"},
            "data_inscricao": "2008-11-21",
            "valores": {"atualizado_centavos": 1367634, "data_atualizacao": "2026-10-31"},
            "processo_judicial": {"numero": "21495891620094036105"}, "responsabilidade": papel}


def pgf_server(total: int, pages: int | None = None, seen: list[dict[str, Any]] | None = None
               ) -> Callable[[httpx.Request], httpx.Response]:
    """PGF answering *total* inscriptions in pages of the size asked (``pages`` overrides ``total_paginas``)."""
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-Key"] == "chave"
        body = json.loads(request.content)
        if seen is not None:
            seen.append(body)
        size, page = body["tamanho_pagina"], body["pagina"]
        items = [pgf_item(n) for n in range(total)][(page - 1) * size:page * size]
        return httpx.Response(200, json={"documento": body["documento"], "inscricoes": items, "paginacao": {
            "pagina": page, "tamanho_pagina": size, "total_itens": total,
            "total_paginas": pages if pages is not None else -(-total // size)}})
    return handler


def pgf_lookup(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
    """One PGF lookup of CPF through *handler*."""
    async def main() -> Any:
        partner = PgfPartner("http://pgf.test", "chave", transport=httpx.MockTransport(handler), **kwargs)
        try:
            return await partner.devedor(CPF)
        finally:
            await partner.aclose()
    return run(main())


def test_pgf_every_page_is_fetched_and_normalised() -> None:
    """250 inscriptions come in three pages of 100, each asked once with the API key; cents become reais, the
    creditor autarchy is ``orgaoCredor``, ``parcelada_ajuizada`` is ``parcelada`` with its text kept."""
    seen: list[dict[str, Any]] = []
    answer = pgf_lookup(pgf_server(250, seen=seen))
    assert sorted(b["pagina"] for b in seen) == [1, 2, 3] and {b["tamanho_pagina"] for b in seen} == {100}
    assert len(answer.inscricoes) == 250 and answer.nome is None
    i = answer.inscricoes[0]
    assert (i.credor, i.orgao_credor, str(i.valor_consolidado), i.situacao, i.situacao_original) == (
        Credor.PGF, "IBAMA", "13676.34", Situacao.PARCELADA, "Ativa ajuizada - parcelamento")
    assert (i.data_inscricao, i.numero_processo_judicial, i.papel_devedor) == (
        date(2008, 11, 21), "21495891620094036105", Papel.PRINCIPAL)


def test_pgf_pages_that_do_not_add_up_or_are_too_many_are_refused() -> None:
    """``total_paginas`` disagreeing with ``total_itens``, and more pages than ``max_paginas``, are DIVIDA-E022 —
    never a silently truncated list."""
    with pytest.raises(PartnerUnreadable) as e:
        pgf_lookup(pgf_server(250, pages=2))
    assert e.value.code == "DIVIDA-E022"
    with pytest.raises(PartnerError) as too_many:
        pgf_lookup(pgf_server(250), max_paginas=2)
    assert too_many.value.code == "DIVIDA-E022" and not too_many.value.retryable


def test_pgf_nothing_owed_and_refusals() -> None:
    """An empty first page is an empty answer; a 401 is DIVIDA-E030; a 422 a refusal; a 503 retryable."""
    assert pgf_lookup(pgf_server(0)).inscricoes == ()
    for status, kind, code in ((401, PartnerRefused, "DIVIDA-E030"), (422, PartnerRefused, "GATEWAY-E012"),
                               (503, PartnerError, "GATEWAY-E010")):
        with pytest.raises(kind) as e:
            pgf_lookup(lambda _r, s=status: httpx.Response(s, json={"erro": {"codigo": "X"}}))
        assert e.value.code == code


def test_pgf_detail_and_its_not_found() -> None:
    """The detail lists every party; 404 ``INSCRICAO_NAO_ENCONTRADA`` is None, another 404 a refusal."""
    detail = {**pgf_item(1), "responsaveis": [
        {"documento": CPF, "nome": "MARIA", "tipo_pessoa": "fisica", "responsabilidade": "principal"},
        {"documento": "11222333000181", "nome": "EMPRESA", "tipo_pessoa": "juridica",
         "responsabilidade": "solidario"}]}
    del detail["responsabilidade"]
    answers = {"ok": httpx.Response(200, json=detail),
               "missing": httpx.Response(404, json={"erro": {"codigo": "INSCRICAO_NAO_ENCONTRADA"}}),
               "route": httpx.Response(404, text="Not Found")}

    async def main(which: str) -> Any:
        partner = PgfPartner("http://pgf.test", "chave", transport=httpx.MockTransport(lambda _r: answers[which]))
        try:
            return await partner.inscricao("201202300000010")
        finally:
            await partner.aclose()
    got = run(main("ok"))
    assert [(r.devedor.cpf_cnpj, r.papel) for r in got.responsaveis] == [
        (CPF, Papel.PRINCIPAL), ("11222333000181", Papel.SOLIDARIO)]
    assert got.fundamento_legal == "Lei 9.605/1998" and got.inscricao.papel_devedor is None
    assert run(main("missing")) is None
    with pytest.raises(PartnerRefused):
        run(main("route"))
