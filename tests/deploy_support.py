"""Helpers of the deployment tests: the nginx template rendered and run on loopback, the guide's runnable blocks,
the ``gateway`` command as a subprocess."""

from __future__ import annotations

import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support import ROOT, free_port, wait_until

TEMPLATE = ROOT / "deploy" / "nginx" / "gateway.conf.template"
GUIDE = ROOT / "docs" / "deploy.md"
_PLACEHOLDER = re.compile(r"\$\{(NGINX_[A-Z_]+)\}")
_BLOCK = re.compile(r"<!-- test: ([a-z0-9-]+) -->\s*```(?:sh|sql|bash)\n(.*?)```", re.DOTALL)


def render(template: str, values: Mapping[str, str]) -> str:
    """*template* with every ``${NGINX_…}`` replaced, as envsubst would (AssertionError for a name not given)."""
    missing = set(_PLACEHOLDER.findall(template)) - set(values)
    assert not missing, f"sem valor para {sorted(missing)}"
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def guide_block(name: str) -> str:
    """The guide's fenced block marked ``<!-- test: NAME -->`` (the commands a test runs as the guide gives them)."""
    blocks = dict(_BLOCK.findall(GUIDE.read_text(encoding="utf-8")))
    assert name in blocks, f"docs/deploy.md não tem o bloco {name!r} (tem {sorted(blocks)})"
    return blocks[name]


def gateway_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    """``gateway ARGS…`` as a process with *env* added to the environment (GATEWAY_* of this process removed)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full.update(env or {})
    done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, check=False)
    if check:
        assert done.returncode == 0, f"gateway {' '.join(args)} → {done.returncode}: {done.stderr}{done.stdout}"
    return done


class Nginx:
    """nginx on loopback with the project's template, in a prefix of its own under *directory*, in the foreground
    (``daemon off``: this process's child, stopped by its pid). *upstream_bind* is the source address nginx uses
    towards the gateway (so a test can tell the proxy's connections from its own)."""

    def __init__(self, binary: str, directory: Path, upstream: str, pki: Path, upstream_bind: str) -> None:
        self.binary = binary
        self.directory = directory
        self.ca = pki / "ca.pem"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.conf = directory / "nginx.conf"
        self.error_log = directory / "error.log"
        self.proc: subprocess.Popen[bytes] | None = None
        site = render(TEMPLATE.read_text(), {
            "NGINX_LISTEN": f"127.0.0.1:{self.port}", "NGINX_SERVER_NAME": "localhost",
            "NGINX_TLS_CERT": str(pki / "server.pem"), "NGINX_TLS_KEY": str(pki / "server-key.pem"),
            "NGINX_CLIENT_CA": str(pki / "ca.pem"), "NGINX_UPSTREAM": upstream})
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "gateway.conf").write_text(site)
        temp = directory / "temp"
        temp.mkdir(exist_ok=True)
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.conf.write_text(f"""
user {user};
worker_processes 1;
daemon off;
pid {directory / 'nginx.pid'};
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {directory / 'access.log'};
    client_body_temp_path {temp / 'body'};
    proxy_temp_path {temp / 'proxy'};
    fastcgi_temp_path {temp / 'fastcgi'};
    uwsgi_temp_path {temp / 'uwsgi'};
    scgi_temp_path {temp / 'scgi'};
    proxy_bind {upstream_bind};
    include {directory / 'gateway.conf'};
}}
""")

    def check(self) -> str:
        """``nginx -t`` on the configuration: its output (AssertionError when nginx refuses it)."""
        done = subprocess.run([self.binary, "-t", "-p", str(self.directory), "-c", str(self.conf), "-e",
                               str(self.error_log)], capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return done.stderr

    def start(self) -> Nginx:
        """Start and wait until it completes a TLS handshake (RuntimeError with its error log if it exits)."""
        self.check()
        self.proc = subprocess.Popen([self.binary, "-p", str(self.directory), "-c", str(self.conf), "-e",
                                      str(self.error_log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        context = ssl.create_default_context(cafile=str(self.ca))

        def handshakes() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: {self.error_log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw, \
                        context.wrap_socket(raw, server_hostname="localhost"):
                    return True
            except OSError:
                return False

        wait_until(handshakes, 30, what="nginx TLS")
        return self

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
