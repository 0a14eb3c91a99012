"""The sandbox's port probe (gateway/sandbox.py ``_port_or_any``): the simulators take --port+1, +2… unless another
socket really holds the port — a port left in TIME_WAIT by a sandbox that just stopped is not taken."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest

from gateway.sandbox import _port_or_any


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a free port of 127.0.0.1, bound as the servers bind (SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock


def test_a_listening_port_is_taken_and_a_free_one_is_not(listener: socket.socket) -> None:
    """A port another socket listens on gives 0 (the simulator takes any free port); once it is closed, the same
    port is given back as is."""
    port = listener.getsockname()[1]
    assert _port_or_any("127.0.0.1", port) == 0
    listener.close()
    assert _port_or_any("127.0.0.1", port) == port


@pytest.mark.skipif(sys.platform != "linux", reason="TIME_WAIT blocking a plain bind is Linux's behaviour")
def test_a_port_in_time_wait_is_not_taken(listener: socket.socket) -> None:
    """The server side closing a connection first leaves its port in TIME_WAIT after the listener is gone: a plain
    bind is refused there (what the probe used to do), the probe — binding as the servers do — gives the port."""
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end goes to TIME_WAIT
        client.settimeout(5)
        assert client.recv(1) == b""
    listener.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # the connection is in TIME_WAIT indeed
    assert _port_or_any("127.0.0.1", port) == port
