"""The intimations' pure rules: the tacit-notice day (Lei 11.419/2006 art. 5º §3º) in the courts' civil time, the
state shown on each day, the listing's filters and cursors, what is read from a court's aviso, and the collector's
plan of courts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.divida.intimacoes import contract, domain
from gateway.divida.intimacoes.collector import Target, parse_tribunais, plan
from gateway.divida.intimacoes.domain import CienciaTipo, Situacao
from gateway.errors import ValidationFailed
from gateway.hub.registry import parse_registry

BRT = ZoneInfo("America/Sao_Paulo")


def test_tacit_day_is_the_tenth_calendar_day_after_sending_in_brasilia() -> None:
    """Sent on 10 June (any hour, Brasília) → deemed notified on 20 June; an instant that is still 10 June in
    Brasília but already 11 June in UTC counts as 10 June; weekends and month ends are not skipped (calendar days)."""
    assert domain.tacit_notice_date(datetime(2025, 6, 10, 10, 0, tzinfo=BRT), BRT) == date(2025, 6, 20)
    late = datetime(2025, 6, 11, 2, 30, tzinfo=UTC)  # 23:30 of 10 June in Brasília
    assert domain.tacit_notice_date(late, BRT) == date(2025, 6, 20)
    assert domain.tacit_notice_date(datetime(2025, 12, 26, 9, tzinfo=BRT), BRT) == date(2026, 1, 5)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
       st.integers(min_value=0, max_value=40))
def test_state_moves_from_pending_to_tacit_after_the_tenth_day(sent: datetime, days: int) -> None:
    """Not opened: pending through the deemed day itself, tacitly notified from the next day on, its effective day
    the deemed day; opened on a day up to the deemed day: ``ciente`` from that day; opened later: tacit stands."""
    sent = sent.replace(tzinfo=BRT)
    deemed = domain.tacit_notice_date(sent, BRT)
    today = sent.date() + timedelta(days=days)
    state = domain.situacao(deemed, None, today)
    assert state is (Situacao.PENDENTE if days <= 10 else Situacao.CIENCIA_TACITA)
    assert domain.ciencia_efetiva(deemed, None, None, today) == (None if days <= 10 else deemed)
    tipo = domain.ciencia_tipo(deemed, today)
    assert tipo is (CienciaTipo.EXPRESSA if days <= 10 else CienciaTipo.TACITA)
    assert domain.situacao(deemed, tipo, today + timedelta(days=30)) is (
        Situacao.CIENTE if days <= 10 else Situacao.CIENCIA_TACITA)
    assert domain.ciencia_efetiva(deemed, tipo, today, today) == (today if days <= 10 else deemed)


@pytest.mark.parametrize(("kwargs", "code", "field"), [
    ({"numero_processo": "123"}, "INTIM-E001", "numeroProcesso"),
    ({"numero_processo": "08123459320198190002"}, "INTIM-E001", "numeroProcesso"),  # wrong check digits
    ({"situacao_": "lida"}, "INTIM-E002", "situacao"),
    ({"tribunal": "TRF4"}, "INTIM-E002", "tribunal"),
    ({"desde": "10/06/2025"}, "INTIM-E002", "desde"),
    ({"desde": "2025-06-12", "ate": "2025-06-11"}, "INTIM-E002", "ate"),
    ({"limite": 0}, "INTIM-E003", "limite"),
    ({"limite": 101}, "INTIM-E003", "limite"),
    ({"cursor": "not-a-cursor"}, "INTIM-E004", "cursor"),
])
def test_filters_refuse_with_codes_naming_the_field(kwargs: dict[str, object], code: str, field: str) -> None:
    """Each bad filter is a 422 naming its field (never a silently truncated or widened listing)."""
    args: dict[str, object] = {"numero_processo": None, "tribunal": None, "instancia": None, "situacao_": None,
                               "desde": None, "ate": None, "cursor": None, "limite": 50, **kwargs}
    with pytest.raises(ValidationFailed) as e:
        domain.filtro(**args)  # type: ignore[arg-type]
    assert (e.value.code, e.value.field) == (code, field)


def test_good_filters_and_cursors_round_trip() -> None:
    """A masked process number is read as its digits; a cursor says where to resume."""
    f = domain.filtro("0812345-93.2019.8.19.0001", "8.19", "1", "pendente", "2025-06-01", "2025-06-30",
                      domain.encode_cursor(41), 100)
    assert f.numero_processo == "08123459320198190001" and f.situacao is Situacao.PENDENTE
    assert (f.desde, f.ate, f.depois_de, f.limite) == (date(2025, 6, 1), date(2025, 6, 30), 41, 100)


AVISO = b"""<ns2:aviso xmlns:ns2="http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
   xmlns:ns4="http://www.cnj.jus.br/intercomunicacao-2.2.2" idAviso="202506100000001" tipoComunicacao="INT">
  <ns4:destinatario><ns4:pessoa nome="UNIAO" numeroDocumentoPrincipal="00394460005887"/></ns4:destinatario>
  <ns4:processo numero="08123459320198190001" classeProcessual="1116" codigoLocalidade="1">
    <ns4:polo polo="AT"><ns4:parte><ns4:pessoa nome="UNIAO - FAZENDA NACIONAL" tipoPessoa="juridica"
        numeroDocumentoPrincipal="00394460005887"/></ns4:parte></ns4:polo>
    <ns4:polo polo="PA"><ns4:parte><ns4:pessoa nome="EMPRESA" numeroDocumentoPrincipal="11222333000181"/></ns4:parte>
    </ns4:polo>
    <ns4:valorCausa>48210.55</ns4:valorCausa>
  </ns4:processo>
  <ns4:dataDisponibilizacao>20250610100000</ns4:dataDisponibilizacao>
</ns2:aviso>"""


def test_an_aviso_is_read_for_its_process_class_parties_and_value() -> None:
    """What the collector stores and the filings' hook receives comes from the aviso, in any namespace prefix."""
    answer = etree.fromstring(b"<answer>" + AVISO + b"<aviso/></answer>")  # an aviso without id is skipped
    (a,) = contract.read_avisos(answer)
    assert (a.aviso_id, a.tipo, a.numero_processo, a.classe, a.valor_causa) == (
        "202506100000001", "INT", "08123459320198190001", 1116, "48210.55")
    assert [(p.polo, p.documento) for p in a.partes] == [("AT", "00394460005887"), ("PA", "11222333000181")]
    assert a.disponibilizada_em == datetime(2025, 6, 10, 10, tzinfo=BRT)
    assert a.destinatario is not None and a.destinatario.documento == "00394460005887"


def test_the_plan_of_courts_follows_the_settings_or_the_registry() -> None:
    """Empty settings: every installation of each procuradoria's tribunals in the registry; configured: what is
    listed, a J.TR meaning all its installations; the settings' JSON is checked."""
    registry = parse_registry({"tribunais": [
        {"jtr": "8.19", "instalacoes": [{"instancia": "1", "url": "http://a"}, {"instancia": "2", "url": "http://b"}]},
        {"jtr": "4.04", "instalacoes": [{"instancia": "1", "url": "http://c"}]}],
        "clientes": {"PGFN": {"tribunais": ["8.19", "4.04"]}, "PGF": {"tribunais": ["8.19"]}}})
    assert plan(registry, {}, ["PGFN"]) == [Target("PGFN", "8.19", "1"), Target("PGFN", "8.19", "2"),
                                            Target("PGFN", "4.04", "1")]
    configured = parse_tribunais('{"PGF": ["8.19/2", "4.04"]}')
    assert plan(registry, configured, ["PGFN"]) == [Target("PGF", "8.19", "2"), Target("PGF", "4.04", "1")]
    with pytest.raises(ValueError):
        parse_tribunais('["8.19"]')
