"""Naming what the official XSD rejects: each lxml error becomes a deviation with a stable kebab-case code.

Errors that are recognised get their own name (the DOMAIN.md §4 list); anything else is ``xsd`` with lxml's
message. Paths in details drop prefixes and positions, so the same deviation in several ``aviso`` elements is
reported once.
"""

from __future__ import annotations

import re

from lxml import etree

#: Operation-level ``<choice>`` groups of the XSD: clients send several branches together.
CHOICES: dict[str, frozenset[str]] = {
    "consultarProcesso": frozenset({"incluirCabecalho", "incluirDocumentos", "documento"}),
    "consultarTeorComunicacao": frozenset({"numeroProcesso", "identificadorAviso"}),
    "entregarManifestacaoProcessual": frozenset({"numeroProcesso", "dadosBasicos"}),
}
_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?(?P<el>[^']+)'(?:, attribute '(?P<attr>[^']+)')?: (?P<msg>.*)$", re.S)
_REQUIRED_ATTR = re.compile(r"The attribute '(?P<attr>[^']+)' is required but missing")
_VALUE = re.compile(r"(?:The value '|^')(?P<value>[^']*)'")
_EXPECTED = re.compile(r"Expected is(?: one of)? \( (?P<list>[^)]*) \)")
_PREFIX = re.compile(r"[A-Za-z_][\w.-]*:")
_POSITION = re.compile(r"\[\d+\]")
_ANY_STEP = re.compile(r"/\*(?=/|$)")
_AVISO_NAMES = frozenset({"idAviso", "id", "identificadorAviso"})


def clean_path(path: str | None) -> str:
    """*path* of an lxml error without namespace prefixes and positions."""
    cleaned = _POSITION.sub("", _PREFIX.sub("", path or "")).lstrip("/")
    return _ANY_STEP.sub("/…", cleaned)


def _expected(msg: str) -> list[str]:
    m = _EXPECTED.search(msg)
    if not m:
        return []
    return [re.sub(r"^\{[^}]*\}", "", item.strip()) for item in m.group("list").split(",")]


def classify(error: etree._LogEntry, operation: str, present: frozenset[str]) -> tuple[str, str]:
    """The deviation ``(code, detail)`` for one XSD *error* of *operation* whose top-level children are *present*."""
    path = clean_path(error.path)
    text = error.message
    m = _ELEMENT.match(text)
    if not m:
        return "xsd", f"{path}: {text}"
    element, attr, msg = m.group("el"), m.group("attr"), m.group("msg")
    where = f"{path}/@{attr}" if attr else path
    required = _REQUIRED_ATTR.search(msg)
    if required:
        return "atributo-obrigatorio-ausente", f"{path}/@{required.group('attr')}"
    value_match = _VALUE.search(msg)
    value = value_match.group("value") if value_match else ""
    if (attr in _AVISO_NAMES or element == "identificadorAviso") and value.isdigit() and len(value) < 15:
        return "idAviso-curto", f"{where} = {value} ({len(value)} dígitos)"
    if attr == "instancia" and value == "ORI":
        return "instancia-ORI", f"{where} = ORI (esperado ORIG)"
    if element == "numeroProcesso" or attr in ("numero", "numeroProcesso"):
        return "numeroProcesso-invalido", f"{where} = {value!r}"
    expected = _expected(msg)
    if "##other" in msg:
        return "any-other-ausente", f"{path}: <any namespace=\"##other\"/> obrigatório ausente"
    if "dataEnvio" in expected and "dataEnvio" not in present:
        return "dataEnvio-ausente", f"{operation}/dataEnvio"
    for name in ("sucesso", "mensagem"):
        if name in expected and name not in present:
            return f"{name}-ausente", f"{operation}/{name}"
    choice = CHOICES.get(operation, frozenset())
    if "not expected" in msg and element in choice and len(choice & present) > 1:
        return "varias-opcoes-choice", f"{operation}: {', '.join(sorted(choice & present))}"
    if "Character content other than whitespace" in msg:
        return "texto-solto", f"{path}: texto em conteúdo só de elementos"
    if "Character content is not allowed, because the content type is empty" in msg:
        return "parametro-com-texto", f"{path}: valor como texto, não no atributo"
    if msg.strip() == "This element is not expected.":
        return "elemento-fora-do-xsd", f"{path}: elemento não previsto no XSD"
    if "Missing child element" in msg or ("not expected" in msg and len(expected) == 1):
        return "elemento-obrigatorio-ausente", f"{path}: esperado {' | '.join(expected)}"
    return "xsd", f"{where}: {msg}"
