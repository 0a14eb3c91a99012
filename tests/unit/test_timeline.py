"""The political-rights timeline (gateway/consulta/timeline.py): one test per rule and per rule version, each with
its legal basis; the rule book (gateway/consulta/rules.py) and its versions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.consulta import timeline as tl
from gateway.consulta.rules import load_rules, parse_rules
from gateway.consulta.timeline import Fact, add_term, compute
from gateway.errors import OperatorError

BOOK = load_rules()
LC135 = BOOK.by_id("LC135-2010")
L14230 = BOOK.by_id("L14230-2021")
LC219 = BOOK.by_id("LC219-2025")
P1 = "00452180920248190001"
P2 = "02674153720258190001"


def of_kind(timeline: tl.Timeline, kind: str) -> list[tl.Interval]:
    return [i for i in timeline.intervals if i.kind == kind]


def test_rule_version_in_force_by_date() -> None:
    """Rules are versioned by the date they apply from (issue 14 point 1): the version in force on a date is the
    latest not after it — LC 135/2010 before Lei 14.230/2021 (2021-10-26), LC 219/2025 from its publication
    (2025-09-30)."""
    assert BOOK.in_force(date(2015, 1, 1)).id == "LC135-2010"
    assert BOOK.in_force(date(2021, 10, 25)).id == "LC135-2010"
    assert BOOK.in_force(date(2021, 10, 26)).id == "L14230-2021"
    assert BOOK.in_force(date(2025, 9, 29)).id == "L14230-2021"
    assert BOOK.in_force(date(2025, 9, 30)).id == "LC219-2025"
    assert BOOK.in_force(date(2000, 1, 1)).id == "LC135-2010"  # before every version: the oldest


def test_rule_book_refuses_bad_configuration(tmp_path: Path) -> None:
    """A rule file with an unknown counting mode, an unknown inferred-rule name or no version is refused with
    GATEWAY-E001 naming the version (configuration, not code, DOMAIN.md §2a)."""
    with pytest.raises(OperatorError) as bad:
        parse_rules({"versao": [{"id": "x", "vigencia": "2020-01-01", "descricao": "d",
                                 "improbidade_suspensao_contada_de": "ontem", "improbidade_inelegibilidade":
                                 "apos_cumprimento", "criminal_inelegibilidade": "apos_cumprimento",
                                 "inelegibilidade_anos": 8, "demissao_anos": 8}]})
    assert bad.value.code == "GATEWAY-E001" and "ontem" in bad.value.message
    with pytest.raises(OperatorError):
        parse_rules({})
    path = tmp_path / "r.toml"
    path.write_text("versao = 3", encoding="utf-8")
    with pytest.raises(OperatorError):
        load_rules(path)


def test_add_term_calendar() -> None:
    """Terms are calendar years, months and days (a sentence of 4 years and 6 months from 2020-02-29)."""
    assert add_term(date(2020, 2, 29), 1) == date(2021, 2, 28)
    assert add_term(date(2020, 1, 31), 0, 1) == date(2020, 2, 29)
    assert add_term(date(2020, 11, 15), 4, 6, 10) == date(2025, 5, 25)


def test_criminal_suspension_open_until_extinction() -> None:
    """CF art. 15, III and Súmula TSE 9: a final criminal conviction (IV) suspends political rights until the
    punishment is extinguished; with no kind V yet the suspension is open."""
    t = compute([Fact("A", "IV", date(2022, 3, 1), process_number=P1)], L14230, date(2024, 1, 1))
    [susp] = of_kind(t, tl.SUSPENSAO)
    assert (susp.start, susp.end, susp.protocols, susp.inferred) == (date(2022, 3, 1), None, ("A",), False)
    assert "Súmula TSE 9" in susp.basis and t.suspended and t.ineligible


def test_criminal_suspension_ended_by_kind_v() -> None:
    """Súmula TSE 9: the extinction of the punishment (kind V, linked by protocol or by the same process) ends the
    suspension, whatever the state of rehabilitation."""
    facts = [Fact("A", "IV", date(2022, 3, 1), process_number=P1),
             Fact("B", "V", date(2023, 6, 10), process_number=P1, linked_protocol="A")]
    t = compute(facts, L14230, date(2023, 6, 10))
    [susp] = of_kind(t, tl.SUSPENSAO)
    assert susp.end == date(2023, 6, 10) and susp.protocols == ("A", "B")
    assert not t.suspended  # [inicio, fim): on the extinction's date the rights are back
    assert compute(facts, L14230, date(2023, 6, 9)).suspended


def test_cancelled_communication_counts_for_nothing() -> None:
    """Res. Conjunta 6/2020 art. 7º ("enviar e atualizar"): a cancelled communication is kept in the history but
    produces no interval."""
    t = compute([Fact("A", "IV", date(2022, 3, 1), status="cancelada", process_number=P1)], L14230,
                date(2024, 1, 1))
    assert t.intervals == () and not t.suspended


def test_criminal_inelegibility_e_after_serving() -> None:
    """LC 64/1990 art. 1º, I, "e" (LC 135/2010, kept by LC 219/2025 for grave crimes): from the collegiate
    conviction (VII) until 8 years after the sentence is extinguished (V)."""
    facts = [Fact("C", "VII", date(2021, 5, 1), process_number=P1, nature="criminal", causes_inelegibility=True,
                  alinea="e"),
             Fact("A", "IV", date(2022, 3, 1), process_number=P1, causes_inelegibility=True, alinea="e"),
             Fact("B", "V", date(2024, 6, 10), process_number=P1)]
    for rules in (LC135, L14230, LC219):
        [inel] = of_kind(compute(facts, rules, date(2030, 1, 1)), tl.INELEGIBILIDADE)
        assert (inel.start, inel.end, inel.alinea) == (date(2021, 5, 1), date(2032, 6, 10), "e")
        assert set(inel.protocols) == {"A", "B", "C"}


def test_criminal_inelegibility_open_without_extinction() -> None:
    """LC 64/1990 art. 1º, I, "e": while no extinction (V) is known, the 8 years have not started: open."""
    facts = [Fact("A", "IV", date(2022, 3, 1), process_number=P1, causes_inelegibility=True, alinea="e")]
    [inel] = of_kind(compute(facts, L14230, date(2040, 1, 1)), tl.INELEGIBILIDADE)
    assert inel.end is None and inel.start == date(2022, 3, 1)


def test_improbity_suspension_for_the_term_from_transito() -> None:
    """CF art. 15, V; Lei 8.429/1992 art. 12 and art. 20 (Lei 14.230/2021): the suspension takes effect at the
    trânsito em julgado and lasts the term the judgment sets."""
    facts = [Fact("I1", "I", date(2022, 2, 10), process_number=P1, term=(5, 0, 0))]
    t = compute(facts, L14230, date(2026, 1, 1))
    [susp] = of_kind(t, tl.SUSPENSAO)
    assert (susp.start, susp.end) == (date(2022, 2, 10), date(2027, 2, 10)) and "art. 20" in susp.basis
    assert t.suspended and not compute(facts, L14230, date(2027, 2, 10)).suspended


def test_improbity_suspension_counted_from_collegiate_when_configured() -> None:
    """Lei 8.429/1992 art. 12 §10 (Lei 14.230/2021, constitutionality contested): a version may count the term
    back from the collegiate decision; the effect still starts at the trânsito (art. 20)."""
    book = parse_rules({"versao": [{"id": "par10", "vigencia": "2021-10-26", "descricao": "§10",
                                    "improbidade_suspensao_contada_de": "colegiada",
                                    "improbidade_inelegibilidade": "apos_cumprimento",
                                    "criminal_inelegibilidade": "apos_cumprimento",
                                    "inelegibilidade_anos": 8, "demissao_anos": 8}]})
    facts = [Fact("C", "VII", date(2020, 1, 1), process_number=P1, nature="improbidade"),
             Fact("I1", "I", date(2022, 1, 1), process_number=P1, term=(5, 0, 0))]
    [susp] = of_kind(compute(facts, book.versions[0], date(2023, 1, 1)), tl.SUSPENSAO)
    assert (susp.start, susp.end) == (date(2022, 1, 1), date(2025, 1, 1))
    [susp14230] = of_kind(compute(facts, L14230, date(2023, 1, 1)), tl.SUSPENSAO)
    assert susp14230.end == date(2027, 1, 1)


def test_improbity_article_11_has_no_suspension() -> None:
    """Lei 8.429/1992 art. 12, III (Lei 14.230/2021): an art. 11 conviction carries no suspension — no term, no
    interval."""
    t = compute([Fact("I1", "I", date(2022, 1, 1), process_number=P1, term=None)], L14230, date(2023, 1, 1))
    assert of_kind(t, tl.SUSPENSAO) == []


def test_improbity_suspension_ended_by_kind_iii() -> None:
    """Res. Conjunta 6/2020 art. 1º, III (DOMAIN.md §2): the communication of the sanctions' fulfilment (III) ends
    the suspension recorded under I."""
    facts = [Fact("I1", "I", date(2022, 1, 1), process_number=P1, term=(8, 0, 0)),
             Fact("III1", "III", date(2024, 1, 1), linked_protocol="I1")]
    [susp] = of_kind(compute(facts, L14230, date(2025, 1, 1)), tl.SUSPENSAO)
    assert susp.end == date(2024, 1, 1) and susp.protocols == ("I1", "III1")


def test_improbity_inelegibility_l_before_lc219() -> None:
    """LC 64/1990 art. 1º, I, "l" (LC 135/2010): from the collegiate decision until 8 years after the sentence is
    served (kind III); open while the fulfilment is not communicated."""
    facts = [Fact("C", "VII", date(2019, 4, 1), process_number=P1, nature="improbidade", causes_inelegibility=True,
                  alinea="l"),
             Fact("I1", "I", date(2020, 1, 1), process_number=P1, term=(4, 0, 0))]
    [inel] = of_kind(compute(facts, LC135, date(2021, 1, 1)), tl.INELEGIBILIDADE)
    assert (inel.start, inel.end, inel.inferred) == (date(2019, 4, 1), None, False)
    served = [*facts, Fact("III1", "III", date(2024, 1, 1), process_number=P1)]
    [inel2] = of_kind(compute(served, L14230, date(2025, 1, 1)), tl.INELEGIBILIDADE)
    assert inel2.end == date(2032, 1, 1)


def test_improbity_inelegibility_l_under_lc219() -> None:
    """LC 64/1990 art. 1º, I, "l" as changed by LC 219/2025 (inferred from commentary): 8 years from the
    collegiate decision, not after the sentence is served; the same facts as the previous test give another end
    under the rules in force at a later date."""
    facts = [Fact("C", "VII", date(2019, 4, 1), process_number=P1, nature="improbidade", causes_inelegibility=True,
                  alinea="l"),
             Fact("I1", "I", date(2020, 1, 1), process_number=P1, term=(4, 0, 0)),
             Fact("III1", "III", date(2024, 1, 1), process_number=P1)]
    t = compute(facts, LC219, date(2026, 1, 1))
    [inel] = of_kind(t, tl.INELEGIBILIDADE)
    assert (inel.start, inel.end, inel.inferred) == (date(2019, 4, 1), date(2027, 4, 1), True)
    assert t.rule_version == "LC219-2025" and t.ineligible


def test_same_facts_give_one_inelegibility() -> None:
    """LC 219/2025 (further cases on the same facts add no new inelegibility) and TRE-RS Provimento 07/2017 (one
    communication per conviction): communications of one process form one interval."""
    facts = [Fact("C", "VII", date(2019, 4, 1), process_number=P1, nature="improbidade", causes_inelegibility=True,
                  alinea="l"),
             Fact("I1", "I", date(2020, 1, 1), process_number=P1, causes_inelegibility=True, alinea="l")]
    assert len(of_kind(compute(facts, LC219, date(2021, 1, 1)), tl.INELEGIBILIDADE)) == 1
    other = [*facts, Fact("I2", "I", date(2021, 1, 1), process_number=P2, causes_inelegibility=True, alinea="l")]
    assert len(of_kind(compute(other, LC219, date(2021, 1, 1)), tl.INELEGIBILIDADE)) == 2


def test_cap_of_twelve_years_under_lc219() -> None:
    """LC 219/2025 (inferred from commentary): the inelegibility of the capped alíneas ends at most 12 years after
    it started; before LC 219/2025 there is no cap."""
    facts = [Fact("C", "VII", date(2010, 1, 1), process_number=P1, nature="improbidade", causes_inelegibility=True,
                  alinea="l"),
             Fact("I1", "I", date(2012, 1, 1), process_number=P1, term=(10, 0, 0)),
             Fact("III1", "III", date(2022, 1, 1), process_number=P1)]
    [before] = of_kind(compute(facts, L14230, date(2025, 1, 1)), tl.INELEGIBILIDADE)
    assert before.end == date(2030, 1, 1)  # 8 years after the fulfilment: 20 years in all
    cap_book = parse_rules({"versao": [{"id": "cap", "vigencia": "2025-09-30", "descricao": "teto",
                                        "improbidade_suspensao_contada_de": "transito",
                                        "improbidade_inelegibilidade": "apos_cumprimento",
                                        "criminal_inelegibilidade": "apos_cumprimento", "inelegibilidade_anos": 8,
                                        "demissao_anos": 8, "teto_anos": 12, "teto_alineas": ["l"],
                                        "inferidas": ["teto"]}]})
    [capped] = of_kind(compute(facts, cap_book.versions[0], date(2025, 1, 1)), tl.INELEGIBILIDADE)
    assert capped.end == date(2022, 1, 1) and capped.inferred and "teto" in capped.basis


def test_dismissal_inelegibility_o() -> None:
    """LC 64/1990 art. 1º, I, "o": a dismissal from public service (kind VIII) makes the person ineligible for
    8 years from the decision."""
    t = compute([Fact("D", "VIII", date(2020, 5, 5))], L14230, date(2027, 1, 1))
    [inel] = of_kind(t, tl.INELEGIBILIDADE)
    assert (inel.start, inel.end, inel.alinea) == (date(2020, 5, 5), date(2028, 5, 5), "o") and t.ineligible
    assert not compute([Fact("D", "VIII", date(2020, 5, 5))], L14230, date(2028, 5, 5)).ineligible


def test_other_case_as_communicated_is_inferred() -> None:
    """Res. Conjunta 6/2020 art. 1º, IX ("as stated in the communication", inferred): a suspension for the term
    communicated and an inelegibility with no end communicated, both marked inferred, with the communicated basis."""
    facts = [Fact("X", "IX", date(2023, 1, 1), term=(2, 0, 0), causes_inelegibility=True, alinea="d",
                  basis="CF art. 15, IV")]
    t = compute(facts, L14230, date(2024, 1, 1))
    [susp] = of_kind(t, tl.SUSPENSAO)
    [inel] = of_kind(t, tl.INELEGIBILIDADE)
    assert susp.end == date(2025, 1, 1) and susp.basis == "CF art. 15, IV" and susp.inferred
    assert inel.end is None and inel.inferred


def test_death_cancels_registration() -> None:
    """Código Eleitoral art. 71, IV; Res. TSE 22.166/2006 (ASE 019, inferred mapping): a death (VI) cancels the
    electoral registration from the date of death."""
    t = compute([Fact("O", "VI", date(2024, 2, 2))], L14230, date(2024, 3, 1))
    assert t.registration_cancelled and of_kind(t, tl.INSCRICAO_CANCELADA)[0].inferred


def test_anpc_only_registers() -> None:
    """Lei 8.429/1992 art. 17-B: an ANPC (kind II) carries no suspension: it only registers."""
    assert compute([Fact("II1", "II", date(2024, 2, 2), process_number=P1)], L14230, date(2024, 3, 1)).intervals == ()
