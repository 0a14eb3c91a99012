"""Helpers shared by the tests: settings, seeding, sample requests, a real gateway process on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Connection

from gateway.audit import create_signing_key
from gateway.bootstrap import console
from gateway.clock import Clock, SystemClock, new_message_id
from gateway.db.committer import GroupCommitter
from gateway.db.engine import make_engine
from gateway.db.tables import communications, messages, organs, outbox
from gateway.infodip.domain import Kind
from gateway.infodip.samples import SAMPLE_USERNAME, render_sample
from gateway.organs import OrganType
from gateway.sandbox import DEMO_ORGANS, DemoOrgan, seed_organs
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KDF_N = 2**10  # cheap KDF for tests; production uses 2**14
SECRET = "test-secret-" + "x" * 32
T = TypeVar("T")


def password_of(username: str) -> str:
    """The password every test credential gets (it passes the password policy: 12+ characters of several classes,
    not common, without the username)."""
    return "Teste#" + hashlib.sha256(username.encode()).hexdigest()[:12]


def recent_day(days_ago: int = 2) -> date:
    """A date *days_ago* before today in Brasília."""
    return SystemClock().now().astimezone(ZoneInfo("America/Sao_Paulo")).date() - timedelta(days=days_ago)


def unique_ref(prefix: str = "T") -> str:
    """A fresh sender reference."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def sample(kind: Kind, *, username: str | None = None, password: str | None = None, reference: str | None = None,
           fact_date: date | None = None) -> bytes:
    """A ready-to-send request of *kind* with a test credential, a fresh reference and a recent date."""
    user = username or SAMPLE_USERNAME[kind]
    return render_sample(kind, username=user, password=password if password is not None else password_of(user),
                         reference=reference or unique_ref(kind.value), fact_date=fact_date or recent_day())


def infodip_request(operation: str, inner: str, user: str = "tjrj-sistema") -> bytes:
    """An INFODIP SOAP request for *operation* (its children in *inner*, prefix ``i``) with a test credential."""
    from gateway.infodip.contract import NS
    from gateway.xml.soap import SOAP11_NS, WSSE_NS

    return (
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:i="{NS}"><soap:Header><wsse:Security xmlns:wsse="{WSSE_NS}">'
        f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username><wsse:Password>{password_of(user)}</wsse:Password>"
        f"</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body><i:{operation}>{inner}</i:{operation}>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def comunicacao_of(body: bytes) -> str:
    """The serialised ``comunicacao`` element of a request."""
    from lxml import etree

    from gateway.infodip.contract import NS

    el = etree.fromstring(body).find(f".//{{{NS}}}comunicacao")
    assert el is not None
    return etree.tostring(el, encoding="unicode")


def retification(protocol: str, kind: Kind = Kind.I, reference: str | None = None, days_ago: int = 1,
                 user: str | None = None) -> bytes:
    """A retificação of *protocol*: a fresh sample of *kind* with its own reference."""
    corrected = sample(kind, reference=reference or unique_ref("R"), fact_date=recent_day(days_ago))
    return infodip_request("retificarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>" + comunicacao_of(corrected),
                           user or SAMPLE_USERNAME[kind])


def test_settings(db_url: str, tmp: Path, **overrides: object) -> Settings:
    """Settings for a test gateway on *db_url*."""
    key = tmp / "signing-key.pem"
    if not key.exists():
        create_signing_key(str(key))
    values: dict[str, object] = {"environment": "test", "database_url": db_url, "secret_key": SECRET,
                                 "signing_key_path": str(key), "password_kdf_n": KDF_N, "audit_checkpoint_every": 50}
    values.update(overrides)
    return Settings.from_env({}, **values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def seed(db_url: str) -> None:
    """Migrate *db_url* and create the demo organs, and a second tribunal (TJSP, to exercise duplicates from another
    sender), with :func:`password_of` credentials."""
    with console(Settings.from_env({}, database_url=db_url, password_kdf_n=KDF_N)) as con:
        con.migrate()
        seed_organs(con.admin, password_of, (*DEMO_ORGANS, DemoOrgan(
            "TJSP", "Tribunal de Justiça do Estado de São Paulo", OrganType.TRIBUNAL, "tjsp-sistema")))


@contextmanager
def running_committer(db_url: str, clock: Clock, **options: Any) -> Iterator[GroupCommitter]:
    """A started :class:`GroupCommitter` on *db_url* with *clock* (no signing key), stopped afterwards."""
    engine = make_engine(db_url, writer=True)
    committer = GroupCommitter(engine, clock, None, **options)
    committer.start()
    try:
        yield committer
    finally:
        committer.stop()
        engine.dispose()


def store_version(conn: Connection, protocol: str, version: int, destinations: Iterable[str], now: datetime,
                  *, organ: str = "TJRJ", kind: str = "I") -> str:
    """Store version *version* of communication *protocol* as the INFODIP service does, without its checks: the
    communication (on version 1), the message, and one outbox row per destination — ``blocked`` where an earlier
    version has not been delivered there yet. Returns the new message id."""
    organ_id = conn.execute(select(organs.c.id).where(organs.c.code == organ)).scalar_one()
    if version == 1:
        conn.execute(insert(communications).values(
            protocol=protocol, kind=kind, organ_id=organ_id, person_key=f"pessoa-{protocol}", fact_date=now.date(),
            status="ativa", current_version=1, created_at=now, updated_at=now))
    message_id = new_message_id()
    payload = f"<comunicacao protocolo='{protocol}' versao='{version}'/>".encode()
    conn.execute(insert(messages).values(
        message_id=message_id, protocol=protocol, version=version, operation="envio" if version == 1 else "retificacao",
        organ_id=organ_id, sender_reference=unique_ref(), payload_digest="0" * 64, payload=payload, received_at=now))
    waiting = {r.destination for r in conn.execute(select(outbox.c.destination).where(
        outbox.c.protocol == protocol, outbox.c.version < version, outbox.c.status != "delivered"))}
    conn.execute(insert(outbox), [
        {"message_id": message_id, "protocol": protocol, "version": version, "destination": d,
         "status": "blocked" if d in waiting else "pending", "attempts": 0, "next_attempt_at": now,
         "created_at": now, "updated_at": now} for d in destinations])
    return message_id


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL at *base_url*, dropped afterwards; yields a URL that uses it."""
    schema = "t_" + uuid.uuid4().hex[:12]
    admin_engine = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1)
                                 if base_url.startswith("postgresql://") else base_url)
    with admin_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    """``gateway serve`` as a real process on 127.0.0.1."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None,
                 ready_url: str | None = None) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_url = ready_url  # where /readyz is served (the ops listener's, when GATEWAY_OPS_LISTEN is set)
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """Environment of the process: GATEWAY_* from the settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        s = self.settings
        env.update({
            "GATEWAY_ENVIRONMENT": s.environment, "GATEWAY_DATABASE_URL": s.database_url,
            "GATEWAY_SECRET_KEY": s.secret_key, "GATEWAY_SIGNING_KEY_PATH": s.signing_key_path,
            "GATEWAY_PASSWORD_KDF_N": str(s.password_kdf_n), "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_AUDIT_CHECKPOINT_EVERY": str(s.audit_checkpoint_every),
            "GATEWAY_INFODIP_MAX_BODY_BYTES": str(s.infodip_max_body_bytes),
            "GATEWAY_MNI_REGISTRY_PATH": s.mni_registry_path,
            "GATEWAY_MNI_TIMEOUT_S": str(s.mni_timeout_s),
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        """Start and wait until ``/readyz`` answers 200 (RuntimeError if it exits or is not ready in time)."""
        log = open(self.log_path, "ab")
        proc = self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
                                             "--port", str(self.port)], env=self.env(), stdout=log, stderr=log,
                                            cwd=ROOT)

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                return httpx.get(self.ready_url or self.url + "/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(ready, timeout, what="gateway ready")
        except AssertionError:
            self.stop()
            raise RuntimeError("gateway did not become ready: " + self.log_path.read_text()[-3000:]) from None
        return self

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


FAST_DELIVERY = {
    "GATEWAY_RELAY_BASE_BACKOFF_S": "0.05",
    "GATEWAY_RELAY_MAX_BACKOFF_S": "0.4",
    "GATEWAY_RELAY_POLL_INTERVAL_S": "0.05",
    "GATEWAY_BREAKER_COOLDOWN_S": "0.5",
    "GATEWAY_BREAKER_THRESHOLD": "3",
    "GATEWAY_PARTNER_TIMEOUT_S": "3",
    "GATEWAY_RELAY_LEASE_S": "10",
    "GATEWAY_ADMIN_TOKEN": "token-de-teste",
}


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
               what: str = "condition") -> T:
    """Call *predicate* every *interval* seconds until it returns a true value, and return that value; raise
    AssertionError after *timeout* seconds. The suite's one way to wait for another process or thread: a bounded
    poll of a condition, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


class Mocks:
    """The two store simulators as real processes, with helpers to read and steer them."""

    def __init__(self) -> None:
        from gateway.sandbox import start_mock

        self.tse = start_mock("tse", "127.0.0.1", 0)
        self.cnj = start_mock("cnj", "127.0.0.1", 0)

    @property
    def urls(self) -> dict[str, str]:
        """name → URL."""
        return {"tse": self.tse.url, "cnj": self.cnj.url}

    def env(self) -> dict[str, str]:
        """Gateway environment pointing at these simulators, with fast delivery timings."""
        return {"GATEWAY_TSE_URL": self.tse.url, "GATEWAY_CNJ_URL": self.cnj.url, **FAST_DELIVERY}

    def received(self, name: str) -> list[dict[str, object]]:
        """What simulator *name* received."""
        return list(httpx.get(self.urls[name] + "/_mock/received", timeout=10).json())

    def faults(self, name: str, **faults: object) -> None:
        """Set the faults of simulator *name* (others back to defaults)."""
        httpx.post(self.urls[name] + "/_mock/faults", json=faults, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Clear both simulators."""
        for url in self.urls.values():
            httpx.post(url + "/_mock/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        """Stop both processes."""
        self.tse.stop()
        self.cnj.stop()


class Tribunals:
    """The two simulated tribunals as processes (pje-tjrj: 8.19, eproc-trf4: 4.04)."""

    def __init__(self) -> None:
        from gateway.sandbox import start_mock

        self.procs = {
            "8.19": start_mock("tribunal", "127.0.0.1", 0, args=("--profile", "pje-tjrj"), name="tribunal-8.19"),
            "4.04": start_mock("tribunal", "127.0.0.1", 0, args=("--profile", "eproc-trf4"), name="tribunal-4.04"),
        }
        for p in self.procs.values():  # no intimation issued by the simulators' timer unless a test asks for it
            httpx.post(p.url + "/_mock/intimacoes/config", json={"intervalo_s": 0}, timeout=10).raise_for_status()

    def url(self, jtr: str) -> str:
        """Base URL of the simulator of *jtr*."""
        return self.procs[jtr].url

    def demo(self, jtr: str) -> dict[str, object]:
        """The simulator's self-description."""
        return dict(httpx.get(self.url(jtr) + "/_mock/demo", timeout=10).json())

    def reset(self) -> None:
        """Restore both simulators' demo data."""
        for p in self.procs.values():
            httpx.post(p.url + "/_mock/reset", timeout=10).raise_for_status()

    def received(self, jtr: str) -> list[dict[str, object]]:
        """What simulator *jtr* received."""
        return list(httpx.get(self.url(jtr) + "/_mock/received", timeout=10).json())

    def faults(self, jtr: str, **faults: object) -> None:
        """Set simulator *jtr*'s faults."""
        httpx.post(self.url(jtr) + "/_mock/faults", json=faults, timeout=10).raise_for_status()

    def stop(self) -> None:
        """Stop both processes."""
        for p in self.procs.values():
            p.stop()


def configure_hub(db_url: str, settings: Settings, tribunals: Tribunals, tmp: Path) -> Settings:
    """Write the hub registry for *tribunals* and store the demo clients' credentials; return settings using it."""
    from gateway.hub.demo import configure, describe

    registry = tmp / "mni-registry.json"
    with console(settings.with_(database_url=db_url)) as con:
        configure(con.admin, describe([tribunals.url("8.19"), tribunals.url("4.04")]), registry)
    return settings.with_(mni_registry_path=str(registry))


class DebtPartners:
    """The PGFN (SERPRO shape) and PGF simulators as real processes, with helpers to call and steer them."""

    def __init__(self, *pgfn_args: str) -> None:
        from gateway.sandbox import start_mock

        self.pgfn = start_mock("pgfn", "127.0.0.1", 0, args=pgfn_args)
        self.pgf = start_mock("pgf", "127.0.0.1", 0)
        self.http = httpx.Client(timeout=30)
        self.demo = {"pgfn": self.http.get(self.pgfn.url + "/_mock/demo").json(),
                     "pgf": self.http.get(self.pgf.url + "/_mock/demo").json()}

    def url(self, name: str) -> str:
        """Base URL of simulator *name* (``pgfn`` or ``pgf``)."""
        return str(self.pgfn.url if name == "pgfn" else self.pgf.url)

    def token(self) -> str:
        """A fresh bearer token from the PGFN simulator (HTTP Basic with the demo consumer key and secret)."""
        c = self.demo["pgfn"]["credentials"]
        r = self.http.post(self.url("pgfn") + "/token", auth=(c["consumer_key"], c["consumer_secret"]),
                           data={"grant_type": "client_credentials"})
        r.raise_for_status()
        return str(r.json()["access_token"])

    def pgfn_get(self, path: str, token: str | None, timeout: float = 30) -> httpx.Response:
        """GET ``/consulta-divida-ativa-df/api/v1`` + *path* with *token* (None: no Authorization header)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(self.url("pgfn") + "/consulta-divida-ativa-df/api/v1" + path, headers=headers,
                             timeout=timeout)

    def pgf_headers(self) -> dict[str, str]:
        """The PGF demo API key header."""
        return {"X-API-Key": self.demo["pgf"]["credentials"]["api_key"]}

    def faults(self, name: str, **faults: object) -> None:
        """Set simulator *name*'s faults (others back to defaults)."""
        self.http.post(self.url(name) + "/_mock/faults", json=faults).raise_for_status()

    def received(self, name: str) -> list[dict[str, object]]:
        """What simulator *name* received."""
        return list(self.http.get(self.url(name) + "/_mock/received").json())

    def reset(self) -> None:
        """Reset both simulators."""
        for name in ("pgfn", "pgf"):
            self.http.post(self.url(name) + "/_mock/reset").raise_for_status()

    def stop(self) -> None:
        """Stop both processes."""
        self.http.close()
        self.pgfn.stop()
        self.pgf.stop()


def assert_stored_facts(conn: Connection) -> int:
    """Check every stored version's timeline facts (``messages.facts``) against the payload: a cancelamento has
    none; any other version has them, and they decode to what parsing the payload gives
    (``gateway.consulta.facts.fact_of``). Returns how many versions carried facts."""
    from gateway.consulta.facts import decode, fact_of

    rows = conn.execute(select(messages.c.protocol, messages.c.operation, messages.c.payload, messages.c.facts,
                               communications.c.status)
                        .join(communications, communications.c.protocol == messages.c.protocol)).all()
    checked = 0
    for r in rows:
        if r.operation == "cancelamento":
            assert r.facts is None, r.protocol
            continue
        assert r.facts is not None, (r.protocol, r.operation)
        assert decode(r.protocol, r.status, r.facts) == fact_of(r.protocol, r.status, bytes(r.payload)), r.protocol
        checked += 1
    return checked
