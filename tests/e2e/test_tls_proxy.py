"""The deployment's reverse proxy, end to end: Debian's nginx with ``deploy/nginx/gateway.conf.template`` on
loopback, TLS from a sandbox CA made by ``gateway pki init``, in front of a real ``gateway serve`` that trusts it
(``GATEWAY_TRUSTED_PROXIES``) — and zeep calling through it over HTTPS, with a password or with a client
certificate registered for an organ (``gateway organ certificate add``, X-Road's model).

nginx reaches the gateway from 127.0.0.2 (``proxy_bind``), the only trusted address, so that this test's own
direct connections (from 127.0.0.1) are an untrusted client's: the headers forged on them must be ignored.
"""

from __future__ import annotations

import ssl
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from gateway.infodip.contract import NS
from tests.deploy_support import Nginx, gateway_cli
from tests.support import GatewayProcess, password_of, seed, test_settings, unique_ref
from tests.system_packages import ensure

pytestmark = pytest.mark.e2e
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
PROXY_ADDRESS = "127.0.0.2"


@dataclass
class Stack:
    """The sandbox CA, the gateway and nginx in front of it."""

    pki: Path
    gateway: GatewayProcess
    nginx: Nginx

    @property
    def ca(self) -> str:
        """The CA file clients trust."""
        return str(self.pki / "ca.pem")

    def tls(self) -> ssl.SSLContext:
        """A client TLS context trusting the sandbox CA only."""
        return ssl.create_default_context(cafile=self.ca)

    def client_cert(self, name: str) -> tuple[str, str]:
        """(certificate, key) of client *name*."""
        return str(self.pki / "clients" / f"{name}.pem"), str(self.pki / "clients" / f"{name}-key.pem")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """nginx (from Debian's packages, installed when missing) → gateway, with a sandbox CA whose client certificate
    ``tjrj-sistema`` is registered for the organ TJRJ and ``intruso`` for nobody."""
    nginx_bin = ensure("nginx")
    tmp = tmp_path_factory.mktemp("tls")
    pki = tmp / "pki"
    gateway_cli("pki", "init", "--dir", str(pki), "--client", "tjrj-sistema", "--client", "intruso")
    db = f"sqlite:///{tmp / 'gateway.db'}"
    seed(db)
    added = gateway_cli("organ", "certificate", "add", "TJRJ", str(pki / "clients" / "tjrj-sistema.pem"),
                        env={"GATEWAY_DATABASE_URL": db})
    assert "cadastrado para o órgão TJRJ" in added.stdout
    gateway = GatewayProcess(test_settings(db, tmp), tmp / "gateway.log", extra_env={
        "GATEWAY_TRUSTED_PROXIES": PROXY_ADDRESS, "GATEWAY_CLIENT_CERT_CACHE_S": "0"}).start()
    nginx = Nginx(nginx_bin, tmp / "nginx", f"127.0.0.1:{gateway.port}", pki, upstream_bind=PROXY_ADDRESS)
    try:
        nginx.start()
        yield Stack(pki, gateway, nginx)
    finally:
        nginx.stop()
        gateway.stop()


def session(stack: Stack, cert: tuple[str, str] | None = None) -> requests.Session:
    """A requests session (zeep's transport) trusting the sandbox CA, presenting *cert* when given."""
    s = requests.Session()
    s.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    s.verify = stack.ca
    if cert is not None:
        s.cert = cert
    return s


def client(stack: Stack, *, password: bool = True, cert: tuple[str, str] | None = None) -> zeep.Client:
    """zeep built from the WSDL fetched through nginx over HTTPS."""
    wsse = UsernameToken("tjrj-sistema", password_of("tjrj-sistema")) if password else None
    return zeep.Client(stack.nginx.url + "/soap/infodip?wsdl", wsse=wsse,
                       transport=Transport(session=session(stack, cert), timeout=30, operation_timeout=30))


def comunicacao() -> dict[str, Any]:
    """A kind-IV communication of TJRJ, as the README's zeep example builds it, with a fresh reference."""
    fato = date.today() - timedelta(days=3)
    return {
        "tipo": "IV",
        "cabecalho": {"referenciaRemetente": unique_ref("TLS"), "pessoa": {"nome": "Maria da Silva",
                                                                           "cpf": "52998224725"},
                      "processo": {"numero": "00452180920248190001"}, "dataFato": fato},
        "condenacaoCriminal": {"dataTransitoJulgado": fato, "dispositivoPenal": ["CP, art. 312, caput"],
                               "pena": {"anos": 4, "meses": 2}, "regime": "semiaberto",
                               "inelegibilidade": {"causaInelegibilidade": True, "alinea": "e", "item": "1"}},
    }


def fault_code(fault: Fault) -> str | None:
    """The INFODIP-E… code in a Fault's detail."""
    assert fault.detail is not None
    return fault.detail.findtext(f".//{{{NS}}}codigo")


def soap_without_credential(stack: Stack) -> bytes:
    """An enviarComunicacao envelope with no Security header, built by zeep from the WSDL served through nginx."""
    zc = client(stack, password=False)
    return etree.tostring(zc.create_message(zc.service, "enviarComunicacao", comunicacao=comunicacao()))


def test_pki_init_writes_private_files(stack: Stack) -> None:
    """``gateway pki init`` wrote the CA, the server's and the clients' certificates and keys, each 0600, in a
    directory of its user's (0700)."""
    files = ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "clients/tjrj-sistema.pem",
             "clients/tjrj-sistema-key.pem", "clients/intruso.pem", "clients/intruso-key.pem"]
    for name in files:
        assert stat.S_IMODE((stack.pki / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(stack.pki.stat().st_mode) == 0o700


def test_zeep_over_https_through_nginx(stack: Stack) -> None:
    """zeep loads the WSDL through nginx over HTTPS (verifying the sandbox CA), the WSDL's ``soap:address`` is the
    HTTPS URL the client used (X-Forwarded-Proto/-Host believed from the proxy), and a submission through it
    with a UsernameToken is accepted. Asked directly over HTTP, the same gateway gives its HTTP address."""
    zc = client(stack)
    address = zc.wsdl.services["InfodipService"].ports["InfodipPort"].binding_options["address"]
    assert address == stack.nginx.url + "/soap/infodip"
    recibo = zc.service.enviarComunicacao(comunicacao=comunicacao())
    assert recibo.protocolo and recibo.versao == 1 and recibo.reenvio is False

    direct = etree.fromstring(httpx.get(stack.gateway.url + "/soap/infodip?wsdl", timeout=10).content)
    location = direct.find(f".//{{{WSDL_SOAP}}}address")
    assert location is not None and location.get("location") == stack.gateway.url + "/soap/infodip"
    # forged forwarding headers straight to the gateway (an untrusted peer) change nothing — uvicorn's own
    # proxy-header handling, which believed them from 127.0.0.1, is off
    forged = etree.fromstring(httpx.get(stack.gateway.url + "/soap/infodip?wsdl", timeout=10, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}).content)
    location = forged.find(f".//{{{WSDL_SOAP}}}address")
    assert location is not None and location.get("location") == stack.gateway.url + "/soap/infodip"


def test_client_certificate_authenticates_its_organ(stack: Stack) -> None:
    """With the client certificate registered for TJRJ and no UsernameToken, a submission through nginx is
    accepted as TJRJ's: the protocol it returns is visible to TJRJ's own credential (an organ sees only its own)."""
    zc = client(stack, password=False, cert=stack.client_cert("tjrj-sistema"))
    recibo = zc.service.enviarComunicacao(comunicacao=comunicacao())
    assert recibo.protocolo and recibo.versao == 1
    view = httpx.get(f"{stack.nginx.url}/api/v1/comunicacoes/{recibo.protocolo}", verify=stack.tls(), timeout=10,
                     auth=("tjrj-sistema", password_of("tjrj-sistema")))
    assert view.status_code == 200 and view.json()["protocolo"] == recibo.protocolo


def test_without_a_registered_certificate_the_call_is_refused(stack: Stack) -> None:
    """No credential and no certificate, or a certificate of the same CA that no organ registered: refused with
    INFODIP-E020 (authentication missing), nothing stored."""
    for cert in (None, stack.client_cert("intruso")):
        with pytest.raises(Fault) as refused:
            client(stack, password=False, cert=cert).service.enviarComunicacao(comunicacao=comunicacao())
        assert fault_code(refused.value) == "INFODIP-E020", cert


def test_forged_certificate_headers_are_ignored(stack: Stack) -> None:
    """The headers that carry the verified certificate are believed only from the trusted proxy: sent by a client
    straight to the gateway, or through nginx without a certificate (nginx replaces them), they authenticate
    nobody."""
    pem = (stack.pki / "clients" / "tjrj-sistema.pem").read_text()
    forged = {"X-Client-Verify": "SUCCESS", "X-Client-Cert": quote(pem), "Content-Type": "text/xml; charset=utf-8",
              "SOAPAction": '""'}
    body = soap_without_credential(stack)
    for url, verify in ((stack.gateway.url, True), (stack.nginx.url, stack.tls())):
        r = httpx.post(url + "/soap/infodip", content=body, headers=forged, verify=verify, timeout=10)
        assert r.status_code == 500, url
        code = etree.fromstring(r.content).findtext(f".//{{{NS}}}codigo")
        assert code == "INFODIP-E020", url


def test_nginx_configuration_applies_timeouts_and_limits(stack: Stack) -> None:
    """The configuration nginx runs (``nginx -T``) carries the template's timeouts, connection limit and trusted
    forwarding headers, and nginx accepted it (``nginx -t``)."""
    dumped = subprocess.run([stack.nginx.binary, "-T", "-p", str(stack.nginx.directory), "-c",
                             str(stack.nginx.conf), "-e", str(stack.nginx.error_log)], capture_output=True,
                            text=True, timeout=30, check=True).stdout
    for directive in ("client_header_timeout 10s;", "client_body_timeout 30s;", "proxy_read_timeout 130s;",
                      "proxy_connect_timeout 5s;", "limit_conn gateway_per_client 64;",
                      "ssl_verify_client optional;", "proxy_set_header X-Forwarded-Proto $scheme;",
                      "proxy_set_header X-Client-Cert $ssl_client_escaped_cert;"):
        assert directive in dumped, directive
