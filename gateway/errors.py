"""The gateway's one exception tree, and the one catalogue of stable error codes.

    GatewayError                      code, message, field, retryable
    ├── ClientError                   the caller's fault → soap:Client, sucesso=false, HTTP 4xx (not retryable)
    │   ├── MalformedRequest          unreadable XML, forbidden constructs, limits
    │   ├── VersionMismatch           a SOAP 1.2 envelope → soap:VersionMismatch
    │   ├── MustUnderstand            a mustUnderstand header we do not process → soap:MustUnderstand
    │   ├── ValidationFailed          XSD, identifiers, legal rules
    │   ├── AuthenticationFailed      missing or wrong credentials
    │   ├── TooManyRequests           refused for a while (failed logins of one user from one address)
    │   ├── NotAllowed                an authenticated organ asking what it may not
    │   ├── Conflict                  idempotency and history conflicts
    │   └── NotFound                  what was asked for does not exist (or is not visible to the caller)
    ├── ServerError                   ours → soap:Server (retryable)
    │   ├── StorageUnavailable        the database failed or timed out; nothing was acknowledged
    │   └── Overloaded                beyond capacity (admission, the writer's queue, the budget of large bodies):
    │                                 refused at once, nothing stored (HTTP 503 on REST; retry after Retry-After)
    ├── PartnerError                  a partner (TSE, CNJ, a tribunal…) failed; ``retryable`` per instance
    │   ├── PartnerUnreachable        the request never reached the partner (refused, no route, bad address)
    │   ├── PartnerTimeout            sent, no answer in time: whether the partner acted is unknown
    │   ├── PartnerRefused            the partner answered a refusal (4xx, ``rejeitado``): resending fails too
    │   └── PartnerUnreadable         the partner answered bytes we cannot read: it may have acted
    └── OperatorError                 an operator's request (CLI, configuration, registry) that cannot be carried out

Every error carries a stable code listed in :data:`CATALOGUE` with its Portuguese message (``INFODIP-E…`` for
the INFODIP edge, ``MNI-E…`` for the MNI hub, ``DIVIDA-E…`` for the PGFN/PGF bridge, ``INTIM-E…`` for
its intimations, ``EXEC-E…`` for its execuções fiscais, ``GATEWAY-E…`` for operators
and partners). Edges translate the
tree into SOAP Faults, ``sucesso=false`` or HTTP problems, and nothing else is raised across them. Libraries'
errors are translated into this tree at one boundary per library (``adapters.base.translating`` for httpx and
lxml, ``adapters.tribunal`` for aiohttp, the group committer for SQLAlchemy); programming errors (``TypeError``,
``KeyError``…) are never translated: they are bugs, not a partner's or a caller's fault.
"""

from __future__ import annotations

CATALOGUE: dict[str, str] = {
    "INFODIP-E001": "XML malformado.",
    "INFODIP-E002": "DOCTYPE, DTD e entidades não são aceitos.",
    "INFODIP-E003": "XInclude não é aceito.",
    "INFODIP-E004": "O corpo da requisição excede o limite de tamanho.",
    "INFODIP-E005": "O documento excede um limite de estrutura: profundidade, número de elementos ou tamanho de"
    " texto.",
    "INFODIP-E006": "Codificação inválida: envie UTF-8 (ou UTF-16).",
    "INFODIP-E007": "Envelope SOAP 1.1 inválido.",
    "INFODIP-E008": "Versão do SOAP não suportada: use SOAP 1.1.",
    "INFODIP-E009": "Operação desconhecida.",
    "INFODIP-E010": "Namespace desconhecido.",
    "INFODIP-E011": "A mensagem não é válida segundo o XSD.",
    "INFODIP-E012": "Cabeçalho SOAP obrigatório (mustUnderstand) não compreendido.",
    "INFODIP-E013": "Compressão do corpo (Content-Encoding) não suportada ou corpo comprimido inválido: use gzip,"
    " x-gzip ou deflate.",
    "INFODIP-E020": "Autenticação ausente: envie WS-Security UsernameToken.",
    "INFODIP-E021": "Usuário ou senha inválidos.",
    "INFODIP-E022": "O órgão não é competente para enviar este tipo de comunicação.",
    "INFODIP-E023": "O órgão não tem acesso a esta comunicação.",
    "INFODIP-E024": "Tipo de senha não suportado: use PasswordText.",
    "INFODIP-E029": "Muitas tentativas de autenticação malsucedidas deste usuário a partir deste endereço;"
    " aguarde e tente novamente.",
    "INFODIP-E025": "Mais de uma identidade na requisição: envie uma só credencial.",
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
    "INFODIP-E046": "Valor aceito pelo XSD mas fora do intervalo que o gateway processa (datas de 0001 a 9999,"
    " inteiros de até 9 dígitos).",
    "INFODIP-E050": "Referência do remetente já usada com outro conteúdo.",
    "INFODIP-E051": "Protocolo não encontrado.",
    "INFODIP-E052": "Comunicação cancelada: não admite retificação nem novo cancelamento.",
    "INFODIP-E053": "A retificação deve manter o tipo da comunicação original.",
    "INFODIP-E080": "Finalidade ausente ou inválida: informe o número do processo (CNJ) que motiva a consulta.",
    "INFODIP-E081": "Os dados informados não identificam uma só pessoa: informe CPF ou título de eleitor.",
    "INFODIP-E082": "Chave da consulta inválida: informe uma só chave — CPF, título de eleitor, ou nome, data de"
    " nascimento e nome da mãe.",
    "INFODIP-E083": "O órgão não tem a concessão direitos-politicos:consultar.",
    "INFODIP-E084": "Limite de consultas deste cliente excedido; aguarde e tente novamente.",
    "INFODIP-E085": "Informe o CPF da pessoa natural que consulta (On-Behalf-Of ou cpfSolicitante).",
    "INFODIP-E086": "Cursor de paginação inválido.",
    "INFODIP-E087": "Filtro da listagem inválido (período, tipo, situação, entrega ou limite).",
    "INFODIP-E088": "O relatório de todos os remetentes exige a concessão relatorios:ler (operadores do CNJ e do TSE).",
    "INFODIP-E089": "Versão do contrato aposentada: use a versão em vigor.",
    "INFODIP-E093": "Aposentadoria de versão do contrato com menos de 30 dias de aviso (Res. Conjunta 6/2020, art."
    " 4º, § 2º).",
    # Death batches from the civil registries (issue 13, gateway/obitos): the batch, then each record's refusal
    "INFODIP-E060": "Lote acima do limite de registros: recusado inteiro.",
    "INFODIP-E061": "Identificador de lote já usado com outro conteúdo.",
    "INFODIP-E062": "Matrícula inválida (32 dígitos, código 55, dígitos verificadores).",
    "INFODIP-E063": "Natimorto (livro tipo 5): recusado para fins eleitorais.",
    "INFODIP-E064": "Tipo de livro da matrícula não é de óbito (4, 5 ou 7).",
    "INFODIP-E065": "Matrícula de cartório pelo qual o remetente não responde.",
    "INFODIP-E066": "CPF inválido.",
    "INFODIP-E067": "Título de eleitor inválido.",
    "INFODIP-E068": "Sem CPF: nome, nome da mãe e data de nascimento são obrigatórios.",
    "INFODIP-E069": "Registro malformado: campo ausente ou ilegível.",
    "INFODIP-E070": "Datas incoerentes (óbito, registro, nascimento).",
    "INFODIP-E071": "Competência inválida: use AAAA-MM.",
    "INFODIP-E072": "Código IBGE de município inválido.",
    "INFODIP-E073": "Lote não encontrado.",
    "INFODIP-E074": "CNS do cartório difere do CNS da matrícula.",
    "INFODIP-E075": "Somente cartórios e CRCs enviam lotes de óbitos.",
    "INFODIP-E076": "Lote ilegível: cabeçalho (idLote, competencia antes de registros) ausente ou corpo malformado.",
    "INFODIP-E077": "Declaração sem óbitos para competência com óbitos enviados (ou o inverso).",
    "INFODIP-E078": "Lote em processamento por outra requisição; consulte o andamento.",
    "INFODIP-E090": "Erro interno do gateway.",
    "INFODIP-E091": "Armazenamento indisponível; tente novamente.",
    "INFODIP-E092": "Gateway sobrecarregado: nada foi armazenado; tente novamente em instantes com a mesma "
    "referência.",
    "MNI-E001": "XML ilegível (malformado).",
    "MNI-E002": "DOCTYPE, DTD e entidades não são aceitos.",
    "MNI-E003": "XInclude não é aceito.",
    "MNI-E004": "O corpo da requisição excede o limite de tamanho.",
    "MNI-E005": "A mensagem excede um limite de estrutura: profundidade, número de elementos ou tamanho de texto.",
    "MNI-E006": "Codificação não aceita: envie UTF-8 (ou UTF-16, ou ISO-8859-1 declarada).",
    "MNI-E007": "Envelope SOAP 1.1 inválido.",
    "MNI-E008": "Versão do SOAP não suportada: use SOAP 1.1.",
    "MNI-E009": "Operação desconhecida no MNI 2.2.2.",
    "MNI-E010": "Namespace desconhecido: use os namespaces do MNI 2.2.2.",
    "MNI-E011": "Mensagem MTOM/XOP inválida (partes multipart ou xop:Include sem anexo).",
    "MNI-E013": "Compressão do corpo (Content-Encoding) não suportada ou corpo comprimido inválido: use gzip,"
    " x-gzip ou deflate.",
    "MNI-E020": "Autenticação ausente: informe idConsultante/senhaConsultante (ou idManifestante/senhaManifestante)"
    " ou WS-Security UsernameToken.",
    "MNI-E021": "Usuário ou senha inválidos.",
    "MNI-E022": "Cliente não autorizado a usar o hub MNI (tipo de órgão não permitido).",
    "MNI-E023": "O hub não tem credencial deste cliente para a instalação do tribunal.",
    "MNI-E029": "Muitas tentativas de autenticação malsucedidas deste usuário a partir deste endereço;"
    " aguarde e tente novamente.",
    "MNI-E025": "Mais de uma identidade na requisição (campos do MNI e WS-Security com credenciais diferentes):"
    " envie uma só credencial.",
    "MNI-E030": "Número de processo inválido (20 dígitos com dígito verificador da Resolução CNJ 65/2008).",
    "MNI-E031": "Requisição fora do padrão MNI 2.2.2 (modo estrito): desvios encontrados.",
    "MNI-E040": "Tribunal desconhecido para o número de processo informado (J.TR).",
    "MNI-E041": "Tribunal indisponível; tente novamente mais tarde.",
    "MNI-E042": "Sem resposta do tribunal: tempo esgotado, ou conexão interrompida depois do envio.",
    "MNI-E043": "Resultado indeterminado: o tribunal não respondeu à manifestação (tempo esgotado, ou conexão"
    " interrompida depois do envio). Ela pode ter sido"
    " protocolada; consulte o processo (consultarProcesso/consultarAlteracao) antes de reenviar.",
    "MNI-E044": "Aviso ambíguo: o identificador do aviso não indica o tribunal; informe numeroProcesso.",
    "MNI-E045": "Operação entre tribunais (confirmarRecebimento) não é oferecida pelo hub.",
    "MNI-E046": "Processo não encontrado em nenhuma instalação do tribunal.",
    "MNI-E047": "Resposta ilegível do tribunal.",
    "MNI-E048": "Aviso desconhecido: consulte os avisos pendentes pelo hub antes, ou informe numeroProcesso.",
    "MNI-E050": "Manifestação repetida: devolvido o resultado da entrega anterior idêntica.",
    "MNI-E090": "Erro interno do gateway.",
    "MNI-E091": "Armazenamento indisponível; tente novamente.",
    "MNI-E092": "Gateway ocupado com outras requisições grandes; tente novamente em instantes.",
    "GATEWAY-E001": "Configuração inválida.",
    "GATEWAY-E002": "Pedido de administração inválido.",
    "GATEWAY-E003": "Registro de instalações MNI inválido.",
    "GATEWAY-E010": "Parceiro inacessível.",
    "GATEWAY-E011": "Sem resposta do parceiro: tempo esgotado, ou conexão interrompida depois do envio.",
    "GATEWAY-E012": "O parceiro recusou a mensagem.",
    "GATEWAY-E013": "Resposta ilegível do parceiro.",
    "GATEWAY-E040": "Cabeçalho Host (ou X-Forwarded-Host/-Proto de um proxy confiável) inválido.",
    "GATEWAY-E041": "Tempo esgotado recebendo a requisição (cabeçalhos ou corpo); a conexão foi encerrada.",
    "GATEWAY-E042": "Limite de conexões atingido: esta conexão atende apenas /healthz; tente novamente.",
    "GATEWAY-E050": "Banco de dados inacessível ou inexistente.",
    "GATEWAY-E051": "O banco de dados não tem as tabelas do gateway (migrações não aplicadas ou banco errado).",
    "GATEWAY-E052": "Erro do sistema (arquivo, porta ou permissão).",
    "GATEWAY-E053": "Interrompido pelo operador.",
    "GATEWAY-E054": "Um simulador do sandbox não iniciou.",
    "GATEWAY-E059": "Erro interno inesperado da linha de comando.",
    # Credentials, keys and tokens (issue 10): the start, the password policy, the REST API's authentication
    "GATEWAY-E060": "A chave configurada não lê as credenciais MNI guardadas.",
    "GATEWAY-E061": "Senha fora da política (mínimo de 12 caracteres, mais de uma classe, não comum, sem o usuário).",
    "GATEWAY-E062": "Token de acesso ausente, inválido, expirado ou revogado.",
    "GATEWAY-E063": "Escopo insuficiente para esta operação.",
    "GATEWAY-E064": "Cabeçalho On-Behalf-Of ausente: informe o CPF da pessoa que consulta.",
    "GATEWAY-E065": "Cabeçalho On-Behalf-Of com CPF inválido.",
    "GATEWAY-E070": "Requisição REST fora do contrato: parâmetro, cabeçalho ou corpo inválido (campo indica qual).",
    "GATEWAY-E071": "Recurso ou método HTTP inexistente.",
    "GATEWAY-E090": "Erro interno do gateway.",
    # the change feed and its webhooks (Res. Conjunta 6/2020 art. 12; gateway/infodip/feed.py, webhooks.py)
    "GATEWAY-E100": "Cursor do feed inválido (não emitido por este gateway ou de outro assinante).",
    "GATEWAY-E101": "Este órgão não é assinante do feed de alterações (apenas os repositórios TSE e CNJ).",
    "GATEWAY-E102": "Assinatura de webhook não encontrada.",
    "GATEWAY-E103": "URL de webhook inválida (http ou https, com host).",
    "GATEWAY-E104": "Resultado de processamento desconhecido (processado, eleitor-nao-encontrado, revisao-manual).",
    "GATEWAY-E110": "Arquivo de importação ilegível (formato, cabeçalho, codificação ou XML malformado).",
    "GATEWAY-E111": "Registro de importação inválido: campo ausente ou ilegível (id de origem, órgão, data de"
    " recebimento, tipo, prazo).",
    "GATEWAY-E112": "Id de origem já importado com outro conteúdo.",
    "GATEWAY-E113": "Órgão remetente desconhecido.",
    "GATEWAY-E114": "Data de recebimento no futuro.",
    "GATEWAY-E115": "Referência do remetente já usada pelo órgão em outra comunicação.",
    # Dívida ativa (PGFN/PGF bridge, gateway/divida): the caller's input, then what is reported per source
    "DIVIDA-E001": "CPF ou CNPJ inválido.",
    "DIVIDA-E002": "Informe de 1 a 100 documentos (CPF ou CNPJ).",
    "DIVIDA-E003": "Credor desconhecido: use PGFN ou PGF.",
    "DIVIDA-E004": "Número de inscrição da PGFN inválido (SIDA: 13 dígitos, dois dígitos verificadores módulo 11).",
    "DIVIDA-E005": "Número de inscrição da PGF inválido (15 dígitos, dígito verificador ISO 7064 MOD 11,10).",
    "DIVIDA-E006": "Número de inscrição da PGF com código de credor desconhecido.",
    "DIVIDA-E007": "Finalidade inválida: informe o número do processo (CNJ, 20 dígitos com dígitos verificadores).",
    "DIVIDA-E010": "Inscrição não encontrada.",
    "DIVIDA-E020": "Valor monetário ilegível na resposta do parceiro.",
    "DIVIDA-E021": "Data ilegível na resposta do parceiro.",
    "DIVIDA-E022": "Resposta do parceiro fora do contrato.",
    "DIVIDA-E030": "Credencial do gateway recusada pelo parceiro.",
    "DIVIDA-E031": "O parceiro pediu para aguardar (HTTP 429).",
    "DIVIDA-E032": "Parceiro em falha (circuito aberto): não consultado.",
    "DIVIDA-E033": "Parceiro não configurado.",
    "DIVIDA-E034": "Prazo total da consulta esgotado.",
    "DIVIDA-E035": "O parceiro encerrou a conexão sem responder.",
    "DIVIDA-E040": "Limite de consultas por minuto deste cliente excedido: aguarde Retry-After segundos.",
    "DIVIDA-E050": "Nenhum parceiro respondeu; tente novamente mais tarde.",
    "DIVIDA-E090": "Erro interno do gateway ao consultar o parceiro.",
    # Intimations brought back to the procuradorias (issue 12 point 7, gateway/divida/intimacoes)
    "INTIM-E001": "Número de processo CNJ inválido no filtro.",
    "INTIM-E002": "Filtro da listagem de intimações inválido (situação, tribunal ou período).",
    "INTIM-E003": "limite fora do intervalo aceito (1 a 100).",
    "INTIM-E004": "Cursor de paginação inválido.",
    "INTIM-E010": "Intimação não encontrada.",
    "INTIM-E011": "Procuradoria não cadastrada.",
    "INTIM-E012": "Nenhum callback de intimações definido para esta procuradoria.",
    "INTIM-E020": "O tribunal falhou ao entregar o teor (sem resposta, resposta ilegível ou erro): a ciência não foi "
    "registrada; tente novamente.",
    "INTIM-E021": "Tribunal inacessível: a ciência não foi registrada; tente novamente mais tarde.",
    "INTIM-E022": "O tribunal recusou a consulta (sucesso=false): a ciência não foi registrada.",
    # execuções fiscais filed from structured CDAs (issue 12, points 1–6: gateway/divida/execucao/)
    "EXEC-E001": "Corpo ilegível: JSON ou XML (ListaCDA) malformado.",
    "EXEC-E002": "Requisito obrigatório da CDA ausente (Lei 6.830/1980 art. 2º §5º).",
    "EXEC-E003": "Identificador inválido (CPF/CNPJ, número de inscrição, município IBGE, UF ou CEP).",
    "EXEC-E004": "Valor, data ou tipo em formato inválido.",
    "EXEC-E005": "CDAs de devedores diferentes não podem ser reunidas (Lei 6.830/1980 art. 28).",
    "EXEC-E006": "CDA repetida no pedido.",
    "EXEC-E007": "Referência da procuradoria já usada com outro conteúdo.",
    "EXEC-E008": "Credor ou procuradoria inválidos (PGFN: União; PGF: a autarquia ou fundação credora).",
    "EXEC-E010": "Devedor sem CPF/CNPJ (Res. CNJ 547/2024 art. 1º-A).",
    "EXEC-E011": "Sem tentativa prévia de conciliação ou solução administrativa (Res. CNJ 547/2024 art. 2º).",
    "EXEC-E012": "Sem protesto prévio, substituto admitido ou motivo de ineficiência (Res. CNJ 547/2024 art. 3º).",
    "EXEC-E013": "Valor da causa abaixo de R$ 10.000 (Res. CNJ 547/2024 art. 1º): informado, não recusado.",
    "EXEC-E014": "Assinatura do documento da CDA ausente ou inválida.",
    "EXEC-E015": "O documento da CDA não é um PDF.",
    "EXEC-E016": "Município do devedor sem unidade da Justiça Federal na tabela de localidades.",
    "EXEC-E020": "CDA já ajuizada (ou em ajuizamento): informado o processo ou a execução.",
    "EXEC-E030": "Execução fiscal não encontrada.",
    "EXEC-E031": "Só uma execução indeterminada pode ser resolvida; uma petição só numa execução protocolada.",
    "EXEC-E032": "Resolução inválida: informe numeroProcesso válido ou decisao \"reenviar\", com justificativa.",
    "EXEC-E033": "Petição intercorrente inválida (tipo, CDA substituída ou nova CDA).",
    "EXEC-E040": "Filtro, cursor ou limite da listagem inválido.",
    "EXEC-E090": "A petição gerada não é válida no esquema MNI 2.2.2 (erro interno do gateway).",
    "EXEC-E091": "Chave de assinatura das petições da procuradoria não configurada.",
    # The web form and the operators' console (issue 16, gateway/web/people.py, gateway/edges/web_*.py)
    "WEB-E001": "CPF ou senha inválidos.",
    "WEB-E002": "Sessão ausente ou expirada por inatividade: entre novamente.",
    "WEB-E003": "Formulário expirado ou sem token CSRF válido: recarregue a página e envie de novo.",
    "WEB-E004": "Seu papel não dá acesso a esta página.",
    "WEB-E005": "Rascunho não encontrado.",
    "WEB-E006": "Tipo de comunicação que o órgão não pode enviar.",
    "WEB-E007": "Muitas tentativas de entrada malsucedidas: aguarde e tente novamente.",
    # Public statistics and certificates (issue 15: gateway/estatisticas, gateway/certidoes)
    "ESTAT-E001": "Ano inválido (AAAA).",
    "ESTAT-E002": "Tipo de comunicação inválido (I a IX).",
    "ESTAT-E003": "UF inválida.",
    "ESTAT-E004": "Parâmetro não aceito: as estatísticas só se filtram por ano, tipo e uf (células da grade fixa).",
    "CERT-E001": "CPF inválido.",
    "CERT-E002": "Certidões apenas para pessoas físicas: as comunicações tratam de direitos políticos (informe um "
    "CPF, não um CNPJ).",
    "CERT-E003": "Informe o nome (até 200 caracteres).",
    "CERT-E004": "Limite de certidões por minuto deste cliente excedido: aguarde Retry-After segundos.",
    "CERT-E005": "Arquivo ausente ou maior que o aceito na verificação (até 5 MiB).",
    "CERT-E010": "Certidão não encontrada para este código de verificação.",
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


class ManyRefusals(ValidationFailed):
    """Several checks refused one request at once: each ``(code, field, message)`` in ``errors`` (the REST problem
    lists them in ``erros``); the exception's own code and field are the first one's."""

    def __init__(self, errors: list[tuple[str, str | None, str]]) -> None:
        code, field, message = errors[0]
        super().__init__(code, message if len(errors) == 1 else f"{message} (e mais {len(errors) - 1})", field)
        self.errors = errors


class AuthenticationFailed(ClientError):
    """Missing or wrong credentials (unknown user and wrong password look the same)."""


class TooManyRequests(ClientError):
    """Refused for a while without being looked at (a throttled login): ``retry_after`` seconds to wait."""

    def __init__(self, code: str, message: str | None = None, field: str | None = None,
                 retry_after: float = 0.0) -> None:
        super().__init__(code, message, field)
        self.retry_after = retry_after


class NotAllowed(ClientError):
    """An authenticated organ asked for something outside its competence or access."""


class Conflict(ClientError):
    """The request contradicts what is already stored (idempotency key reuse, cancelled history)."""


class NotFound(ClientError):
    """The protocol asked for does not exist (or is not visible to the caller)."""


class MustUnderstand(ClientError):
    """A header marked mustUnderstand that this endpoint does not process."""

    faultcode = "soap:MustUnderstand"


class ServerError(GatewayError):
    """Our fault; the caller may retry."""

    retryable = True


class StorageUnavailable(ServerError):
    """The database failed or did not answer in time; nothing of the request was acknowledged."""


class Overloaded(ServerError):
    """The gateway is beyond its capacity — too many requests in flight, the writer's queue full, or the process-wide
    budget of large bodies spent — and refused the request at once, before storing anything: retrying the same
    request (same ``referenciaRemetente``) after ``retry_after_s`` seconds is safe (``*-E092``)."""

    def __init__(self, code: str = "INFODIP-E092", message: str | None = None, field: str | None = None, *,
                 retry_after_s: int = 1) -> None:
        super().__init__(code, message, field)
        self.retry_after_s = retry_after_s


class PartnerError(GatewayError):
    """A call to a partner failed as a whole. ``retryable`` says whether sending again may succeed; ``partner``
    names it. Subclasses say what is known about the request's fate."""

    default_code = "GATEWAY-E010"

    def __init__(self, message: str, *, retryable: bool, partner: str | None = None, code: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(code or self.default_code, message, field)
        self.retryable = retryable
        self.partner = partner


class PartnerUnreachable(PartnerError):
    """The request never reached the partner (connection refused, no route, invalid address): nothing was sent."""

    default_code = "GATEWAY-E010"


class PartnerTimeout(PartnerError):
    """The request was sent but no answer came in time (or the connection dropped): the outcome is unknown."""

    default_code = "GATEWAY-E011"


class PartnerRefused(PartnerError):
    """The partner answered with a refusal (a 4xx, a ``rejeitado``): sending the same bytes again fails again."""

    default_code = "GATEWAY-E012"


class PartnerUnreadable(PartnerError):
    """The partner answered something that cannot be read; it may have acted on the request."""

    default_code = "GATEWAY-E013"


class OperatorError(GatewayError):
    """An operator's request (a CLI command, a setting, the registry file) that cannot be carried out.

    Rendered by the CLI as one Portuguese line with the code and a non-zero exit status, never a traceback."""

    default_code = "GATEWAY-E002"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(code or self.default_code, message, field)
