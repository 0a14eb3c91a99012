"""The pure domain: competence, legal rules, deadlines and routing of INFODIP communications."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import NotAllowed, ValidationFailed
from gateway.infodip.deadlines import deadline_for, due_date
from gateway.infodip.domain import (
    DEFAULT_COMPETENCE,
    Communication,
    Inelegibility,
    Kind,
    Person,
    Term,
    check_competence,
    check_rules,
    competent_kinds,
)
from gateway.infodip.routing import destinations_for
from gateway.organs import OrganType

SP = ZoneInfo("America/Sao_Paulo")
PERSON = Person(nome="Fulano de Tal", cpf="52998224725")
PROCESS = "00452180920248190001"


def comm(kind: Kind = Kind.I, **kw: object) -> Communication:
    """A valid communication of *kind*, with fields overridden by *kw*."""
    base: dict[str, object] = dict(kind=kind, declared_kind=kind.value, reference="R1", person=PERSON,
                                   process_number=PROCESS, fact_date=date(2026, 11, 10),
                                   block_fact_date=date(2026, 11, 10), improbity_articles=("10",))
    base.update(kw)
    return Communication(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("organ_type", "kind", "allowed"), [
    (OrganType.TRIBUNAL, Kind.VI, False),
    (OrganType.TRIBUNAL, Kind.VIII, True),
    (OrganType.ORGAO_JULGADOR, Kind.VII, False),
    (OrganType.ORGAO_JULGADOR, Kind.V, True),
    (OrganType.PRESIDENCIA, Kind.I, False),
    (OrganType.PRESIDENCIA, Kind.VIII, True),
    (OrganType.CARTORIO, Kind.VI, True),
    (OrganType.CRC, Kind.IV, False),
    (OrganType.MNI_CLIENTE, Kind.I, False),
])
def test_default_competence_matrix(organ_type: OrganType, kind: Kind, allowed: bool) -> None:
    """The default matrix of DOMAIN.md §2 decides who may send each kind."""
    kinds = competent_kinds(organ_type)
    if allowed:
        check_competence(kind, organ_type, kinds)
    else:
        with pytest.raises(NotAllowed) as e:
            check_competence(kind, organ_type, kinds)
        assert e.value.code == "INFODIP-E022"


def test_competence_override_per_organ() -> None:
    """An organ's configured kinds replace the default of its type."""
    kinds = competent_kinds(OrganType.ORGAO_JULGADOR, ["VII"])
    check_competence(Kind.VII, OrganType.ORGAO_JULGADOR, kinds)
    with pytest.raises(NotAllowed):
        check_competence(Kind.I, OrganType.ORGAO_JULGADOR, kinds)
    assert DEFAULT_COMPETENCE[OrganType.MNI_CLIENTE] == frozenset()


@pytest.mark.parametrize(("change", "code"), [
    ({"declared_kind": "IV"}, "INFODIP-E041"),
    ({"fact_date": date(2026, 11, 9)}, "INFODIP-E044"),
    ({"fact_date": date(2026, 11, 22), "block_fact_date": date(2026, 11, 22)}, "INFODIP-E040"),
    ({"process_number": None}, "INFODIP-E042"),
    ({"person": Person(nome="Sem Documento")}, "INFODIP-E045"),
    ({"suspension": Term(years=13)}, "INFODIP-E043"),
    ({"improbity_articles": ("11",), "suspension": Term(months=1)}, "INFODIP-E043"),
])
def test_rules_refuse_with_their_codes(change: dict[str, object], code: str) -> None:
    """Each legal rule has its own stable code."""
    with pytest.raises(ValidationFailed) as e:
        check_rules(comm(**change), today=date(2026, 11, 21))
    assert e.value.code == code


def test_rules_accept_valid_and_the_maximum_suspension() -> None:
    """A valid communication passes; 14 years is the art. 9 maximum and is accepted."""
    check_rules(comm(), today=date(2026, 11, 21))
    check_rules(comm(improbity_articles=("9", "10"), suspension=Term(years=14)), today=date(2026, 11, 21))
    check_rules(comm(Kind.VI, process_number=None), today=date(2026, 11, 21))


def test_fact_date_today_in_brasilia_is_not_future() -> None:
    """The date of the fact is compared with today in America/Sao_Paulo, not UTC."""
    # 01:00 UTC on the 22nd is still the 21st in Brasília (UTC−3)
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    today = now.astimezone(SP).date()
    assert today == date(2026, 11, 21)
    with pytest.raises(ValidationFailed):
        check_rules(comm(fact_date=date(2026, 11, 22), block_fact_date=date(2026, 11, 22)), today)


def test_deadline_is_ten_days_after_the_fact_in_brasilia() -> None:
    """Due at the end of the 10th day after the fact; lateness counted in whole local days."""
    fact = date(2026, 11, 1)
    assert due_date(Kind.I, fact) == date(2026, 11, 11)
    on_time = deadline_for(Kind.I, fact, datetime(2026, 11, 12, 2, 59, tzinfo=UTC), SP)  # 23:59 on the 11th
    assert not on_time.late
    late = deadline_for(Kind.I, fact, datetime(2026, 11, 12, 3, 0, tzinfo=UTC), SP)  # 00:00 on the 12th
    assert late.late and late.days_late == 1


def test_death_deadline_is_the_15th_of_the_next_month() -> None:
    """Deaths follow Código Eleitoral art. 71 §3º: by day 15 of the month after, including across years."""
    assert due_date(Kind.VI, date(2026, 12, 31)) == date(2027, 1, 15)
    assert due_date(Kind.VI, date(2026, 1, 1)) == date(2026, 2, 15)
    d = deadline_for(Kind.VI, date(2026, 10, 3), datetime(2026, 11, 20, 12, tzinfo=UTC), SP)
    assert d.late and d.days_late == 5


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)), st.integers(0, 60))
def test_deadline_properties(fact: date, days_after: int) -> None:
    """Receiving on the due date is never late; each day after adds one day of delay."""
    due = due_date(Kind.IV, fact)
    received = datetime(due.year, due.month, due.day, 12, tzinfo=SP).astimezone(UTC)
    from datetime import timedelta

    d = deadline_for(Kind.IV, fact, received + timedelta(days=days_after), SP)
    assert d.days_late == days_after and d.late == (days_after > 0)


@pytest.mark.parametrize(("c", "ended", "expected"), [
    (comm(Kind.I), None, ("TSE", "CNJ")),
    (comm(Kind.II), None, ("TSE", "CNJ")),
    (comm(Kind.III), None, ("TSE", "CNJ")),
    (comm(Kind.IV, inelegibility=Inelegibility(False)), None, ("TSE",)),
    (comm(Kind.IV, inelegibility=Inelegibility(True, "e", "1")), None, ("TSE", "CNJ")),
    (comm(Kind.V), ("TSE", "CNJ"), ("TSE", "CNJ")),
    (comm(Kind.V), ("TSE",), ("TSE",)),
    (comm(Kind.V), None, ("TSE",)),
    (comm(Kind.VI, process_number=None), None, ("TSE",)),
    (comm(Kind.VII, nature="improbidade", inelegibility=Inelegibility(False)), None, ("TSE", "CNJ")),
    (comm(Kind.VII, nature="criminal", inelegibility=Inelegibility(False)), None, ("TSE",)),
    (comm(Kind.VII, nature="criminal", inelegibility=Inelegibility(True, "e")), None, ("TSE", "CNJ")),
    (comm(Kind.VIII, process_number=None), None, ("TSE", "CNJ")),
    (comm(Kind.IX, inelegibility=Inelegibility(True, "g")), None, ("TSE", "CNJ")),
    (comm(Kind.IX, inelegibility=Inelegibility(False)), None, ("TSE",)),
])
def test_routing_table(c: Communication, ended: tuple[str, ...] | None, expected: tuple[str, ...]) -> None:
    """Every kind reaches TSE; CNJ gets improbity and inelegibility; V follows the IV it ends."""
    assert destinations_for(c, ended) == expected
