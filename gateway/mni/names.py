"""Names of MNI 2.2.2: namespaces, operations, the misspellings real traffic carries, and where the contract is."""

from __future__ import annotations

from pathlib import Path

from gateway.schemas import SCHEMAS_DIR

SERVICO_NS = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS_NS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER_NS = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
CDA_NS = "http://www.cnj.jus.br/mni/cda"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XOP_NS = "http://www.w3.org/2004/08/xop/include"

#: The six operations of the official WSDL, in its order.
OPERATIONS: tuple[str, ...] = (
    "consultarAvisosPendentes",
    "consultarTeorComunicacao",
    "consultarProcesso",
    "entregarManifestacaoProcessual",
    "consultarAlteracao",
    "confirmarRecebimento",
)
#: Answers are the operation's name + ``Resposta``.
RESPONSES: tuple[str, ...] = tuple(op + "Resposta" for op in OPERATIONS)

#: Wrong namespace → official one. The first two are the typos of the TJSC eproc manual (three of its examples);
#: the others are variants a hand-written client produces (slash added or dropped, ``https``, ``www`` missing).
MISSPELLED_NS: dict[str, str] = {
    "http://www.cnj.jus.br/servicointercomunicacao-2.2.2/": SERVICO_NS,
    "http://www.cnj.jus.br/servicointercomunicacao-2.2.2": SERVICO_NS,
    "http://www.cnj.jus.br/tipos-servicointercomunicacao-2.2.2": TIPOS_NS,
    "http://www.cnj.jus.br/tipos-servicointercomunicacao-2.2.2/": TIPOS_NS,
    "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2": SERVICO_NS,
    "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2/": TIPOS_NS,
    "http://www.cnj.jus.br/intercomunicacao-2.2.2/": INTER_NS,
    "https://www.cnj.jus.br/servico-intercomunicacao-2.2.2/": SERVICO_NS,
    "https://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2": TIPOS_NS,
    "https://www.cnj.jus.br/intercomunicacao-2.2.2": INTER_NS,
    "http://cnj.jus.br/servico-intercomunicacao-2.2.2/": SERVICO_NS,
    "http://cnj.jus.br/tipos-servico-intercomunicacao-2.2.2": TIPOS_NS,
    "http://cnj.jus.br/intercomunicacao-2.2.2": INTER_NS,
    "http://www.cnj.jus.br/mni/cda/": CDA_NS,
}

#: The namespaces of MNI 2.2.2 data (after normalisation every MNI element is in one of these).
MNI_NAMESPACES = frozenset({SERVICO_NS, TIPOS_NS, INTER_NS, CDA_NS})

MNI_DIR: Path = SCHEMAS_DIR / "mni" / "2.2.2"
XSD_DIR: Path = MNI_DIR / "xsd"
WSDL_PATH: Path = MNI_DIR / "wsdl" / "servico-intercomunicacao-2.2.2.wsdl"
TIPOS_XSD: Path = XSD_DIR / "tipos-servico-intercomunicacao-2.2.2.xsd"
INTER_XSD: Path = XSD_DIR / "intercomunicacao-2.2.2.xsd"
CDA_XSD: Path = XSD_DIR / "cda-2.2.2.xsd"
