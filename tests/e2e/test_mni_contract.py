"""The official MNI 2.2.2 contract: kept verbatim, served verbatim (only soap:address rewritten)."""

from __future__ import annotations

import hashlib

import httpx
import pytest
import zeep

from gateway.schemas import MNI_DIR
from tests.support import GatewayProcess

pytestmark = pytest.mark.e2e

OFFICIAL_SHA256 = {
    "xsd/intercomunicacao-2.2.2.xsd": "267e47b0b1b6ddc71c49f0a370b08fd9cae607609f05c6e435b1720dd58fe10b",
    "xsd/tipos-servico-intercomunicacao-2.2.2.xsd": "c3d148781221eb25582b4dc7a71c0fe750d00586c1df908670662da300370ee4",
    "xsd/cda-2.2.2.xsd": "38b5a1e73b5b5663f92de10c0c9c50ebdf3142fa0b3c07a8752988f135d0a23f",
    "wsdl/servico-intercomunicacao-2.2.2.wsdl": "db2ea851c35d89c5675a76128c97832699fe070ef05cf22c394d66aee7e4ab3f",
}


def test_official_files_are_unmodified() -> None:
    """schemas/mni/2.2.2 holds the CNJ files byte for byte (sha256 of the official distribution)."""
    for name, expected in OFFICIAL_SHA256.items():
        assert hashlib.sha256((MNI_DIR / name).read_bytes()).hexdigest() == expected, name


def test_served_wsdl_differs_only_in_soap_address(server: GatewayProcess) -> None:
    """``/soap/mni?wsdl`` is the official WSDL with only soap:address pointing at the gateway as reached."""
    served = httpx.get(server.url + "/soap/mni?wsdl").content
    original = (MNI_DIR / "wsdl/servico-intercomunicacao-2.2.2.wsdl").read_bytes()
    assert f'location="{server.url}/soap/mni"'.encode() in served
    import difflib

    diff = [line for line in difflib.unified_diff(original.decode("utf-8", "replace").splitlines(),
                                                  served.decode("utf-8", "replace").splitlines(), lineterm="", n=0)
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
    assert len(diff) == 2 and all("soap:address" in line for line in diff), diff


def test_imported_xsds_resolve_and_zeep_sees_six_operations(server: GatewayProcess) -> None:
    """The WSDL's ``../xsd/NAME`` imports resolve at /xsd/NAME (verbatim), and zeep built from the served WSDL
    lists the six operations bound to the gateway's address."""
    for name in ("intercomunicacao-2.2.2.xsd", "tipos-servico-intercomunicacao-2.2.2.xsd", "cda-2.2.2.xsd"):
        r = httpx.get(f"{server.url}/xsd/{name}")
        assert r.status_code == 200 and r.content == (MNI_DIR / "xsd" / name).read_bytes()
    client = zeep.Client(server.url + "/soap/mni?wsdl")
    service = next(iter(client.wsdl.services.values()))
    port = next(iter(service.ports.values()))
    assert sorted(port.binding._operations) == sorted([
        "consultarAvisosPendentes", "consultarTeorComunicacao", "consultarProcesso",
        "entregarManifestacaoProcessual", "consultarAlteracao", "confirmarRecebimento"])
    assert port.binding_options["address"] == server.url + "/soap/mni"
