"""The stable ``MNI-E…`` codes of the MNI hub, with their Portuguese messages.

MNI answers everything it can read with HTTP 200, ``sucesso=false`` and ``"MNI-E0xx: mensagem"`` in ``mensagem``
(DESIGN.md, "SOAP authentication and faults"); only what cannot be read at all (E001–E010) becomes a SOAP Fault.
The codes never change meaning; new ones are added, old ones are never reused.
"""

from __future__ import annotations

from gateway.errors import MalformedRequest, ServerError, VersionMismatch

MNI_CATALOGUE: dict[str, str] = {
    "MNI-E001": "XML ilegível (malformado).",
    "MNI-E002": "DOCTYPE, DTD e entidades não são aceitos.",
    "MNI-E003": "XInclude não é aceito.",
    "MNI-E004": "O corpo da requisição excede o limite de tamanho.",
    "MNI-E005": "A mensagem excede o limite de profundidade ou de tamanho de texto.",
    "MNI-E006": "Codificação não aceita: envie UTF-8 (ou ISO-8859-1 declarada).",
    "MNI-E007": "Envelope SOAP 1.1 inválido.",
    "MNI-E008": "Versão do SOAP não suportada: use SOAP 1.1.",
    "MNI-E009": "Operação desconhecida no MNI 2.2.2.",
    "MNI-E010": "Namespace desconhecido: use os namespaces do MNI 2.2.2.",
    "MNI-E011": "Mensagem MTOM/XOP inválida (partes multipart ou xop:Include sem anexo).",
    "MNI-E020": "Autenticação ausente: informe idConsultante/senhaConsultante (ou idManifestante/senhaManifestante)"
    " ou WS-Security UsernameToken.",
    "MNI-E021": "Usuário ou senha inválidos.",
    "MNI-E022": "Cliente não autorizado a usar o hub MNI (tipo de órgão não permitido).",
    "MNI-E023": "O hub não tem credencial deste cliente para a instalação do tribunal.",
    "MNI-E030": "Número de processo inválido (20 dígitos com dígito verificador da Resolução CNJ 65/2008).",
    "MNI-E031": "Requisição fora do padrão MNI 2.2.2 (modo estrito): desvios encontrados.",
    "MNI-E040": "Tribunal desconhecido para o número de processo informado (J.TR).",
    "MNI-E041": "Tribunal indisponível; tente novamente mais tarde.",
    "MNI-E042": "Tempo esgotado aguardando a resposta do tribunal.",
    "MNI-E043": "Resultado indeterminado: o tribunal não respondeu à manifestação a tempo. Ela pode ter sido"
    " protocolada; consulte o processo (consultarProcesso/consultarAlteracao) antes de reenviar.",
    "MNI-E044": "Aviso ambíguo: o identificador do aviso não indica o tribunal; informe numeroProcesso.",
    "MNI-E045": "Operação entre tribunais (confirmarRecebimento) não é oferecida pelo hub.",
    "MNI-E046": "Processo não encontrado em nenhuma instalação do tribunal.",
    "MNI-E047": "Resposta ilegível do tribunal.",
    "MNI-E048": "Aviso desconhecido: consulte os avisos pendentes pelo hub antes, ou informe numeroProcesso.",
    "MNI-E050": "Manifestação repetida: devolvido o resultado da entrega anterior idêntica.",
    "MNI-E090": "Erro interno do gateway.",
}


def message_of(code: str) -> str:
    """The catalogue's Portuguese message for *code* (the code itself when unknown)."""
    return MNI_CATALOGUE.get(code, code)


def malformed(code: str, detail: str | None = None, field: str | None = None) -> MalformedRequest:
    """A :class:`MalformedRequest` with an ``MNI-E…`` code and the catalogue message (plus *detail*)."""
    text = message_of(code) + (f" {detail}" if detail else "")
    return MalformedRequest(code, text, field=field)


def version_mismatch() -> VersionMismatch:
    """The SOAP 1.2 error (MNI-E008), a ``soap:VersionMismatch`` Fault."""
    return VersionMismatch("MNI-E008", message_of("MNI-E008"), field="Envelope")


class TribunalResponseUnreadable(ServerError):
    """A tribunal answered something :func:`gateway.mni.reader.read_response` cannot read (MNI-E047).

    ``cause`` keeps the reader's own code (E001, E007, E010…). Not retryable: the call may have had its effect
    (a filing) even though its answer is unreadable.
    """

    retryable = False

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__("MNI-E047", f"{message_of('MNI-E047')} ({cause}: {detail})", field="resposta")
        self.cause = cause
