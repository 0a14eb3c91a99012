"""The web form's fields for each of the nine kinds, and their mapping to the INFODIP 1.0 contract (pure, no I/O).

Each field names its place in the contract's ``comunicacao`` element (``cabecalho/pessoa/cpf``) in the XSD's order:
:func:`build_operation` turns the submitted fields into the same operation element a webservice client sends
(``enviarComunicacao``, ``retificarComunicacao``, ``cancelarComunicacao``), which the INFODIP service then checks
with every layer of ``/soap/infodip`` — XSD, identifiers, legal rules, competence, deadline — and the same codes
(INFODIP-E011, E030…E046…). :func:`field_for_error` places each error's ``campo`` next to the form field it concerns.
:func:`fields_of` reads a stored version back into the fields (retificação). The date of the fact is typed once
(the block's own date, e.g. ``dataTransitoJulgado``) and copied to ``cabecalho/dataFato`` (the contract asks for
both equal: INFODIP-E044). The source of the kinds and their fields: Res. Conjunta CNJ/TSE 6/2020 art. 1º p.ú.,
``schemas/infodip/1.0/xsd/infodip-1.0.xsd``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from gateway.infodip.contract import CANCELAR, ENVIAR, NS, RETIFICAR
from gateway.infodip.domain import BLOCK_OF_KIND, Kind

#: What each kind is, in the resolution's words (the kind chooser's labels).
KIND_TITLES: Mapping[Kind, str] = {
    Kind.I: "Condenação por improbidade administrativa transitada em julgado",
    Kind.II: "Acordo de não persecução cível (improbidade)",
    Kind.III: "Cumprimento de sanções ou do acordo de improbidade",
    Kind.IV: "Condenação criminal transitada em julgado",
    Kind.V: "Extinção da punibilidade",
    Kind.VI: "Óbito",
    Kind.VII: "Condenação por órgão judicial colegiado",
    Kind.VIII: "Demissão do serviço público",
    Kind.IX: "Outras hipóteses de suspensão de direitos políticos ou de inelegibilidade",
}


@dataclass(frozen=True)
class Field:
    """One form field: its path under ``comunicacao`` (``cabecalho/pessoa/cpf``), label, input kind (``text``,
    ``date``, ``textarea``, ``select``, ``number``, ``money``, ``multi`` — several values separated by commas),
    whether the XSD requires it, the choices of a select (value, label), a help line, and the identifier the page
    checks as the person types (``cpf``, ``titulo``, ``processo``, ``matricula``, ``protocolo``)."""

    path: str
    label: str
    kind: str = "text"
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    help: str | None = None
    check: str | None = None

    @property
    def name(self) -> str:
        """The HTML name and id: the path with ``-`` for ``/`` (ids stay valid CSS selectors)."""
        return self.path.replace("/", "-")


YES_NO = (("true", "Sim"), ("false", "Não"))


def _term(prefix: str, what: str) -> tuple[Field, ...]:
    return (Field(f"{prefix}/anos", f"{what}: anos", "number"), Field(f"{prefix}/meses", f"{what}: meses", "number"),
            Field(f"{prefix}/dias", f"{what}: dias", "number"))


def _inelegibility(block: str, required: bool) -> tuple[Field, ...]:
    p = f"{block}/inelegibilidade"
    return (Field(f"{p}/causaInelegibilidade", "Causa inelegibilidade (LC 64/1990)?", "select", required, YES_NO),
            Field(f"{p}/alinea", "Alínea do art. 1º, I, da LC 64/1990 (a a q)"),
            Field(f"{p}/item", "Item da alínea"),
            Field(f"{p}/fundamento", "Fundamento da inelegibilidade", "textarea"))


HEADER: tuple[Field, ...] = (
    Field("cabecalho/pessoa/nome", "Nome completo da pessoa", required=True),
    Field("cabecalho/pessoa/cpf", "CPF (11 dígitos)", help="Informe CPF, título, ou nascimento e nome da mãe.",
          check="cpf"),
    Field("cabecalho/pessoa/tituloEleitor", "Título de eleitor (12 dígitos)", check="titulo"),
    Field("cabecalho/pessoa/dataNascimento", "Data de nascimento", "date"),
    Field("cabecalho/pessoa/nomeMae", "Nome da mãe"),
    Field("cabecalho/pessoa/nomePai", "Nome do pai"),
    Field("cabecalho/pessoa/sexo", "Sexo", "select", choices=(("M", "Masculino"), ("F", "Feminino"),
                                                               ("I", "Ignorado"))),
)
PROCESS: tuple[Field, ...] = (
    Field("cabecalho/processo/numero", "Número do processo (CNJ, 20 dígitos)", check="processo",
          help="NNNNNNN-DD.AAAA.J.TR.OOOO, com ou sem pontuação."),
    Field("cabecalho/processo/classe", "Classe processual (TPU)"),
    Field("cabecalho/processo/orgaoJulgador", "Órgão julgador"),
)
NOTE = Field("cabecalho/observacao", "Observação", "textarea")

_MONEY = "Em reais, com ponto decimal (ex.: 1500.00)."

#: The fields of each kind's own block, in the XSD's order; the block's fact date first.
BLOCK_FIELDS: Mapping[Kind, tuple[Field, ...]] = {
    Kind.I: (
        Field("condenacaoImprobidade/dataTransitoJulgado", "Data do trânsito em julgado", "date", True),
        Field("condenacaoImprobidade/artigo", "Artigos da Lei 8.429/1992 (9, 10, 11)", "multi", True,
              help="Separados por vírgula, ex.: 9, 10."),
        *_term("condenacaoImprobidade/sancoes/suspensaoDireitosPoliticos", "Suspensão dos direitos políticos"),
        Field("condenacaoImprobidade/sancoes/perdaFuncaoPublica", "Perda da função pública?", "select",
              choices=YES_NO),
        Field("condenacaoImprobidade/sancoes/perdaBensAcrescidos", "Perda de bens acrescidos (R$)", "money",
              help=_MONEY),
        Field("condenacaoImprobidade/sancoes/multaCivil", "Multa civil (R$)", "money", help=_MONEY),
        *_term("condenacaoImprobidade/sancoes/proibicaoContratar", "Proibição de contratar"),
        Field("condenacaoImprobidade/sancoes/valorRessarcimento", "Ressarcimento (R$)", "money", help=_MONEY),
    ),
    Kind.II: (
        Field("acordoNaoPersecucaoCivel/dataHomologacao", "Data da homologação", "date", True),
        Field("acordoNaoPersecucaoCivel/orgaoHomologador", "Órgão homologador"),
        Field("acordoNaoPersecucaoCivel/obrigacoes", "Obrigações assumidas", "textarea", True),
        Field("acordoNaoPersecucaoCivel/valorRessarcimento", "Ressarcimento (R$)", "money", help=_MONEY),
        Field("acordoNaoPersecucaoCivel/multaCivil", "Multa civil (R$)", "money", help=_MONEY),
    ),
    Kind.III: (
        Field("cumprimentoSancoes/dataDecisao", "Data da decisão", "date", True),
        Field("cumprimentoSancoes/motivo", "Motivo", "select", True,
              (("cumprimentoSancoes", "Cumprimento das sanções"), ("cumprimentoAcordo", "Cumprimento do acordo"))),
        Field("cumprimentoSancoes/protocoloCondenacao", "Protocolo da condenação comunicada", check="protocolo"),
        *_inelegibility("cumprimentoSancoes", False),
    ),
    Kind.IV: (
        Field("condenacaoCriminal/dataTransitoJulgado", "Data do trânsito em julgado", "date", True),
        Field("condenacaoCriminal/dispositivoPenal", "Dispositivos penais", "multi", True,
              help="Separados por vírgula, ex.: CP art. 317."),
        *_term("condenacaoCriminal/pena", "Pena"),
        Field("condenacaoCriminal/regime", "Regime inicial", "select",
              choices=(("fechado", "Fechado"), ("semiaberto", "Semiaberto"), ("aberto", "Aberto"))),
        *_inelegibility("condenacaoCriminal", True),
    ),
    Kind.V: (
        Field("extincaoPunibilidade/dataDecisao", "Data da decisão", "date", True),
        Field("extincaoPunibilidade/motivo", "Motivo da extinção", "select", True, (
            ("cumprimentoPena", "Cumprimento da pena"), ("prescricao", "Prescrição"), ("indulto", "Indulto"),
            ("anistia", "Anistia"), ("graca", "Graça"), ("abolitioCriminis", "Abolitio criminis"),
            ("morteAgente", "Morte do agente"), ("outro", "Outro"))),
        Field("extincaoPunibilidade/protocoloCondenacao", "Protocolo da condenação comunicada", check="protocolo"),
        Field("extincaoPunibilidade/descricao", "Descrição", "textarea"),
    ),
    Kind.VI: (
        Field("obito/dataObito", "Data do óbito", "date", True),
        Field("obito/matriculaCertidao", "Matrícula da certidão de óbito (32 dígitos)", required=True,
              check="matricula"),
        Field("obito/cnsCartorio", "CNS do cartório (6 dígitos)"),
        Field("obito/localObito", "Local do óbito"),
    ),
    Kind.VII: (
        Field("condenacaoColegiada/natureza", "Natureza", "select", True,
              (("improbidade", "Improbidade"), ("criminal", "Criminal"))),
        Field("condenacaoColegiada/dataPublicacao", "Data da publicação do acórdão", "date", True),
        Field("condenacaoColegiada/orgaoColegiado", "Órgão colegiado", required=True),
        Field("condenacaoColegiada/dispositivo", "Dispositivo", "textarea"),
        *_inelegibility("condenacaoColegiada", True),
    ),
    Kind.VIII: (
        Field("demissao/dataPublicacao", "Data da publicação do ato", "date", True),
        Field("demissao/cargo", "Cargo", required=True),
        Field("demissao/orgaoPublico", "Órgão público", required=True),
        Field("demissao/atoDemissao", "Ato de demissão", required=True),
        Field("demissao/fundamentoLegal", "Fundamento legal", "textarea"),
        Field("demissao/numeroProcessoAdministrativo", "Número do processo administrativo"),
    ),
    Kind.IX: (
        Field("outraHipotese/dataDecisao", "Data da decisão", "date", True),
        Field("outraHipotese/descricao", "Descrição da hipótese", "textarea", True),
        Field("outraHipotese/fundamentoLegal", "Fundamento legal", "textarea", True),
        *_term("outraHipotese/suspensaoDireitosPoliticos", "Suspensão dos direitos políticos"),
        *_inelegibility("outraHipotese", True),
    ),
}

#: Containers the XSD requires even when every field inside is empty (their missing child is then the error).
REQUIRED_CONTAINERS: Mapping[Kind, tuple[str, ...]] = {
    Kind.I: ("condenacaoImprobidade/sancoes",),
    Kind.IV: ("condenacaoCriminal/pena", "condenacaoCriminal/inelegibilidade"),
    Kind.VII: ("condenacaoColegiada/inelegibilidade",),
    Kind.IX: ("outraHipotese/inelegibilidade",),
}


def fields_for(kind: Kind) -> tuple[Field, ...]:
    """Every field of *kind*'s form, in the contract's order: the person, the process, the block, the note."""
    return HEADER + PROCESS + BLOCK_FIELDS[kind] + (NOTE,)


def fact_field(kind: Kind) -> Field:
    """The block's date of the fact (the one date typed; copied to ``cabecalho/dataFato``)."""
    return BLOCK_FIELDS[kind][0] if kind is not Kind.VII else BLOCK_FIELDS[kind][1]


_DIGITS_ONLY = {"cpf", "titulo", "processo", "matricula"}
#: elements that repeat (the ``multi`` fields)
_REPEATED = {"artigo", "dispositivoPenal"}


def clean(field: Field, value: str) -> str:
    """The value as the contract wants it: trimmed; identifiers without their mask (dots, dashes, spaces)."""
    value = value.strip()
    if field.check in _DIGITS_ONLY:
        value = re.sub(r"[\s.\-/]", "", value)
    if field.kind == "money":
        value = value.replace(" ", "")
    return value


def _child(parent: etree._Element, name: str) -> etree._Element:
    last = parent[-1] if len(parent) else None
    if last is not None and etree.QName(last).localname == name:
        return last
    return etree.SubElement(parent, f"{{{NS}}}{name}")


def build_communication(kind: Kind, values: Mapping[str, str], reference: str) -> etree._Element:
    """The ``comunicacao`` element of *kind* from the form's *values* (by :attr:`Field.name`), with the sender
    reference *reference*. Empty fields are left out; the XSD decides what is missing."""
    comm = etree.Element(f"{{{NS}}}comunicacao", nsmap={"i": NS})
    comm.set("tipo", kind.value)
    fact = clean(fact_field(kind), values.get(fact_field(kind).name, ""))
    block = BLOCK_OF_KIND[kind]
    filled: list[tuple[str, str]] = [("cabecalho/referenciaRemetente", reference)]
    for f in HEADER + PROCESS:
        filled.extend((f.path, v) for v in _values(f, values))
    filled.append(("cabecalho/dataFato", fact))
    filled.extend((NOTE.path, v) for v in _values(NOTE, values))
    containers = set(REQUIRED_CONTAINERS.get(kind, ()))
    for f in BLOCK_FIELDS[kind]:
        got = _values(f, values)
        filled.extend((f.path, v) for v in got)
        for c in list(containers):
            if not got and f.path.startswith(c + "/") and not any(p.startswith(c + "/") for p, _ in filled):
                # the XSD requires the container: place it empty where its first field would be
                filled.append((c, ""))
                containers.discard(c)
    if not any(p.startswith(block + "/") or p == block for p, _ in filled):
        filled.append((block, ""))
    for path, value in filled:
        node = comm
        parts = path.split("/")
        for i, name in enumerate(parts):
            if i == len(parts) - 1:
                if name in _REPEATED:  # one element per value
                    node = etree.SubElement(node, f"{{{NS}}}{name}")
                else:
                    node = _child(node, name)
            else:
                node = _child(node, name)
        if value:
            node.text = value
    return comm


def _values(field: Field, values: Mapping[str, str]) -> list[str]:
    raw = values.get(field.name, "")
    if field.kind == "multi":
        return [clean(field, v) for v in raw.split(",") if v.strip()]
    value = clean(field, raw)
    return [value] if value else []


def build_operation(operation: str, *, kind: Kind | None = None, values: Mapping[str, str] | None = None,
                    reference: str, protocol: str | None = None, reason: str | None = None) -> etree._Element:
    """The operation element (``enviarComunicacao``, ``retificarComunicacao`` with *protocol*, or
    ``cancelarComunicacao`` with *protocol* and *reason*) the INFODIP service handles."""
    op = etree.Element(f"{{{NS}}}{operation}", nsmap={"i": NS})
    if operation in (RETIFICAR, CANCELAR):
        etree.SubElement(op, f"{{{NS}}}protocolo").text = protocol or ""
    if operation in (ENVIAR, RETIFICAR):
        assert kind is not None and values is not None
        op.append(build_communication(kind, values, reference))
    else:
        etree.SubElement(op, f"{{{NS}}}referenciaRemetente").text = reference
        etree.SubElement(op, f"{{{NS}}}motivo").text = (reason or "").strip()
    return op


def fields_of(kind: Kind, comunicacao: etree._Element) -> dict[str, str]:
    """The form's values (by :attr:`Field.name`) read back from a stored ``comunicacao`` element."""
    out: dict[str, str] = {}
    for f in fields_for(kind):
        found = comunicacao.findall("i:" + "/i:".join(f.path.split("/")), {"i": NS})
        texts = [(e.text or "").strip() for e in found if (e.text or "").strip()]
        if texts:
            out[f.name] = ", ".join(texts) if f.kind == "multi" else texts[0]
    return out


_EXPECTED = re.compile(r"Expected is (?:one of )?\(([^)]*)\)")


def field_for_error(kind: Kind | None, campo: str | None, message: str = "") -> str | None:
    """The form field (:attr:`Field.name`) an error's ``campo`` (``comunicacao/cabecalho/pessoa/cpf``) concerns:
    the field itself, the first field inside the element named (``cabecalho/pessoa`` → the name), the date typed
    for ``cabecalho/dataFato``; None when the error concerns no one field (shown at the top of the form)."""
    if not campo:
        return None
    path = re.sub(r"\[\d+\]", "", campo)
    for root in ("comunicacao/",):
        if path.startswith(root):
            path = path[len(root):]
    if path in ("protocolo", "motivo", "referenciaRemetente"):
        return path
    if kind is None:
        return None
    if path == "cabecalho/dataFato":
        return fact_field(kind).name
    names = {f.path: f.name for f in fields_for(kind)}
    expected = _EXPECTED.search(message)
    if expected:  # the XSD names what it missed: a child (missing child) or a sibling (element not expected)
        base = path if "Missing child" in message else path.rpartition("/")[0]
        wanted = [n.rpartition("}")[2].strip() for n in expected.group(1).split(",")]
        required = {f.path for f in fields_for(kind) if f.required}
        wanted.sort(key=lambda n: f"{base}/{n}".lstrip("/") not in required)
        for name in wanted:
            found = field_for_error(kind, f"{base}/{name}".lstrip("/"))
            if found is not None:
                return found
    if path in names:
        return names[path]
    if path == "cabecalho/pessoa":
        return names["cabecalho/pessoa/cpf"]
    for f in fields_for(kind):
        if f.path.startswith(path + "/"):
            return f.name
    return None
