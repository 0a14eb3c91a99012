"""The official MNI 2.2.2 contract, compiled once and offline: the XSD validator of the operation elements and a
small content model (child order and namespaces per complex type) used to normalise what real clients send.

The six operations and their answers are declared in the WSDL's ``<types>`` schema (servico namespace), which
imports the three XSDs with ``../xsd/NAME``; that schema is compiled with the WSDL's own URL as base, so the
imports resolve to ``schemas/mni/2.2.2/xsd`` and nothing is fetched from the network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache

from lxml import etree

from gateway.mni.names import CDA_XSD, INTER_XSD, TIPOS_XSD, WSDL_PATH
from gateway.schemas import thread_schema

XS_NS = "http://www.w3.org/2001/XMLSchema"
_XS = f"{{{XS_NS}}}"
QName = tuple[str, str]  # (namespace, local name)


@dataclass(frozen=True)
class Particle:
    """One child slot of a complex type: an element (``name`` set) or an ``<any>`` wildcard (``name`` None)."""

    index: int
    namespace: str
    name: str | None
    type: QName | None
    required: bool


@dataclass(frozen=True)
class ContentModel:
    """Global element declarations (QName → type) and complex types (QName → particles in schema order)."""

    elements: dict[QName, QName]
    types: dict[QName, tuple[Particle, ...]]

    def particles(self, type_name: QName | None) -> tuple[Particle, ...]:
        """The particles of *type_name* (empty for simple and unknown types)."""
        return self.types.get(type_name, ()) if type_name else ()


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _wsdl_schema_doc() -> etree._ElementTree:
    wsdl = etree.parse(str(WSDL_PATH), _safe_parser())
    schema = wsdl.find(f".//{_XS}schema")
    if schema is None:  # pragma: no cover - the WSDL is verbatim and checked by sha256
        raise RuntimeError("WSDL sem <xsd:schema>")
    doc = etree.ElementTree(copy.deepcopy(schema))
    doc.docinfo.URL = WSDL_PATH.as_uri()
    return doc


def operation_schema() -> etree.XMLSchema:
    """The XSD validator of the 12 operation elements (6 requests, 6 answers), compiled offline once per thread
    (:func:`gateway.schemas.thread_schema`: an ``XMLSchema`` is not safe to validate with from two threads)."""
    return thread_schema("mni-2.2.2-operations", lambda: etree.XMLSchema(_wsdl_schema_doc()))


def _resolve(ref: str | None, el: etree._Element) -> QName | None:
    if not ref:
        return None
    prefix, _, local = ref.rpartition(":")
    ns = el.nsmap.get(prefix or None, "")
    if ns == XS_NS:
        return None
    return (ns or "", local)


def _walk(node: etree._Element, target: str, out: list[Particle], required: bool) -> None:
    for child in node:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        min_occurs = child.get("minOccurs", "1") != "0"
        if tag == "element" and child.get("name"):
            out.append(
                Particle(len(out), target, child.get("name"), _resolve(child.get("type"), child),
                         required and min_occurs)
            )
        elif tag == "any":
            out.append(Particle(len(out), target, None, None, required and min_occurs))
        elif tag in ("sequence", "all"):
            _walk(child, target, out, required and min_occurs)
        elif tag == "choice":
            _walk(child, target, out, False)


def _collect(schema: etree._Element, elements: dict[QName, QName], types: dict[QName, tuple[Particle, ...]]) -> None:
    target = schema.get("targetNamespace", "")
    for child in schema:
        if not isinstance(child.tag, str):
            continue
        if child.tag == f"{_XS}complexType" and child.get("name"):
            particles: list[Particle] = []
            _walk(child, target, particles, True)
            types[(target, child.get("name", ""))] = tuple(particles)
        elif child.tag == f"{_XS}element" and child.get("name"):
            type_name = _resolve(child.get("type"), child)
            if type_name:
                elements[(target, child.get("name", ""))] = type_name


@cache
def content_model() -> ContentModel:
    """The content model of the WSDL's schema and the three XSDs (built once per process)."""
    elements: dict[QName, QName] = {}
    types: dict[QName, tuple[Particle, ...]] = {}
    _collect(_wsdl_schema_doc().getroot(), elements, types)
    for path in (TIPOS_XSD, INTER_XSD, CDA_XSD):
        _collect(etree.parse(str(path), _safe_parser()).getroot(), elements, types)
    return ContentModel(elements, types)
