"""The execuções fiscais' rules, pure (no I/O): what a CDA must carry, which checks refuse or only flag a request,
which court gets it, and the filing's states.

Legal sources (DOMAIN.md §5):
- Lei 6.830/1980 (LEF) art. 2º §5º — the requisites of the termo de inscrição / CDA: debtor and co-responsible
  parties and their domicile; principal value, start date and way of computing interest and charges; origin, nature
  and legal basis; monetary-correction basis (where there is one); inscription number and date; administrative
  process number. Art. 28: CDAs of the same debtor may be joined in one execução. Art. 2º §8º: a CDA may be
  substituted until the first-instance decision.
- Res. CNJ 547/2024 as amended by Res. 617/2025 — art. 1º-A the debtor's CPF/CNPJ; art. 2º a prior attempt at
  conciliation or an administrative solution; art. 3º a prior protest, one of its admitted substitutes, or the
  stated reason it was inefficient; below R$ 10.000 an execução may later be extinguished (reported only). Each of
  the three is refused or only flagged per creditor (:class:`Regras`).
- Competence: federal credits go to the Justiça Federal (J = 4) of the debtor's State — TRF1…TRF6, Minas Gerais in
  TRF6 since Lei 14.226/2021 — at the court unit of the debtor's municipality (``codigoLocalidade``, a configurable
  table: :func:`parse_localidades`). TPU: class 1116 (Execução Fiscal), subject 6017 (Dívida Ativa).

Every failure is an :class:`Erro` with its stable ``EXEC-E…`` code and the field at fault, which names the CDA
(``cdas[0].devedor.cpfCnpj``); a request is refused with all its errors at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from gateway.identifiers import (
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_inscricao_pgf,
    is_valid_inscricao_pgfn,
)

#: TPU (Res. CNJ 46/2007): class Execução Fiscal and subject Dívida Ativa.
CLASSE_EXECUCAO_FISCAL = 1116
ASSUNTO_DIVIDA_ATIVA = 6017
#: Res. CNJ 547/2024 art. 1º: the value below which an execução may be extinguished (reported, never refused).
VALOR_MINIMO = Decimal("10000.00")
#: The União — Fazenda Nacional, polo ativo of PGFN's execuções (CNPJ of the Procuradoria-Geral da Fazenda Nacional).
UNIAO = ("UNIÃO - FAZENDA NACIONAL", "00394460005887")
PROCURADORIAS = ("PGFN", "PGF")

#: UF → Tribunal Regional Federal (Lei 5.010/1966; Lei 14.226/2021 created TRF6 for Minas Gerais).
TRF_BY_UF: dict[str, int] = {
    **dict.fromkeys(("AC", "AM", "AP", "BA", "DF", "GO", "MA", "MT", "PA", "PI", "RO", "RR", "TO"), 1),
    **dict.fromkeys(("RJ", "ES"), 2), **dict.fromkeys(("SP", "MS"), 3), **dict.fromkeys(("RS", "SC", "PR"), 4),
    **dict.fromkeys(("AL", "CE", "PB", "PE", "RN", "SE"), 5), "MG": 6}
#: IBGE municipality code's first two digits → UF.
UF_BY_IBGE: dict[str, str] = {
    "11": "RO", "12": "AC", "13": "AM", "14": "RR", "15": "PA", "16": "AP", "17": "TO", "21": "MA", "22": "PI",
    "23": "CE", "24": "RN", "25": "PB", "26": "PE", "27": "AL", "28": "SE", "29": "BA", "31": "MG", "32": "ES",
    "33": "RJ", "35": "SP", "41": "PR", "42": "SC", "43": "RS", "50": "MS", "51": "MT", "52": "GO", "53": "DF"}

#: Res. 617/2025's admitted substitutes of the protest (art. 3º) and the protest itself.
PROTESTO_TIPOS = ("protesto", "cadastro_protecao_credito", "averbacao_registro_bens", "indicacao_bens_penhoraveis",
                  "cadin")
CONCILIACAO_TIPOS = ("transacao", "parcelamento", "negociacao_administrativa", "conciliacao")


class Estado(StrEnum):
    """A filing's state (issue 12 point 5)."""

    RECEBIDA = "recebida"  # stored, waiting for the sender
    ENVIADA = "enviada"  # being sent: committed before the court is called
    PROTOCOLADA = "protocolada"  # the court answered sucesso=true (new process number, protocol, receipt)
    RECUSADA = "recusada"  # the court answered sucesso=false (its reason)
    INDETERMINADA = "indeterminada"  # sent, the answer lost: never resent automatically (point 4)


class Modo(StrEnum):
    """How a Res. 547 check acts for one creditor."""

    RECUSAR = "recusar"
    SINALIZAR = "sinalizar"


@dataclass(frozen=True)
class Regras:
    """Per creditor: whether each Res. CNJ 547/2024 check refuses or only flags (``GATEWAY_EXECUCAO_REGRAS``)."""

    cpf_cnpj: Modo = Modo.RECUSAR  # art. 1º-A
    conciliacao: Modo = Modo.RECUSAR  # art. 2º
    protesto: Modo = Modo.RECUSAR  # art. 3º


def parse_regras(raw: str) -> dict[str, Regras]:
    """``GATEWAY_EXECUCAO_REGRAS``: JSON ``{"PGF": {"protesto": "sinalizar"}}`` (absent: every check refuses).
    Raises ValueError (Portuguese) for anything else."""
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError('esperado {"PGFN": {"cpf_cnpj"|"conciliacao"|"protesto": "recusar"|"sinalizar"}}')
    out = {}
    for organ, modes in data.items():
        if not isinstance(modes, dict) or not set(modes) <= {"cpf_cnpj", "conciliacao", "protesto"}:
            raise ValueError(f"regras de {organ}: chaves aceitas cpf_cnpj, conciliacao, protesto")
        out[str(organ)] = Regras(**{k: Modo(v) for k, v in modes.items()})
    return out


@dataclass(frozen=True)
class Localidade:
    """The court unit of a municipality: its State and the ``codigoLocalidade`` its TRF uses."""

    uf: str
    codigo: str
    nome: str = ""


def parse_localidades(data: object) -> dict[str, Localidade]:
    """The table IBGE code → :class:`Localidade` from its JSON form ``{"3304557": {"uf": "RJ", "codigoLocalidade":
    "5101", "nome": "Rio de Janeiro"}}``. Raises ValueError (Portuguese) when an entry is malformed or its UF
    contradicts the IBGE code."""
    if not isinstance(data, dict):
        raise ValueError("tabela de localidades: esperado um objeto IBGE → {uf, codigoLocalidade}")
    out = {}
    for ibge, entry in data.items():
        if ibge.startswith("_"):
            continue  # comments
        if not (isinstance(entry, dict) and len(ibge) == 7 and ibge.isdigit()
                and UF_BY_IBGE.get(ibge[:2]) == entry.get("uf") and entry.get("codigoLocalidade")):
            raise ValueError(f"tabela de localidades: entrada {ibge!r} inválida")
        out[ibge] = Localidade(entry["uf"], str(entry["codigoLocalidade"]), str(entry.get("nome", "")))
    return out


# -- the request ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endereco:
    """A domicile: street line, IBGE municipality code (7 digits), UF and CEP (8 digits, optional)."""

    logradouro: str
    municipio_ibge: str
    uf: str
    cep: str | None = None


@dataclass(frozen=True)
class Pessoa:
    """A debtor or co-responsible party: name, CPF/CNPJ (digits; None when unknown), domicile, and for a
    co-responsible party how it answers (``SOLIDARIO`` | ``SUBSIDIARIO``)."""

    nome: str
    documento: str | None
    endereco: Endereco | None
    tipo: str | None = None


@dataclass(frozen=True)
class DocumentoAssinado:
    """The signed CDA document: the PDF and its detached PKCS#7 (CMS) signature, or a PAdES PDF (``p7s`` None)."""

    pdf: bytes
    p7s: bytes | None


@dataclass(frozen=True)
class Cda:
    """One CDA with every requisite of LEF art. 2º §5º and the Res. CNJ 547/2024 facts. Money as Decimal (reais)."""

    numero_inscricao: str
    data_inscricao: date
    processo_administrativo: str
    devedor: Pessoa
    corresponsaveis: tuple[Pessoa, ...]
    valor_principal: Decimal
    data_inicio_juros: date
    forma_calculo_juros: str
    origem: str
    natureza: str
    fundamento_legal: str
    base_correcao_monetaria: str | None
    valor_atualizado: Decimal
    data_valor_atualizado: date
    conciliacao: str | None  # one of CONCILIACAO_TIPOS, with its date below
    data_conciliacao: date | None
    protesto: str | None  # one of PROTESTO_TIPOS
    data_protesto: date | None
    protesto_ineficiente: str | None  # the stated reason the protest was inefficient (art. 3º)
    documento: DocumentoAssinado


@dataclass(frozen=True)
class Pedido:
    """A request to file one execução fiscal: the procuradoria (organ code), the creditor (polo ativo: name and
    CNPJ), the procuradoria's own reference (idempotency key), the CDAs (same debtor) and an optional callback."""

    procuradoria: str
    credor_nome: str
    credor_cnpj: str
    referencia: str
    cdas: tuple[Cda, ...]
    callback_url: str | None = None

    @property
    def devedor(self) -> Pessoa:
        """The debtor of every CDA (checked to be one)."""
        return self.cdas[0].devedor

    @property
    def valor(self) -> Decimal:
        """The value of the claim: the sum of the CDAs' updated values (reais)."""
        return sum((c.valor_atualizado for c in self.cdas), Decimal("0"))


@dataclass(frozen=True)
class Erro:
    """One failed check: stable code, the field at fault (naming the CDA) and a Portuguese message."""

    codigo: str
    campo: str | None
    mensagem: str


@dataclass(frozen=True)
class Destino:
    """Where a filing goes: the TRF's ``J.TR`` and the court unit's ``codigoLocalidade``."""

    jtr: str
    codigo_localidade: str


@dataclass
class Verificacao:
    """The result of the checks: refusals (the request is refused if any) and flags (filed, reported)."""

    erros: list[Erro] = field(default_factory=list)
    sinalizacoes: list[Erro] = field(default_factory=list)
    destino: Destino | None = None


def documento_valido(doc: str) -> bool:
    """A CPF (11 digits) or CNPJ (14, alphanumeric allowed) whose check digits hold."""
    return is_valid_cpf(doc) if len(doc) == 11 else len(doc) == 14 and is_valid_cnpj(doc)


def _flag(v: Verificacao, modo: Modo, erro: Erro) -> None:
    (v.erros if modo is Modo.RECUSAR else v.sinalizacoes).append(erro)


def verificar(p: Pedido, regras: Regras, localidades: dict[str, Localidade]) -> Verificacao:
    """Every check of issue 12 point 2 on *p* (signatures are :mod:`gateway.divida.execucao.documents`'s): the
    identifiers, LEF art. 2º §5º completeness, one debtor (LEF art. 28), Res. CNJ 547/2024 per *regras*, the value
    below R$ 10.000 (flag EXEC-E013), and the destination court from the debtor's domicile and *localidades*."""
    v = Verificacao()
    if p.procuradoria not in PROCURADORIAS:
        v.erros.append(Erro("EXEC-E008", "procuradoria", f"Órgão {p.procuradoria} não ajuíza execuções fiscais."))
    if not p.credor_nome.strip() or not (len(p.credor_cnpj) == 14 and is_valid_cnpj(p.credor_cnpj)):
        v.erros.append(Erro("EXEC-E008", "credor", "Credor (polo ativo) sem nome ou com CNPJ inválido."))
    if not p.cdas:
        v.erros.append(Erro("EXEC-E002", "cdas", "Informe ao menos uma CDA."))
        return v
    seen: set[str] = set()
    first = p.cdas[0].devedor
    for i, c in enumerate(p.cdas):
        where = f"cdas[{i}]"
        valid_number = (is_valid_inscricao_pgfn(c.numero_inscricao) if p.procuradoria == "PGFN"
                        else is_valid_inscricao_pgf(c.numero_inscricao))
        if not valid_number:
            v.erros.append(Erro("EXEC-E003", f"{where}.numeroInscricao",
                                f"CDA {c.numero_inscricao}: número de inscrição inválido para a {p.procuradoria}."))
        if c.numero_inscricao in seen:
            v.erros.append(Erro("EXEC-E006", f"{where}.numeroInscricao",
                                f"CDA {c.numero_inscricao} repetida no pedido."))
        seen.add(c.numero_inscricao)
        _pessoa(v, c.devedor, f"{where}.devedor", c.numero_inscricao, regras)
        for j, co in enumerate(c.corresponsaveis):
            _pessoa(v, co, f"{where}.corresponsaveis[{j}]", c.numero_inscricao, regras, devedor=False)
        if (c.devedor.documento or c.devedor.nome) != (first.documento or first.nome):
            v.erros.append(Erro("EXEC-E005", f"{where}.devedor",
                                f"CDA {c.numero_inscricao}: devedor diferente do da primeira CDA (LEF art. 28)."))
        for name, value in (("processoAdministrativo", c.processo_administrativo),
                            ("formaCalculoJuros", c.forma_calculo_juros), ("origem", c.origem),
                            ("natureza", c.natureza), ("fundamentoLegal", c.fundamento_legal)):
            if not value.strip():
                v.erros.append(Erro("EXEC-E002", f"{where}.{name}",
                                    f"CDA {c.numero_inscricao}: {name} ausente (LEF art. 2º §5º)."))
        if c.valor_principal <= 0:
            v.erros.append(Erro("EXEC-E004", f"{where}.valorPrincipal",
                                f"CDA {c.numero_inscricao}: valor principal deve ser positivo."))
        if c.valor_atualizado <= 0:
            v.erros.append(Erro("EXEC-E004", f"{where}.valorAtualizado",
                                f"CDA {c.numero_inscricao}: valor atualizado deve ser positivo."))
        if c.data_inscricao > c.data_valor_atualizado:
            v.erros.append(Erro("EXEC-E004", f"{where}.dataValorAtualizado",
                                f"CDA {c.numero_inscricao}: valor atualizado antes da inscrição."))
        if c.conciliacao is None:
            _flag(v, regras.conciliacao, Erro("EXEC-E011", f"{where}.conciliacao",
                  f"CDA {c.numero_inscricao}: sem tentativa prévia de conciliação ou solução administrativa "
                  "(Res. CNJ 547/2024 art. 2º)."))
        elif c.conciliacao not in CONCILIACAO_TIPOS:
            v.erros.append(Erro("EXEC-E004", f"{where}.conciliacao.tipo",
                                f"CDA {c.numero_inscricao}: tipo de conciliação deve ser um de "
                                f"{', '.join(CONCILIACAO_TIPOS)}."))
        if c.protesto is None and not (c.protesto_ineficiente or "").strip():
            _flag(v, regras.protesto, Erro("EXEC-E012", f"{where}.protesto",
                  f"CDA {c.numero_inscricao}: sem protesto prévio, substituto admitido nem motivo de ineficiência "
                  "(Res. CNJ 547/2024 art. 3º, Res. 617/2025)."))
        elif c.protesto is not None and c.protesto not in PROTESTO_TIPOS:
            v.erros.append(Erro("EXEC-E004", f"{where}.protesto.tipo",
                                f"CDA {c.numero_inscricao}: tipo deve ser um de {', '.join(PROTESTO_TIPOS)}."))
    if p.valor < VALOR_MINIMO:
        v.sinalizacoes.append(Erro("EXEC-E013", "cdas", f"Valor da causa R$ {p.valor} abaixo de R$ 10.000 "
                                   "(Res. CNJ 547/2024 art. 1º: pode ser extinta sem movimentação útil em um ano)."))
    v.destino = _destino(v, first, localidades)
    return v


def _pessoa(v: Verificacao, pe: Pessoa, where: str, cda: str, regras: Regras, devedor: bool = True) -> None:
    if not pe.nome.strip():
        v.erros.append(Erro("EXEC-E002", f"{where}.nome", f"CDA {cda}: nome ausente (LEF art. 2º §5º I)."))
    if pe.documento is None:
        if devedor:
            _flag(v, regras.cpf_cnpj, Erro("EXEC-E010", f"{where}.cpfCnpj",
                                           f"CDA {cda}: devedor sem CPF/CNPJ (Res. CNJ 547/2024 art. 1º-A)."))
    elif not documento_valido(pe.documento):
        v.erros.append(Erro("EXEC-E003", f"{where}.cpfCnpj", f"CDA {cda}: CPF/CNPJ inválido."))
    if pe.endereco is None:
        v.erros.append(Erro("EXEC-E002", f"{where}.endereco", f"CDA {cda}: domicílio ausente (LEF art. 2º §5º I)."))
        return
    e = pe.endereco
    if not e.logradouro.strip():
        v.erros.append(Erro("EXEC-E002", f"{where}.endereco.logradouro", f"CDA {cda}: logradouro ausente."))
    if not (len(e.municipio_ibge) == 7 and e.municipio_ibge.isdigit()) or UF_BY_IBGE.get(e.municipio_ibge[:2]) is None:
        v.erros.append(Erro("EXEC-E003", f"{where}.endereco.municipioIbge",
                            f"CDA {cda}: código IBGE do município inválido."))
    elif UF_BY_IBGE[e.municipio_ibge[:2]] != e.uf:
        v.erros.append(Erro("EXEC-E003", f"{where}.endereco.uf",
                            f"CDA {cda}: UF {e.uf} não corresponde ao município {e.municipio_ibge}."))
    if e.cep is not None and not (len(e.cep) == 8 and e.cep.isdigit()):
        v.erros.append(Erro("EXEC-E003", f"{where}.endereco.cep", f"CDA {cda}: CEP deve ter 8 dígitos."))
    if pe.tipo is not None and pe.tipo not in ("SOLIDARIO", "SUBSIDIARIO"):
        v.erros.append(Erro("EXEC-E004", f"{where}.tipo", f"CDA {cda}: tipo deve ser SOLIDARIO ou SUBSIDIARIO."))


def _destino(v: Verificacao, devedor: Pessoa, localidades: dict[str, Localidade]) -> Destino | None:
    e = devedor.endereco
    if e is None or e.uf not in TRF_BY_UF:
        return None
    loc = localidades.get(e.municipio_ibge)
    if loc is None:
        v.erros.append(Erro("EXEC-E016", "cdas[0].devedor.endereco.municipioIbge",
                            f"Município {e.municipio_ibge} sem unidade da Justiça Federal na tabela de localidades."))
        return None
    return Destino(trf_jtr(e.uf), loc.codigo)


def trf_jtr(uf: str) -> str:
    """The ``J.TR`` of the Tribunal Regional Federal of State *uf* (``MG`` → ``4.06``). KeyError if unknown."""
    return f"4.{TRF_BY_UF[uf]:02d}"


def pedido_digest(p: Pedido) -> str:
    """SHA-256 of the request's content (the idempotency check: same reference, same content)."""
    raw = asdict(p)
    return hashlib.sha256(json.dumps(raw, default=_enc, sort_keys=True).encode()).hexdigest()


def _enc(o: object) -> object:
    if isinstance(o, bytes):
        return hashlib.sha256(o).hexdigest()
    return str(o)


def digits(value: str | None) -> str | None:
    """*value* reduced to its digits (None/empty → None); CNPJ letters kept upper-case."""
    if value is None:
        return None
    out = "".join(ch for ch in value.upper() if ch.isalnum())
    return out or None

