"""Overload has a shape (issue 9, point 5): beyond the bound of intake requests in flight, a request is refused at
once — before its body is read — with INFODIP-E092 and a Retry-After hint (SOAP: a soap:Server Fault, HTTP 500;
REST: a 503 problem), while what was admitted goes on; reads and other routes are never refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from lxml import etree

from gateway.admission import Admission, AdmissionMiddleware
from gateway.infodip.contract import NS, schema
from gateway.xml.soap import SOAP11_NS


class Blocking:
    """An ASGI app that holds each intake POST until released (anything else at once), then answers 200."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "POST" and scope["path"] not in ("/soap/mni", "/api/v1/devedores/inscricoes"):
            self.entered += 1
            await asyncio.wait_for(self.release.wait(), timeout=10)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One request through *app*: status, headers, body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_beyond_the_bound_intake_is_refused_at_once_with_e092_and_retry_after() -> None:
    """Two SOAP requests in flight with a bound of two: a third SOAP request gets at once a soap:Server Fault
    (HTTP 500, Retry-After: 1) whose detail is a valid INFODIP-E092 ``erros``; a REST POST a 503 problem with the
    same code; a WSDL read and a REST read pass. The two admitted complete; then intake is admitted again."""
    refused: list[str] = []

    async def scenario() -> None:
        inner = Blocking()
        gate = Admission(2, retry_after_s=1, on_refused=refused.append)
        app = AdmissionMiddleware(inner, gate)
        held = [asyncio.create_task(call(app, "POST", "/soap/infodip")) for _ in range(2)]
        while inner.entered < 2:
            await asyncio.sleep(0)
        assert gate.inflight == 2 and gate.busy() and gate.full()
        status, headers, body = await call(app, "POST", "/soap/infodip")
        assert (status, headers["retry-after"]) == (500, "1")
        fault = etree.fromstring(body).find(f"{{{SOAP11_NS}}}Body/{{{SOAP11_NS}}}Fault")
        assert fault is not None and fault.findtext("faultcode") == "soap:Server"
        erros = fault.find(f"detail/{{{NS}}}erros")
        assert erros is not None and schema().validate(erros)
        assert erros.findtext(f"{{{NS}}}erro/{{{NS}}}codigo") == "INFODIP-E092"
        status, headers, body = await call(app, "POST", "/api/v1/dead-letters/replay")
        problem = json.loads(body)
        assert (status, headers["retry-after"], headers["content-type"]) == (503, "1", "application/problem+json")
        assert (problem["status"], problem["codigo"]) == (503, "INFODIP-E092")
        inner.release.set()
        assert [(await t)[0] for t in held] == [200, 200]
        assert gate.inflight == 0 and not gate.busy()
        assert (await call(app, "GET", "/soap/infodip"))[0] == 200
        assert (await call(app, "POST", "/soap/infodip"))[0] == 200

    asyncio.run(scenario())
    assert refused == ["soap", "rest"]


def test_reads_and_other_routes_are_never_counted_nor_refused() -> None:
    """With the bound reached (limit 1, one intake request held), reads of the WSDL, of a communication over REST,
    health, the MNI hub and the dívida query (a read sent as POST) pass untouched, and are not counted in flight."""
    async def scenario() -> None:
        inner = Blocking()
        gate = Admission(1)
        app = AdmissionMiddleware(inner, gate)
        held = asyncio.create_task(call(app, "POST", "/soap/infodip"))
        while inner.entered < 1:
            await asyncio.sleep(0)
        assert gate.full()
        for method, path in (("GET", "/soap/infodip"), ("GET", "/api/v1/comunicacoes/X"), ("GET", "/readyz"),
                             ("POST", "/soap/mni"), ("POST", "/api/v1/devedores/inscricoes")):
            assert (await call(app, method, path))[0] == 200
        assert gate.inflight == 1 and gate.refused == 0
        inner.release.set()
        assert (await held)[0] == 200

    asyncio.run(scenario())


def test_a_standing_queue_sheds_beyond_the_floor_until_the_stays_are_short_again() -> None:
    """CoDel's rule on a fake clock: while every request of a 100 ms interval stayed longer than the 300 ms
    target, intake is refused beyond the floor of requests in flight (the count bound, 256, is far); one interval
    whose shortest stay is under the target admits again, and so does an interval with nothing completing."""
    from gateway.admission import FLOOR

    now = [0.0]
    gate = Admission(256, target_s=0.3, monotonic=lambda: now[0])
    gate.inflight = FLOOR + 10
    for stay in (0.5, 0.4, 0.45):
        now[0] += 0.06
        gate.observe(stay)
    assert gate.standing and gate.full() and gate.busy()
    gate.inflight = FLOOR - 1
    assert not gate.full(), "the floor is always admitted"
    gate.inflight = FLOOR + 10
    now[0] += 0.06
    gate.observe(0.05)
    now[0] += 0.06
    gate.observe(0.2)
    assert not gate.standing and not gate.full()
    for stay in (0.6, 0.7):
        now[0] += 0.07
        gate.observe(stay)
    assert gate.full()
    now[0] += 0.25
    assert not gate.full(), "an interval without a completion ends the standing queue"


def test_a_lagging_event_loop_sheds_beyond_the_floor_but_a_single_pause_does_not() -> None:
    """The loop's lag is sampled by a timer every 50 ms. One pause of 300 ms after calm samples (a collection, a
    burst of the relay) sheds nothing; a loop kept busy for every sample of 200 ms (lag above the 100 ms target in
    each) refuses intake beyond the floor — the wait before a request reaches the middleware is invisible to the
    stays — and a calm loop admits again."""
    import time

    from gateway.admission import FLOOR, LAG_SAMPLES

    gate = Admission(256, lag_target_s=0.1)

    async def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def scenario() -> tuple[bool, bool, bool]:
        gate.watch_loop()
        gate.inflight = FLOOR
        await until(lambda: len(gate._lags) == LAG_SAMPLES)
        time.sleep(0.3)  # the load being measured: the loop's thread busy, not a synchronisation
        await asyncio.sleep(0.06)
        single = gate.full()
        for _ in range(2 * LAG_SAMPLES):
            time.sleep(0.15)  # busy again before each tick: every sample lags
            await asyncio.sleep(0)
        sustained = gate.full() and gate.busy()
        await until(lambda: gate.lag <= 0.1)
        return single, sustained, gate.full()

    assert asyncio.run(scenario()) == (False, True, False)
