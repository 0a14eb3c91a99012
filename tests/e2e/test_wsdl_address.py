"""The WSDLs' ``soap:address`` (issue 8, point 5), through real processes, for both WSDLs: ``GATEWAY_PUBLIC_URL``
wins over every header; forwarded headers count only from ``GATEWAY_TRUSTED_PROXIES``; a Host that is not a host
name is refused (GATEWAY-E040) and nothing a client sends can add markup to the WSDL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.edges.soap_infodip import served_wsdl
from gateway.schemas import INFODIP_WSDL
from tests.support import GatewayProcess, test_settings

pytestmark = pytest.mark.e2e
WSDLS = {"/soap/infodip": "/soap/infodip?wsdl", "/soap/mni": "/soap/mni?wsdl"}
SOAP_WSDL = "http://schemas.xmlsoap.org/wsdl/soap/"
HOSTILE = ['evil.example"><x:injected xmlns:x="urn:x"/><a b="', "evil.example/caminho", "a b", "evil.example:80:80",
           "<script>", "évil.example", "evil.example:123456"]


def address(r: httpx.Response) -> str:
    """The one ``soap:address/@location`` of a served WSDL (which must parse)."""
    assert r.status_code == 200, r.text
    locations = etree.fromstring(r.content).findall(f".//{{{SOAP_WSDL}}}address")
    assert len(locations) == 1
    return str(locations[0].get("location"))


def get(gw: GatewayProcess, path: str, source: str = "127.0.0.1", **headers: str) -> httpx.Response:
    """GET *path* from *source* with *headers* (Host too)."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as c:
        return c.get(gw.url + path, headers={k: v.encode("utf-8") for k, v in headers.items()})


def test_without_public_url_the_host_is_validated_and_forwarded_headers_need_a_trusted_proxy(
    sqlite_url: str, tmp_path: Path,
) -> None:
    """Development settings: the address follows a valid Host (names, IPv4, [IPv6], ports); X-Forwarded-Host/-Proto
    are honoured from 127.0.0.1 (trusted) and ignored from 127.0.0.2; a hostile Host or forwarded value is a 400
    GATEWAY-E040, never a WSDL."""
    gw = GatewayProcess(test_settings(sqlite_url, tmp_path), tmp_path / "gw.log",
                        extra_env={"GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32"}).start()
    try:
        for endpoint, path in WSDLS.items():
            for host in ("gw.tribunal.jus.br", "gw.tribunal.jus.br:8443", "10.1.2.3:80", "[2001:db8::1]:8080"):
                assert address(get(gw, path, "127.0.0.2", host=host)) == f"http://{host}{endpoint}"
            untrusted = get(gw, path, "127.0.0.2", host="gw.jus.br", **{"X-Forwarded-Host": "evil.example",
                                                                         "X-Forwarded-Proto": "https"})
            assert address(untrusted) == f"http://gw.jus.br{endpoint}"
            trusted = get(gw, path, "127.0.0.1", host="interno:8080", **{"X-Forwarded-Host": "a.example, gw.jus.br",
                                                                          "X-Forwarded-Proto": "https"})
            assert address(trusted) == f"https://gw.jus.br{endpoint}"
            for hostile in HOSTILE:
                r = get(gw, path, "127.0.0.2", host=hostile)
                assert r.status_code == 400 and r.text.startswith("GATEWAY-E040"), (hostile, r.text)
                r = get(gw, path, "127.0.0.1", host="ok.example", **{"X-Forwarded-Host": hostile})
                assert r.status_code == 400 and "GATEWAY-E040" in r.text, hostile
            r = get(gw, path, "127.0.0.1", host="ok.example", **{"X-Forwarded-Proto": 'javascript"'})
            assert r.status_code == 400 and "GATEWAY-E040" in r.text
    finally:
        gw.stop()


def test_public_url_wins_over_every_header(sqlite_url: str, tmp_path: Path) -> None:
    """With GATEWAY_PUBLIC_URL set the address is always it, whatever Host or forwarded headers say (even from a
    trusted proxy)."""
    gw = GatewayProcess(test_settings(sqlite_url, tmp_path), tmp_path / "gw.log", extra_env={
        "GATEWAY_PUBLIC_URL": "https://gateway.cnj.jus.br/interop", "GATEWAY_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        for endpoint, path in WSDLS.items():
            for source in ("127.0.0.1", "127.0.0.2"):
                r = get(gw, path, source, host="evil.example", **{"X-Forwarded-Host": "evil2.example",
                                                                  "X-Forwarded-Proto": "http"})
                assert address(r) == f"https://gateway.cnj.jus.br/interop{endpoint}"
            assert address(get(gw, path, host=HOSTILE[0])) == f"https://gateway.cnj.jus.br/interop{endpoint}"
    finally:
        gw.stop()


def test_the_address_is_escaped_in_the_wsdl() -> None:
    """Whatever string becomes the address, the WSDL stays well-formed and holds it as one attribute value."""
    hostile = 'http://x"/><soap:address location="http://evil&amp;'
    root = etree.fromstring(served_wsdl(str(INFODIP_WSDL), hostile))
    locations = root.findall(f".//{{{SOAP_WSDL}}}address")
    assert [e.get("location") for e in locations] == [hostile]
