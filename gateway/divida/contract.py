"""The dívida ativa REST API's wire format (issue 11, point 3): typed models, so ``/openapi.json`` documents them,
and the mapping from the normalised model (:mod:`gateway.divida.domain`).

Names are Portuguese camelCase as DESIGN.md's REST conventions ask; money is a decimal string with a dot
(``"13676.34"``), dates ISO 8601 (``2024-03-15``), times ISO 8601 with offset. Shapes::

    POST /api/v1/devedores/inscricoes  {"documentos": ["…"], "finalidade": "…"}
      → {"resultados": [{"devedor": {"cpfCnpj", "nome", "tipoPessoa"}, "inscricoes": [Inscricao…],
                          "totais": {"geral": {"principal", "corresponsavel"}, "porCredor": {"PGFN": {…}, …}},
                          "fontes": [{"credor", "estado", "consultadoEm", "detalhe", "codigo", "idadeCacheS"}],
                          "parcial": bool}]}
    GET /api/v1/inscricoes/{credor}/{numero}?finalidade=…
      → {"inscricao": InscricaoDetalhada, "fonte": Fonte}
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from gateway.divida.domain import (
    MAX_DOCUMENTOS,
    Credor,
    EstadoFonte,
    Papel,
    Situacao,
    TipoPessoa,
)
from gateway.divida.domain import Devedor as DevedorD
from gateway.divida.domain import Fonte as FonteD
from gateway.divida.domain import Inscricao as InscricaoD
from gateway.divida.domain import InscricaoDetalhada as InscricaoDetalhadaD
from gateway.divida.domain import ResultadoDevedor as ResultadoDevedorD
from gateway.divida.domain import ResultadoInscricao as ResultadoInscricaoD
from gateway.divida.domain import Totais as TotaisD

MONEY = "Valor em reais, string decimal com ponto e duas casas"
CNJ = "Número do processo (CNJ, Res. 65/2008), com ou sem máscara, que motiva a consulta"
EXEMPLO_PROCESSO = "0001234-56.2024.8.19.0001"


class ConsultaDevedores(BaseModel):
    """Which debtors to screen, and why (every party of a docket in one call)."""

    documentos: list[str] = Field(
        description=f"CPFs e CNPJs (com ou sem máscara; CNPJ alfanumérico aceito), de 1 a {MAX_DOCUMENTOS}",
        json_schema_extra={"minItems": 1, "maxItems": MAX_DOCUMENTOS}, examples=[["11144477735"]])
    finalidade: str = Field(description=CNJ, examples=[EXEMPLO_PROCESSO])


class Devedor(BaseModel):
    """The debtor asked about (``nome`` null when no partner named it)."""

    cpfCnpj: str = Field(description="Sem máscara: 11 dígitos (CPF) ou 14 caracteres (CNPJ)")
    nome: str | None
    tipoPessoa: TipoPessoa


class Inscricao(BaseModel):
    """One inscription in dívida ativa, normalised, as seen from the debtor asked about."""

    credor: Credor
    orgaoCredor: str = Field(examples=["União — Fazenda Nacional", "INSS"])
    numeroInscricao: str
    situacao: Situacao
    situacaoOriginal: str = Field(description="O texto do próprio parceiro")
    papelDevedor: Papel | None = Field(description="Null no detalhe de uma inscrição (ver responsaveis)")
    valorConsolidado: str = Field(description=MONEY, examples=["13676.34"])
    dataInscricao: date | None
    dataAtualizacao: date | None
    receita: str
    numeroProcessoJudicial: str | None = Field(description="A execução fiscal, quando ajuizada (20 dígitos)")


class Totais(BaseModel):
    """Sums of ``valorConsolidado`` by the debtor's role: never to be added together (co-debtors repeat the full
    value of a debt)."""

    principal: str = Field(description=MONEY + ": inscrições em que o devedor é o principal")
    corresponsavel: str = Field(description=MONEY + ": inscrições em que é corresponsável ou solidário")


class TotaisDevedor(BaseModel):
    """Totals overall and per creditor that answered (a creditor whose source failed has no entry)."""

    geral: Totais
    porCredor: dict[Credor, Totais]


class Fonte(BaseModel):
    """What became of one partner's lookup."""

    credor: Credor
    estado: EstadoFonte
    consultadoEm: str = Field(description="Quando o parceiro foi consultado (ISO 8601, com fuso)")
    detalhe: str | None = Field(description="O motivo da falha, em português (null quando ok)")
    codigo: str | None = Field(description="Código estável da falha (DIVIDA-E…, GATEWAY-E…), null quando ok")
    idadeCacheS: float | None = Field(description="Idade da resposta em segundos, quando servida do cache")


class Resultado(BaseModel):
    """The answer for one document. ``parcial`` when any source is not ``ok``: an empty list then never means
    "no debts"."""

    devedor: Devedor
    inscricoes: list[Inscricao]
    totais: TotaisDevedor
    fontes: list[Fonte]
    parcial: bool


class Resultados(BaseModel):
    """One result per distinct document, in the order asked."""

    resultados: list[Resultado]


class Responsavel(BaseModel):
    """A party of an inscription and its role."""

    devedor: Devedor
    papel: Papel


class InscricaoDetalhada(Inscricao):
    """One inscription in detail: every party and what a CDA states that the partner gives (Lei 6.830/1980 art. 2º
    §5º)."""

    responsaveis: list[Responsavel]
    processoAdministrativo: str | None
    fundamentoLegal: str | None
    dataAjuizamento: date | None


class ResultadoInscricao(BaseModel):
    """One inscription in detail and the source that gave it."""

    inscricao: InscricaoDetalhada
    fonte: Fonte


def dinheiro(valor: Decimal) -> str:
    """*valor* (two places) as the wire's decimal string with a dot."""
    return f"{valor:.2f}"


def devedor(d: DevedorD) -> Devedor:
    """The wire's debtor."""
    return Devedor(cpfCnpj=d.cpf_cnpj, nome=d.nome, tipoPessoa=d.tipo_pessoa)


def _inscricao_campos(i: InscricaoD) -> dict[str, object]:
    return {"credor": i.credor, "orgaoCredor": i.orgao_credor, "numeroInscricao": i.numero_inscricao,
            "situacao": i.situacao, "situacaoOriginal": i.situacao_original, "papelDevedor": i.papel_devedor,
            "valorConsolidado": dinheiro(i.valor_consolidado), "dataInscricao": i.data_inscricao,
            "dataAtualizacao": i.data_atualizacao, "receita": i.receita,
            "numeroProcessoJudicial": i.numero_processo_judicial}


def inscricao(i: InscricaoD) -> Inscricao:
    """The wire's inscription."""
    return Inscricao.model_validate(_inscricao_campos(i))


def totais(t: TotaisD) -> Totais:
    """The wire's totals."""
    return Totais(principal=dinheiro(t.principal), corresponsavel=dinheiro(t.corresponsavel))


def fonte(f: FonteD) -> Fonte:
    """The wire's source."""
    return Fonte(credor=f.credor, estado=f.estado, consultadoEm=f.consultado_em.isoformat(), detalhe=f.detalhe,
                 codigo=f.codigo, idadeCacheS=None if f.idade_cache_s is None else round(f.idade_cache_s, 3))


def resultado(r: ResultadoDevedorD) -> Resultado:
    """The wire's result for one document."""
    return Resultado(devedor=devedor(r.devedor), inscricoes=[inscricao(i) for i in r.inscricoes],
                     totais=TotaisDevedor(geral=totais(r.totais.geral),
                                          porCredor={c: totais(t) for c, t in r.totais.por_credor.items()}),
                     fontes=[fonte(f) for f in r.fontes], parcial=r.parcial)


def resultados(rs: list[ResultadoDevedorD]) -> Resultados:
    """The wire's answer of ``POST /api/v1/devedores/inscricoes``."""
    return Resultados(resultados=[resultado(r) for r in rs])


def inscricao_detalhada(r: ResultadoInscricaoD) -> ResultadoInscricao:
    """The wire's answer of ``GET /api/v1/inscricoes/{credor}/{numero}``."""
    d: InscricaoDetalhadaD = r.inscricao
    detalhe = InscricaoDetalhada.model_validate({
        **_inscricao_campos(d.inscricao),
        "responsaveis": [Responsavel(devedor=devedor(p.devedor), papel=p.papel) for p in d.responsaveis],
        "processoAdministrativo": d.processo_administrativo, "fundamentoLegal": d.fundamento_legal,
        "dataAjuizamento": d.data_ajuizamento})
    return ResultadoInscricao(inscricao=detalhe, fonte=fonte(r.fonte))
