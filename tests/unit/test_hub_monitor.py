"""The MNI hub's monitor of tribunal installations: calls counted per installation and operation, a TCP probe, and
what ``/readyz`` reports from them (the latest of the probe and the call decides)."""

from __future__ import annotations

import asyncio
import socket

from prometheus_client import generate_latest

from gateway.clock import FakeClock
from gateway.hub.monitor import ERRO, SUCESSO, TribunalMonitor
from gateway.hub.registry import Installation
from gateway.metrics import Metrics


def test_calls_are_counted_timed_and_reported() -> None:
    """A successful call counts under ``sucesso`` and is timed; a failed one counts under ``erro`` and by its code;
    the report gives the last call, and the installation is reachable or not by it."""
    clock = FakeClock()
    metrics = Metrics()
    monitor = TribunalMonitor(clock, metrics)
    monitor.call("8.19/1", "consultarProcesso", SUCESSO, 0.2)
    inst = Installation("8.19", "1", "http://127.0.0.1:1/x")
    assert monitor.report([inst])["8.19/1"]["situacao"] == "alcancavel"
    clock.advance(1)
    monitor.call("8.19/1", "consultarProcesso", ERRO, 1.5, "MNI-E042")
    report = monitor.report([inst, Installation("4.04", "1", "http://127.0.0.1:2/y")])
    assert report["8.19/1"]["situacao"] == "inalcancavel"
    assert report["8.19/1"]["ultimaChamada"]["codigo"] == "MNI-E042"  # type: ignore[index]
    assert report["4.04/1"] == {"situacao": "desconhecida"}
    text = generate_latest(metrics.registry).decode()
    assert ('gateway_mni_calls_total{installation="8.19/1",operation="consultarProcesso",outcome="erro"} 1.0'
            in text)
    assert ('gateway_mni_errors_total{code="MNI-E042",installation="8.19/1",operation="consultarProcesso"} 1.0'
            in text)
    assert 'gateway_mni_call_duration_seconds_count{installation="8.19/1",operation="consultarProcesso"} 2.0' in text
    assert 'gateway_mni_installation_up{installation="8.19/1"} 0.0' in text


def test_probe_tells_a_listening_port_from_a_closed_one() -> None:
    """The TCP probe finds an installation whose port accepts connections reachable, and one whose port is closed
    unreachable, each within the timeout; the gauge follows."""
    metrics = Metrics()
    monitor = TribunalMonitor(FakeClock(), metrics)
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        up = Installation("8.19", "1", f"http://127.0.0.1:{listening.getsockname()[1]}/pje")
        down = Installation("8.19", "2", f"http://127.0.0.1:{closed.getsockname()[1]}/pje")
        asyncio.run(monitor.probe([up, down], timeout_s=5))
    report = monitor.report([up, down])
    assert report["8.19/1"]["situacao"] == "alcancavel" and report["8.19/1"]["sonda"]["resultado"] == "ok"  # type: ignore[index]
    assert report["8.19/2"]["situacao"] == "inalcancavel"
    assert report["8.19/2"]["sonda"]["resultado"] == "ConnectionRefusedError"  # type: ignore[index]
    text = generate_latest(metrics.registry).decode()
    assert 'gateway_mni_installation_up{installation="8.19/2"} 0.0' in text
