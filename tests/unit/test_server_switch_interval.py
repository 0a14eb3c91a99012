"""The interpreter's thread switch interval while the gateway serves (``GATEWAY_GIL_SWITCH_INTERVAL_MS``, issue 13):
how long the event loop may wait for the GIL while the writer or a death batch's thread runs."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from gateway import server
from gateway.settings import Settings, SettingsError


def test_run_sets_the_interval_while_serving_and_restores_it() -> None:
    """Inside the loop the interval is the setting's (ms → s); afterwards the interpreter's earlier value is back."""
    before = sys.getswitchinterval()
    seen: list[float] = []

    async def main() -> None:
        seen.append(sys.getswitchinterval())

    server.run(main(), switch_interval_ms=1.0)
    assert seen == [pytest.approx(0.001)]
    assert sys.getswitchinterval() == before
    server.run(main())  # None: left as it is
    assert seen[-1] == before


def test_run_restores_the_interval_when_main_fails() -> None:
    before = sys.getswitchinterval()

    async def main() -> None:
        raise RuntimeError("falhou")

    with pytest.raises(RuntimeError):
        server.run(main(), switch_interval_ms=2.0)
    assert sys.getswitchinterval() == before


def test_the_loop_waits_less_for_a_busy_thread_at_one_millisecond() -> None:
    """What the setting is for: with a pure-Python thread spinning, the loop's timer callbacks are late by about the
    switch interval — the median lateness at 1 ms is well under the median at CPython's default 5 ms."""

    def median_lateness(interval_ms: float) -> float:
        stop = threading.Event()

        def spin() -> None:
            x = 0
            while not stop.is_set():
                x += 1

        late: list[float] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for _ in range(60):
                due = loop.time() + 0.002
                await asyncio.sleep(0.002)
                late.append(loop.time() - due)

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        try:
            server.run(main(), switch_interval_ms=interval_ms)
        finally:
            stop.set()
            spinner.join(timeout=5)
        late.sort()
        return late[len(late) // 2]

    assert median_lateness(1.0) < median_lateness(5.0) * 0.6


def test_setting_default_and_bounds() -> None:
    assert Settings.from_env({}).gil_switch_interval_ms == 1.0
    assert Settings.from_env({"GATEWAY_GIL_SWITCH_INTERVAL_MS": "2.5"}).gil_switch_interval_ms == 2.5
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"GATEWAY_GIL_SWITCH_INTERVAL_MS": "0"})
    assert refused.value.code == "GATEWAY-E001"
