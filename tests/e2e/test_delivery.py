"""Routing and delivery through real processes: the gateway (with its relay) and the TSE/CNJ simulators."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select

from gateway import audit
from gateway.db.engine import make_engine
from gateway.db.tables import delivery_attempts, outbox
from gateway.infodip.contract import NS
from gateway.infodip.domain import Kind
from tests.support import (
    GatewayProcess,
    Mocks,
    password_of,
    retification,
    sample,
    test_settings,
    wait_until,
)

pytestmark = pytest.mark.e2e
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ADMIN = {"Authorization": "Bearer token-de-teste"}


@pytest.fixture
def gw(db_url: str, mocks: Mocks, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway process with its relay, delivering to the (reset) simulators."""
    mocks.reset()
    proc = GatewayProcess(test_settings(db_url, tmp_path), tmp_path / "gw.log", extra_env=mocks.env()).start()
    yield proc
    proc.stop()
    mocks.reset()


def submit(gw: GatewayProcess, body: bytes) -> dict[str, str]:
    """POST a request; return protocolo and idMensagem of the receipt."""
    r = httpx.post(gw.url + "/soap/infodip", content=body, timeout=10)
    assert r.status_code == 200, r.text
    return {k: re.search(rf"<i:{k}>([^<]+)", r.text).group(1) for k in ("protocolo", "idMensagem")}  # type: ignore[union-attr]


def retify(gw: GatewayProcess, protocol: str, kind: Kind = Kind.I, days_ago: int = 1) -> dict[str, str]:
    """Send a retificação of *protocol*."""
    return submit(gw, retification(protocol, kind, days_ago=days_ago))


def ids_in(mocks: Mocks, name: str, duplicates: bool = False) -> list[str]:
    """Message ids received by *name* (stored ones only, unless *duplicates*)."""
    return [str(e["id"]) for e in mocks.received(name) if duplicates or not e["duplicate"]]


def rest_state(gw: GatewayProcess, protocol: str, user: str = "tjrj-sistema") -> dict[tuple[int, str], str]:
    """(version, destination) → delivery state, read through the REST API."""
    r = httpx.get(f"{gw.url}/api/v1/comunicacoes/{protocol}", auth=(user, password_of(user)), timeout=10)
    assert r.status_code == 200, r.text
    return {(e["versao"], e["destino"]): e["situacao"] for e in r.json()["entregas"]}


def test_each_kind_reaches_its_destinations_once_with_the_same_message_id(gw: GatewayProcess, mocks: Mocks) -> None:
    """TSE receives every kind; CNJ the improbity kinds and the inelegibility ones; both receive the same message id,
    once each, with the stored payload."""
    sent = {kind: submit(gw, sample(kind)) for kind in Kind}
    # the samples' IV, VII and IX cause inelegibility
    cnj_kinds = {Kind.I, Kind.II, Kind.III, Kind.IV, Kind.VII, Kind.VIII, Kind.IX}
    wait_until(lambda: len(ids_in(mocks, "tse")) == 9 and len(ids_in(mocks, "cnj")) == len(cnj_kinds),
               what="deliveries")
    assert sorted(ids_in(mocks, "tse")) == sorted(s["idMensagem"] for s in sent.values())
    assert sorted(ids_in(mocks, "cnj")) == sorted(sent[k]["idMensagem"] for k in cnj_kinds)
    states = rest_state(gw, sent[Kind.I]["protocolo"])
    assert states == {(1, "TSE"): "entregue", (1, "CNJ"): "entregue"}
    body = next(e["body"] for e in mocks.received("tse") if e["id"] == sent[Kind.I]["idMensagem"])
    assert 'tipo="I"' in str(body) and "condenacaoImprobidade" in str(body)


def test_extincao_goes_where_its_conviction_went(gw: GatewayProcess, mocks: Mocks) -> None:
    """A V naming the IV it ends (by protocol) reaches CNJ when that IV did, and only TSE when it did not."""
    iv = submit(gw, sample(Kind.IV))
    body = sample(Kind.V).replace(b"</inf:dataDecisao>", b"</inf:dataDecisao>", 1)
    root = etree.fromstring(body)
    block = root.find(f".//{{{NS}}}extincaoPunibilidade")
    assert block is not None
    motivo = block.find(f"{{{NS}}}motivo")
    assert motivo is not None
    link = etree.Element(f"{{{NS}}}protocoloCondenacao")
    link.text = iv["protocolo"]
    motivo.addnext(link)
    v = submit(gw, etree.tostring(root))
    wait_until(lambda: v["idMensagem"] in ids_in(mocks, "cnj"), what="V delivered to CNJ")
    lone_v = submit(gw, sample(Kind.V))
    wait_until(lambda: lone_v["idMensagem"] in ids_in(mocks, "tse"), what="lone V delivered to TSE")
    assert lone_v["idMensagem"] not in ids_in(mocks, "cnj", duplicates=True)


def test_retification_waits_for_the_original_and_dead_letters_replay_in_order(
    gw: GatewayProcess, mocks: Mocks, db_url: str
) -> None:
    """With CNJ refusing (HTTP 400, not retryable) the original dies with its reason; its retificação stays blocked
    and never reaches CNJ before it; after the REST replay both arrive, original first. TSE, healthy, gets both."""
    mocks.faults("cnj", error_rate=1.0, status=400)
    first = submit(gw, sample(Kind.I))
    wait_until(lambda: rest_state(gw, first["protocolo"]).get((1, "CNJ")) == "morta", what="dead letter")
    second = retify(gw, first["protocolo"])
    wait_until(lambda: second["idMensagem"] in ids_in(mocks, "tse"), what="retificação at TSE")
    states = rest_state(gw, first["protocolo"])
    assert states[(2, "CNJ")] == "bloqueada" and states[(1, "TSE")] == "entregue"
    dead = httpx.get(gw.url + "/api/v1/dead-letters", headers=ADMIN, timeout=10).json()
    assert [d["idMensagem"] for d in dead] == [first["idMensagem"]]
    assert "400" in dead[0]["motivo"]
    assert httpx.get(gw.url + "/api/v1/dead-letters", timeout=10).status_code == 401
    mocks.faults("cnj")  # healthy again
    r = httpx.post(gw.url + "/api/v1/dead-letters/replay", json={"destino": "CNJ"}, headers=ADMIN, timeout=10)
    assert r.json()["reprocessadas"] == [{"idMensagem": first["idMensagem"], "destino": "CNJ"}]
    wait_until(lambda: len(ids_in(mocks, "cnj")) == 2, what="both versions at CNJ")
    assert ids_in(mocks, "cnj") == [first["idMensagem"], second["idMensagem"]]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        outcomes = [r.outcome for r in conn.execute(
            select(delivery_attempts.c.outcome).where(delivery_attempts.c.message_id == first["idMensagem"],
                                                      delivery_attempts.c.destination == "CNJ")
            .order_by(delivery_attempts.c.id))]
        assert outcomes == ["dead", "delivered"]
        assert audit.verify(conn, None).ok
    engine.dispose()


def test_outage_retries_breaker_and_recovery(gw: GatewayProcess, mocks: Mocks, db_url: str) -> None:
    """While TSE is down, messages wait (accepted meanwhile), the breaker opens and /readyz still answers 200
    naming it; when TSE is back, everything arrives exactly once in its store."""
    mocks.faults("tse", down=True)
    sent = [submit(gw, sample(Kind.VI)) for _ in range(20)]
    wait_until(lambda: httpx.get(gw.url + "/readyz").json()["partners"]["TSE"] in ("open", "half-open"),
               what="breaker open")
    ready = httpx.get(gw.url + "/readyz")
    assert ready.status_code == 200
    assert 'gateway_circuit_open{destination="TSE"} 1.0' in httpx.get(gw.url + "/metrics").text
    mocks.faults("tse")
    wait_until(lambda: len(ids_in(mocks, "tse")) == 20, what="recovery")
    assert sorted(ids_in(mocks, "tse")) == sorted(s["idMensagem"] for s in sent)
    engine = make_engine(db_url)

    def undelivered() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox)
                                    .where(outbox.c.status != "delivered")).scalar_one())

    wait_until(lambda: undelivered() == 0, what="outbox drained")  # the store answers before the row is marked
    with engine.connect() as conn:
        failed = conn.execute(select(func.count()).select_from(delivery_attempts)
                              .where(delivery_attempts.c.outcome == "failed")).scalar_one()
        assert failed >= 1
    engine.dispose()
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'gateway_deliveries_total{destination="TSE",outcome="delivered"} 20.0' in metrics
    assert 'gateway_outbox_depth{destination="TSE"} 0.0' in metrics


def test_garbage_and_errors_from_partners_never_double_a_store(gw: GatewayProcess, mocks: Mocks) -> None:
    """A partner answering garbage after storing, or failing half the calls, gets resends (flagged duplicates on
    the wire) but holds each message exactly once."""
    mocks.faults("cnj", malformed=True)
    mocks.faults("tse", error_rate=0.5)
    sent = [submit(gw, sample(Kind.II)) for _ in range(15)]
    wait_until(lambda: len(ids_in(mocks, "tse")) == 15, what="TSE despite errors")
    wait_until(lambda: len(ids_in(mocks, "cnj", duplicates=True)) > 15, what="CNJ resends")
    mocks.faults("cnj")
    wait_until(lambda: all(rest_state(gw, s["protocolo"], "tjrj-1vfp")[(1, "CNJ")] == "entregue" for s in sent),
               timeout=30,
               what="CNJ delivered")
    assert sorted(ids_in(mocks, "cnj")) == sorted(s["idMensagem"] for s in sent)
    assert any(e["duplicate"] for e in mocks.received("cnj"))


def test_cli_replay_of_dead_letters(gw: GatewayProcess, mocks: Mocks) -> None:
    """``gateway replay --destination`` puts dead letters back; they are then delivered."""
    import os
    import subprocess
    import sys

    mocks.faults("tse", error_rate=1.0, status=422)
    one = submit(gw, sample(Kind.VI))
    wait_until(lambda: rest_state(gw, one["protocolo"], "rcpn-rj-capital-01")[(1, "TSE")] == "morta", what="dead")
    mocks.faults("tse")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "replay", "--destination", "TSE"],
                         env={**os.environ, **gw.env()}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert one["idMensagem"] in out.stdout
    wait_until(lambda: one["idMensagem"] in ids_in(mocks, "tse"), what="replayed delivery")


def test_a_delivery_in_flight_is_pendente_on_both_channels_and_every_answer_follows_the_xsd(
    gw: GatewayProcess, mocks: Mocks, db_url: str
) -> None:
    """While the TSE takes 2 s to answer, the row is ``sending`` under the relay's lease: the SOAP consultation
    (checked against ``infodip-1.0.xsd`` by the suite's client hook, as every INFODIP answer of the e2e suite) and
    the REST view both say ``pendente``, never the internal ``sending``; once delivered, ``entregue``. The hook
    itself refuses an answer carrying ``sending``."""
    from tests.e2e.conftest import CHECKED
    from tests.saf_support import check_infodip_answer

    mocks.faults("tse", latency_ms=2000)
    sent = submit(gw, sample(Kind.VI))
    engine = make_engine(db_url)

    def sending() -> bool:
        with engine.connect() as conn:
            return conn.execute(select(outbox.c.status).where(
                outbox.c.message_id == sent["idMensagem"])).scalar_one() == "sending"

    wait_until(sending, what="the row under the relay's lease")
    checked = dict(CHECKED)
    consult = infodip_consult(gw, sent["protocolo"], "rcpn-rj-capital-01")
    assert CHECKED["soap"] == checked["soap"] + 1
    assert re.findall(r"<i:situacao>([^<]+)", consult) == ["ativa", "pendente"]
    assert rest_state(gw, sent["protocolo"], "rcpn-rj-capital-01") == {(1, "TSE"): "pendente"}
    assert sending(), "still in flight while both channels answered"
    engine.dispose()
    wait_until(lambda: rest_state(gw, sent["protocolo"], "rcpn-rj-capital-01") == {(1, "TSE"): "entregue"},
               what="delivered")
    leaked = consult.replace("<i:situacao>pendente</i:situacao>", "<i:situacao>sending</i:situacao>").encode()
    with pytest.raises(AssertionError, match=r"not valid against infodip-1\.0\.xsd"):
        check_infodip_answer(200, leaked)


def infodip_consult(gw: GatewayProcess, protocol: str, user: str) -> str:
    """The SOAP ``consultarComunicacao`` answer for *protocol*, as *user*."""
    from tests.support import infodip_request

    r = httpx.post(gw.url + "/soap/infodip", content=infodip_request(
        "consultarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>", user), timeout=10)
    assert r.status_code == 200, r.text
    return r.text
