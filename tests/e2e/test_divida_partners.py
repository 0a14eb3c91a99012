"""The bridge against the PGFN (SERPRO shape) and PGF (our own contract) simulators as real processes on 127.0.0.1:
the adapters built from settings as bootstrap will build them, the service asking both; each partner's fault
(down, slow, garbage, 401 after a renewal, 429, 5xx) reported in ``fontes`` with ``parcial``; the PGFN token expiring
mid-run and recovering with one renewal; debtors in both, in neither, co-responsible only, the alphanumeric CNPJ —
checked against the seed's own data built in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from gateway.clock import SystemClock
from gateway.divida.build import build_divida
from gateway.divida.domain import Credor, EstadoFonte, NenhumParceiroRespondeu, Papel, ResultadoDevedor
from gateway.divida.service import DividaService
from gateway.errors import NotFound
from gateway.settings import Settings
from mocks.divida_data import PGF, PGFN, Base, default_base
from tests.support import DebtPartners

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def partners() -> Iterator[DebtPartners]:
    """Both simulators for this module."""
    p = DebtPartners()
    yield p
    p.stop()


@pytest.fixture
def sims(partners: DebtPartners) -> Iterator[DebtPartners]:
    """The simulators, reset before and after each test."""
    partners.reset()
    yield partners
    partners.reset()


@pytest.fixture(scope="module")
def base() -> Base:
    """The data the simulators serve, built here from the same seed."""
    return default_base()


def settings(sims: DebtPartners, **overrides: Any) -> Settings:
    """Settings pointing the bridge at the simulators with their demo credentials."""
    c = sims.demo["pgfn"]["credentials"]
    values: dict[str, Any] = {
        "pgfn_url": sims.url("pgfn"), "pgfn_client_id": c["consumer_key"], "pgfn_client_secret": c["consumer_secret"],
        "pgf_url": sims.url("pgf"), "pgf_api_key": sims.demo["pgf"]["credentials"]["api_key"],
        "pgfn_timeout_s": 5.0, "pgf_timeout_s": 5.0, "divida_deadline_s": 15.0, **overrides}
    return Settings.from_env({}, **values)


def ask(sims: DebtPartners, docs: list[str], **overrides: Any) -> list[ResultadoDevedor]:
    """``consultar_devedores(docs)`` on a service built from :func:`settings`, closed afterwards."""
    return run(lambda svc: svc.consultar_devedores(docs), sims, **overrides)


def run(use: Any, sims: DebtPartners, **overrides: Any) -> Any:
    """Build the service, await ``use(service)``, close it."""
    async def main() -> Any:
        svc: DividaService = build_divida(settings(sims, **overrides), SystemClock())
        try:
            return await use(svc)
        finally:
            await svc.aclose()
    return asyncio.run(main())


def expected(base: Base, credor: str, doc: str) -> tuple[set[str], Decimal, Decimal]:
    """The seed's inscriptions of *doc* at *credor*: numbers, principal total, co-debtor total (reais)."""
    found = base.inscricoes_de(credor, doc)
    principal = sum(i.valor_consolidado for i, r in found if r.tipo == "PRINCIPAL")
    co = sum(i.valor_consolidado for i, r in found if r.tipo != "PRINCIPAL")
    return {i.numero for i, _ in found}, Decimal(principal) / 100, Decimal(co) / 100


def check_against_seed(result: ResultadoDevedor, base: Base) -> None:
    """Every creditor's inscriptions and totals are exactly the seed's for that document."""
    for credor, name in ((Credor.PGFN, PGFN), (Credor.PGF, PGF)):
        numbers, principal, co = expected(base, name, result.devedor.cpf_cnpj)
        assert {i.numero_inscricao for i in result.inscricoes if i.credor is credor} == numbers
        assert result.totais.por_credor[credor].principal == principal
        assert result.totais.por_credor[credor].corresponsavel == co


def estados(result: ResultadoDevedor) -> list[tuple[Credor, EstadoFonte, str | None]]:
    """(creditor, state, code) of each source."""
    return [(f.credor, f.estado, f.codigo) for f in result.fontes]


def test_debtors_in_both_in_one_in_neither_and_the_alphanumeric_cnpj(sims: DebtPartners, base: Base) -> None:
    """Every demo document — at PGFN only (CPF, CNPJ with an ajuizada, an alphanumeric CNPJ, a co-responsible
    only), at PGF only (one with several pages), at both, at neither (CPF, CNPJ, alphanumeric CNPJ) — in one
    request: both sources ok for all, inscriptions and totals exactly the seed's; the ones owing nothing have an
    empty list and are not partial."""
    demo = sims.demo["pgfn"]["devedores"]
    docs = [d for group in ("pgfn", "pgf", "ambos", "nenhum") for d in demo[group]]
    assert any(not d.isdigit() for d in demo["pgfn"]) and any(not d.isdigit() for d in demo["nenhum"])
    results = ask(sims, docs)
    assert [r.devedor.cpf_cnpj for r in results] == docs
    for r in results:
        assert not r.parcial and {f.estado for f in r.fontes} == {EstadoFonte.OK}
        check_against_seed(r, base)
    by_doc = {r.devedor.cpf_cnpj: r for r in results}
    for doc in demo["nenhum"]:
        assert by_doc[doc].inscricoes == ()
    both = by_doc[demo["ambos"][0]]
    assert {i.credor for i in both.inscricoes} == {Credor.PGFN, Credor.PGF}
    assert both.devedor.nome == base.pessoas[both.devedor.cpf_cnpj].nome
    co_only = by_doc[demo["pgfn"][3]]
    assert co_only.totais.geral.principal == 0 < co_only.totais.geral.corresponsavel
    assert {i.papel_devedor for i in co_only.inscricoes} <= {Papel.CORRESPONSAVEL, Papel.SOLIDARIO}
    ajuizada = by_doc[demo["pgfn"][1]]
    assert any(i.numero_processo_judicial and len(i.numero_processo_judicial) == 20 for i in ajuizada.inscricoes)
    assert all(i.data_inscricao is not None for r in results for i in r.inscricoes)


FAULTS = [
    ({"down": True}, EstadoFonte.INDISPONIVEL, "DIVIDA-E035"),
    ({"malformed": True}, EstadoFonte.ERRO, "GATEWAY-E013"),
    ({"error_rate": 1, "status": 401}, EstadoFonte.ERRO, "DIVIDA-E030"),
    ({"error_rate": 1, "status": 429}, EstadoFonte.INDISPONIVEL, "DIVIDA-E031"),
    ({"error_rate": 1, "status": 503}, EstadoFonte.ERRO, "GATEWAY-E010"),
    ({"latency_ms": 3000}, EstadoFonte.TEMPO_ESGOTADO, "GATEWAY-E011"),
]


@pytest.mark.parametrize("failing", ["pgfn", "pgf"])
@pytest.mark.parametrize(("fault", "estado", "code"), FAULTS, ids=["down", "garbage", "401", "429", "5xx", "slow"])
def test_each_partners_fault_is_reported_per_source(sims: DebtPartners, base: Base, failing: str,
                                                    fault: dict[str, Any], estado: EstadoFonte, code: str) -> None:
    """One partner down, answering garbage, refusing our credential (401, after a token renewal at PGFN), asking
    us to wait (429, Retry-After kept), failing (503) or slower than its timeout: that source has the right state
    and code, the result is partial, the other partner's inscriptions and totals are the seed's; never a 500."""
    doc = sims.demo["pgfn"]["devedores"]["ambos"][1]
    sims.faults(failing, **fault)
    [r] = ask(sims, [doc], pgfn_timeout_s=0.5, pgf_timeout_s=0.5)
    bad, good = (0, 1) if failing == "pgfn" else (1, 0)
    assert r.parcial
    assert estados(r)[bad][1:] == (estado, code)
    assert r.fontes[good].estado is EstadoFonte.OK
    ok_credor = r.fontes[good].credor
    numbers, principal, _ = expected(base, PGFN if ok_credor is Credor.PGFN else PGF, doc)
    assert {i.numero_inscricao for i in r.inscricoes} == numbers and r.totais.geral.principal == principal
    assert set(r.totais.por_credor) == {ok_credor}
    if code == "DIVIDA-E031":
        assert r.fontes[bad].retry_after_s == 1


def test_a_retryable_failure_is_asked_once_more(sims: DebtPartners) -> None:
    """A garbage answer (retryable) makes the service ask PGF exactly twice; a 401 (not retryable) once."""
    doc = sims.demo["pgfn"]["devedores"]["pgf"][0]
    sims.faults("pgf", malformed=True)
    ask(sims, [doc])
    assert [e["operation"] for e in sims.received("pgf")] == ["consulta", "consulta"]
    sims.reset()
    sims.faults("pgf", error_rate=1, status=401)
    [r] = ask(sims, [doc])
    assert r.fontes[1].codigo == "DIVIDA-E030"


def test_both_partners_down_is_no_partner_answering(sims: DebtPartners) -> None:
    """With both simulators refusing every call the request has no answer at all: DIVIDA-E050 with both sources."""
    sims.faults("pgfn", down=True)
    sims.faults("pgf", down=True)
    with pytest.raises(NenhumParceiroRespondeu) as e:
        ask(sims, sims.demo["pgfn"]["devedores"]["nenhum"])
    assert [(f.credor, f.estado) for f in e.value.fontes] == [(Credor.PGFN, EstadoFonte.INDISPONIVEL),
                                                               (Credor.PGF, EstadoFonte.INDISPONIVEL)]


def test_the_pgfn_token_expiring_mid_run_is_renewed_once(sims: DebtPartners, base: Base) -> None:
    """After a first request, every token is expired at PGFN (``/_mock/expire-tokens``); the next request, five
    documents at once, gets 401s, renews the token once, and answers everything: two token requests in all."""
    demo = sims.demo["pgfn"]["devedores"]
    docs = [*demo["pgfn"], demo["ambos"][1]]

    async def use(svc: DividaService) -> list[ResultadoDevedor]:
        await svc.consultar_devedores(docs[:1])
        sims.http.post(sims.url("pgfn") + "/_mock/expire-tokens").raise_for_status()
        return await svc.consultar_devedores(docs)

    results = run(use, sims)
    for r in results:
        assert not r.parcial
        check_against_seed(r, base)
    received = sims.received("pgfn")
    assert sum(1 for e in received if e["operation"] == "token") == 2
    assert any(e["status"] == 401 for e in received)


def test_a_401_again_after_the_renewal_is_reported_not_retried_forever(sims: DebtPartners) -> None:
    """PGFN issuing tokens that are already expired (``token_ttl_s`` 0): the lookup gets 401, the token is renewed
    once, the lookup is sent once more, gets 401 again, and PGFN's source is ``erro`` DIVIDA-E030 — two token
    requests and two lookups, no loop; PGF still answers."""
    sims.http.post(sims.url("pgfn") + "/_mock/config", json={"token_ttl_s": 0}).raise_for_status()
    [r] = ask(sims, [sims.demo["pgfn"]["devedores"]["ambos"][1]])
    assert estados(r) == [(Credor.PGFN, EstadoFonte.ERRO, "DIVIDA-E030"), (Credor.PGF, EstadoFonte.OK, None)]
    received = sims.received("pgfn")
    assert [(e["operation"], e["status"]) for e in received] == [("token", 200), ("devedor", 401), ("token", 200),
                                                                 ("devedor", 401)]


def test_one_inscription_in_detail_at_each_creditor(sims: DebtPartners, base: Base) -> None:
    """A PGFN and a PGF inscription of the seed come back in detail with every party of the seed; a valid number
    that neither knows is DIVIDA-E010."""
    pgfn_number = next(iter(base.inscricoes[PGFN]))
    pgf_number = next(iter(base.inscricoes[PGF]))

    async def use(svc: DividaService) -> Any:
        a = await svc.consultar_inscricao("PGFN", pgfn_number)
        b = await svc.consultar_inscricao("pgf", pgf_number[:3] + "." + pgf_number[3:7] + "." + pgf_number[7:14]
                                          + "-" + pgf_number[14])
        with pytest.raises(NotFound) as e:
            await svc.consultar_inscricao("PGFN", "2261500060512")
        return a, b, e.value.code

    a, b, code = run(use, sims)
    for got, name, number in ((a, PGFN, pgfn_number), (b, PGF, pgf_number)):
        seeded = base.inscricoes[name][number]
        assert got.inscricao.inscricao.numero_inscricao == number
        assert got.inscricao.inscricao.valor_consolidado == Decimal(seeded.valor_consolidado) / 100
        assert [(r.devedor.cpf_cnpj, r.papel.name) for r in got.inscricao.responsaveis] == [
            (r.documento, r.tipo) for r in seeded.responsaveis]
    assert code == "DIVIDA-E010"


def test_the_cache_serves_a_repeat_with_its_age(sims: DebtPartners) -> None:
    """With a TTL, the same document asked twice reaches each simulator once; the second answer's sources carry
    their age."""
    doc = sims.demo["pgfn"]["devedores"]["ambos"][1]

    async def use(svc: DividaService) -> tuple[ResultadoDevedor, ResultadoDevedor]:
        return (await svc.consultar_devedores([doc]))[0], (await svc.consultar_devedores([doc]))[0]

    first, second = run(use, sims, divida_cache_ttl_s=60)
    assert all(f.idade_cache_s is None for f in first.fontes)
    assert all(f.idade_cache_s is not None and f.idade_cache_s >= 0 for f in second.fontes)
    assert second.inscricoes == first.inscricoes
    assert sum(1 for e in sims.received("pgfn") if e["operation"] == "devedor") == 1
    assert sum(1 for e in sims.received("pgf") if e["operation"] == "consulta") == 1
