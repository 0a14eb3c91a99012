"""The tacit notice after 10 days with an injected clock (Lei 11.419/2006 art. 5º §3º): the gateway wired by
``bootstrap.build`` in this process on a :class:`~gateway.clock.FakeClock`, its hub calling the simulated PJe court
(a real process). Also: the evidence a new intimation offers to the filings' hook, and a collection that stores
nothing twice — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway.bootstrap import build
from gateway.clock import FakeClock, SystemClock
from gateway.divida.intimacoes import domain
from gateway.divida.intimacoes.domain import Evidencia
from mocks.tribunal_data import cnj_number
from tests.support import Tribunals, configure_hub, test_settings

pytestmark = pytest.mark.e2e
BRT = ZoneInfo("America/Sao_Paulo")
OPENED_LATE = cnj_number(4343, 2026, 8, 19, 1)
OPENED_ON_DAY_10 = cnj_number(4344, 2026, 8, 19, 1)


def test_an_intimation_not_opened_in_10_days_is_tacitly_notified(db_url: str, tribunals: Tribunals,
                                                                 tmp_path: Path) -> None:
    """Two intimations sent today: both pending through day 10 with the deemed day D+10; one opened on day 10 is
    ``ciente`` from that day; the other, unopened, shows ``ciencia_tacita`` from day 11 with ciência effective on
    D+10, and opening it later keeps the deemed day. A second collection stores nothing again; each new intimation
    was offered once to the evidence hook with its process number, class 1116, parties and value."""
    tribunals.reset()
    settings = configure_hub(db_url, test_settings(db_url, tmp_path, intimacoes_intervalo_s=0), tribunals, tmp_path)
    for numero in (OPENED_LATE, OPENED_ON_DAY_10):
        httpx.post(tribunals.url("8.19") + "/_mock/intimacoes", json={"numeroProcesso": numero},
                   timeout=10).raise_for_status()
    clock = FakeClock(SystemClock().now())
    gw = build(settings, clock, relay_wanted=False)
    gw.start()
    offered: list[Evidencia] = []

    async def hook(evidence: Evidencia) -> None:
        offered.append(evidence)

    async def scenario() -> None:
        svc = gw.intimacoes
        assert svc is not None and gw.hub is not None
        svc.evidence_hook = hook
        try:
            new = await svc.collect("PGFN", "8.19", "1")
            assert {n.aviso.numero_processo for n in new} >= {OPENED_LATE, OPENED_ON_DAY_10}
            assert await svc.collect("PGFN", "8.19", "1") == []  # idempotent per court and aviso id
            pgfn = svc.organ_caller("PGFN")

            async def item(numero: str) -> dict[str, object]:
                page = await svc.listar(pgfn, domain.filtro(numero, None, None, None, None, None, None, 10))
                (only,) = page.itens
                return only.model_dump()

            sent = clock.now().astimezone(BRT).date()
            deemed = sent + timedelta(days=10)
            first = await item(OPENED_LATE)
            assert (first["situacao"], first["cienciaPresumidaEm"]) == ("pendente", deemed.isoformat())
            clock.advance(10 * 86400)  # day 10: still pending, may still be opened expressly
            assert (await item(OPENED_LATE))["situacao"] == "pendente"
            on_day_10 = await item(OPENED_ON_DAY_10)
            opened = await svc.ciencia(pgfn, str(on_day_10["id"]), "52998224725", "teste")
            assert opened.intimacao.situacao == "ciente" and opened.intimacao.cienciaEfetivaEm == _day(clock)
            clock.advance(86400)  # day 11: the unopened one is deemed notified on day 10
            tacit = await item(OPENED_LATE)
            assert tacit["situacao"] == "ciencia_tacita" and tacit["cienciaEfetivaEm"] == deemed.isoformat()
            assert (await item(OPENED_ON_DAY_10))["situacao"] == "ciente"
            late = await svc.ciencia(pgfn, str(tacit["id"]), "52998224725", "teste")
            assert late.intimacao.situacao == "ciencia_tacita" and late.intimacao.cienciaEfetivaEm == deemed.isoformat()
            assert late.intimacao.cienciaEm is not None and late.teor
            listed = await svc.listar(pgfn, domain.filtro(None, "8.19", None, "ciencia_tacita", None, None, None, 100))
            assert str(tacit["id"]) in {i.id for i in listed.itens}
            assert str(on_day_10["id"]) not in {i.id for i in listed.itens}
        finally:
            await gw.hub.aclose()

    try:
        asyncio.run(scenario())
    finally:
        gw.stop()
    mine = [e for e in offered if e.numero_processo in (OPENED_LATE, OPENED_ON_DAY_10)]
    assert len(mine) == 2 and all(e.classe == 1116 and e.valor_causa == "10000.00" and e.jtr == "8.19"
                                  and e.organ_code == "PGFN" for e in mine)
    assert all([p.documento for p in e.partes] == ["00394460005887", "11222333000181"] for e in mine)


def _day(clock: FakeClock) -> str:
    return date.isoformat(clock.now().astimezone(BRT).date())
