"""Where the XSD/WSDL contracts live, and compiling them offline (once per thread, see :func:`thread_schema`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
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

CRC_DIR = SCHEMAS_DIR / "crc" / "1.0"
CRC_XSD = CRC_DIR / "xsd" / "crc-1.0.xsd"
CRC_WSDL = CRC_DIR / "wsdl" / "crc-1.0.wsdl"
CRC_SAMPLES = CRC_DIR / "samples"

MNI_DIR = SCHEMAS_DIR / "mni" / "2.2.2"

#: Files served under ``/xsd/NAME`` (distinct names across contracts; the MNI WSDL imports ``../xsd/NAME``).
SERVED_XSD: dict[str, Path] = {INFODIP_XSD.name: INFODIP_XSD, INFODIP_11_XSD.name: INFODIP_11_XSD,
                               CRC_XSD.name: CRC_XSD,
                               **{p.name: p for p in sorted((MNI_DIR / "xsd").glob("*.xsd"))}}


_THREAD = threading.local()


def thread_schema(key: object, build: Callable[[], etree.XMLSchema]) -> etree.XMLSchema:
    """The calling thread's compiled copy of the schema named *key*, built by *build* on the thread's first call.

    One ``XMLSchema`` must not validate in two threads at once: lxml keeps the error log on the object and clears
    it at every call, so a concurrent call loses or mixes another's errors (and the e2e suite's concurrent answer
    checks crashed the interpreter once). Each thread therefore compiles its own copy — 3–4 ms for the INFODIP or
    MNI contract, once per thread — and calls ``validate`` then reads ``error_log`` on it without any lock."""
    schemas: dict[object, etree.XMLSchema] | None = getattr(_THREAD, "schemas", None)
    if schemas is None:
        schemas = _THREAD.schemas = {}
    found = schemas.get(key)
    if found is None:
        found = schemas[key] = build()
    return found


def _compile(path: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))


def xml_schema(path: Path) -> etree.XMLSchema:
    """The schema at *path* compiled offline, this thread's copy (see :func:`thread_schema`)."""
    return thread_schema(path, lambda: _compile(path))
