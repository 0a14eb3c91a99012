"""Partner simulators (``python -m mocks.NAME``) as child processes of the sandbox and of the tests.

A simulator prints one JSON line ``{"url": …}`` once it listens. :func:`start_mock` waits for that line as long as
the child is making progress — its CPU time grows, as it does while a loaded machine imports its modules slowly —
up to a generous bound (*timeout*, seconds), and gives up earlier only when the child exits or has used no CPU
for *stall_s* seconds. A child that fails is reported with its own last lines of error output
(:class:`SimulatorError`, ``GATEWAY-E054``), never with a traceback of ours. Its output after the start goes on
to the sandbox's stderr, prefixed with its name.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gateway.errors import OperatorError

ROOT = Path(__file__).resolve().parent.parent
#: Bounds of a simulator's start: the whole start, and a stretch without any CPU progress (seconds).
START_TIMEOUT_S = 180.0
STALL_S = 60.0


class SimulatorError(OperatorError):
    """A simulator did not start (GATEWAY-E054); the message carries its own last lines of error output."""

    default_code = "GATEWAY-E054"


@dataclass
class MockProcess:
    """A partner simulator running as a child process."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    output: deque[str] = field(default_factory=lambda: deque(maxlen=40))

    def stop(self) -> None:
        """Terminate the child (by its own id) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of process *pid* in clock ticks (``/proc/PID/stat``), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    after_name = stat.rsplit(")", 1)[-1].split()
    try:
        return int(after_name[11]) + int(after_name[12])  # fields 14 (utime) and 15 (stime)
    except (IndexError, ValueError):
        return None


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[list[int]]:
    """Hold back Ctrl+C (SIGINT) for the block, when in the main thread: the list it yields is non-empty afterwards
    if one arrived, and the caller raises KeyboardInterrupt once it can clean up. Elsewhere: nothing is deferred."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: got.append(signum))
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, previous)


def start_mock(module: str, host: str, port: int, timeout: float = START_TIMEOUT_S, args: tuple[str, ...] = (),
               name: str | None = None, stall_s: float = STALL_S, forward: IO[str] | None = None) -> MockProcess:
    """Start ``python -m mocks.<module> --host HOST --port PORT ARGS`` and wait for the URL it prints once it
    listens (see the module docstring for how long). *forward*: where its later output goes (default: stderr).
    Errors: SimulatorError (GATEWAY-E054) with the simulator's own last lines when it exits, stalls or is not ready
    within *timeout* seconds."""
    label = name or module
    with _sigint_deferred() as interrupted:  # Ctrl+C inside Popen would leave a child nobody knows to stop
        proc = subprocess.Popen([sys.executable, "-m", f"mocks.{module}", "--host", host, "--port", str(port), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        mock = MockProcess(label, proc, "")
        first: list[str] = []
        ready = threading.Event()
        started = threading.Event()
        sink = forward if forward is not None else sys.stderr

        def drain(stream: IO[bytes] | None, is_stdout: bool) -> None:
            if stream is None:
                return
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if is_stdout and not ready.is_set():
                    first.append(line)
                    ready.set()
                    continue
                mock.output.append(line)
                if started.is_set() and line:
                    try:
                        print(f"[{label}] {line}", file=sink, flush=True)
                    except (OSError, ValueError):  # our own stderr closed: keep draining
                        pass
            if is_stdout:
                ready.set()  # end of output without a line: the child is gone

        readers = [threading.Thread(target=drain, args=(stream, is_stdout), daemon=True, name=f"sim-{label}")
                   for stream, is_stdout in ((proc.stdout, True), (proc.stderr, False))]
        for reader in readers:
            reader.start()
    if interrupted:
        mock.stop()
        raise KeyboardInterrupt

    def give_up(reason: str) -> SimulatorError:
        mock.stop()
        for reader in readers:  # the child is gone: its pipes end, and its last words are in mock.output
            reader.join(timeout=5)
        said = [line for line in mock.output if line.strip()][-3:]
        return SimulatorError(f"o simulador {label} não iniciou: {reason}"
                              + (f"; saída do simulador: {' | '.join(said)}" if said else ""))

    try:
        _wait_ready(proc, ready, timeout, stall_s, give_up)
    except BaseException:  # a refusal above, or Ctrl+C while waiting: the child goes with it
        mock.stop()
        raise
    try:
        mock.url = str(json.loads(first[0])["url"]) if first and first[0] else ""
    except (ValueError, KeyError, TypeError):
        mock.url = ""
    if not mock.url:
        if first and first[0]:
            raise give_up(f"primeira linha inesperada: {first[0][:200]!r}")
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        raise give_up(f"terminou com status {proc.poll()}")
    started.set()
    return mock



def _wait_ready(proc: subprocess.Popen[bytes], ready: threading.Event, timeout: float, stall_s: float,
                give_up: Callable[[str], SimulatorError]) -> None:
    """Wait until *ready* (the child's first line, or the end of its output), the child exits, it shows no CPU
    progress for *stall_s* seconds, or *timeout* seconds pass (the last two: *give_up*)."""
    deadline = time.monotonic() + timeout
    last_ticks, last_progress = cpu_ticks(proc.pid), time.monotonic()
    while not ready.wait(0.1):
        now = time.monotonic()
        if proc.poll() is not None:
            ready.wait(2)  # its last words
            return
        ticks = cpu_ticks(proc.pid)
        if ticks is None or ticks != last_ticks:
            last_ticks, last_progress = ticks, now
        if now - last_progress > stall_s:
            raise give_up(f"sem progresso há {stall_s:.0f} s")
        if now > deadline:
            raise give_up(f"não ficou pronto em {timeout:.0f} s")
