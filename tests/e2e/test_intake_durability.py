"""Nothing acknowledged is lost: SIGKILL the gateway during a burst of submissions, restart, check."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway import audit
from gateway.db.engine import make_engine
from gateway.db.tables import messages
from gateway.infodip.domain import Kind
from tests.support import GatewayProcess, sample, seed, test_settings, unique_ref

pytestmark = pytest.mark.e2e


def test_sigkill_loses_no_acknowledged_message(tmp_path: Path) -> None:
    """Every submission answered 200 before a SIGKILL is stored after restart; a client retrying the ones without
    an answer (same key, same payload) gets a protocol, once; the audit chains verify."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    seed(url)
    settings = test_settings(url, tmp_path)
    gw = GatewayProcess(settings, tmp_path / "gw.log").start()
    bodies = {unique_ref("K"): None for _ in range(300)}
    requests = {ref: sample(Kind.IV, reference=ref) for ref in bodies}
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    refs = list(requests)

    def worker(part: list[str]) -> None:
        with httpx.Client(timeout=5) as client:
            for ref in part:
                try:
                    r = client.post(gw.url + "/soap/infodip", content=requests[ref])
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    protocol = r.text.split("<i:protocolo>", 1)[1].split("<", 1)[0]
                    with lock:
                        acknowledged[ref] = protocol

    threads = [threading.Thread(target=worker, args=(refs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    while len(acknowledged) < 100:
        threading.Event().wait(0.01)
    gw.kill()
    for t in threads:
        t.join()
    assert 100 <= len(acknowledged) < 300

    gw = GatewayProcess(settings, tmp_path / "gw2.log").start()
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            stored = {r.sender_reference: r.protocol for r in conn.execute(
                select(messages.c.sender_reference, messages.c.protocol))}
        for ref, protocol in acknowledged.items():
            assert stored.get(ref) == protocol, f"acknowledged {ref} lost"
        with httpx.Client(timeout=10) as client:
            for ref in refs:
                r = client.post(gw.url + "/soap/infodip", content=requests[ref])
                assert r.status_code == 200
                protocol = r.text.split("<i:protocolo>", 1)[1].split("<", 1)[0]
                if ref in stored:
                    assert protocol == stored[ref] and "<i:reenvio>true</i:reenvio>" in r.text
        with engine.connect() as conn:
            assert len(conn.execute(select(messages.c.message_id)).all()) == 300
            report = audit.verify(conn, audit.load_signing_key(settings.signing_key_path).public_key)
        assert report.ok, report.broken
        engine.dispose()
    finally:
        gw.stop()
