"""The gateway's one exception tree.

    GatewayError                      code, field, message, retryable
    ├── ClientError                   the caller's fault → SOAP faultcode soap:Client
    │   ├── MalformedRequest          unreadable XML, forbidden constructs, limits
    │   ├── VersionMismatch           a SOAP 1.2 envelope → soap:VersionMismatch
    │   ├── ValidationFailed          XSD, identifiers, legal rules
    │   ├── AuthenticationFailed      missing or wrong credentials
    │   ├── NotAllowed                an authenticated organ asking what it may not
    │   └── Conflict                  idempotency and history conflicts
    └── ServerError                   ours or a partner's → soap:Server (retryable)

Every error carries a stable code (``INFODIP-E…``) listed in :data:`CATALOGUE` with its Portuguese message; edges
translate the tree into SOAP Faults, ``sucesso=false`` or HTTP errors, and nothing else is raised across them.
"""

from __future__ import annotations

CATALOGUE: dict[str, str] = {
    "INFODIP-E001": "XML malformado.",
    "INFODIP-E002": "DOCTYPE, DTD e entidades não são aceitos.",
    "INFODIP-E003": "XInclude não é aceito.",
    "INFODIP-E004": "O corpo da requisição excede o limite de tamanho.",
    "INFODIP-E005": "O documento excede o limite de profundidade ou de tamanho de texto.",
    "INFODIP-E006": "Codificação inválida: envie UTF-8.",
    "INFODIP-E007": "Envelope SOAP 1.1 inválido.",
    "INFODIP-E008": "Versão do SOAP não suportada: use SOAP 1.1.",
    "INFODIP-E009": "Operação desconhecida.",
    "INFODIP-E010": "Namespace desconhecido.",
    "INFODIP-E011": "A mensagem não é válida segundo o XSD.",
    "INFODIP-E012": "Cabeçalho SOAP obrigatório (mustUnderstand) não compreendido.",
    "INFODIP-E020": "Autenticação ausente: envie WS-Security UsernameToken.",
    "INFODIP-E021": "Usuário ou senha inválidos.",
    "INFODIP-E022": "O órgão não é competente para enviar este tipo de comunicação.",
    "INFODIP-E023": "O órgão não tem acesso a esta comunicação.",
    "INFODIP-E024": "Tipo de senha não suportado: use PasswordText.",
    "INFODIP-E030": "CPF inválido.",
    "INFODIP-E031": "CNPJ inválido.",
    "INFODIP-E032": "Número de processo CNJ inválido.",
    "INFODIP-E033": "Título de eleitor inválido.",
    "INFODIP-E034": "Matrícula de certidão inválida.",
    "INFODIP-E040": "A data do fato está no futuro.",
    "INFODIP-E041": "O atributo tipo não corresponde ao bloco da comunicação.",
    "INFODIP-E042": "Campo obrigatório para este tipo de comunicação ausente.",
    "INFODIP-E043": "Sanção acima do limite legal.",
    "INFODIP-E044": "A data do fato difere da data própria do tipo.",
    "INFODIP-E045": "Pessoa sem CPF nem título de eleitor.",
    "INFODIP-E050": "Referência do remetente já usada com outro conteúdo.",
    "INFODIP-E051": "Protocolo não encontrado.",
    "INFODIP-E052": "Comunicação cancelada: não admite retificação nem novo cancelamento.",
    "INFODIP-E053": "A retificação deve manter o tipo da comunicação original.",
    "INFODIP-E090": "Erro interno do gateway.",
    "INFODIP-E091": "Armazenamento indisponível; tente novamente.",
}


class GatewayError(Exception):
    """Base of every error the gateway raises across a boundary."""

    faultcode = "soap:Server"
    retryable = False

    def __init__(self, code: str, message: str | None = None, field: str | None = None) -> None:
        self.code = code
        self.message = message or CATALOGUE.get(code, code)
        self.field = field
        super().__init__(f"{code}: {self.message}" + (f" [{field}]" if field else ""))


class ClientError(GatewayError):
    """The caller's fault; resending the same request fails the same way."""

    faultcode = "soap:Client"


class MalformedRequest(ClientError):
    """The request cannot be read: bad XML, forbidden constructs, limits exceeded."""


class VersionMismatch(ClientError):
    """A SOAP 1.2 (or unknown) envelope namespace."""

    faultcode = "soap:VersionMismatch"


class ValidationFailed(ClientError):
    """The request is readable but violates the contract, an identifier rule or a legal rule."""


class AuthenticationFailed(ClientError):
    """Missing or wrong credentials (unknown user and wrong password look the same)."""


class NotAllowed(ClientError):
    """An authenticated organ asked for something outside its competence or access."""


class Conflict(ClientError):
    """The request contradicts what is already stored (idempotency key reuse, cancelled history)."""


class NotFound(ClientError):
    """The protocol asked for does not exist (or is not visible to the caller)."""


class ServerError(GatewayError):
    """Our fault or a partner's; the caller may retry."""

    retryable = True
