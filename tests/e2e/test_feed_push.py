"""The change feed's push and the TSE store's processing outcome through real processes: a gateway (relay, webhook
pusher, outcome poller) and the TSE/CNJ simulators; the CNJ simulator consumes the feed by webhook, checking each
signature, as in the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.bootstrap import console
from gateway.demo_grants import seed_sandbox
from gateway.infodip.domain import Kind
from gateway.sandbox import DEMO_ORGANS
from tests.support import ROOT, GatewayProcess, Mocks, password_of, sample, test_settings, wait_until

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer token-de-teste"}
FAST_PUSH = {"GATEWAY_TSE_OUTCOME_POLL_S": "0.1", "GATEWAY_FEED_WEBHOOK_POLL_S": "0.1",
             "GATEWAY_FEED_WEBHOOK_BASE_BACKOFF_S": "0.05", "GATEWAY_FEED_WEBHOOK_MAX_BACKOFF_S": "0.2",
             "GATEWAY_FEED_WEBHOOK_MAX_ATTEMPTS": "3", "GATEWAY_FEED_WEBHOOK_TIMEOUT_S": "3"}


@pytest.fixture
def gw(db_url: str, mocks: Mocks, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway process delivering to the (reset) simulators, with the sandbox's grants (TSE, CNJ: ``feed:ler``)."""
    mocks.reset()
    settings = test_settings(db_url, tmp_path)
    with console(settings) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
    proc = GatewayProcess(settings, tmp_path / "gw.log", extra_env={**mocks.env(), **FAST_PUSH}).start()
    yield proc
    proc.stop()
    mocks.reset()


def submit(gw: GatewayProcess, body: bytes) -> dict[str, str]:
    """POST a request; return protocolo and idMensagem of the receipt."""
    r = httpx.post(gw.url + "/soap/infodip", content=body, timeout=10)
    assert r.status_code == 200, r.text
    return {k: re.search(rf"<i:{k}>([^<]+)", r.text).group(1) for k in ("protocolo", "idMensagem")}  # type: ignore[union-attr]


def bearer(gw: GatewayProcess, user: str) -> dict[str, str]:
    """A token header for *user*."""
    r = httpx.post(gw.url + "/oauth/token", data={"grant_type": "client_credentials", "client_id": user,
                                                  "client_secret": password_of(user)}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def versions(gw: GatewayProcess, protocol: str) -> list[dict[str, Any]]:
    """The versions of *protocol* in the sender's consultation (REST)."""
    r = httpx.get(f"{gw.url}/api/v1/comunicacoes/{protocol}", auth=("tjrj-sistema", password_of("tjrj-sistema")),
                  timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json()["versoes"])


def test_the_sender_sees_what_the_tse_store_did_with_each_version(gw: GatewayProcess, mocks: Mocks) -> None:
    """The TSE store processes on its own time: while it has not, the consultation by protocol shows no outcome
    (the version delivered, ``processamento`` empty); once it has, the gateway — asking ``consultarProcessamento`` —
    records it per version, and the sender sees processed / voter not found / manual review with the store's
    reason (DOMAIN.md §2a)."""
    httpx.post(mocks.urls["tse"] + "/_mock/processamento", json={"atrasoMs": 600_000}, timeout=10)
    sent = [submit(gw, sample(Kind.I)), submit(gw, sample(Kind.IV)), submit(gw, sample(Kind.IX))]
    wait_until(lambda: {e["id"] for e in mocks.received("tse")} >= {s["idMensagem"] for s in sent},
               what="delivered to the TSE")
    assert all(versions(gw, s["protocolo"])[0]["processamento"] == [] for s in sent)
    httpx.post(mocks.urls["tse"] + "/_mock/processamento", timeout=10, json={
        "atrasoMs": 0, "porMensagem": {sent[1]["idMensagem"]: "eleitor-nao-encontrado",
                                       sent[2]["idMensagem"]: "revisao-manual"}})
    wait_until(lambda: all(versions(gw, s["protocolo"])[0]["processamento"] for s in sent), what="outcomes")
    got = [versions(gw, s["protocolo"])[0]["processamento"] for s in sent]
    assert [[(o["destino"], o["resultado"]) for o in g] for g in got] == [
        [("TSE", "processado")], [("TSE", "eleitor-nao-encontrado")], [("TSE", "revisao-manual")]]
    assert got[0][0]["motivo"] is None and "inscrição" in got[1][0]["motivo"]
    assert got[2][0]["dataProcessamento"] and got[2][0]["registradoEm"]


def cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``gateway ARGS`` on the gateway's database."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}, **{
        k: v for k, v in gw.env().items() if k.startswith("GATEWAY_")}}
    env.pop("GATEWAY_TSE_URL", None)
    env.pop("GATEWAY_CNJ_URL", None)
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_cnj_receives_its_feed_by_webhook_from_the_beginning_paused_and_resumed(
        gw: GatewayProcess, mocks: Mocks) -> None:
    """A webhook created after versions were accepted receives them from the beginning (backfill), only what the
    routing table gives the CNJ (a death, kind VI, goes to the TSE only), each push signed (the simulator refuses
    none). Paused by its owner (REST), it receives nothing more — a later version is delivered to the CNJ store by
    the relay meanwhile, but not pushed — and its position stays; after failing ``MAX_ATTEMPTS`` times in a row
    (receiver answering 503) it pauses itself with the reason; resumed with ``gateway feed resume`` it continues
    from its position, nothing lost, nothing twice."""
    cnj_url = mocks.urls["cnj"]
    improbity, death = submit(gw, sample(Kind.I)), submit(gw, sample(Kind.VI))
    token = bearer(gw, "cnj-cadastro")
    r = httpx.post(gw.url + "/api/v1/feed/assinaturas", json={"url": cnj_url + "/feed/eventos"}, headers=token,
                   timeout=10)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["destino"], sub["situacao"], sub["posicao"]) == ("CNJ", "ativa", 0) and sub["segredo"]
    httpx.post(cnj_url + "/_mock/feed", json={"segredo": sub["segredo"]}, timeout=10).raise_for_status()

    def pushed() -> list[dict[str, Any]]:
        return list(httpx.get(cnj_url + "/_mock/feed", timeout=10).json()["itens"])

    wait_until(lambda: len(pushed()) >= 1, what="backfill pushed")
    assert [i["idMensagem"] for i in pushed()] == [improbity["idMensagem"]]
    assert death["idMensagem"] not in {i["idMensagem"] for i in pushed()}

    r = httpx.post(f"{gw.url}/api/v1/feed/assinaturas/{sub['id']}/pausar", headers=token, timeout=10)
    assert r.status_code == 200 and r.json()["situacao"] == "pausada", r.text
    paused_at = r.json()["posicao"]
    later = submit(gw, sample(Kind.I))
    wait_until(lambda: later["idMensagem"] in {e["id"] for e in mocks.received("cnj")}, what="relay to the CNJ")
    listing = httpx.get(gw.url + "/api/v1/feed/assinaturas", headers=token, timeout=10).json()
    assert [(s["id"], s["situacao"], s["posicao"]) for s in listing] == [(sub["id"], "pausada", paused_at)]
    assert later["idMensagem"] not in {i["idMensagem"] for i in pushed()}

    mocks.faults("cnj", error_rate=1.0, status=503)
    r = httpx.post(f"{gw.url}/api/v1/feed/assinaturas/{sub['id']}/retomar", headers=token, timeout=10)
    assert r.status_code == 200 and r.json()["situacao"] == "ativa", r.text

    def state() -> dict[str, Any]:
        return dict(httpx.get(gw.url + "/api/v1/feed/assinaturas", headers=ADMIN, timeout=10).json()[0])

    wait_until(lambda: state()["situacao"] == "pausada", what="paused after repeated failures")
    assert state()["tentativas"] == 3 and "HTTP 503" in state()["motivoPausa"]
    mocks.faults("cnj")
    done = cli(gw, "feed", "resume", sub["id"], "--operador", "maria.operadora")
    assert done.returncode == 0, done.stderr
    assert "ativa" in done.stdout
    wait_until(lambda: later["idMensagem"] in {i["idMensagem"] for i in pushed()}, what="pushed after resume")
    ids = [i["idMensagem"] for i in pushed()]
    assert ids == [improbity["idMensagem"], later["idMensagem"]]
    assert httpx.get(cnj_url + "/_mock/feed", timeout=10).json()["recusados"] == 0
    listed = cli(gw, "feed", "list")
    assert listed.returncode == 0 and sub["id"] in listed.stdout and "ativa" in listed.stdout


@pytest.mark.postgres
def test_two_gateway_processes_writing_at_once_feed_a_reader_with_no_gap_and_no_duplicate(
        pg_url: str, tmp_path: Path) -> None:
    """Two ``gateway serve`` processes on one PostgreSQL database accept versions concurrently (several clients
    each) while the TSE reads its feed by cursor through one of them all along; once both stop writing and the
    reader reaches the end, it has read every accepted version exactly once, in increasing positions."""
    settings = test_settings(pg_url, tmp_path)
    with console(settings) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
    a = GatewayProcess(settings, tmp_path / "a.log").start()
    b = GatewayProcess(settings, tmp_path / "b.log").start()
    try:
        token = bearer(a, "tse-repositorio")
        accepted: list[str] = []
        seen: list[tuple[int, str]] = []
        writing = threading.Event()
        writing.set()

        def client(gw: GatewayProcess, n: int) -> None:
            for _ in range(n):
                accepted.append(submit(gw, sample(Kind.IX))["idMensagem"])

        def reader() -> None:
            cursor: str | None = None
            while True:
                still_writing = writing.is_set()
                r = httpx.get(a.url + "/api/v1/feed", params={"limite": 50, **({"cursor": cursor} if cursor else {})},
                              headers=token, timeout=30)
                assert r.status_code == 200, r.text
                page = r.json()
                seen.extend((i["posicao"], i["idMensagem"]) for i in page["itens"])
                cursor = page["proximo"]
                if not still_writing and page["fim"]:
                    return

        pulling = threading.Thread(target=reader)
        pulling.start()
        writers = [threading.Thread(target=client, args=(gw, 40)) for gw in (a, b, a, b)]
        for t in writers:
            t.start()
        for t in writers:
            t.join(timeout=300)
        writing.clear()
        pulling.join(timeout=300)
    finally:
        a.stop()
        b.stop()
    ids = [m for _, m in seen]
    assert len(accepted) == 160
    assert len(ids) == len(set(ids)), "duplicate"
    assert set(ids) == set(accepted), "gap"
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


def test_a_split_deployment_pushes_the_feed_and_reads_the_tse_outcomes_from_gateway_relay(
        db_url: str, mocks: Mocks, tmp_path: Path) -> None:
    """``gateway serve`` with ``GATEWAY_RELAY_ENABLED=false`` only accepts; ``gateway relay``, a separate process on
    the same database, delivers to the stores *and* runs what ``serve`` runs beside its relay: the change feed's
    webhook pusher (the CNJ's subscription receives the version, signed) and the TSE outcome poller (the sender sees
    the store's processing outcome)."""
    from tests.saf_support import RelayProcess

    mocks.reset()
    settings = test_settings(db_url, tmp_path)
    with console(settings) as con:
        seed_sandbox(con.admin, {o.username: password_of(o.username) for o in DEMO_ORGANS}, DEMO_ORGANS)
    env = {**mocks.env(), **FAST_PUSH}
    serve = GatewayProcess(settings, tmp_path / "serve.log", extra_env={**env, "GATEWAY_RELAY_ENABLED": "false"})
    serve.start()
    relay = RelayProcess(settings, tmp_path / "relay.log", env)
    try:
        sent = submit(serve, sample(Kind.I))
        token = bearer(serve, "cnj-cadastro")
        r = httpx.post(serve.url + "/api/v1/feed/assinaturas", json={"url": mocks.urls["cnj"] + "/feed/eventos"},
                       headers=token, timeout=10)
        assert r.status_code == 201, r.text
        httpx.post(mocks.urls["cnj"] + "/_mock/feed", json={"segredo": r.json()["segredo"]},
                   timeout=10).raise_for_status()
        relay.start()
        wait_until(lambda: sent["idMensagem"] in {e["id"] for e in mocks.received("tse")}, what="relay to the TSE")
        wait_until(lambda: sent["idMensagem"] in {
            i["idMensagem"] for i in httpx.get(mocks.urls["cnj"] + "/_mock/feed", timeout=10).json()["itens"]},
            what="the feed pushed by gateway relay")
        assert httpx.get(mocks.urls["cnj"] + "/_mock/feed", timeout=10).json()["recusados"] == 0
        wait_until(lambda: versions(serve, sent["protocolo"])[0]["processamento"], what="the TSE outcome read")
        assert versions(serve, sent["protocolo"])[0]["processamento"][0]["resultado"] == "processado"
    finally:
        relay.stop()
        serve.stop()
        mocks.reset()
