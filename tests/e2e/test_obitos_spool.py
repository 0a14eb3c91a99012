"""Spooled death batches (issue 13 §2–3): a bad credential is answered before the body is read (SOAP and REST), a
batch interrupted by SIGKILL is resumed by the next start from its spooled file with no resend, and a resend arriving
during that resumption continues it."""

from __future__ import annotations

import base64
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from gateway.db.tables import communications, obito_lotes
from tests.e2e.obitos_support import CRC, ENV, all_outcomes, body, get_batch, grant, post_batch, recs
from tests.support import GatewayProcess, Mocks, seed, test_settings, wait_until

pytestmark = pytest.mark.e2e
DECLARED = 100 * 1024 * 1024
PIECE = 1024 * 1024


class Uploader:
    """One raw HTTP/1.1 request whose head declares *DECLARED* bytes of body: the first bytes given, then filler,
    sent from a thread in 1 MB pieces until the server answers or stops reading; the answer read meanwhile."""

    def __init__(self, url: str, path: str, headers: dict[str, str], first: bytes, filler: bytes) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {DECLARED}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(head.encode())
        self.first, self.filler = first, filler
        self.sent = 0
        self.answered = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self) -> None:
        try:
            self.sock.sendall(self.first)
            self.sent += len(self.first)
            piece = (self.filler * (PIECE // len(self.filler) + 1))[:PIECE]
            while self.sent + PIECE <= DECLARED and not self.answered.is_set():
                self.sock.sendall(piece)
                self.sent += PIECE
        except OSError:  # the server closed the connection, or the socket timed out while it did not read
            pass

    def answer(self, timeout: float = 20.0) -> tuple[int, bytes, int]:
        """The status, the first bytes of the answer, and how many body bytes were sent when it arrived."""
        self.sock.settimeout(timeout)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sent = self.sent
        self.answered.set()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and len(data) < 4096:
            try:
                self.sock.settimeout(0.2)
                chunk = self.sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        self.sock.close()
        self.thread.join(timeout=15)
        return int(data.split(b" ", 2)[1]), data, sent


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> object:
    tmp = tmp_path_factory.mktemp("spool")
    db_url = f"sqlite:///{tmp / 'gw.db'}"
    seed(db_url)
    grant(db_url)
    (tmp / "spool").mkdir()
    g = GatewayProcess(test_settings(db_url, tmp), tmp / "gw.log",
                       {**ENV, "GATEWAY_OBITOS_SPOOL_DIR": str(tmp / "spool")}).start()
    try:
        yield g, tmp / "spool"
    finally:
        g.stop()


def soap_head(password: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            'envelope/" xmlns:crc="urn:gateway-interop:crc:1.0"><soap:Header><wsse:Security xmlns:wsse="http://docs.'
            'oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken>'
            f"<wsse:Username>{CRC}</wsse:Username><wsse:Password>{password}</wsse:Password></wsse:UsernameToken>"
            "</wsse:Security></soap:Header><soap:Body><crc:enviarLoteObitos><crc:idLote>GRANDE-1</crc:idLote>"
            "<crc:competencia>2026-10</crc:competencia>\n").encode()


def test_soap_bad_credential_is_answered_before_the_body_is_read(gw: tuple[GatewayProcess, Path]) -> None:
    """A 100 MB enviarLoteObitos with a wrong password gets its Fault INFODIP-E021 while the client is still sending
    (a few MB in at most: what the sockets' buffers hold), nothing left in the spool directory."""
    g, spool = gw
    up = Uploader(g.url, "/soap/crc", {"Content-Type": "text/xml; charset=utf-8"}, soap_head("errada"),
                  b"<crc:registro><crc:nome>FULANO DE TAL</crc:nome></crc:registro>\n")
    status, data, sent = up.answer()
    assert status == 500 and b"INFODIP-E021" in data, data[:500]
    assert sent < 16 * PIECE, f"{sent} bytes sent before the answer"
    wait_until(lambda: not list(spool.iterdir()), 10, 0.1, "the spool directory empty")


def test_rest_bad_credential_is_answered_before_the_body_is_read(gw: tuple[GatewayProcess, Path]) -> None:
    """The same over REST: HTTP Basic with a wrong password, 401 before the body is spooled."""
    g, spool = gw
    basic = base64.b64encode(f"{CRC}:errada".encode()).decode()
    up = Uploader(g.url, "/api/v1/obitos/lotes", {"Content-Type": "application/json",
                                                  "Authorization": f"Basic {basic}"},
                  b'{"idLote": "GRANDE-2", "competencia": "2026-10", "registros": [', b'{"nome": "FULANO"},')
    status, data, sent = up.answer()
    assert status == 401, data[:500]
    assert sent < 16 * PIECE, f"{sent} bytes sent before the answer"
    assert not list(spool.iterdir())


def test_soap_good_credential_still_spools_and_reads(gw: tuple[GatewayProcess, Path]) -> None:
    """With the right password the head passes the gate and the whole batch is read: a small batch is answered with
    its outcomes, and its spooled file and sidecar are gone afterwards."""
    import httpx

    from tests.e2e.obitos_support import soap_body

    g, spool = gw
    r = httpx.post(g.url + "/soap/crc", content=soap_body("SPOOL-OK-1", recs(3, ("097543",), seed=77,
                                                                                 first_termo=880_000)),
                   headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.text.count("<c:resultado>aceito</c:resultado>") == 3
    assert not list(spool.iterdir())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("resend", [False, True], ids=["no-resend", "resend-during-resumption"])
def test_sigkill_mid_batch_resumed_at_restart(tmp_path: Path, resend: bool) -> None:
    """SIGKILL after 5 committed chunks of a 1000-record batch; the next start resumes it from the spooled file
    (sidecar) with no resend — or, with a resend arriving meanwhile, the resend waits and both end in one batch:
    every record once, the spool directory emptied."""
    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    seed(db_url)
    grant(db_url)
    spool = tmp_path / "spool"
    spool.mkdir()
    settings = test_settings(db_url, tmp_path)
    env = {**ENV, "GATEWAY_OBITOS_SPOOL_DIR": str(spool)}
    records = recs(1000, ("097543", "123456"), seed=23, first_termo=600_000)
    data = body("LOTE-SPOOL-1", records)
    mocks = Mocks()
    engine = create_engine(db_url)
    try:
        gw1 = GatewayProcess(settings, tmp_path / "gw1.log", {**mocks.env(), **env,
                                                               "GATEWAY_CRASH_AT": "obitos_chunk:5"}).start()
        r = post_batch(gw1.url, data, user=CRC)
        assert r.status_code == 202, r.text
        wait_until(lambda: not gw1.alive(), 60, 0.1, "the gateway killed mid-batch")
        gw1.kill()
        with engine.connect() as conn:
            lote = conn.execute(select(obito_lotes)).mappings().one()
        assert lote["status"] == "processando" and 0 < lote["chunks_done"] < 20
        assert sorted(p.suffix for p in spool.iterdir()) == [".json", ".part"]  # the body and its sidecar

        gw2 = GatewayProcess(settings, tmp_path / "gw2.log", {**mocks.env(), **env}).start()
        try:
            if resend:
                again = post_batch(gw2.url, data, user=CRC)
                assert again.status_code == 202, again.text
            done = wait_until(lambda: (v := get_batch(gw2.url, "LOTE-SPOOL-1", CRC).json())["situacao"]
                              == "concluido" and v, 120, 0.2, "batch resumed and concluded")
            assert done["processados"] == 1000 and done["contagem"]["aceito"] == 1000
            items = all_outcomes(gw2.url, "LOTE-SPOOL-1", CRC)
            assert [i["sequencia"] for i in items] == list(range(1000))
            wait_until(lambda: not list(spool.iterdir()), 30, 0.1, "the spool directory emptied")
        finally:
            gw2.stop()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(communications).where(
                communications.c.kind == "VI")).scalar()
        assert stored == 1000
    finally:
        engine.dispose()
        mocks.stop()


