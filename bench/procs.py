"""Child processes of the benchmark: CPU pinning, servers that always stop, load-generator runs.

Every process is started in its own session (a Ctrl-C in the terminal reaches only the runner, which then stops
its children in ``finally`` blocks) and registered, so :func:`stop_all` can end whatever is still running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_RUNNING: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class Pinning:
    """Which CPU the server and the load generator get (empty prefixes when pinning is not possible)."""

    server: list[str] = field(default_factory=list)
    client: list[str] = field(default_factory=list)
    note: str = ""

    @classmethod
    def detect(cls, enabled: bool = True) -> Pinning:
        if not enabled:
            return cls(note="CPU pinning disabled (--no-pin): server and generator share all CPUs")
        taskset = shutil.which("taskset")
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if taskset is None:
            return cls(note="taskset not found: processes are NOT pinned (figures are less comparable)")
        if len(cpus) < 2:
            return cls(note=f"only {len(cpus)} CPU available: processes are NOT pinned")
        s, c = cpus[0], cpus[1]
        return cls([taskset, "-c", str(s)], [taskset, "-c", str(c)],
                   f"server pinned to CPU {s}, load generator to CPU {c} (taskset); {len(cpus)} CPUs available")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _terminate(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:  # the whole process group it leads (start_new_session): a sandbox's simulators too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    if proc in _RUNNING:
        _RUNNING.remove(proc)


def stop_all() -> None:
    """Stop every child still running (last started first)."""
    for proc in list(reversed(_RUNNING)):
        _terminate(proc)


def _spawn(cmd: list[str], env: dict[str, str] | None, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)
    _RUNNING.append(proc)
    return proc


class Server:
    """A server process on 127.0.0.1 that is ready once *ready_path* answers 200."""

    def __init__(self, name: str, cmd: list[str], port: int, log_path: Path, env: dict[str, str] | None = None,
                 ready_path: str = "/readyz") -> None:
        self.name = name
        self.cmd = cmd
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.env = env
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Server:
        log = open(self.log_path, "ab")
        try:
            self.proc = _spawn(self.cmd, self.env, log, log)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM (graceful), SIGKILL after 15 s; returns the exit code."""
        if self.proc is None:
            return None
        _terminate(self.proc)
        code = self.proc.returncode
        self.proc = None
        return code

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def loadgen(pinning: Pinning, url: str, *, template: Path | None, mode: str = "closed", concurrency: int = 64,
            rate: float = 0.0, duration: float = 8.0, warmup: float = 2.0, ref_prefix: str = "B-",
            method: str = "POST", extra: list[str] | None = None) -> dict[str, Any]:
    """One run of ``bench.loadgen`` on the client CPU; its JSON result."""
    cmd = [*pinning.client, sys.executable, "-m", "bench.loadgen", "--url", url, "--method", method,
           "--mode", mode, "--duration", str(duration), "--warmup", str(warmup), "--ref-prefix", ref_prefix,
           "--header", 'SOAPAction: "urn:gateway-interop:infodip:1.0/enviarComunicacao"']
    if template is not None:
        cmd += ["--template", str(template)]
    if mode == "closed":
        cmd += ["--concurrency", str(concurrency)]
    else:
        cmd += ["--rate", f"{rate:.1f}"]
    cmd += extra or []
    proc = _spawn(cmd, None, subprocess.PIPE, subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=warmup + duration + 90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc in _RUNNING:
            _RUNNING.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result
