"""Where the XSD/WSDL contracts live, and loading them once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
INFODIP_DIR = SCHEMAS_DIR / "infodip" / "1.0"
INFODIP_XSD = INFODIP_DIR / "xsd" / "infodip-1.0.xsd"
INFODIP_WSDL = INFODIP_DIR / "wsdl" / "infodip-1.0.wsdl"
INFODIP_SAMPLES = INFODIP_DIR / "samples"
INFODIP_11_DIR = SCHEMAS_DIR / "infodip" / "1.1"
INFODIP_11_XSD = INFODIP_11_DIR / "xsd" / "infodip-1.1.xsd"
INFODIP_11_WSDL = INFODIP_11_DIR / "wsdl" / "infodip-1.1.wsdl"

MNI_DIR = SCHEMAS_DIR / "mni" / "2.2.2"

#: Files served under ``/xsd/NAME`` (distinct names across contracts; the MNI WSDL imports ``../xsd/NAME``).
SERVED_XSD: dict[str, Path] = {INFODIP_XSD.name: INFODIP_XSD, INFODIP_11_XSD.name: INFODIP_11_XSD,
                               **{p.name: p for p in sorted((MNI_DIR / "xsd").glob("*.xsd"))}}


@cache
def xml_schema(path: Path) -> etree.XMLSchema:
    """The compiled schema at *path* (compiled once per process, offline)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))
