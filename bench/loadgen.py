"""HTTP load generator (aiohttp, its own process): closed loop at C connections, or open loop at R requests/s.

Each request body is the template with its placeholder replaced by a unique reference ``<prefix><counter>``: the
template is split once at its placeholders and every request joins the parts — byte concatenation, no XML work in
the hot loop. (An optional second placeholder gets a distinct valid CPF per request.)

* ``--mode closed``: C workers, each sending its next request as soon as the previous answer arrives, for a
  warm-up (not counted) and then D seconds. Throughput = answers completed inside the window / D.
* ``--mode open``: requests are *scheduled* at t0 + i/R regardless of answers (a connection pool of
  ``--max-connections``; a request waiting for a free connection keeps waiting), and latency is measured from the
  scheduled send time, not from the actual one, so a stalled server cannot hide its queueing delay (no coordinated
  omission). The generator's own lateness (actual − scheduled send) is reported separately.

Any answer other than 200, and any exception or timeout, is an error. The result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/p99.9/max/mean of *values* (seconds) in milliseconds (nearest-rank)."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None}
    s = sorted(values)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] * 1000

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "p999": rank(0.999), "max": s[-1] * 1000,
            "mean": sum(s) / len(s) * 1000}


def cpf(n: int) -> bytes:
    """A valid CPF whose nine-digit base is *n* (check digits computed; all-equal digits avoided)."""
    base = f"{n % 1_000_000_000:09d}"
    if len(set(base)) == 1:
        base = base[:-1] + ("1" if base[-1] != "1" else "2")
    digits = [int(c) for c in base]
    for weight0 in (10, 11):
        r = sum(d * w for d, w in zip(digits, range(weight0, 1, -1), strict=False)) * 10 % 11
        digits.append(0 if r == 10 else r)
    return "".join(map(str, digits)).encode()


class Load:
    """Shared state of one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.url = args.url
        self.method = args.method
        self.prefix = args.ref_prefix.encode()
        # the template as literal parts and fillers, in document order: parts[0] f0 parts[1] f1 ... parts[-1]
        self.parts: list[bytes] = []
        self.fillers: list[str] = []
        if args.template:
            template = Path(args.template).read_bytes()
            marks = {args.placeholder.encode(): "ref", args.cpf_placeholder.encode(): "cpf"}
            pattern = re.compile(b"|".join(re.escape(m) for m in marks))
            pos = 0
            for m in pattern.finditer(template):
                self.parts.append(template[pos:m.start()])
                self.fillers.append(marks[m.group(0)])
                pos = m.end()
            self.parts.append(template[pos:])
        self.headers = {"Content-Type": args.content_type}
        for h in args.header or []:
            k, _, v = h.partition(":")
            self.headers[k.strip()] = v.strip()
        self.counter = 0
        # distinct CPFs per run: the prefix's hash picks a block of 10 million bases
        self.cpf_base = 100_000_000 + (zlib.crc32(self.prefix) % 89) * 10_000_000
        # or the CPFs of a list, in turn (people the data is about: a consultation's lookups find something)
        self.cpf_list = (Path(args.cpf_list).read_bytes().split() if getattr(args, "cpf_list", None) else [])
        self.t_start = 0.0
        self.t_end = 0.0
        self.latencies: list[float] = []
        self.timeline: Counter[int] = Counter()
        self.status: Counter[str] = Counter()  # inside the window
        self.status_all: Counter[str] = Counter()  # warm-up and tail included (for row-count checks)
        self.error_samples: list[str] = []
        self.send_lag: list[float] = []
        self.sent_all = 0
        self.last_len = 0
        #: (scheduled or sent time, seconds to answer, status) of each request counted, for --trace
        self.trace: list[tuple[float, float, str]] = []

    def body(self) -> bytes | None:
        if not self.parts:
            return None
        if not self.fillers:
            self.last_len = len(self.parts[0])
            return self.parts[0]
        self.counter += 1
        out = [self.parts[0]]
        for filler, part in zip(self.fillers, self.parts[1:], strict=True):
            if filler == "ref":
                out.append(self.prefix + str(self.counter).encode())
            elif self.cpf_list:
                out.append(self.cpf_list[self.counter % len(self.cpf_list)])
            else:
                out.append(cpf(self.cpf_base + self.counter))
            out.append(part)
        body = b"".join(out)
        self.last_len = len(body)
        return body

    async def one(self, session: aiohttp.ClientSession, origin: float | None = None) -> None:
        """Send one request; latency from *origin* (the scheduled time) when given, else from the send."""
        body = self.body()
        sent = time.perf_counter()
        if origin is None:
            origin = sent
        elif self.t_start <= origin < self.t_end:
            self.send_lag.append(sent - origin)
        self.sent_all += 1
        try:
            async with session.request(self.method, self.url, data=body, headers=self.headers) as resp:
                payload = await resp.read()
                key = str(resp.status)
                if resp.status != 200 and len(self.error_samples) < 5:
                    self.error_samples.append(f"{resp.status}: {payload[:400].decode(errors='replace')}")
        except Exception as exc:
            key = "exception:" + type(exc).__name__
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{type(exc).__name__}: {exc}"[:400])
        done = time.perf_counter()
        self.status_all[key] += 1
        completed_inside = self.t_start <= done < self.t_end
        if completed_inside and key == "200":
            self.timeline[int(done - self.t_start)] += 1  # throughput: answers completed inside the window
        # closed loop: the answers completed inside the window; open loop: the requests *scheduled* inside it
        counted = (self.t_start <= origin < self.t_end) if self.args.mode == "open" else completed_inside
        if counted:
            self.status[key] += 1
            if self.args.trace:
                self.trace.append((origin, done - origin, key))
            if key == "200":
                self.latencies.append(done - origin)

    async def closed(self, session: aiohttp.ClientSession) -> None:
        async def worker() -> None:
            while time.perf_counter() < self.t_end:
                await self.one(session)

        await asyncio.gather(*(worker() for _ in range(self.args.concurrency)))

    async def open(self, session: aiohttp.ClientSession) -> None:
        rate = self.args.rate
        t0 = self.t_start - self.args.warmup
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while True:
            due = t0 + i / rate
            if due >= self.t_end:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # send every request that is due now (a late wake-up sends a burst, each timed from its own due time)
            now = time.perf_counter()
            while due <= now and due < self.t_end:
                task = asyncio.create_task(self.one(session, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
                due = t0 + i / rate
        if tasks:
            await asyncio.wait(tasks, timeout=self.args.timeout + 5)

    async def run(self) -> dict[str, Any]:
        a = self.args
        limit = a.concurrency if a.mode == "closed" else a.max_connections
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=None, use_dns_cache=True)
        timeout = aiohttp.ClientTimeout(total=a.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
            self.t_start = time.perf_counter() + a.warmup
            self.t_end = self.t_start + a.duration
            if a.mode == "closed":
                await self.closed(session)
            else:
                await self.open(session)
            finished = time.perf_counter()
        shift = time.monotonic() - time.perf_counter()
        ok = self.status.get("200", 0)
        total = sum(self.status.values())
        out: dict[str, Any] = {
            "mode": a.mode, "url": a.url, "method": a.method, "duration_s": a.duration, "warmup_s": a.warmup,
            "concurrency": a.concurrency if a.mode == "closed" else None,
            "offered_rate": a.rate if a.mode == "open" else None,
            "body_bytes": self.last_len,
            "requests": total, "ok": ok, "errors": total - ok, "status": dict(self.status),
            "ok_all": self.status_all.get("200", 0), "answers_all": sum(self.status_all.values()),
            "sent_all": self.sent_all, "error_samples": self.error_samples,
            "rps": sum(self.timeline.values()) / a.duration,
            "latency_ms": percentiles(self.latencies),
            "timeline": [self.timeline.get(s, 0) for s in range(math.ceil(a.duration))],
            "drain_s": finished - self.t_end,
            # the same instants on the system-wide monotonic clock (time.monotonic() of another process on this
            # machine), so a caller can align its own samples with the load window
            "monotonic": {"load_start": self.t_start - a.warmup + shift, "window_start": self.t_start + shift,
                          "window_end": self.t_end + shift, "finished": finished + shift},
        }
        if a.trace:
            with open(a.trace, "w", encoding="ascii") as f:
                f.write("monotonic_s,latency_ms,status\n")
                f.writelines(f"{t + shift:.6f},{lat * 1000:.3f},{key}\n" for t, lat, key in self.trace)
        if a.mode == "open":
            out["achieved_rate"] = out["rps"]  # 200 answers completed inside the window, per second
            out["send_lag_ms"] = percentiles(self.send_lag)
        return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--method", default="POST")
    p.add_argument("--template", help="request body file; its placeholder is replaced by a unique reference")
    p.add_argument("--placeholder", default="BENCH-REFERENCE-PLACEHOLDER")
    p.add_argument("--cpf-placeholder", default="BENCH-CPF-PLACEHOLDER", help="replaced by a distinct valid CPF")
    p.add_argument("--cpf-list", help="file of CPFs (one a line) the CPF placeholder takes in turn, instead of "
                                      "distinct generated ones")
    p.add_argument("--ref-prefix", default="B-", help="prefix of the unique references (distinct per run)")
    p.add_argument("--content-type", default="text/xml; charset=utf-8")
    p.add_argument("--header", action="append", help="extra header 'Name: value' (repeatable)")
    p.add_argument("--mode", choices=["closed", "open"], default="closed")
    p.add_argument("--concurrency", type=int, default=64, help="closed loop: concurrent connections")
    p.add_argument("--rate", type=float, default=100.0, help="open loop: offered requests per second")
    p.add_argument("--max-connections", type=int, default=512, help="open loop: connection pool size")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the measured window")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    p.add_argument("--trace", help="write each counted request here as CSV: monotonic_s (its scheduled time in open "
                   "loop, its send in closed loop, on the system-wide monotonic clock), latency_ms, status")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(Load(args).run())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
