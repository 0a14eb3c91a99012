"""Failed logins throttled per (username, client address) on every way in (issue 8, point 3), through a real
``gateway serve``: INFODIP's UsernameToken, the MNI hub's own fields, REST's HTTP Basic; a trusted proxy's
X-Forwarded-For names the client; failures are counted and audited as aggregated entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import select

from gateway.db.engine import make_engine
from gateway.db.tables import audit_log
from gateway.infodip.domain import Kind
from tests.support import GatewayProcess, Tribunals, configure_hub, password_of, sample, test_settings, wait_until

pytestmark = pytest.mark.e2e
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
FAILURES = 3


@pytest.fixture
def gw(sqlite_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway with the hub, 3 failures allowed per minute, audit summaries every second, 127.0.0.1 trusted as a
    proxy."""
    tribunals.reset()
    settings = configure_hub(sqlite_url, test_settings(sqlite_url, tmp_path), tribunals, tmp_path)
    proc = GatewayProcess(settings, tmp_path / "gw.log", extra_env={
        "GATEWAY_LOGIN_MAX_FAILURES": str(FAILURES), "GATEWAY_LOGIN_WINDOW_S": "60",
        "GATEWAY_LOGIN_AUDIT_INTERVAL_S": "1", "GATEWAY_TRUSTED_PROXIES": "127.0.0.1"}).start()
    yield proc
    proc.stop()


def client(source: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client whose connections come from *source*."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)


def infodip(c: httpx.Client, gw: GatewayProcess, password: str, headers: dict[str, str] | None = None) -> str:
    """The INFODIP code of a kind-IV submission by tjrj-sistema with *password* ("ok" when accepted)."""
    r = c.post(gw.url + "/soap/infodip", content=sample(Kind.IV, password=password),
               headers={"Content-Type": "text/xml", **(headers or {})})
    if r.status_code == 200:
        return "ok"
    return r.text.split("<i:codigo>", 1)[1].split("<", 1)[0]


def mni(c: httpx.Client, gw: GatewayProcess, password: str) -> str:
    """The MNI code of a consultarAvisosPendentes by pgfn-mni with *password* ("ok" when sucesso)."""
    body = (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}"><soap:Body>'
            f"<ser:consultarAvisosPendentes><tip:idConsultante>pgfn-mni</tip:idConsultante>"
            f"<tip:senhaConsultante>{password}</tip:senhaConsultante></ser:consultarAvisosPendentes>"
            "</soap:Body></soap:Envelope>").encode()
    r = c.post(gw.url + "/soap/mni", content=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 200, r.text
    root = etree.fromstring(r.content)
    if root.findtext(f".//{{{TIPOS}}}sucesso") == "true":
        return "ok"
    return (root.findtext(f".//{{{TIPOS}}}mensagem") or "").split(":", 1)[0]


def test_each_way_in_is_throttled_per_user_and_address(gw: GatewayProcess, sqlite_url: str) -> None:
    """For INFODIP, MNI and REST: 3 wrong passwords from 127.0.0.2, then even the right one from there is refused
    with E029 (REST: 429 + Retry-After) while the same user from 127.0.0.3 is served; behind the trusted proxy
    (127.0.0.1) two forwarded clients are throttled apart; the failures are in /metrics and in a few aggregated
    ``auth.falhas`` audit entries."""
    attacker, other = client("127.0.0.2"), client("127.0.0.3")
    try:
        right = password_of("tjrj-sistema")
        assert [infodip(attacker, gw, f"errada{i}") for i in range(FAILURES)] == ["INFODIP-E021"] * FAILURES
        assert infodip(attacker, gw, right) == "INFODIP-E029"
        assert infodip(other, gw, right) == "ok"

        right_mni = password_of("pgfn-mni")
        assert [mni(attacker, gw, f"errada{i}") for i in range(FAILURES)] == ["MNI-E021"] * FAILURES
        assert mni(attacker, gw, right_mni) == "MNI-E029"
        assert mni(other, gw, right_mni) == "ok"

        url = gw.url + "/api/v1/comunicacoes/INEXISTENTE"
        for i in range(FAILURES):
            assert attacker.get(url, auth=("tjrj-1vfp", f"errada{i}")).status_code == 401
        refused = attacker.get(url, auth=("tjrj-1vfp", password_of("tjrj-1vfp")))
        assert refused.status_code == 429 and refused.json()["codigo"] == "INFODIP-E029"
        assert int(refused.headers["Retry-After"]) > 0
        assert other.get(url, auth=("tjrj-1vfp", password_of("tjrj-1vfp"))).status_code == 404

        proxy = client("127.0.0.1")
        try:
            first = {"X-Forwarded-For": "203.0.113.5"}
            for i in range(FAILURES):
                assert infodip(proxy, gw, f"x{i}", first) == "INFODIP-E021"
            assert infodip(proxy, gw, right, first) == "INFODIP-E029"
            assert infodip(proxy, gw, right, {"X-Forwarded-For": "203.0.113.6"}) == "ok"
        finally:
            proxy.close()
    finally:
        attacker.close()
        other.close()

    metrics = httpx.get(gw.url + "/metrics", timeout=10).text
    assert 'gateway_login_failures_total{channel="infodip"} 6.0' in metrics
    assert 'gateway_logins_throttled_total{channel="rest"} 1.0' in metrics

    engine = make_engine(sqlite_url)

    def summaries() -> list[dict[str, object]]:
        with engine.connect() as conn:
            return [json.loads(d) for d in conn.execute(
                select(audit_log.c.detail).where(audit_log.c.event == "auth.falhas")).scalars()]

    try:
        wait_until(lambda: sum(int(str(s["falhas"])) for s in summaries()) == 4 * FAILURES, timeout=15,
                   what="the failed logins audited")
        entries = summaries()
    finally:
        engine.dispose()
    assert len(entries) <= 4  # aggregated: one entry per interval, not one per failure
    listed = {(p["usuario"], p["endereco"]) for s in entries for p in s["maiores"]}  # type: ignore[attr-defined]
    assert {("tjrj-sistema", "127.0.0.2"), ("pgfn-mni", "127.0.0.2"), ("tjrj-1vfp", "127.0.0.2"),
            ("tjrj-sistema", "203.0.113.5")} <= listed
