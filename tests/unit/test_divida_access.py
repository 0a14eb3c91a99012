"""Access to the bridge bound to a person and a purpose (gateway/divida/access.py), on scripted partners, a fake
clock and a real group committer on SQLite: every access that reached the partners is one audit entry (organ,
credential, person, purpose, what was asked, what became of each source — nothing of the answer); the purpose is
a CNJ process number; the per-client bound refuses before anything is asked, with the wait; and the wire format
(gateway/divida/contract.py) writes money as decimal strings and totals apart by role."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.divida_fake import FakeDebtPartner
from gateway.clock import FakeClock
from gateway.db.committer import GroupCommitter
from gateway.db.engine import make_engine
from gateway.db.tables import audit_log
from gateway.divida import contract
from gateway.divida.access import Acesso, DividaAccess
from gateway.divida.domain import (
    Credor,
    Inscricao,
    NenhumParceiroRespondeu,
    Papel,
    RespostaDevedor,
    Situacao,
)
from gateway.divida.service import DividaService
from gateway.errors import NotFound, PartnerUnreachable, TooManyRequests, ValidationFailed
from gateway.identifiers import is_valid_inscricao_pgfn, processo_cnj_check_digits
from gateway.throttle import ClientRateLimit
from tests.support import running_committer

CPF, JUIZ = "11144477735", "52998224725"
PROCESSO = "0001234-" + processo_cnj_check_digits("0001234", "2024", "8", "19", "0001") + ".2024.8.19.0001"
PGFN_NUMERO = next(n for n in (f"80604000123{d:02d}" for d in range(100)) if is_valid_inscricao_pgfn(n))


def inscricao(valor: str, papel: Papel, credor: Credor = Credor.PGFN) -> Inscricao:
    """A normalised inscription of *valor* reais."""
    return Inscricao(credor, "União — Fazenda Nacional", "8060400012345", Situacao.EM_COBRANCA, "ATIVA EM COBRANCA",
                     papel, Decimal(valor), date(2020, 1, 2), date(2024, 5, 6), "IRPF")


@pytest.fixture
def committer(sqlite_url: str) -> Iterator[GroupCommitter]:
    """A started group committer on a seeded SQLite file."""
    with running_committer(sqlite_url, FakeClock()) as c:
        yield c


def entries(db_url: str, committer: GroupCommitter | None = None) -> list[tuple[str, int | None, dict[str, Any]]]:
    """(event, organ id, detail) of every dívida audit entry, in order (after the committer's queue is empty)."""
    if committer is not None:
        committer.run_sync(lambda _ctx: None)  # a job behind the entries: they are committed once it is
    engine = make_engine(db_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(audit_log.c.event, audit_log.c.organ_id, audit_log.c.detail)
                                .where(audit_log.c.event.like("divida.%")).order_by(audit_log.c.id)).all()
    finally:
        engine.dispose()
    return [(e, o, json.loads(d)) for e, o, d in rows]


def access(committer: GroupCommitter, clock: FakeClock, pgfn: FakeDebtPartner, pgf: FakeDebtPartner,
           limit: int = 0) -> DividaAccess:
    """The use cases over the two fakes."""
    service = DividaService({Credor.PGFN: pgfn, Credor.PGF: pgf}, clock)
    return DividaAccess(service, committer, clock, ClientRateLimit(limit, clock))


def who(finalidade: object = PROCESSO) -> Acesso:
    """TJRJ's credential acting for a judge."""
    return Acesso(organ_id=1, usuario="tjrj-sistema", canal="rest:bearer", pessoa=JUIZ, finalidade=finalidade)


def test_an_access_is_audited_with_who_why_what_and_the_sources_but_nothing_of_the_answer(
        committer: GroupCommitter, sqlite_url: str) -> None:
    """A lookup answered by PGFN and failed at PGF: one ``divida.devedores`` entry with the organ, credential,
    channel, person, purpose (20 digits), documents and the sources' outcome per creditor; the debtor's name and
    amounts are not in it."""
    clock = FakeClock()
    pgfn = FakeDebtPartner(Credor.PGFN, {CPF: RespostaDevedor("FULANO DE TAL", (inscricao("10.00", Papel.PRINCIPAL),))})
    pgf = FakeDebtPartner(Credor.PGF, None, None, PartnerUnreachable("PGF: fora", retryable=False, partner="PGF"))
    results = asyncio.run(access(committer, clock, pgfn, pgf).devedores(who(), [CPF]))
    assert results[0].parcial
    [(event, organ, detail)] = entries(sqlite_url, committer)
    assert (event, organ) == ("divida.devedores", 1)
    assert detail == {"usuario": "tjrj-sistema", "canal": "rest:bearer", "pessoa": JUIZ,
                      "finalidade": "".join(c for c in PROCESSO if c.isdigit()), "documentos": [CPF],
                      "fontes": {"PGFN": {"ok": 1}, "PGF": {"indisponivel": 1}}}
    assert "FULANO" not in json.dumps(detail) and "10.00" not in json.dumps(detail)


def test_no_partner_answering_and_an_unknown_inscription_are_audited_too(committer: GroupCommitter,
                                                                        sqlite_url: str) -> None:
    """The partners were asked, so the access happened: a request no partner answered (``DIVIDA-E050``) and an
    inscription nobody knows (``DIVIDA-E010``) each leave their entry."""
    clock = FakeClock()
    down = [PartnerUnreachable("fora", retryable=False, partner=c) for c in ("PGFN", "PGF")]
    svc = access(committer, clock, FakeDebtPartner(Credor.PGFN, None, None, down[0]),
                 FakeDebtPartner(Credor.PGF, None, None, down[1]))
    with pytest.raises(NenhumParceiroRespondeu):
        asyncio.run(svc.devedores(who(), [CPF]))
    with pytest.raises(NotFound) as e:
        asyncio.run(svc.inscricao(who(), "pgfn", PGFN_NUMERO))
    assert e.value.code == "DIVIDA-E010"
    got = entries(sqlite_url, committer)
    assert [g[0] for g in got] == ["divida.devedores", "divida.inscricao"]
    assert got[0][2]["fontes"] == {"PGFN": {"indisponivel": 1}, "PGF": {"indisponivel": 1}}
    assert (got[1][2]["credor"], got[1][2]["numeroInscricao"], got[1][2]["encontrada"]) == ("PGFN", PGFN_NUMERO, False)


@pytest.mark.parametrize("finalidade", [None, "", "conferência", "0001234-00.2024.8.19.0001", 20240001])
def test_the_purpose_must_be_a_cnj_process_number(committer: GroupCommitter, sqlite_url: str,
                                                  finalidade: object) -> None:
    """No, empty, free-text, wrong-check-digit or non-string purposes are ``DIVIDA-E007`` naming ``finalidade``;
    no partner is asked and nothing is audited."""
    clock = FakeClock()
    pgfn, pgf = FakeDebtPartner(Credor.PGFN), FakeDebtPartner(Credor.PGF)
    with pytest.raises(ValidationFailed) as e:
        asyncio.run(access(committer, clock, pgfn, pgf).devedores(who(finalidade), [CPF]))
    assert (e.value.code, e.value.field) == ("DIVIDA-E007", "finalidade")
    assert pgfn.calls == pgf.calls == [] and entries(sqlite_url, committer) == []


def test_the_per_client_bound_refuses_before_asking_and_lets_through_after_the_wait(
        committer: GroupCommitter) -> None:
    """With 2 a minute, the third request is ``DIVIDA-E040`` (a 429) with its wait and reaches no partner; another
    client is not affected; after the wait the client is admitted again."""
    clock = FakeClock()
    pgfn, pgf = FakeDebtPartner(Credor.PGFN), FakeDebtPartner(Credor.PGF)
    svc = access(committer, clock, pgfn, pgf, limit=2)
    for _ in range(2):
        asyncio.run(svc.devedores(who(), [CPF]))
    with pytest.raises(TooManyRequests) as e:
        asyncio.run(svc.devedores(who(), [CPF]))
    assert e.value.code == "DIVIDA-E040" and 1 <= e.value.retry_after <= 120
    assert len(pgfn.calls) == 2
    other = Acesso(2, "tjsp-sistema", "rest:bearer", JUIZ, PROCESSO)
    asyncio.run(svc.devedores(other, [CPF]))
    clock.advance(e.value.retry_after)
    asyncio.run(svc.devedores(who(), [CPF]))
    assert len(pgfn.calls) == 4


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 20), gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=120))
def test_the_sliding_window_never_admits_more_than_the_limit_in_a_minute(limit: int, gaps: list[float]) -> None:
    """Whatever the arrival times: within any fixed minute at most *limit* requests are admitted, within any 60 s
    at most twice that (the counter's bound), a refusal's wait is between 1 s and two minutes, and a request sent
    once that wait has passed (and nothing else) is admitted."""
    clock = FakeClock(monotonic=0.0)
    rl = ClientRateLimit(limit, clock)
    admitted: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        wait = rl.retry_after("c")
        if wait is None:
            admitted.append(clock.monotonic())
            continue
        assert 1.0 <= wait <= 120.0
        probe = copy.deepcopy(rl)  # the same counts on a clock of its own
        probe.clock.advance(wait + 1e-6)
        assert probe.retry_after("c") is None
    per_minute: dict[int, int] = {}
    for t in admitted:
        per_minute[int(t // 60)] = per_minute.get(int(t // 60), 0) + 1
    assert max(per_minute.values(), default=0) <= limit
    for i, t in enumerate(admitted):
        assert sum(1 for u in admitted[i:] if u < t + 60) <= 2 * limit


def test_the_bound_off_admits_everything() -> None:
    """``GATEWAY_DIVIDA_LIMITE_POR_MINUTO=0`` turns the bound off."""
    rl = ClientRateLimit(0, FakeClock())
    assert all(rl.retry_after("c") is None for _ in range(10_000))


def test_the_wire_format_writes_money_with_a_dot_and_totals_apart() -> None:
    """Money as decimal strings with a dot and two places; totals per creditor and overall, principal and
    co-debtor kept apart; a source's time with its offset."""
    from gateway.divida.domain import EstadoFonte, Fonte, resultado

    now = FakeClock().now()
    r = resultado(CPF, "FULANO", [inscricao("13676.34", Papel.PRINCIPAL), inscricao("1000000.00", Papel.SOLIDARIO)],
                  [Fonte(Credor.PGFN, EstadoFonte.OK, now), Fonte(Credor.PGF, EstadoFonte.ERRO, now, "lixo",
                                                                 "GATEWAY-E013")])
    wire = json.loads(contract.resultados([r]).model_dump_json())["resultados"][0]
    assert wire["parcial"] is True
    assert [i["valorConsolidado"] for i in wire["inscricoes"]] == ["13676.34", "1000000.00"]
    assert wire["totais"] == {"geral": {"principal": "13676.34", "corresponsavel": "1000000.00"},
                              "porCredor": {"PGFN": {"principal": "13676.34", "corresponsavel": "1000000.00"}}}
    assert wire["fontes"][1] == {"credor": "PGF", "estado": "erro", "consultadoEm": now.isoformat(),
                                 "detalhe": "lixo", "codigo": "GATEWAY-E013", "idadeCacheS": None}
    assert wire["devedor"] == {"cpfCnpj": CPF, "nome": "FULANO", "tipoPessoa": "fisica"}
