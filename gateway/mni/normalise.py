"""Normalisation of an MNI message in place: official namespaces, unqualified attributes, schema child order.

Every change is reported as a deviation ``(code, detail)`` so the hub's strict mode can name it. The tree keeps
its data: elements are renamed or moved, never dropped. Extension elements the schema does not know at the
operation level (eproc's ``outroParametro``/``parametros``) stay where they are and are returned, so validation
can set them aside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from gateway.mni.names import INTER_NS, MISSPELLED_NS, MNI_NAMESPACES
from gateway.mni.schema import ContentModel, Particle, QName

TIPO_DOCUMENTO: QName = (INTER_NS, "tipoDocumento")
EXTENSION_NAMES = frozenset({"outroParametro", "parametros", "parametro"})


@dataclass
class Normalised:
    """What normalising one operation element found."""

    deviations: list[tuple[str, str]] = field(default_factory=list)
    extensions: list[etree._Element] = field(default_factory=list)
    documents: list[etree._Element] = field(default_factory=list)


_CNJ = b"cnj.jus.br"
_MISSPELLED_BYTES = frozenset(wrong.encode() for wrong in MISSPELLED_NS)
_LONGEST = max(len(wrong) for wrong in _MISSPELLED_BYTES)


def may_have_misspelled_namespaces(data: bytes) -> bool:
    """Whether *data* quotes one of the misspelled namespaces (most messages are then spared the walk over every
    element). Each ``cnj.jus.br`` (a handful per message) is looked at in the quoted string around it: a search
    at ``bytes.find`` speed, where a regular expression trying every quote of a 12 KB answer cost ~45 µs."""
    pos = data.find(_CNJ)
    while pos >= 0:
        window = max(0, pos - _LONGEST)
        start = max(data.rfind(b'"', window, pos), data.rfind(b"'", window, pos))
        if start >= 0:
            end = data.find(data[start:start + 1], pos)
            if end >= 0 and data[start + 1:end] in _MISSPELLED_BYTES:
                return True
        pos = data.find(_CNJ, pos + len(_CNJ))
    return False


def fix_misspelled_namespaces(root: etree._Element) -> list[tuple[str, str]]:
    """Rename every element in a misspelled namespace (see ``MISSPELLED_NS``) to the official one."""
    found: dict[str, str] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith("{"):
            continue
        ns, _, local = el.tag[1:].partition("}")
        right = MISSPELLED_NS.get(ns)
        if right is not None:
            el.tag = f"{{{right}}}{local}"
            found[ns] = right
    return [("namespace-grafado-errado", f"{wrong} → {right}") for wrong, right in found.items()]


def path_of(el: etree._Element, top: etree._Element) -> str:
    """A readable path of local names from *top* down to *el* (``entregarManifestacaoProcessual/documento``)."""
    names = []
    node: etree._Element | None = el
    while node is not None:
        names.append(etree.QName(node).localname)
        if node is top:
            break
        node = node.getparent()
    return "/".join(reversed(names))


def _split(tag: str) -> QName:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def normalise_operation(op: etree._Element, op_type: QName, model: ContentModel, *, request: bool) -> Normalised:
    """Normalise *op* (an operation element already in the servico namespace) whose schema type is *op_type*."""
    result = Normalised()
    _normalise(op, op_type, model, result, op, depth=0, request=request)
    return result


def _fix_attributes(el: etree._Element, result: Normalised, top: etree._Element) -> None:
    for name in list(el.attrib):
        ns, local = _split(str(name))
        if ns in MNI_NAMESPACES or ns in MISSPELLED_NS:
            value = el.attrib.pop(name)
            el.set(local, value)
            result.deviations.append(("atributo-qualificado", f"{path_of(el, top)}/@{local} em {ns}"))


def _normalise(
    el: etree._Element,
    type_name: QName,
    model: ContentModel,
    result: Normalised,
    top: etree._Element,
    *,
    depth: int,
    request: bool,
) -> None:
    if type_name == TIPO_DOCUMENTO:
        result.documents.append(el)
    _fix_attributes(el, result, top)
    particles = model.particles(type_name)
    if not particles:
        return
    by_name: dict[str, Particle] = {}
    for p in particles:
        if p.name is not None:
            by_name.setdefault(p.name, p)
    wildcard = next((p for p in particles if p.name is None), None)
    target = type_name[0]
    keys: list[int] = []
    children: list[etree._Element] = []
    typed: list[tuple[etree._Element, Particle]] = []
    last = -1
    for child in el:
        if not isinstance(child.tag, str):
            continue
        ns, local = _split(str(child.tag))
        particle = by_name.get(local)
        if particle is not None and ns != particle.namespace and (ns in MNI_NAMESPACES or ns == ""):
            child.tag = f"{{{particle.namespace}}}{local}"
            code = f"{local}-namespace" if local in ("parametros", "outroParametro") else "namespace-do-elemento"
            where = ns or "sem namespace"
            result.deviations.append((code, f"{path_of(child, top)} em {where} (esperado {particle.namespace})"))
            ns = particle.namespace
        if particle is not None and ns == particle.namespace:
            key = particle.index
            typed.append((child, particle))
        elif wildcard is not None and ns not in ("", target):
            key = wildcard.index
        else:
            key = last  # unknown here: keeps its place after the previous known sibling
            if depth == 0 and local in EXTENSION_NAMES:
                result.extensions.append(child)
                code = "parametros-namespace" if local == "parametros" else "outroParametro-namespace"
                kind = "extensão fora do XSD" if request or local != "parametro" else "fora do XSD"
                result.deviations.append((code, f"{path_of(child, top)} em {ns or 'sem namespace'} ({kind})"))
        keys.append(key)
        children.append(child)
        last = max(last, key)
    order = sorted(range(len(children)), key=lambda i: keys[i])
    if order != list(range(len(children))):
        names = ", ".join(etree.QName(children[i]).localname for i in range(len(children)))
        result.deviations.append(("ordem-dos-elementos", f"{path_of(el, top)}: {names}"))
        for child in children:
            el.remove(child)
        for i in order:
            el.append(children[i])
    for child, particle in typed:
        if particle.type is not None:
            _normalise(child, particle.type, model, result, top, depth=depth + 1, request=request)
