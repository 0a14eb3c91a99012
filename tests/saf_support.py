"""Helpers of the store-and-forward tests (issue 9): histories whose destinations change, a ``gateway relay``
process, and the INFODIP XSD check every answer of the e2e suite goes through."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from lxml import etree

from gateway.infodip.contract import NS, schema
from gateway.infodip.domain import Kind
from gateway.settings import Settings
from tests.support import ROOT, GatewayProcess, infodip_request, retification, sample, unique_ref

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_XSD_TYPES = etree.parse(str(ROOT / "schemas" / "infodip" / "1.0" / "xsd" / "infodip-1.0.xsd"))


def conviction_without_inelegibility(reference: str | None = None) -> bytes:
    """A IV (criminal conviction) saying it causes no inelegibility: routed to the TSE only."""
    body = sample(Kind.IV, reference=reference or unique_ref("IV"))
    changed = body.replace(b"<inf:causaInelegibilidade>true</inf:causaInelegibilidade>",
                           b"<inf:causaInelegibilidade>false</inf:causaInelegibilidade>")
    assert changed != body
    return changed


def retification_with_inelegibility(protocol: str, reference: str | None = None) -> bytes:
    """A retificação of the IV *protocol* saying it causes inelegibility: routed to the TSE and the CNJ."""
    return retification(protocol, Kind.IV, reference=reference or unique_ref("RI"), user="tjrj-sistema")


def cancellation(protocol: str, reference: str | None = None, user: str = "tjrj-sistema") -> bytes:
    """A cancelamento of *protocol*."""
    return infodip_request("cancelarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>"
                           f"<i:referenciaRemetente>{reference or unique_ref('CA')}</i:referenciaRemetente>"
                           "<i:motivo>Comunicação enviada por engano.</i:motivo>", user)


def enumeration(type_name: str) -> frozenset[str]:
    """The values of the INFODIP XSD's simple type *type_name* (e.g. ``tipoSituacaoEntrega``)."""
    xs = "http://www.w3.org/2001/XMLSchema"
    found = _XSD_TYPES.getroot().find(f"{{{xs}}}simpleType[@name='{type_name}']")
    assert found is not None, type_name
    return frozenset(e.get("value", "") for e in found.iter(f"{{{xs}}}enumeration"))


def check_infodip_answer(status: int, content: bytes) -> None:
    """Raise AssertionError unless *content* — an answer of ``POST /soap/infodip`` — is what the contract allows:
    a SOAP 1.1 envelope whose body is an INFODIP response element valid against ``infodip-1.0.xsd`` (HTTP 200), or
    a Fault (HTTP 500) whose ``detail`` holds a valid ``erros`` element."""
    root = etree.fromstring(content)
    body = root.find(f"{{{SOAP}}}Body")
    assert root.tag == f"{{{SOAP}}}Envelope" and body is not None and len(body) == 1, content[:500]
    answer = body[0]
    if answer.tag == f"{{{SOAP}}}Fault":
        assert status == 500, f"a Fault with HTTP {status}"
        erros = answer.find(f"detail/{{{NS}}}erros")
        assert erros is not None, content[:800]
        element = erros
    else:
        assert status == 200, f"an answer with HTTP {status}"
        element = answer
    xsd = schema()
    assert xsd.validate(element), f"answer not valid against infodip-1.0.xsd: {xsd.error_log}\n{content[:1500]!r}"


def check_rest_view(payload: object) -> None:
    """Raise AssertionError unless a REST communication view uses only the contract's vocabulary for its states."""
    assert isinstance(payload, dict)
    if "situacao" in payload:
        assert payload["situacao"] in enumeration("tipoSituacaoComunicacao"), payload["situacao"]
    for entrega in payload.get("entregas", []):
        assert entrega["situacao"] in enumeration("tipoSituacaoEntrega"), entrega


class RelayProcess:
    """``gateway relay`` (the delivery worker alone) as a real process on the settings' database."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str]) -> None:
        self.env = GatewayProcess(settings, log_path, extra_env).env()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RelayProcess:
        """Start it; RuntimeError if it exits at once (e.g. refused settings)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "relay"], env=self.env, stdout=log,
                                     stderr=log, cwd=ROOT)
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return self
        raise RuntimeError(f"gateway relay exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def relay_settings_env(lease_s: float, partner_timeout_s: float) -> dict[str, str]:
    """Environment of a short lease and a partner timeout that the relay accepts."""
    return {"GATEWAY_RELAY_LEASE_S": str(lease_s), "GATEWAY_PARTNER_TIMEOUT_S": str(partner_timeout_s)}

