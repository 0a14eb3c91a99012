"""``GATEWAY_OPS_LISTEN`` (issue 8, point 9), with real processes: unset, ``/metrics``, ``/readyz``, ``/docs`` and
``/openapi.json`` are served on the public port; set, they are served only on the operations address, and
``/healthz`` stays public (and is there too)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import GatewayProcess, free_port, test_settings

pytestmark = pytest.mark.e2e
OPS_PATHS = ("/metrics", "/readyz", "/docs", "/openapi.json")


def test_without_ops_listen_everything_is_on_the_public_port(sqlite_url: str, tmp_path: Path) -> None:
    """The default: one port serves the SOAP endpoints and the operations endpoints."""
    gw = GatewayProcess(test_settings(sqlite_url, tmp_path), tmp_path / "gw.log").start()
    try:
        for path in (*OPS_PATHS, "/healthz"):
            assert httpx.get(gw.url + path, timeout=10).status_code == 200, path
    finally:
        gw.stop()


def test_with_ops_listen_the_operations_endpoints_leave_the_public_port(sqlite_url: str, tmp_path: Path) -> None:
    """``GATEWAY_OPS_LISTEN=127.0.0.1:PORT``: the operations endpoints answer there (the OpenAPI schema is the
    public API's, /metrics counts the public port's traffic) and 404 on the public port; /healthz answers on both;
    the SOAP endpoints stay public only."""
    ops_port = free_port()
    ops = f"http://127.0.0.1:{ops_port}"
    gw = GatewayProcess(test_settings(sqlite_url, tmp_path), tmp_path / "gw.log",
                        extra_env={"GATEWAY_OPS_LISTEN": f"127.0.0.1:{ops_port}"}, ready_url=ops + "/readyz").start()
    try:
        assert httpx.get(gw.url + "/soap/infodip?wsdl", timeout=10).status_code == 200
        for path in OPS_PATHS:
            assert httpx.get(gw.url + path, timeout=10).status_code == 404, path
            assert httpx.get(ops + path, timeout=10).status_code == 200, path
        assert httpx.get(gw.url + "/redoc", timeout=10).status_code == 404
        assert httpx.get(gw.url + "/healthz", timeout=10).json() == {"status": "ok"}
        assert httpx.get(ops + "/healthz", timeout=10).json() == {"status": "ok"}
        schema = httpx.get(ops + "/openapi.json", timeout=10).json()
        assert "/api/v1/comunicacoes/{protocolo}" in schema["paths"]
        assert "swagger" in httpx.get(ops + "/docs", timeout=10).text.lower()
        assert httpx.get(ops + "/soap/infodip?wsdl", timeout=10).status_code == 404
        assert "gateway_request_duration_seconds" in httpx.get(ops + "/metrics", timeout=10).text
    finally:
        gw.stop()


def test_an_ops_address_in_use_is_a_one_line_error(sqlite_url: str, tmp_path: Path) -> None:
    """An operations address that cannot be listened on (in use: a system condition) stops the start with one
    GATEWAY-E052 line."""
    import socket
    import subprocess
    import sys

    from tests.support import ROOT

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        gw = GatewayProcess(test_settings(sqlite_url, tmp_path), tmp_path / "gw.log",
                            extra_env={"GATEWAY_OPS_LISTEN": f"127.0.0.1:{taken.getsockname()[1]}"})
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--port", str(gw.port)], env=gw.env(),
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert out.returncode == 2 and out.stderr.startswith("GATEWAY-E052: GATEWAY_OPS_LISTEN"), out.stderr
    assert len(out.stderr.splitlines()) == 1
