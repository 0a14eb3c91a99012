"""Crash tests: SIGKILL the gateway at chosen points (and at random) while partners are slow or failing, restart,
let it drain, and check the invariants of DESIGN.md "Testing and measuring". Real processes, loopback, bounded.

The third scenario is issue 9's: ``gateway serve`` and ``gateway relay`` on PostgreSQL, partners slower than a short
lease, retificações that add a destination to their history, and both processes SIGKILLed at chosen points."""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from sqlalchemy import func, select

from gateway import audit
from gateway.db.engine import make_engine
from gateway.db.tables import delivery_attempts, messages, outbox
from gateway.infodip.domain import Kind
from gateway.settings import Settings
from tests.saf_support import (
    RelayProcess,
    cancellation,
    conviction_without_inelegibility,
    relay_settings_env,
    retification_with_inelegibility,
)
from tests.support import (
    GatewayProcess,
    Mocks,
    retification,
    sample,
    test_settings,
    unique_ref,
    wait_until,
)

pytestmark = pytest.mark.e2e
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
# a short lease (a partner timeout the relay accepts with it: the lease must exceed it by 1 s)
CRASH_ENV = {**relay_settings_env(lease_s=3.0, partner_timeout_s=1.5), "GATEWAY_RELAY_MAX_ATTEMPTS": "1000"}


class Restartable(Protocol):
    """A process the supervisor restarts: ``gateway serve`` or ``gateway relay``."""

    def start(self) -> Restartable: ...

    def alive(self) -> bool: ...

    def kill(self) -> None: ...

    def stop(self) -> None: ...


class Client:
    """Integrator-like client: resends the same request (same key) until it gets an answer."""

    def __init__(self, urls: Callable[[], list[str]]) -> None:
        self.urls = urls
        self.answers: dict[str, list[tuple[str, str]]] = {}  # reference → [(protocol, message id)] of every 200
        self.lock = threading.Lock()

    def send(self, reference: str, body: bytes, deadline: float) -> tuple[str, str]:
        """POST until a 200 (retrying connection errors and soap:Server faults every 0.1 s) or the deadline."""

        def attempt() -> tuple[str, str] | None:
            url = random.choice(self.urls())
            try:
                r = httpx.post(url + "/soap/infodip", content=body, timeout=5)
            except httpx.HTTPError:
                return None
            if r.status_code != 200:
                assert "soap:Server" in r.text, r.text  # a client fault here would be a gateway bug
                return None
            got = (re.search(r"<i:protocolo>([^<]+)", r.text).group(1),  # type: ignore[union-attr]
                   re.search(r"<i:idMensagem>([^<]+)", r.text).group(1))  # type: ignore[union-attr]
            with self.lock:
                self.answers.setdefault(reference, []).append(got)
            return got

        return wait_until(attempt, max(deadline - time.monotonic(), 0.0), interval=0.1,
                          what=f"an answer for {reference}")


def run_workload(client: Client, n: int, deadline: float) -> tuple[dict[str, bytes], list[str]]:
    """Submit *n* communications from 8 threads, then retify the first 20 kind-I ones; returns the bodies by
    reference and the retificação references."""
    kinds = [Kind.I, Kind.VI, Kind.IV, Kind.II]
    bodies = {}
    for i in range(n):
        ref = unique_ref("C")
        bodies[ref] = sample(kinds[i % len(kinds)], reference=ref)
    refs = list(bodies)
    errors: list[BaseException] = []

    def worker(part: list[str]) -> None:
        try:
            for ref in part:
                client.send(ref, bodies[ref], deadline)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(refs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    kind_i = [ref for i, ref in enumerate(refs) if kinds[i % len(kinds)] is Kind.I][:20]
    fixes = []
    for ref in kind_i:
        fix_ref = unique_ref("F")
        body = retification(client.answers[ref][0][0], Kind.I, reference=fix_ref, user="tjrj-sistema")
        bodies[fix_ref] = body
        client.send(fix_ref, body, deadline)
        fixes.append(fix_ref)
    return bodies, fixes


def supervise(makes: Sequence[Callable[[int], Restartable]], procs: list[Restartable], restarts: list[int],
              stop: threading.Event, killed_outside: set[int] | None = None) -> None:
    """Restart each process that dies (``procs[i]`` made by ``makes[i]``): with the next step of its crash plan when
    its own crash hook fired, with the same step when the test killed it from outside (*killed_outside* holds those
    processes' ids). A process whose hook fires while it is still starting (its relay finds work at once) counts as
    crashed too."""
    step = {i: 0 for i in range(len(procs))}
    while not stop.is_set():
        for i, proc in enumerate(procs):
            if proc.alive():
                continue
            if killed_outside is None or id(proc) not in killed_outside:
                step[i] += 1
            restarts.append(step[i])
            candidate = makes[i](step[i])
            try:
                procs[i] = candidate.start()
            except RuntimeError:
                candidate.kill()
                procs[i] = candidate  # not alive: the next pass restarts it with the following step
        stop.wait(0.05)  # look again soon, or return at once when the test stops the supervisor


def check_invariants(db_url: str, settings: Settings, mocks: Mocks, client: Client, bodies: dict[str, bytes],
                     fixes: list[str]) -> None:
    """DESIGN.md's invariants after the storm (*fixes*: the retificações' references, which must be stored)."""
    engine = make_engine(db_url)
    try:
        def undelivered() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(outbox)
                                        .where(outbox.c.status != "delivered")).scalar_one())

        wait_until(lambda: undelivered() == 0, timeout=90, what="outbox drained")
        with engine.connect() as conn:
            stored = {r.sender_reference: (r.protocol, r.message_id) for r in conn.execute(
                select(messages.c.sender_reference, messages.c.protocol, messages.c.message_id))}
            histories: dict[str, list[str]] = {}
            for r in conn.execute(select(messages.c.protocol, messages.c.message_id).order_by(messages.c.version)):
                histories.setdefault(r.protocol, []).append(r.message_id)
            expected: dict[str, set[str]] = {"TSE": set(), "CNJ": set()}
            for r in conn.execute(select(outbox.c.destination, outbox.c.message_id)):
                expected[r.destination].add(r.message_id)
            assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.status == "dead")
                                ).scalar_one() == 0
            report = audit.verify(conn, audit.load_signing_key(settings.signing_key_path).public_key)
            assert report.ok, report.broken
            # no two relays ever held the same row at the same time
            attempts = conn.execute(select(delivery_attempts.c.outbox_id, delivery_attempts.c.relay,
                                           delivery_attempts.c.started_at, delivery_attempts.c.finished_at)
                                    .order_by(delivery_attempts.c.outbox_id, delivery_attempts.c.started_at)).all()
        # 1. every acknowledged message is stored, and every answer for a key named the same protocol and id
        assert set(client.answers) == set(bodies) and set(fixes) <= set(stored)
        for ref, answers in client.answers.items():
            assert len(set(answers)) == 1, f"{ref} answered differently: {answers}"
            assert stored[ref] == answers[0]
        # 2. each destination store holds each of its messages exactly once
        for dest, name in (("TSE", "tse"), ("CNJ", "cnj")):
            received = mocks.received(name)
            kept = [str(e["id"]) for e in received if not e["duplicate"]]
            assert len(kept) == len(set(kept)), f"{dest} store holds a duplicate"
            assert set(kept) == expected[dest], f"{dest}: missing {len(expected[dest] - set(kept))}"
            # 3. order within a history: each version reached the store after the earlier ones
            order = {m: i for i, m in enumerate(kept)}
            for versions in histories.values():
                sent = [order[m] for m in versions if m in order]
                assert sent == sorted(sent), f"{dest}: a version before an earlier one of its history"
        # 5. no row was ever held by two attempts at once: per row, each attempt starts after the previous ended
        for (oid, _r1, _s1, f1), (oid2, _r2, s2, _f2) in itertools.pairwise(attempts):
            if oid == oid2:
                assert s2 >= f1, f"row {oid}: overlapping delivery attempts"
        # 4. the same key with the same payload has no second effect; with another payload it is refused
        ref = next(iter(bodies))
        again = _post_to_a_live_gateway(client, bodies[ref])
        assert "<i:reenvio>true</i:reenvio>" in again.text
        other = bodies[ref].replace(b"</inf:observacao>", b" (alterado)</inf:observacao>")
        assert other != bodies[ref]
        refused = _post_to_a_live_gateway(client, other)
        assert refused.status_code == 500 and "INFODIP-E050" in refused.text
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == len(bodies)
    finally:
        engine.dispose()


def _post_to_a_live_gateway(client: Client, body: bytes) -> httpx.Response:
    """POST *body* to whichever gateway is up, as a client retries: the supervisor may be restarting the one it
    tried (a crash point can still fire while the invariants are checked), and resending is safe by design."""

    def attempt() -> httpx.Response | None:
        try:
            return httpx.post(client.urls()[0] + "/soap/infodip", content=body, timeout=10)
        except httpx.TransportError:
            return None

    answer = wait_until(attempt, timeout=60, interval=0.2, what="a gateway answering")
    assert answer is not None
    return answer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigkill_at_every_point_loses_and_doubles_nothing(db_url: str, mocks: Mocks, tmp_path: Path) -> None:
    """SQLite, one gateway: killed after a commit before answering, after leasing rows, after a partner answered
    and before the row was marked, and at random, while TSE is slow and failing and CNJ is down for a while."""
    mocks.reset()
    settings = test_settings(db_url, tmp_path)
    plan = ["after_commit:25", "after_claim:3", "after_partner_answer:3", "after_commit:60", None, None]

    def make(step: int) -> GatewayProcess:
        point = plan[min(step, len(plan) - 1)]
        env = {**mocks.env(), **CRASH_ENV, **({"GATEWAY_CRASH_AT": point} if point else {})}
        return GatewayProcess(settings, tmp_path / f"gw{step}.log", extra_env=env)

    procs = [make(0).start()]
    client = Client(lambda: [p.url for p in procs])
    stop = threading.Event()
    restarts: list[int] = []
    killed_outside: set[int] = set()
    supervisor = threading.Thread(target=supervise, args=([make], procs, restarts, stop, killed_outside))
    supervisor.start()
    mocks.faults("tse", latency_ms=30, error_rate=0.2)
    mocks.faults("cnj", down=True)
    killer_stop = threading.Event()

    def random_kills() -> None:  # two external SIGKILLs at random moments, whatever the gateway is doing
        for _ in range(2):
            if killer_stop.wait(random.uniform(1.0, 3.0)):
                return
            victim = procs[0]
            if victim.alive():
                killed_outside.add(id(victim))
                victim.kill()

    killer = threading.Thread(target=random_kills)
    killer.start()
    try:
        bodies, fixes = run_workload(client, 240, time.monotonic() + 150)
        mocks.faults("cnj")  # CNJ comes back: it must receive everything once
        mocks.faults("tse")
        killer_stop.set()
        killer.join()
        check_invariants(db_url, settings, mocks, client, bodies, fixes)
        crash_points = sum(1 for p in plan if p)
        assert max(restarts, default=0) >= crash_points, f"crash points fired: {restarts}"
    finally:
        killer_stop.set()
        stop.set()
        supervisor.join()
        for p in procs:
            p.stop()
        mocks.reset()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_gateways_on_postgres_relay_at_once_through_kills(db_url: str, mocks: Mocks, tmp_path: Path) -> None:
    """PostgreSQL, two gateway processes accepting and relaying at once; one is SIGKILLed twice mid-way. Nothing
    acknowledged is lost, nothing is stored twice, and no row was ever sent by two relays at the same time."""
    mocks.reset()
    settings = test_settings(db_url, tmp_path)
    plan = ["after_partner_answer:4", "after_commit:30", None]

    def make(step: int) -> GatewayProcess:
        point = plan[min(step, len(plan) - 1)]
        env = {**mocks.env(), **CRASH_ENV, **({"GATEWAY_CRASH_AT": point} if point else {})}
        return GatewayProcess(settings, tmp_path / f"gw-{step}-{random.randrange(10**6)}.log", extra_env=env)

    procs = [make(0).start(), make(len(plan)).start()]
    client = Client(lambda: [p.url for p in procs])
    stop = threading.Event()
    restarts: list[int] = []
    supervisor = threading.Thread(target=supervise, args=([make, make], procs, restarts, stop))
    supervisor.start()
    mocks.faults("tse", latency_ms=20, error_rate=0.1)
    mocks.faults("cnj", latency_ms=20)
    try:
        bodies, fixes = run_workload(client, 240, time.monotonic() + 150)
        mocks.faults("tse")
        mocks.faults("cnj")
        check_invariants(db_url, settings, mocks, client, bodies, fixes)
        engine = make_engine(db_url)
        with engine.connect() as conn:
            relays = {r.relay for r in conn.execute(select(delivery_attempts.c.relay).distinct())}
        engine.dispose()
        assert len(relays) >= 2, "both gateways relayed"
        assert len(restarts) >= 2, f"only {len(restarts)} crashes happened"
    finally:
        stop.set()
        supervisor.join()
        for p in procs:
            p.stop()
        mocks.reset()


def run_changing_workload(client: Client, n: int, deadline: float) -> tuple[dict[str, bytes], list[str]]:
    """Submit *n* IV without inelegibility (TSE only) from 8 threads, retify each with inelegibility (the CNJ joins
    the history) and cancel every fifth; returns the bodies by reference and the retificação references."""
    bodies = {ref: conviction_without_inelegibility(ref) for ref in (unique_ref("S") for _ in range(n))}

    def each(send: Callable[[str], None], refs: list[str]) -> None:
        errors: list[BaseException] = []

        def worker(part: list[str]) -> None:
            try:
                for ref in part:
                    send(ref)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(refs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]

    def submit(ref: str) -> None:
        client.send(ref, bodies[ref], deadline)

    each(submit, list(bodies))
    fixes = {unique_ref("SF"): ref for ref in list(bodies)}

    def fix(ref: str) -> None:
        body = retification_with_inelegibility(client.answers[fixes[ref]][0][0], reference=ref)
        bodies[ref] = body
        client.send(ref, body, deadline)

    each(fix, list(fixes))
    cancels = {unique_ref("SC"): ref for ref in list(fixes.values())[::5]}

    def cancel(ref: str) -> None:
        body = cancellation(client.answers[cancels[ref]][0][0], reference=ref)
        bodies[ref] = body
        client.send(ref, body, deadline)

    each(cancel, list(cancels))
    return bodies, list(fixes)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_slow_partners_short_lease_and_joining_destinations_through_kills(db_url: str, mocks: Mocks,
                                                                         tmp_path: Path) -> None:
    """Issue 9's scenario: ``gateway serve`` and ``gateway relay`` on PostgreSQL, partners answering in 1.2 s of a
    3 s lease (1.5 s partner timeout), five messages per call; IV without inelegibility retified with it, so the CNJ
    joins each history and must receive v1 before v2 (and the cancelamentos after). Both processes are SIGKILLed at
    chosen points (the relay after leasing and after the partner answered; serve after a commit and after an
    answer). Everything acknowledged arrives once in each store, in order, and the invariants hold."""
    mocks.reset()
    settings = test_settings(db_url, tmp_path)
    serve_plan = ["after_partner_answer:2", "after_commit:12", None]  # low counts: under load commits coalesce
    relay_plan = ["after_claim:2", "after_partner_answer:2", "after_commit:3", None]
    base = {**mocks.env(), **CRASH_ENV, "GATEWAY_PARTNER_BATCH_MAX": "5"}

    def env(point: str | None) -> dict[str, str]:
        return {**base, **({"GATEWAY_CRASH_AT": point} if point else {})}

    def make_serve(step: int) -> Restartable:
        return GatewayProcess(settings, tmp_path / f"serve-{step}-{random.randrange(10**6)}.log",
                              extra_env=env(serve_plan[min(step, len(serve_plan) - 1)]))

    def make_relay(step: int) -> Restartable:
        return RelayProcess(settings, tmp_path / f"relay-{step}-{random.randrange(10**6)}.log",
                            env(relay_plan[min(step, len(relay_plan) - 1)]))

    procs: list[Restartable] = [make_serve(0).start(), make_relay(0).start()]
    client = Client(lambda: [p.url for p in procs if isinstance(p, GatewayProcess)])
    stop = threading.Event()
    restarts: list[int] = []
    supervisor = threading.Thread(target=supervise, args=([make_serve, make_relay], procs, restarts, stop))
    supervisor.start()
    mocks.faults("tse", latency_ms=1200)
    mocks.faults("cnj", latency_ms=1200)
    try:
        bodies, fixes = run_changing_workload(client, 60, time.monotonic() + 150)
        check_invariants(db_url, settings, mocks, client, bodies, fixes)
        assert len(restarts) >= 4, f"only {len(restarts)} crashes happened: {restarts}"
    finally:
        stop.set()
        supervisor.join()
        for p in procs:
            p.stop()
        mocks.reset()
