"""Reading the partners' values (gateway/divida/parsing.py): pt-BR money and cents, pt-BR and ISO dates, the
situation tables of each partner and the debtor's role — with property-based tests of the money round trip and of
the tables' totality."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.divida import parsing
from gateway.divida.domain import Papel, Situacao
from gateway.divida.parsing import DadoIlegivel
from mocks.divida_tables import SITUACOES
from mocks.divida_tables import Situacao as SituacaoDoSimulador

amounts = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2, allow_nan=False,
                      allow_infinity=False)


@pytest.mark.parametrize(("texto", "valor"), [
    ("13.676,34", "13676.34"), ("1.000.000,00", "1000000.00"), ("1000000,00", "1000000.00"), ("0,00", "0.00"),
    ("999,99", "999.99"), (" 12,50 ", "12.50"), ("123.456.789,01", "123456789.01"),
])
def test_moeda_br_reads_serpro_amounts(texto: str, valor: str) -> None:
    """SERPRO's pt-BR strings, grouped or not, become Decimals of two places."""
    got = parsing.moeda_br(texto)
    assert got == Decimal(valor) and got.as_tuple().exponent == -2


@pytest.mark.parametrize("texto", [
    "-13.676,34", "13.676", "13,6", "13,676", "13676.34", "1.00,00", "1.0000,00", "13 676,34", ".676,34", "",
    "R$ 10,00", "1e3,00", "١٢,٣٤", None, 1367634, 13676.34,
])
def test_moeda_br_refuses_negatives_and_garbage_with_a_code(texto: object) -> None:
    """A negative sign, missing or extra decimals, a dot as decimal separator, misplaced groups, blanks inside,
    currency symbols, non-ASCII digits and non-strings are DIVIDA-E020, never a wrong number."""
    with pytest.raises(DadoIlegivel) as e:
        parsing.moeda_br(texto)
    assert e.value.code == "DIVIDA-E020"


@given(amounts)
def test_moeda_br_round_trip(valor: Decimal) -> None:
    """Formatting any non-negative amount of two places the pt-BR way and reading it back gives the same amount."""
    texto = parsing.formatar_moeda_br(valor)
    assert parsing.moeda_br(texto) == valor
    assert parsing.moeda_br(texto.replace(".", "")) == valor  # ungrouped too


@given(st.text(max_size=30))
def test_moeda_br_on_any_text_answers_or_raises_its_coded_error(texto: str) -> None:
    """Any text is either read as a non-negative amount of two places or refused as DIVIDA-E020 (nothing else)."""
    try:
        valor = parsing.moeda_br(texto)
    except DadoIlegivel as e:
        assert e.code == "DIVIDA-E020"
    else:
        assert valor >= 0 and valor.as_tuple().exponent == -2


@given(st.integers(min_value=0, max_value=10**15))
def test_centavos_are_exact(cents: int) -> None:
    """Integer cents become reais exactly (no float on the way): 100 × value == cents."""
    valor = parsing.centavos(cents)
    assert valor * 100 == cents and valor.as_tuple().exponent == -2


@pytest.mark.parametrize("bad", [-1, 12.5, True, "1200", None])
def test_centavos_refuse_negatives_floats_booleans_and_text(bad: object) -> None:
    """Cents must be a non-negative integer: anything else is DIVIDA-E020."""
    with pytest.raises(DadoIlegivel) as e:
        parsing.centavos(bad)
    assert e.value.code == "DIVIDA-E020"


def test_dates_in_both_layouts() -> None:
    """``DD/MM/AAAA`` (PGFN) and ISO (PGF) are read; an impossible day, the other layout, or a non-string is
    DIVIDA-E021."""
    assert parsing.data_br("21/11/2008") == date(2008, 11, 21)
    assert parsing.data_iso("2008-11-21") == date(2008, 11, 21)
    for bad, reader in (("31/02/2020", parsing.data_br), ("2008-11-21", parsing.data_br),
                        ("21/11/2008", parsing.data_iso), ("2020-13-01", parsing.data_iso), (None, parsing.data_iso),
                        ("2008-11-21T00:00", parsing.data_iso)):
        with pytest.raises(DadoIlegivel) as e:
            reader(bad)
        assert e.value.code == "DIVIDA-E021"


@given(st.dates(min_value=date(1000, 1, 1)))
def test_dates_round_trip(d: date) -> None:
    """Any date (of four-digit years) written either way is read back as itself."""
    assert parsing.data_br(d.strftime("%d/%m/%Y")) == d
    assert parsing.data_iso(d.isoformat()) == d


@pytest.mark.parametrize("situacao", SITUACOES, ids=lambda s: s.chave)
def test_every_situation_the_partners_have_is_in_both_tables(situacao: SituacaoDoSimulador) -> None:
    """Every situation the simulators serve (the real systems' list, mocks/divida_tables.py) is in each partner's
    table — PGFN by its description, PGF by its code — and both map it to the same word of the vocabulary; only
    the benefício fiscal, which the vocabulary has no word for, is ``outra``."""
    pgfn = parsing.situacao_pgfn(situacao.descricao)
    pgf = parsing.situacao_pgf(situacao.chave)
    assert pgfn == pgf
    assert (pgfn is Situacao.OUTRA) == (situacao.chave == "beneficio_fiscal")
    assert _chave_tem_sentido(situacao.chave, pgfn)


def _chave_tem_sentido(chave: str, situacao: Situacao) -> bool:
    """The simulator's key and the vocabulary agree on the obvious ones (an extinct one is extinta…)."""
    expected = {"extinta": Situacao.EXTINTA, "garantida": Situacao.GARANTIDA, "suspensa": Situacao.SUSPENSA,
                "parcelada": Situacao.PARCELADA}
    return all(situacao is word for prefix, word in expected.items() if chave.startswith(prefix))


@given(st.text(max_size=60))
def test_situation_tables_are_total(texto: str) -> None:
    """Any text at all maps to a word of the vocabulary (unknown → outra), never raising."""
    assert parsing.situacao_pgfn(texto) in Situacao
    assert parsing.situacao_pgf(texto) in Situacao


def test_situation_lookup_ignores_case_accents_and_blanks() -> None:
    """PGFN's description is matched whatever its case, accents or blanks; an unknown one is ``outra``."""
    assert parsing.situacao_pgfn("  Ativa  em cobrança ") is Situacao.EM_COBRANCA
    assert parsing.situacao_pgfn("ATIVA AJUIZADA - GARANTIA - DEPÓSITO JUDICIAL") is Situacao.GARANTIDA
    assert parsing.situacao_pgf("Ajuizada") is Situacao.AJUIZADA
    assert parsing.situacao_pgfn("ATIVA - SITUACAO NOVA DA PGFN") is Situacao.OUTRA


def test_roles() -> None:
    """The three roles in either partner's spelling; anything else is DIVIDA-E022 (totals depend on it)."""
    assert parsing.papel("PRINCIPAL") is Papel.PRINCIPAL
    assert parsing.papel("corresponsavel") is Papel.CORRESPONSAVEL
    assert parsing.papel("Corresponsável") is Papel.CORRESPONSAVEL
    assert parsing.papel("SOLIDARIO") is Papel.SOLIDARIO
    for bad in ("AVALISTA", "", None, 1):
        with pytest.raises(DadoIlegivel) as e:
            parsing.papel(bad)
        assert e.value.code == "DIVIDA-E022"
