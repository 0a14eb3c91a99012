"""The synthetic debts behind the PGFN and PGF simulators (``mocks.divida_data``): deterministic by seed, every
identifier valid (checked by independent code: validate-docbr for CPF/CNPJ, DOMAIN.md §3's formulas for SIDA and
CNJ numbers, README_pgf.md's for PGF numbers), every situation present, co-debtors, and the demo lists."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from validate_docbr import CNPJ, CPF

from mocks.divida_data import ALPHANUMERIC_FROM, DATA_BASE, PGF, PGFN, Base, default_base, generate
from mocks.divida_ids import (
    format_pgf,
    format_sida,
    is_valid_pgf,
    is_valid_sida,
    mod_11_10,
    normalize_sida,
    pgf_number,
    sida_number,
)
from mocks.divida_tables import CREDORES_POR_CODIGO, SITUACOES, UFS
from mocks.pgfn import moeda


@pytest.fixture(scope="module")
def base() -> Base:
    """The default base (the one the simulators serve)."""
    return default_base()


def sida_ok(numero: str) -> bool:
    """DOMAIN.md §3, written again here: DV1 over 11 digits, DV2 over 12, ``0 if r < 2 else 11 - r``."""
    def dv(digits: str, weights: list[int]) -> int:
        r = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
        return 0 if r < 2 else 11 - r
    d1 = dv(numero[:11], [4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    d2 = dv(numero[:11] + str(d1), [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return len(numero) == 13 and numero[11:] == f"{d1}{d2}"


def pgf_ok(numero: str) -> bool:
    """README_pgf.md's rule in the ISO 7064 "checksum == 1" form (a different formula from the simulator's)."""
    check = 5
    for n in numero:
        check = (((check or 10) * 2) % 11 + int(n)) % 10
    return len(numero) == 15 and check == 1


def cnj_ok(numero: str) -> bool:
    """Res. CNJ 65/2008: ``NNNNNNN AAAA J TR OOOO DD`` mod 97 == 1, DD between 02 and 98."""
    return (len(numero) == 20 and int(numero[:7] + numero[9:] + numero[7:9]) % 97 == 1
            and 2 <= int(numero[7:9]) <= 98)


def test_the_installed_validate_docbr_knows_the_alphanumeric_cnpj() -> None:
    """validate-docbr (≥ 2.0) accepts IN RFB 2.229/2024's official example and refuses a wrong check digit, so it
    can check the generated alphanumeric CNPJs independently."""
    assert CNPJ().validate("12.ABC.345/01DE-35")
    assert not CNPJ().validate("12.ABC.345/01DE-36")


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(base: Base) -> None:
    """Two runs with the default seed build identical bases (fingerprint and contents); another seed differs."""
    again = generate()
    assert again.fingerprint() == base.fingerprint()
    assert again.pessoas == base.pessoas and again.inscricoes == base.inscricoes
    assert again.demo_documents() == base.demo_documents()
    other = generate(seed=7, devedores=300)
    assert other.fingerprint() != base.fingerprint()
    assert other.fingerprint() == generate(seed=7, devedores=300).fingerprint()


def test_a_few_thousand_debtors_with_valid_documents(base: Base) -> None:
    """Thousands of people, every CPF and CNPJ valid (validate-docbr), no document twice, alphanumeric CNPJs
    among them, and the 'owing nothing' documents valid too."""
    cpf, cnpj = CPF(), CNPJ()
    docs = list(base.pessoas) + base.sem_divida
    assert len(docs) == len(set(docs)) > 3000
    for doc in docs:
        assert (cpf.validate(doc) if len(doc) == 11 else cnpj.validate(doc)), doc
    kinds = Counter("cpf" if len(d) == 11 else "cnpj" if d.isdigit() else "alnum" for d in base.pessoas)
    assert kinds["cpf"] > 1000 and kinds["cnpj"] > 500 and kinds["alnum"] > 50


def test_every_sida_number_is_valid_and_some_lose_leading_zeros_in_open_data(base: Base) -> None:
    """Every PGFN number has 13 digits and valid DVs; some start with 0 (open data strips them: left-padding
    restores them); DOMAIN.md's real example passes and any one-digit change fails."""
    numbers = list(base.inscricoes[PGFN])
    assert all(sida_ok(n) and is_valid_sida(n) for n in numbers)
    padded = [n for n in numbers if n.startswith("0")]
    assert padded
    assert all(normalize_sida(n.lstrip("0")) == n and is_valid_sida(n.lstrip("0")) for n in padded)
    assert sida_number(22, 6, 15, 605) == "2261500060512" and is_valid_sida("2261500060512")
    assert is_valid_sida(format_sida("2261500060512"))
    assert not any(is_valid_sida("2261500060512"[:i] + str((int(c) + 1) % 10) + "2261500060512"[i + 1:])
                   for i, c in enumerate("2261500060512"))


def test_every_pgf_number_is_valid_and_names_its_creditor(base: Base) -> None:
    """Every PGF number passes the documented check (independent formula), its CCC is the inscription's creditor,
    its AAAA the inscription's year; the README's worked example holds."""
    for numero, i in base.inscricoes[PGF].items():
        assert pgf_ok(numero) and is_valid_pgf(format_pgf(numero)), numero
        assert int(numero[:3]) == i.credor and i.credor in CREDORES_POR_CODIGO
        assert int(numero[3:7]) == i.data_inscricao.year
    assert pgf_number(201, 2023, 12345) == "201202300123457"
    assert format_pgf("201202300123457") == "201.2023.0012345-7"


@given(st.text(alphabet="0123456789", min_size=14, max_size=14), st.integers(0, 14), st.integers(1, 9))
def test_the_pgf_check_digit_catches_every_single_digit_error(base14: str, position: int, delta: int) -> None:
    """ISO 7064 MOD 11,10 detects any one changed digit, the check digit included."""
    numero = base14 + str(mod_11_10(base14))
    assert pgf_ok(numero)
    wrong = numero[:position] + str((int(numero[position]) + delta) % 10) + numero[position + 1:]
    assert not is_valid_pgf(wrong) and not pgf_ok(wrong)


def test_ajuizadas_carry_a_federal_cnj_number_of_the_debtors_state(base: Base) -> None:
    """Every ajuizada (and only those) has a valid CNJ number in the Justiça Federal (J=4) of the principal's
    TRF — Minas Gerais in TRF6 from 2022 —, a unit of the principal's State, filed after the inscription."""
    seen = 0
    for where in (PGFN, PGF):
        for i in base.inscricoes[where].values():
            assert (i.processo_judicial is not None) == i.situacao.ajuizada
            if i.processo_judicial is None:
                continue
            seen += 1
            n = i.processo_judicial
            uf = base.pessoas[i.principal.documento].uf
            _, before, after, origins = UFS[uf]
            assert cnj_ok(n) and n[13] == "4", n
            assert int(n[14:16]) == (after if int(n[9:13]) >= 2022 else before)
            assert int(n[16:]) in origins
            assert i.data_ajuizamento is not None and i.data_inscricao < i.data_ajuizamento <= DATA_BASE
            assert int(n[9:13]) == i.data_ajuizamento.year
    assert seen > 500


def test_every_situation_at_both_and_values_that_follow_it(base: Base) -> None:
    """Every situation appears at PGFN and at PGF; extinct ones owe nothing; amounts are whole cents and grow from
    originário to inscrito; dates are ordered and never after the consolidation date."""
    for where in (PGFN, PGF):
        found = Counter(i.situacao.chave for i in base.inscricoes[where].values())
        assert set(found) == {s.chave for s in SITUACOES}, where
        for i in base.inscricoes[where].values():
            assert all(isinstance(v, int) for v in (i.valor_originario, i.valor_inscrito, i.valor_consolidado))
            assert 0 < i.valor_originario < i.valor_inscrito
            assert (i.valor_consolidado == 0) == (not i.situacao.ativa)
            assert i.data_vencimento < i.data_inscricao <= DATA_BASE
            if i.data_protesto:
                assert i.data_inscricao < i.data_protesto <= (i.data_ajuizamento or DATA_BASE)
            if not i.principal.documento.isdigit():
                assert i.data_vencimento >= ALPHANUMERIC_FROM
    assert any(0 < i.valor_consolidado < 1_000_000 for i in base.inscricoes[PGFN].values())  # below R$ 10.000


def test_principal_first_co_debtors_repeat_the_inscription_and_persons_found_by_any_role(base: Base) -> None:
    """Each inscription has exactly one PRINCIPAL, listed first; CORRESPONSAVEL and SOLIDARIO exist; every
    responsible person finds the inscription under their own document, with their role."""
    roles: Counter[str] = Counter()
    for where in (PGFN, PGF):
        for numero, i in base.inscricoes[where].items():
            kinds = [r.tipo for r in i.responsaveis]
            assert kinds[0] == "PRINCIPAL" and kinds.count("PRINCIPAL") == 1
            assert len({r.documento for r in i.responsaveis}) == len(kinds)
            roles.update(kinds)
            for r in i.responsaveis:
                assert (i, r) in base.inscricoes_de(where, r.documento)
                assert numero in base.por_documento[where][r.documento]
    assert roles["CORRESPONSAVEL"] > 100 and roles["SOLIDARIO"] > 20


def test_demo_documents_are_what_their_list_says(base: Base) -> None:
    """``pgfn`` documents owe only at PGFN (a CPF, a CNPJ with an ajuizada, an alphanumeric CNPJ, a co-responsible
    only), ``pgf`` only at PGF (one with more than a page), ``ambos`` at both, ``nenhum`` nowhere."""
    demo = base.demo_documents()
    in_pgfn, in_pgf = base.por_documento[PGFN], base.por_documento[PGF]
    assert set(demo) == {"pgfn", "pgf", "ambos", "nenhum"} and all(demo.values())
    assert all(d in in_pgfn and d not in in_pgf for d in demo["pgfn"])
    assert all(d in in_pgf and d not in in_pgfn for d in demo["pgf"])
    assert all(d in in_pgfn and d in in_pgf for d in demo["ambos"])
    assert all(d not in in_pgfn and d not in in_pgf and d not in base.pessoas for d in demo["nenhum"])
    cpf_, cnpj_ajuizado, alnum, co = demo["pgfn"]
    assert len(cpf_) == 11 and not alnum.isdigit()
    assert any(i.situacao.ajuizada for i, _ in base.inscricoes_de(PGFN, cnpj_ajuizado))
    assert all(r.tipo != "PRINCIPAL" for _, r in base.inscricoes_de(PGFN, co))
    assert len(in_pgf[demo["pgf"][2]]) > 20 and len(in_pgf[demo["ambos"][0]]) > 20
    assert sorted(len(d) for d in demo["nenhum"]) == [11, 14, 14]


def test_money_in_pt_br_as_serpro_writes_it() -> None:
    """Cents become SERPRO's pt-BR strings: thousands with dots, two decimals after a comma."""
    assert moeda(1367634) == "13.676,34"
    assert moeda(5) == "0,05"
    assert moeda(100_000_000) == "1.000.000,00"

