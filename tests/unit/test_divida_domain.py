"""The bridge's pure domain (gateway/divida/domain.py): totals that never mix a debtor's roles, sources and
``parcial``, the states of failures, and the caller's input (documents, creditor, inscription numbers per
creditor) refused with codes naming the field."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.divida import domain
from gateway.divida.domain import (
    Credor,
    EstadoFonte,
    Fonte,
    Inscricao,
    NenhumParceiroRespondeu,
    Papel,
    ParceiroSobrecarregado,
    Situacao,
    TipoPessoa,
)
from gateway.errors import (
    GatewayError,
    PartnerError,
    PartnerRefused,
    PartnerTimeout,
    PartnerUnreachable,
    PartnerUnreadable,
    ValidationFailed,
)
from gateway.identifiers import inscricao_pgf_check_digit
from mocks.divida_ids import sida_check_digits

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CPF, CNPJ, CNPJ_ALFA = "52998224725", "11222333000181", "12ABC34501DE35"


def inscricao(credor: Credor = Credor.PGFN, papel: Papel | None = Papel.PRINCIPAL, valor: str = "100.00",
              numero: str = "1") -> Inscricao:
    """An inscription with what the totals look at."""
    return Inscricao(credor, "X", numero, Situacao.EM_COBRANCA, "ATIVA EM COBRANCA", papel, Decimal(valor),
                     date(2020, 1, 2), date(2026, 10, 31), "R")


def test_domain_imports_no_io_library() -> None:
    """The domain and parsing modules pull in no database, HTTP or async I/O library (a fresh interpreter)."""
    code = ("import sys, gateway.divida.domain, gateway.divida.parsing; print(sorted({m.split('.')[0] for m in "
            "sys.modules} & {'sqlalchemy', 'aiohttp', 'anyio', 'httpx', 'asyncio', 'starlette', 'fastapi', "
            "'psycopg', 'cachetools'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


rows = st.lists(st.tuples(st.sampled_from(list(Credor)), st.sampled_from(list(Papel)),
                          st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False,
                                      allow_infinity=False)), max_size=30)


@given(rows, st.sets(st.sampled_from(list(Credor))))
def test_totals_keep_roles_apart_and_count_only_creditors_that_answered(data: list[tuple[Credor, Papel, Decimal]],
                                                                       answered: set[Credor]) -> None:
    """``principal`` is the sum over inscriptions where the debtor is principal, ``corresponsavel`` over those where
    it is co-responsible or solidary — each only for creditors that answered, which each get an entry (zero when
    empty) —, the overall totals are the sums of the creditors', and no total is principal + co-debtor."""
    items = [inscricao(c, p, str(v)) for c, p, v in data]
    totais = domain.totalizar(items, answered)
    assert set(totais.por_credor) == answered
    for c in answered:
        t = totais.por_credor[c]
        assert t.principal == sum((v for cc, p, v in data if cc is c and p is Papel.PRINCIPAL), Decimal("0.00"))
        assert t.corresponsavel == sum((v for cc, p, v in data if cc is c and p is not Papel.PRINCIPAL),
                                       Decimal("0.00"))
    assert totais.geral.principal == sum((t.principal for t in totais.por_credor.values()), Decimal("0.00"))
    assert totais.geral.corresponsavel == sum((t.corresponsavel for t in totais.por_credor.values()),
                                              Decimal("0.00"))
    assert set(vars(totais.geral)) == {"principal", "corresponsavel"}  # no field that adds the roles


def test_a_co_debtor_repeating_the_full_value_is_not_added_to_the_principal() -> None:
    """DOMAIN.md §5: the same debt of 1,000.00 where the debtor is principal, and another of 500.00 where it is
    solidary, give principal 1,000.00 and corresponsavel 500.00 — never 1,500.00 anywhere; a detail (no role)
    counts in neither."""
    totais = domain.totalizar([inscricao(valor="1000.00"), inscricao(papel=Papel.SOLIDARIO, valor="500.00"),
                               inscricao(papel=None, valor="7.00")], [Credor.PGFN])
    assert totais.geral == domain.Totais(Decimal("1000.00"), Decimal("500.00"))


def test_an_inscription_refuses_an_amount_that_is_not_two_places_non_negative() -> None:
    """The model holds reais with exactly two places: a float, three places or a negative are programming errors."""
    for bad in (Decimal("1.5"), Decimal("-1.00"), Decimal("1.000"), 1.5):
        with pytest.raises(ValueError):
            inscricao(valor=bad)  # type: ignore[arg-type]


def test_result_is_partial_when_any_source_failed_and_totals_skip_it() -> None:
    """With PGFN ok and PGF timed out the result is ``parcial``, the totals have only PGFN's entry, and an empty
    list with both sources ok is not partial (no debts, really)."""
    ok = Fonte(Credor.PGFN, EstadoFonte.OK, NOW)
    falhou = Fonte(Credor.PGF, EstadoFonte.TEMPO_ESGOTADO, NOW, "sem resposta", "GATEWAY-E011")
    r = domain.resultado(CPF, "MARIA", [inscricao(), inscricao(Credor.PGF)], [ok, falhou])
    assert r.parcial and r.algum_respondeu
    assert set(r.totais.por_credor) == {Credor.PGFN} and r.totais.geral.principal == Decimal("100.00")
    assert r.devedor == domain.Devedor(CPF, "MARIA", TipoPessoa.FISICA)
    nada = domain.resultado(CNPJ, None, [], [ok, Fonte(Credor.PGF, EstadoFonte.OK, NOW)])
    assert not nada.parcial and nada.inscricoes == () and nada.devedor.tipo_pessoa is TipoPessoa.JURIDICA
    assert set(nada.totais.por_credor) == {Credor.PGFN, Credor.PGF}


@pytest.mark.parametrize(("error", "estado"), [
    (PartnerUnreachable("x", retryable=True), EstadoFonte.INDISPONIVEL),
    (PartnerTimeout("x", retryable=True), EstadoFonte.TEMPO_ESGOTADO),
    (PartnerTimeout("x", retryable=True, code="DIVIDA-E035"), EstadoFonte.INDISPONIVEL),
    (PartnerTimeout("x", retryable=False, code="DIVIDA-E034"), EstadoFonte.TEMPO_ESGOTADO),
    (ParceiroSobrecarregado("x", partner="PGF", retry_after=3), EstadoFonte.INDISPONIVEL),
    (PartnerError("x", retryable=False, code="DIVIDA-E032"), EstadoFonte.INDISPONIVEL),
    (PartnerRefused("x", retryable=False, code="DIVIDA-E030"), EstadoFonte.ERRO),
    (PartnerUnreadable("x", retryable=True), EstadoFonte.ERRO),
    (PartnerError("x: HTTP 500", retryable=True), EstadoFonte.ERRO),
    (GatewayError("DIVIDA-E090"), EstadoFonte.ERRO),
])
def test_states_of_failures(error: GatewayError, estado: EstadoFonte) -> None:
    """Unreachable, 429, circuit open and a connection closed without an answer are ``indisponivel``; no answer in
    time (ours or the deadline) is ``tempo_esgotado``; refusals, garbage, 5xx and our bugs are ``erro``."""
    assert domain.estado_da_falha(error) is estado
    fonte = domain.fonte_da_falha(Credor.PGF, error, NOW)
    assert fonte.estado is estado and fonte.codigo == error.code and fonte.detalhe == error.message


def test_no_partner_answering_keeps_the_sources_and_the_longest_retry_after() -> None:
    """DIVIDA-E050 carries every source and the longest Retry-After a partner asked for."""
    fontes = [domain.fonte_da_falha(Credor.PGFN, ParceiroSobrecarregado("x", partner="PGFN", retry_after=2), NOW),
              domain.fonte_da_falha(Credor.PGF, ParceiroSobrecarregado("x", partner="PGF", retry_after=5), NOW)]
    e = NenhumParceiroRespondeu(fontes)
    assert e.code == "DIVIDA-E050" and e.retryable and e.fontes == tuple(fontes) and e.retry_after == 5
    assert NenhumParceiroRespondeu(fontes[:0]).retry_after is None


def test_documents_unmasked_deduplicated_in_order() -> None:
    """Masks go, lower-case letters of an alphanumeric CNPJ are upper-cased, repeats are answered once, the order
    is kept."""
    got = domain.documentos(["529.982.247-25", "11.222.333/0001-81", "12.abc.345/01de-35", "52998224725"])
    assert got == (CPF, CNPJ, CNPJ_ALFA)


@pytest.mark.parametrize("bad", [[], [CPF] * 101, "52998224725", None, {"documentos": [CPF]}])
def test_documents_one_to_a_hundred(bad: object) -> None:
    """Zero, 101, a string or anything not a list is DIVIDA-E002 on the field ``documentos``."""
    with pytest.raises(ValidationFailed) as e:
        domain.documentos(bad)
    assert (e.value.code, e.value.field) == ("DIVIDA-E002", "documentos")


@pytest.mark.parametrize(("bad", "index"), [
    ([CPF, "52998224724"], 1), (["11111111111"], 0), ([CPF, CNPJ, "11222333000180"], 2), ([None], 0),
    ([CPF, 52998224725], 1), (["1234567890123"], 0), (["12ABC34501DE36"], 0),
])
def test_an_invalid_document_is_named_by_its_index(bad: list[object], index: int) -> None:
    """A wrong check digit, all-equal digits, a number, a wrong length: DIVIDA-E001 naming ``documentos[i]``."""
    with pytest.raises(ValidationFailed) as e:
        domain.documentos(bad)
    assert (e.value.code, e.value.field) == ("DIVIDA-E001", f"documentos[{index}]")


def test_creditor() -> None:
    """``PGFN``/``PGF`` in any case; anything else is DIVIDA-E003 on ``credor``."""
    assert domain.credor("pgfn") is Credor.PGFN and domain.credor("PGF") is Credor.PGF
    for bad in ("INSS", "", None):
        with pytest.raises(ValidationFailed) as e:
            domain.credor(bad)
        assert (e.value.code, e.value.field) == ("DIVIDA-E003", "credor")


def test_inscription_numbers_are_validated_per_creditor() -> None:
    """A SIDA number is valid for PGFN only, a PGF number for PGF only (DIVIDA-E004 / E005), a PGF number with a
    creditor code outside the table is DIVIDA-E006; valid ones come back unmasked."""
    sida = "8061900123456"[:11]
    sida += sida_check_digits(sida)
    pgf = "20120230012345" + inscricao_pgf_check_digit("20120230012345")
    unknown = "99920230012345" + inscricao_pgf_check_digit("99920230012345")
    assert domain.numero_inscricao(Credor.PGFN, sida[:2] + "." + sida[2:]) == sida
    assert domain.numero_inscricao(Credor.PGF, "201.2023.0012345-7") == pgf
    cases = [(Credor.PGFN, pgf, "DIVIDA-E004"), (Credor.PGF, sida, "DIVIDA-E005"), (Credor.PGF, unknown, "DIVIDA-E006"),
             (Credor.PGFN, None, "DIVIDA-E004"), (Credor.PGF, pgf[:-1] + "8", "DIVIDA-E005")]
    for credor, numero, code in cases:
        with pytest.raises(ValidationFailed) as e:
            domain.numero_inscricao(credor, numero)
        assert (e.value.code, e.value.field) == (code, "numero")
