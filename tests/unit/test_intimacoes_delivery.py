"""The intimations' background parts on a SQLite file with an injected clock: the callback pusher retries with
backoff until a 2xx and then announces only what is new, signed; the collector keeps asking the courts that answer
while one that fails waits its backoff; the store numbers new intimations once per aviso."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from gateway.auth import Caller
from gateway.clock import FakeClock
from gateway.db.engine import make_engine
from gateway.db.tables import organs
from gateway.divida.intimacoes import domain, store
from gateway.divida.intimacoes.callbacks import CallbackPusher, Callbacks
from gateway.divida.intimacoes.collector import Collector
from gateway.divida.intimacoes.contract import AvisoLido
from gateway.divida.intimacoes.domain import Parte
from gateway.divida.intimacoes.service import IntimacoesService
from gateway.errors import PartnerTimeout
from gateway.hub.registry import parse_registry
from gateway.infodip.webhooks import PushPolicy
from gateway.organs import OrganType
from tests.support import running_committer

BRT = ZoneInfo("America/Sao_Paulo")


def aviso(ident: str) -> AvisoLido:
    """An aviso as a court lists it."""
    return AvisoLido(ident, "INT", "08123459320198190001", 1116, (Parte("AT", "UNIAO", "00394460005887"),),
                     "10.00", None, datetime(2026, 1, 2, 10, tzinfo=BRT), b"<aviso/>")


def test_callbacks_retry_with_backoff_until_a_2xx_then_announce_only_whats_new(sqlite_url: str) -> None:
    """A 500 leaves the position and schedules the next attempt after the backoff (nothing sent before it); the 2xx
    moves the position past the batch, signed with the callback's secret; a later intimation is announced alone;
    the same aviso collected twice is stored once."""
    clock = FakeClock(datetime(2026, 1, 5, 12, tzinfo=UTC))
    reader = make_engine(sqlite_url)
    with reader.connect() as conn:
        organ_id = conn.execute(select(organs.c.id).where(organs.c.code == "PGFN")).scalar_one()
    caller = Caller("pgfn-mni", organ_id, "PGFN", OrganType.MNI_CLIENTE, frozenset())
    answers = [500, 200, 200]
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(answers.pop(0))

    def deemed(sent_at: datetime) -> Any:
        return domain.tacit_notice_date(sent_at, BRT)

    async def scenario(committer: Any) -> None:
        svc = IntimacoesService(None, committer, reader, clock, BRT)  # type: ignore[arg-type]  # no court needed
        created = await Callbacks(svc, committer).set(caller, "https://pgfn.example/cb", "teste")
        pusher = CallbackPusher(svc, PushPolicy(batch=10, base_backoff_s=2.0, max_backoff_s=60.0),
                                client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        first = await committer.run(store.store_new(organ_id, "8.19", "1", [aviso("A1"), aviso("A2")], clock.now(),
                                                    deemed))
        again = await committer.run(store.store_new(organ_id, "8.19", "1", [aviso("A2")], clock.now(), deemed))
        assert [n.aviso.aviso_id for n in first] == ["A1", "A2"] and again == []
        await pusher.round()  # 500
        assert len(sent) == 1 and (await Callbacks(svc, committer).get(caller)).tentativas == 1
        await pusher.round()  # not due before the backoff: nothing sent
        assert len(sent) == 1
        clock.advance(2.5)
        await pusher.round()  # 200
        cb = await Callbacks(svc, committer).get(caller)
        assert (cb.posicao, cb.tentativas, cb.ultimoErro) == (first[-1].seq, 0, None)
        body = sent[-1].content
        stamp = sent[-1].headers["X-Gateway-Timestamp"]
        mac = hmac.new(str(created.segredo).encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert sent[-1].headers["X-Gateway-Assinatura"] == "sha256=" + mac
        assert [i["idAviso"] for i in json.loads(body)["itens"]] == ["A1", "A2"]
        await pusher.round()  # nothing new: nothing sent
        assert len(sent) == 2
        await committer.run(store.store_new(organ_id, "8.19", "1", [aviso("A3")], clock.now(), deemed))
        await pusher.round()
        assert [i["idAviso"] for i in json.loads(sent[-1].content)["itens"]] == ["A3"]
        await pusher.client.aclose()

    with running_committer(sqlite_url, clock) as committer:
        asyncio.run(scenario(committer))
    reader.dispose()


class _Service:
    """What the collector needs of the service: collect, and a clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.failing = {"4.04"}

    async def collect(self, organ: str, jtr: str, instance: str) -> list[object]:
        self.calls.append(f"{organ}@{jtr}/{instance}")
        if jtr in self.failing:
            raise PartnerTimeout("sem resposta", retryable=True, code="MNI-E042")
        return [object()]


def test_a_failing_court_is_backed_off_while_the_others_are_collected() -> None:
    """Every round asks the courts that answer; the one that failed is skipped until its backoff (doubling from the
    interval) has passed, then asked again, and forgotten once it answers."""
    clock = FakeClock()
    registry = parse_registry({"tribunais": [
        {"jtr": "8.19", "instalacoes": [{"instancia": "1", "url": "http://a"}]},
        {"jtr": "4.04", "instalacoes": [{"instancia": "1", "url": "http://b"}]}],
        "clientes": {"PGFN": {"tribunais": ["8.19", "4.04"]}}})
    svc = _Service(clock)
    collector = Collector(svc, lambda: registry, {}, ["PGFN"], interval_s=1.0, backoff_max_s=8.0)  # type: ignore[arg-type]

    def round_() -> list[str]:
        svc.calls.clear()
        new = asyncio.run(collector.round())
        assert new == sum(1 for c in svc.calls if c.split("@")[1].split("/")[0] not in svc.failing)
        return sorted(svc.calls)

    assert round_() == ["PGFN@4.04/1", "PGFN@8.19/1"]
    assert collector.last["PGFN@4.04/1"].startswith("MNI-E042")
    assert round_() == ["PGFN@8.19/1"]  # 4.04 waits 1 s
    clock.advance(1.0)
    assert round_() == ["PGFN@4.04/1", "PGFN@8.19/1"]  # failed again: now 2 s
    clock.advance(1.0)
    assert round_() == ["PGFN@8.19/1"]
    clock.advance(1.0)
    svc.failing.clear()
    assert round_() == ["PGFN@4.04/1", "PGFN@8.19/1"]
    assert collector.last["PGFN@4.04/1"] == "ok: 1 nova(s)"
    assert round_() == ["PGFN@4.04/1", "PGFN@8.19/1"]
