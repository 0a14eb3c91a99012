"""The bridge's use cases on scripted partners (adapters/divida_fake.py) and a fake clock: both partners asked for
every document, failures reported per source and ``parcial``, one retry where safe, timeouts and the deadline,
circuit breakers, the answer cache and its age, bounded concurrency, and the one inscription lookup."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from adapters.divida_fake import Answer, FakeDebtPartner, hang
from gateway.clock import FakeClock
from gateway.divida.caches import AnswerCache
from gateway.divida.domain import (
    Credor,
    Devedor,
    EstadoFonte,
    Inscricao,
    InscricaoDetalhada,
    NenhumParceiroRespondeu,
    Papel,
    ParceiroSobrecarregado,
    Responsavel,
    RespostaDevedor,
    Situacao,
    TipoPessoa,
)
from gateway.divida.service import DividaPolicy, DividaService
from gateway.errors import NotFound, PartnerRefused, PartnerUnreachable, PartnerUnreadable, ValidationFailed
from gateway.identifiers import cpf_check_digits, inscricao_pgf_check_digit

T = TypeVar("T")
CPF, CNPJ = "52998224725", "11222333000181"
PGF_NUMERO = "201202300123457"


def run(coro: Awaitable[T]) -> T:
    """Run *coro* on a new event loop."""
    async def main() -> T:
        return await coro
    return asyncio.run(main())


def inscricao(credor: Credor, papel: Papel = Papel.PRINCIPAL, valor: str = "10.00", numero: str = "1") -> Inscricao:
    """An inscription of *credor*."""
    return Inscricao(credor, "IBAMA" if credor is Credor.PGF else "União — Fazenda Nacional", numero,
                     Situacao.AJUIZADA, "ATIVA AJUIZADA", papel, Decimal(valor), date(2020, 1, 2), date(2026, 10, 31),
                     "MULTA", "00012345620204036105")


def service(pgfn: FakeDebtPartner | None, pgf: FakeDebtPartner | None, clock: FakeClock | None = None,
            cache_ttl: float = 0, **policy: Any) -> DividaService:
    """A service over the fakes given (None: that partner is not configured)."""
    clock = clock or FakeClock()
    partners = {c: p for c, p in ((Credor.PGFN, pgfn), (Credor.PGF, pgf)) if p is not None}
    return DividaService(partners, clock, DividaPolicy(**policy), AnswerCache(clock, cache_ttl))


def fakes(*pgfn_steps: Any, pgf_steps: tuple[Any, ...] = ()) -> tuple[FakeDebtPartner, FakeDebtPartner]:
    """A PGFN fake knowing CPF (principal, 10.00) and a PGF fake knowing CPF (solidary, 7.00), with scripts."""
    pgfn = FakeDebtPartner(Credor.PGFN, {CPF: RespostaDevedor("MARIA DA SILVA", (inscricao(Credor.PGFN),))},
                           None, *pgfn_steps)
    pgf = FakeDebtPartner(Credor.PGF, {CPF: RespostaDevedor(None, (inscricao(Credor.PGF, Papel.SOLIDARIO, "7.00"),))},
                          None, *pgf_steps)
    return pgfn, pgf


def test_both_partners_for_every_document_merged_with_totals_by_role() -> None:
    """Each document asks both partners once; a debtor in both gets both inscriptions, PGFN's name, totals per
    creditor by role; a debtor in neither gets an empty list with both sources ok (not partial)."""
    pgfn, pgf = fakes()
    results = run(service(pgfn, pgf).consultar_devedores(["529.982.247-25", CNPJ]))
    assert [r.devedor for r in results] == [Devedor(CPF, "MARIA DA SILVA", TipoPessoa.FISICA),
                                            Devedor(CNPJ, None, TipoPessoa.JURIDICA)]
    first, second = results
    assert [i.credor for i in first.inscricoes] == [Credor.PGFN, Credor.PGF] and not first.parcial
    assert first.totais.por_credor[Credor.PGFN].principal == Decimal("10.00")
    assert first.totais.por_credor[Credor.PGF].corresponsavel == Decimal("7.00")
    assert (first.totais.geral.principal, first.totais.geral.corresponsavel) == (Decimal("10.00"), Decimal("7.00"))
    assert second.inscricoes == () and not second.parcial
    assert [f.estado for f in second.fontes] == [EstadoFonte.OK, EstadoFonte.OK]
    assert sorted(pgfn.calls) == [("devedor", CNPJ), ("devedor", CPF)] == sorted(pgf.calls)


def test_a_failing_partner_makes_the_result_partial_never_an_empty_answer() -> None:
    """PGF refusing (not retryable) leaves PGFN's answer, marks the result partial with PGF's source ``erro`` and
    its code, and keeps PGF out of the totals; PGF was asked once (refusals are not retried)."""
    pgfn, pgf = fakes(pgf_steps=(PartnerRefused("PGF: credencial recusada", retryable=False, code="DIVIDA-E030"),))
    [r] = run(service(pgfn, pgf).consultar_devedores([CPF]))
    assert r.parcial and [i.credor for i in r.inscricoes] == [Credor.PGFN]
    fonte = r.fontes[1]
    assert (fonte.credor, fonte.estado, fonte.codigo) == (Credor.PGF, EstadoFonte.ERRO, "DIVIDA-E030")
    assert set(r.totais.por_credor) == {Credor.PGFN}
    assert pgf.calls == [("devedor", CPF)]


def test_one_retry_on_a_retryable_failure() -> None:
    """A retryable failure (unreachable) is sent once more and its answer used; a second retryable failure is
    reported — never a third call."""
    pgfn, pgf = fakes(PartnerUnreachable("PGFN: recusou", retryable=True))
    [r] = run(service(pgfn, pgf).consultar_devedores([CPF]))
    assert not r.parcial and len(pgfn.calls) == 2
    pgfn, pgf = fakes(PartnerUnreadable("PGFN: lixo", retryable=True), PartnerUnreadable("PGFN: lixo", retryable=True))
    [r] = run(service(pgfn, pgf).consultar_devedores([CPF]))
    assert r.parcial and r.fontes[0].estado is EstadoFonte.ERRO and len(pgfn.calls) == 2


def test_a_429_is_retried_only_after_its_retry_after_and_only_within_the_deadline() -> None:
    """A 429 asking for 30 s with a 1 s deadline is not retried: the source is ``indisponivel`` with its
    Retry-After; one asking for 0 s is retried at once."""
    busy = ParceiroSobrecarregado("PGFN: HTTP 429", partner="PGFN", retry_after=30)
    pgfn, pgf = fakes(busy)
    [r] = run(service(pgfn, pgf, deadline_s=1.0).consultar_devedores([CPF]))
    assert (r.fontes[0].estado, r.fontes[0].codigo, r.fontes[0].retry_after_s) == (
        EstadoFonte.INDISPONIVEL, "DIVIDA-E031", 30)
    assert len(pgfn.calls) == 1
    pgfn, pgf = fakes(ParceiroSobrecarregado("PGFN: HTTP 429", partner="PGFN", retry_after=0))
    [r] = run(service(pgfn, pgf).consultar_devedores([CPF]))
    assert not r.parcial and len(pgfn.calls) == 2


def test_a_silent_partner_times_out_on_its_own_timeout() -> None:
    """A partner that never answers is ``tempo_esgotado`` after its own timeout (the other partner's answer is
    kept); a retry is made within the deadline and times out too."""
    pgfn, pgf = fakes(hang, hang)
    policy = {"timeouts": {Credor.PGFN: 0.05, Credor.PGF: 5.0}, "deadline_s": 5.0}
    [r] = run(service(pgfn, pgf, **policy).consultar_devedores([CPF]))
    assert (r.fontes[0].estado, r.fontes[0].codigo) == (EstadoFonte.TEMPO_ESGOTADO, "GATEWAY-E011")
    assert r.fontes[1].estado is EstadoFonte.OK and len(pgfn.calls) == 2


def test_the_overall_deadline_bounds_every_lookup() -> None:
    """With a deadline shorter than the partners' timeouts, a silent partner ends at the deadline (DIVIDA-E034)
    and is not retried; when both are silent nobody answered: DIVIDA-E050 with both sources."""
    pgfn, pgf = fakes(hang, pgf_steps=(hang,))
    with pytest.raises(NenhumParceiroRespondeu) as e:
        run(service(pgfn, pgf, deadline_s=0.05).consultar_devedores([CPF]))
    assert [(f.estado, f.codigo) for f in e.value.fontes] == [(EstadoFonte.TEMPO_ESGOTADO, "DIVIDA-E034")] * 2
    assert len(pgfn.calls) == len(pgf.calls) == 1


def test_nobody_answering_is_its_own_outcome() -> None:
    """Both partners failing for every document is DIVIDA-E050, not a list of empty results; one document answered
    by one partner is enough for an answer."""
    down = PartnerUnreachable("x", retryable=False)
    pgfn, pgf = fakes(down, down, pgf_steps=(down, down))
    with pytest.raises(NenhumParceiroRespondeu) as e:
        run(service(pgfn, pgf).consultar_devedores([CPF, CNPJ]))
    assert e.value.code == "DIVIDA-E050" and {f.estado for f in e.value.fontes} == {EstadoFonte.INDISPONIVEL}
    pgfn, pgf = fakes(down, pgf_steps=(down, down))
    results = run(service(pgfn, pgf).consultar_devedores([CPF, CNPJ]))
    assert all(r.parcial for r in results) and sum(r.algum_respondeu for r in results) == 1


def test_an_unconfigured_partner_is_reported_unavailable() -> None:
    """Without PGF configured, every result has PGF ``indisponivel`` (DIVIDA-E033) and is partial."""
    pgfn, _ = fakes()
    [r] = run(service(pgfn, None).consultar_devedores([CPF]))
    assert (r.fontes[1].credor, r.fontes[1].estado, r.fontes[1].codigo) == (
        Credor.PGF, EstadoFonte.INDISPONIVEL, "DIVIDA-E033")
    assert r.parcial


def test_the_breaker_opens_then_probes_after_the_cooldown() -> None:
    """After ``breaker_threshold`` failed calls the partner is not asked any more (DIVIDA-E032, ``indisponivel``);
    after the cooldown on the fake clock one probe goes through and, answered, closes the circuit."""
    clock = FakeClock()
    down = PartnerUnreachable("x", retryable=False)
    pgfn, pgf = fakes(down, down)
    svc = service(pgfn, pgf, clock, breaker_threshold=2, breaker_cooldown_s=10)
    run(svc.consultar_devedores([CPF]))
    run(svc.consultar_devedores([CPF]))
    assert svc.circuitos()["PGFN"] == "open"
    [r] = run(svc.consultar_devedores([CPF]))
    assert (r.fontes[0].estado, r.fontes[0].codigo) == (EstadoFonte.INDISPONIVEL, "DIVIDA-E032")
    assert len(pgfn.calls) == 2
    clock.advance(10)
    [r] = run(svc.consultar_devedores([CPF]))
    assert not r.parcial and len(pgfn.calls) == 3 and svc.circuitos()["PGFN"] == "closed"


def test_a_bug_is_the_gateways_error_not_the_partners() -> None:
    """An adapter raising a TypeError is reported as that source's ``erro`` DIVIDA-E090, not retried, and never
    counted against the partner's breaker."""
    pgfn, pgf = fakes(TypeError("bug"), TypeError("bug"))
    svc = service(pgfn, pgf, breaker_threshold=1)
    [r] = run(svc.consultar_devedores([CPF]))
    assert (r.fontes[0].estado, r.fontes[0].codigo) == (EstadoFonte.ERRO, "DIVIDA-E090")
    assert len(pgfn.calls) == 1 and svc.circuitos()["PGFN"] == "closed"


def test_the_cache_is_off_by_default_and_shows_its_age_when_on() -> None:
    """Off: every request asks the partners. On (TTL 30 s): the second request is served from the cache, its
    sources ``ok`` with their age and the first request's time; past the TTL the partners are asked again; failures
    are never cached."""
    pgfn, pgf = fakes()
    svc = service(pgfn, pgf)
    run(svc.consultar_devedores([CPF]))
    run(svc.consultar_devedores([CPF]))
    assert len(pgfn.calls) == 2
    clock = FakeClock()
    pgfn, pgf = fakes(pgf_steps=(PartnerRefused("x", retryable=False),))
    svc = service(pgfn, pgf, clock, cache_ttl=30)
    [first] = run(svc.consultar_devedores([CPF]))
    clock.advance(12)
    [second] = run(svc.consultar_devedores([CPF]))
    assert len(pgfn.calls) == 1 and len(pgf.calls) == 2  # PGF's failure was not kept
    assert second.fontes[0].idade_cache_s == 12 and second.fontes[0].consultado_em == first.fontes[0].consultado_em
    assert second.fontes[1].idade_cache_s is None and not second.parcial
    assert second.inscricoes[0] == first.inscricoes[0] and second.inscricoes[1].credor is Credor.PGF
    clock.advance(30)
    run(svc.consultar_devedores([CPF]))
    assert len(pgfn.calls) == 2


def test_lookups_per_partner_are_bounded() -> None:
    """With concurrency 3, a hundred documents never have more than three lookups in flight at one partner."""
    in_flight = {"now": 0, "max": 0}

    def slow(answer: RespostaDevedor) -> Callable[[str], Awaitable[Answer]]:
        async def step(_doc: str) -> Answer:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            in_flight["now"] -= 1
            return answer
        return step

    docs = [f"{n:09d}" for n in range(100, 200)]
    docs = [d + cpf_check_digits(d) for d in docs]
    pgfn = FakeDebtPartner(Credor.PGFN, None, None, *[slow(RespostaDevedor(None))] * 100)
    pgf = FakeDebtPartner(Credor.PGF)
    results = run(service(pgfn, pgf, concurrency=3).consultar_devedores(docs))
    assert len(results) == 100 and not any(r.parcial for r in results)
    assert in_flight["max"] == 3


def test_invalid_input_is_refused_before_any_partner_is_asked() -> None:
    """An invalid CPF is DIVIDA-E001 naming ``documentos[1]``; no partner was asked."""
    pgfn, pgf = fakes()
    with pytest.raises(ValidationFailed) as e:
        run(service(pgfn, pgf).consultar_devedores([CPF, "52998224724"]))
    assert (e.value.code, e.value.field) == ("DIVIDA-E001", "documentos[1]")
    assert pgfn.calls == pgf.calls == []


def test_one_inscription_in_detail() -> None:
    """The detail comes from the creditor named, by its normalised number; an unknown one is DIVIDA-E010; a failing
    partner is DIVIDA-E050; a number invalid for that creditor is refused before asking."""
    detail = InscricaoDetalhada(inscricao(Credor.PGF, numero=PGF_NUMERO),
                                (Responsavel(Devedor(CPF, "MARIA", TipoPessoa.FISICA), Papel.PRINCIPAL),))
    pgf = FakeDebtPartner(Credor.PGF, None, {PGF_NUMERO: detail})
    svc = service(FakeDebtPartner(Credor.PGFN), pgf)
    got = run(svc.consultar_inscricao("pgf", "201.2023.0012345-7"))
    assert got.inscricao == detail and got.fonte.estado is EstadoFonte.OK
    unknown = "20120230012346" + inscricao_pgf_check_digit("20120230012346")
    with pytest.raises(NotFound) as nf:
        run(svc.consultar_inscricao("PGF", unknown))
    assert nf.value.code == "DIVIDA-E010"
    pgf.then(PartnerRefused("x", retryable=False))
    with pytest.raises(NenhumParceiroRespondeu):
        run(svc.consultar_inscricao("PGF", PGF_NUMERO))
    with pytest.raises(ValidationFailed) as bad:
        run(svc.consultar_inscricao("PGFN", PGF_NUMERO))
    assert bad.value.code == "DIVIDA-E004"
    assert pgf.calls == [("inscricao", PGF_NUMERO), ("inscricao", unknown), ("inscricao", PGF_NUMERO)]
