"""Section ``flood``: what refusing a hostile body costs the gateway (issue 8, point 1).

One ``gateway serve`` process (pinned like the others, the MNI hub configured in front of the pje-tjrj simulator)
receives, one at a time, bodies built to be expensive to read: 16 MB of empty elements with the credential after
them (wrong and valid password), the same gzip-compressed, a 16 MB text node in a credential field, an INFODIP
flood at its 512 KB limit, a gzip bomb (1 GiB of zeros). For each: the client's wall time until the answer, the
server's CPU time (``/proc/PID/stat``), its peak RSS growth (``VmHWM`` reset through ``/proc/PID/clear_refs``
before each case, and VmRSS sampled every 50 ms) and what it still holds afterwards (VmRSS a moment after the
answer, once freed memory is given back), against the targets: refused in under 1 s with peak RSS growth under
64 MB.
"""

from __future__ import annotations

import gzip
import http.client
import os
import statistics
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.mni import HUB_USER, RssSampler, _prepare_db, envelope, http_json, proc_cpu_s, proc_status_kb
from bench.procs import Server, free_port

TIME_TARGET_S = 1.0
GROWTH_TARGET_MB = 64.0
FLOOD_BYTES = 16 * 1024 * 1024
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
INFODIP_NS = "urn:gateway-interop:infodip:1.0"


def mni_flood(user: str, password: str, number: str) -> bytes:
    """consultarProcesso: 16 MB of empty elements, then the credential (MNI children come in any order)."""
    flood = "<tip:x/>" * (FLOOD_BYTES // 8)
    return envelope("consultarProcesso", flood + f"<tip:idConsultante>{user}</tip:idConsultante>"
                                                 f"<tip:senhaConsultante>{password}</tip:senhaConsultante>"
                                                 f"<tip:numeroProcesso>{number}</tip:numeroProcesso>")


def mni_text_flood(password: str, number: str) -> bytes:
    """consultarProcesso whose idConsultante is a 16 MB text node."""
    return envelope("consultarProcesso", f"<tip:idConsultante>{'u' * FLOOD_BYTES}</tip:idConsultante>"
                                         f"<tip:senhaConsultante>{password}</tip:senhaConsultante>"
                                         f"<tip:numeroProcesso>{number}</tip:numeroProcesso>")


def infodip_flood(limit: int = 512 * 1024) -> bytes:
    """An INFODIP enviarComunicacao at the body limit: empty elements in the header, a wrong password after."""
    head = (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:i="{INFODIP_NS}"><soap:Header><x>').encode()
    tail = (f'</x><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>tjrj-sistema'
            "</wsse:Username><wsse:Password>senha-errada</wsse:Password></wsse:UsernameToken></wsse:Security>"
            "</soap:Header><soap:Body><i:enviarComunicacao/></soap:Body></soap:Envelope>").encode()
    return head + b"<a/>" * ((limit - len(head) - len(tail)) // 4) + tail


def gzip_bomb(inflated: int = 1 << 30) -> bytes:
    """*inflated* zero bytes, gzip-compressed (~1 MB), built without holding them."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    return b"".join(z.compress(block) for _ in range(inflated >> 20)) + z.flush()


def _chunks(body: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:
    """POST *body* in 1 MB chunks with *headers*; the status, the answer and the times (upload, total)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    try:
        t0 = time.monotonic()
        conn.putrequest("POST", u.path or "/")
        for name, value in {"Content-Type": "text/xml; charset=utf-8", "Content-Length": str(len(body)),
                            **headers}.items():
            conn.putheader(name, value)
        conn.endheaders()
        sent = time.monotonic()
        try:
            for chunk in _chunks(body):
                conn.send(chunk)
        except OSError:  # the gateway may answer (and close) before the whole body is sent
            pass
        sent = time.monotonic()
        resp = conn.getresponse()
        data = resp.read()
        return {"status": resp.status, "body": data, "upload_s": sent - t0, "total_s": time.monotonic() - t0}
    finally:
        conn.close()


def _reset_peak(pid: int) -> bool:
    """Reset VmHWM of *pid* to its current RSS (Linux ≥ 4.0); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _answer_code(body: bytes) -> str:
    """The stable code in an answer (a Fault's detail, or an MNI mensagem), or what the answer starts with."""
    text = body.decode("utf-8", "replace")
    for family in ("MNI-E", "INFODIP-E"):
        at = text.find(family)
        if at >= 0:
            return text[at:at + len(family) + 3]
    return text[:60]


def flood(ctx: Any) -> dict[str, Any]:
    """The flood cases against one gateway process (see the module docstring)."""
    from bench.run import _gateway_env, fmt
    from tests.support import password_of

    pin = ctx.pinning
    work: Path = ctx.workdir
    py = sys.executable
    ctx.say("flood: hostile bodies, one at a time, to one gateway process (MNI hub configured); targets: refused "
            f"in < {TIME_TARGET_S:g} s with peak RSS growth < {GROWTH_TARGET_MB:g} MB")
    ctx.say(f"  {pin.note}")
    client_cpu = int(pin.client[-1]) if pin.client else None
    old_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if client_cpu is not None and old_affinity is not None:
        os.sched_setaffinity(0, {client_cpu})
    servers: list[Server] = []
    cases: list[dict[str, Any]] = []
    try:
        port = free_port()
        tribunal = Server("tribunal", [*pin.client, py, "-m", "mocks.tribunal", "--profile", "pje-tjrj",
                                       "--port", str(port)], port, work / "tribunal.log", ready_path="/_mock/faults")
        servers.append(tribunal.start())
        demo = http_json(tribunal.url + "/_mock/demo")
        number = demo["processes"][0]["numeroProcesso"]
        genv = _gateway_env("", work)
        db_url, registry = _prepare_db(work, genv["GATEWAY_SECRET_KEY"], demo)
        genv.update({"GATEWAY_DATABASE_URL": db_url, "GATEWAY_MNI_REGISTRY_PATH": str(registry),
                     "GATEWAY_RELAY_ENABLED": "false"})
        port = free_port()
        gw = Server("gateway", [*pin.server, py, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port",
                                str(port)], port, work / "gateway.log", env=genv)
        servers.append(gw.start())
        assert gw.proc is not None
        pid = gw.proc.pid
        good = password_of(HUB_USER)
        mni, infodip = gw.url + "/soap/mni", gw.url + "/soap/infodip"
        wrong_flood = mni_flood(HUB_USER, "senha-errada", number)
        plan: list[tuple[str, str, str, bytes, dict[str, str]]] = [
            ("a", "MNI, 16 MB of empty elements, wrong password after them", mni, wrong_flood, {}),
            ("b", "MNI, the same with the valid password", mni, mni_flood(HUB_USER, good, number), {}),
            ("c", "MNI, the same wrong-password flood gzip-compressed", mni, gzip.compress(wrong_flood, 6),
             {"Content-Encoding": "gzip"}),
            ("d", "MNI, a 16 MB text node in idConsultante, wrong password", mni,
             mni_text_flood("senha-errada", number), {}),
            ("e", "INFODIP, 512 KB of empty elements (its limit), wrong password", infodip, infodip_flood(), {}),
            ("f", "MNI, gzip bomb: 1 GiB of zeros in ~1 MB", mni, gzip_bomb(), {"Content-Encoding": "gzip"}),
        ]
        # warm: code paths imported, the parsers and schemas built
        for url, body in ((mni, envelope("consultarProcesso", f"<tip:idConsultante>{HUB_USER}</tip:idConsultante>"
                                         f"<tip:senhaConsultante>x</tip:senhaConsultante><tip:numeroProcesso>"
                                         f"{number}</tip:numeroProcesso>")), (infodip, infodip_flood(4096))):
            post(url, body, {})
        time.sleep(0.5)
        for tag, title, url, body, headers in plan:
            with RssSampler(pid) as before:
                time.sleep(0.4)
            baseline = int(statistics.median(kb for _, kb in before.samples))
            peak_reset = _reset_peak(pid)
            cpu0 = proc_cpu_s(pid)
            with RssSampler(pid) as during:
                answer = post(url, body, headers)
                time.sleep(0.3)
            cpu1 = proc_cpu_s(pid)
            hwm = proc_status_kb(pid, "VmHWM") if peak_reset else None
            sampled = max((kb for _, kb in during.samples), default=baseline)
            peak = max(sampled, hwm or 0)
            after = proc_status_kb(pid, "VmRSS") or 0
            growth_mb = (peak - baseline) / 1024
            case = {"case": tag, "what": title, "request_bytes": len(body), "status": answer["status"],
                    "code": _answer_code(answer["body"]), "total_s": answer["total_s"],
                    "upload_s": answer["upload_s"],
                    "server_cpu_s": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
                    "baseline_rss_mb": baseline / 1024, "peak_growth_mb": growth_mb,
                    "vmhwm_reset": peak_reset, "rss_after_mb": after / 1024,
                    "held_after_mb": (after - baseline) / 1024}
            case["verdict"] = ("PASS" if case["total_s"] < TIME_TARGET_S and growth_mb < GROWTH_TARGET_MB
                               and case["status"] in (200, 500) else "FAIL")
            cases.append(case)
            ctx.say(f"  ({tag}) {title}: {len(body) / 2**20:.1f} MB sent, HTTP {case['status']} {case['code']} "
                    f"in {fmt(case['total_s'], 0, 3)} s (server CPU {fmt(case['server_cpu_s'], 0, 3)} s); "
                    f"RSS baseline {baseline / 1024:.0f} MB, peak growth {growth_mb:.1f} MB, "
                    f"{case['held_after_mb']:+.1f} MB held after   {case['verdict']}")
        result_log = gw.log_tail(2000)
    finally:
        for s in reversed(servers):
            s.stop()
        if old_affinity is not None and client_cpu is not None:
            os.sched_setaffinity(0, old_affinity)
    head = cases[0]
    verdict = "PASS" if all(c["verdict"] == "PASS" for c in cases) else "FAIL"
    ctx.say()
    ctx.say("  ---------------------------------------------------------------------------")
    ctx.say(f"  16 MB element flood, wrong password (MNI): refused in {head['total_s']:.3f} s "
            f"(target < {TIME_TARGET_S:g} s), peak RSS growth {head['peak_growth_mb']:.1f} MB "
            f"(target < {GROWTH_TARGET_MB:g} MB)   {head['verdict']}")
    ctx.say(f"  every case within the targets: {verdict}")
    return {"cases": cases, "gateway_log_tail": result_log,
            "summary": {"flood_time_s": head["total_s"], "flood_peak_growth_mb": head["peak_growth_mb"],
                        "time_target_s": TIME_TARGET_S, "growth_target_mb": GROWTH_TARGET_MB,
                        "verdict": verdict, "errors": 0}}
