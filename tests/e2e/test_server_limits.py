"""``gateway serve`` against slow, idle and too many clients (issue 8, point 2): real slowloris clients on raw sockets
over loopback, bounded in count and time. Each connection is cut within its configured bound, ``/healthz`` answers
while the cap is full, one client address cannot take every connection, and the log stays a few summary lines."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import GatewayProcess, test_settings, wait_until

pytestmark = pytest.mark.e2e
SLACK_S = 3.0  # scheduling on a shared 2-core machine; the bounds below are upper bounds, not speed


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to the gateway from *source* (any 127.x.y.z address is this machine)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_until_closed(s: socket.socket, deadline_s: float) -> tuple[float, bytes]:
    """Everything the server sends until it closes the connection: (seconds it took, bytes). AssertionError when it
    is still open after *deadline_s*."""
    started = time.monotonic()
    data = b""
    while True:
        left = deadline_s - (time.monotonic() - started)
        assert left > 0, f"connection still open after {deadline_s} s"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            raise AssertionError(f"connection still open after {deadline_s} s") from None
        if not chunk:
            break
        data += chunk
    return time.monotonic() - started, data


def reset_at_once(socks: list[socket.socket], wait_s: float = 2.0) -> int:
    """How many of the fresh connections *socks* the server reset (or closed) without waiting for a request, looking
    at all of them together for *wait_s* seconds."""
    selector = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + wait_s
    while len(closed) < len(socks) and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(left):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(1)
            except ConnectionResetError:
                data = b""
            if data == b"":
                closed.add(sock)
                selector.unregister(sock)
    selector.close()
    for s in socks:
        s.setblocking(True)
    return len(closed)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway with short timers (head 1 s, body 2 s, keep-alive 1 s), a summary line every second, and room for
    one client to open the flood below."""
    from tests.support import seed

    tmp = tmp_path_factory.mktemp("quick")
    url = f"sqlite:///{tmp / 'gw.db'}"
    seed(url)
    proc = GatewayProcess(test_settings(url, tmp), tmp / "gw.log", extra_env={
        "GATEWAY_HEADER_TIMEOUT_S": "1", "GATEWAY_BODY_TIMEOUT_S": "2", "GATEWAY_KEEPALIVE_TIMEOUT_S": "1",
        "GATEWAY_SERVER_LOG_INTERVAL_S": "1", "GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "1000"}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway holding idle connections long (head 30 s) with small caps: 20 connections, 10 per client address,
    4 more for /healthz only."""
    from tests.support import seed

    tmp = tmp_path_factory.mktemp("capped")
    url = f"sqlite:///{tmp / 'gw.db'}"
    seed(url)
    proc = GatewayProcess(test_settings(url, tmp), tmp / "gw.log", extra_env={
        "GATEWAY_HEADER_TIMEOUT_S": "30", "GATEWAY_MAX_CONNECTIONS": "20", "GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "10",
        "GATEWAY_HEALTHZ_RESERVE": "4"}).start()
    yield proc
    proc.stop()


def test_headers_one_line_at_a_time_are_cut_at_the_header_timeout(quick: GatewayProcess) -> None:
    """A client sending its head one line every 0.3 s (the slowloris of the review, faster) is answered 408
    GATEWAY-E041 and closed within the 1 s header timeout, however many lines it still had to send."""
    s = connect(quick.port)
    s.sendall(b"POST /soap/infodip HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()

    def trickle() -> None:
        for i in range(40):
            if stop.wait(0.3):
                return
            try:
                s.sendall(f"X-Slow-{i}: a\r\n".encode())
            except OSError:
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        took, data = read_until_closed(s, 1 + SLACK_S)
    finally:
        stop.set()
        t.join(5)
        s.close()
    assert data.startswith(b"HTTP/1.1 408") and b"GATEWAY-E041" in data
    assert took < 1 + SLACK_S


def test_a_body_one_byte_at_a_time_is_cut_at_the_body_deadline(quick: GatewayProcess) -> None:
    """A complete head announcing 1000 bytes, then one byte every 0.3 s: cut within the 2 s body deadline (408)."""
    s = connect(quick.port)
    s.sendall(b"POST /soap/infodip HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<")
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.3):
            try:
                s.sendall(b"a")
            except OSError:
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        took, data = read_until_closed(s, 2 + SLACK_S)
    finally:
        stop.set()
        t.join(5)
        s.close()
    assert data.startswith(b"HTTP/1.1 408") and b"GATEWAY-E041" in data
    assert took < 2 + SLACK_S


def test_idle_connections_are_closed_before_and_between_requests(quick: GatewayProcess) -> None:
    """A connection that never sends a byte is closed at the header timeout; one kept alive after an answer is
    closed at the keep-alive timeout."""
    silent = connect(quick.port)
    try:
        took, data = read_until_closed(silent, 1 + SLACK_S)
    finally:
        silent.close()
    assert took < 1 + SLACK_S and data.startswith(b"HTTP/1.1 408")
    kept = connect(quick.port)
    try:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        took, data = read_until_closed(kept, 1 + SLACK_S)
    finally:
        kept.close()
    assert data.startswith(b"HTTP/1.1 200") and b'"ok"' in data and took < 1 + SLACK_S


def test_a_flood_of_slow_and_broken_clients_logs_a_few_summary_lines(quick: GatewayProcess) -> None:
    """150 idle, 50 garbage and 30 slow-body connections (the last reach /soap/infodip, whose body reading then
    sees the client cut): every one is closed, the gateway still answers, and its log grows by a handful of summary
    lines — no traceback, no line per connection."""
    before = quick.log_path.read_text().count("\n")
    socks = [connect(quick.port) for _ in range(150)]
    for _ in range(50):
        g = connect(quick.port)
        g.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        socks.append(g)
    for _ in range(30):
        b = connect(quick.port)
        b.sendall(b"POST /soap/infodip HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n<soap:Env")
        socks.append(b)
    try:
        for s in socks:
            read_until_closed(s, 2 + 2 * SLACK_S)
    finally:
        for s in socks:
            s.close()
    assert httpx.get(quick.url + "/healthz", timeout=5).status_code == 200
    wait_until(lambda: "cabeçalho lento" in quick.log_path.read_text(), timeout=10, what="a summary line")
    wait_until(lambda: "corpo lento" in quick.log_path.read_text(), timeout=10, what="the body timeouts summed up")
    log = quick.log_path.read_text()
    added = log.count("\n") - before
    assert "Traceback" not in log and "ClientDisconnect" not in log
    assert added <= 12, log[-3000:]
    metrics = httpx.get(quick.url + "/metrics", timeout=5).text
    assert 'gateway_connection_events_total{reason="header_timeout"}' in metrics
    assert 'gateway_connection_events_total{reason="invalid"}' in metrics


def test_one_client_address_cannot_take_every_connection(capped: GatewayProcess) -> None:
    """30 idle connections from 127.0.0.2: at most 10 (the per-client cap) plus the 4 /healthz-only ones are held,
    the rest are reset at once; a client from another address is served as usual meanwhile."""
    held = []
    try:
        socks = [connect(capped.port, "127.0.0.2") for _ in range(30)]
        held = socks
        assert reset_at_once(socks) == 30 - 10 - 4
        r = httpx.get(capped.url + "/soap/infodip?wsdl", timeout=5)
        assert r.status_code == 200 and b"soap:address" in r.content
    finally:
        for s in held:
            s.close()


def test_healthz_answers_while_the_cap_is_full(capped: GatewayProcess) -> None:
    """20 idle connections from four addresses fill the cap: /healthz is still answered (a reserved connection),
    any other request there gets 503 GATEWAY-E042, a connection past the reserve is reset; once they go, the
    gateway serves everything again."""
    wait_until(lambda: httpx.get(capped.url + "/soap/infodip?wsdl", timeout=5).status_code == 200,
               what="the previous test's connections gone")
    held: list[socket.socket] = []
    try:
        for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"):
            held.extend(connect(capped.port, source) for _ in range(5))
        assert reset_at_once(held) == 0  # all 20 are held open

        def healthz_answers() -> bool:
            return httpx.get(capped.url + "/healthz", timeout=5).status_code == 200

        assert healthz_answers()
        other = httpx.get(capped.url + "/soap/infodip?wsdl", timeout=5)
        assert other.status_code == 503 and "GATEWAY-E042" in other.text
        reserve = [connect(capped.port, "127.0.0.7") for _ in range(4)]
        held.extend(reserve)
        extra = connect(capped.port, "127.0.0.8")
        held.append(extra)
        assert reset_at_once(reserve, 0.5) == 0 and reset_at_once([extra]) == 1
    finally:
        for s in held:
            s.close()
    wait_until(lambda: httpx.get(capped.url + "/soap/infodip?wsdl", timeout=5).status_code == 200,
               what="the gateway serving again")
