"""The ready-to-send sample requests of the INFODIP contract, with a credential, reference and date filled in."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from lxml import etree

from gateway.infodip.domain import FACT_DATE_OF_KIND, Kind
from gateway.schemas import INFODIP_SAMPLES
from gateway.xml.soap import WSSE_NS

from .contract import NS, N

REFERENCE_XPATH = "//*[local-name()='referenciaRemetente']"
#: The credential each sample is written for (its organ type is competent for the kind).
SAMPLE_USERNAME: dict[Kind, str] = {
    Kind.I: "tjrj-sistema",
    Kind.II: "tjrj-1vfp",
    Kind.III: "tjrj-sistema",
    Kind.IV: "tjrj-sistema",
    Kind.V: "tjrj-vep",
    Kind.VI: "rcpn-rj-capital-01",
    Kind.VII: "tjrj-presidencia",
    Kind.VIII: "tjrj-presidencia",
    Kind.IX: "tjrj-sistema",
}


def sample_path(kind: Kind) -> Path:
    """The repository file of *kind*'s sample."""
    return INFODIP_SAMPLES / f"{kind.value}.xml"


def render_sample(kind: Kind, *, username: str | None = None, password: str | None = None,
                  reference: str | None = None, fact_date: date | None = None) -> bytes:
    """*kind*'s sample request with the given credential, sender reference and date of the fact."""
    root = etree.parse(str(sample_path(kind))).getroot()
    if username is not None:
        _set(root, f"//{{{WSSE_NS}}}Username", username)
    if password is not None:
        _set(root, f"//{{{WSSE_NS}}}Password", password)
    if reference is not None:
        _set(root, f"//{{{NS}}}referenciaRemetente", reference)
    if fact_date is not None:
        _set(root, f"//{{{NS}}}dataFato", fact_date.isoformat())
        block = root.find(f".//{{{NS}}}cabecalho", N)
        assert block is not None
        target = block.getnext()
        while target is not None and not isinstance(target.tag, str):
            target = target.getnext()
        assert target is not None
        _set(target, f"{{{NS}}}{FACT_DATE_OF_KIND[kind]}", fact_date.isoformat())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _set(root: etree._Element, path: str, value: str) -> None:
    el = root.find(path.replace("//", ".//", 1) if path.startswith("//") else path)
    if el is None:
        raise KeyError(path)
    el.text = value
