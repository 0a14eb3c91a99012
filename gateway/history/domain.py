"""History import: the two file layouts of ``gateway import`` (docs/importacao.md) read into records.

Pure: no database. A *record* is one communication exported from a system the unified flow replaces — its id there
(``id_origem``), the sending organ's code, when that system received it, and the INFODIP 1.0 ``comunicacao``
element (built from the CSV's columns, or taken as is from the XML). The record is then checked by the same rules
as live intake (the INFODIP 1.0 XSD and ``gateway.infodip.domain``) in :mod:`gateway.history.service`.

Both readers stream: one record at a time, whatever the file's size (the XML's finished elements are freed as it
goes). A record that cannot be read is yielded as a :class:`Refusal` with its line; a file that cannot be read at
all raises OperatorError GATEWAY-E110.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.errors import OperatorError, ValidationFailed
from gateway.infodip.contract import NS as INFODIP_NS
from gateway.infodip.domain import BLOCK_OF_KIND, FACT_DATE_OF_KIND, Kind

#: Namespace of the XML layout's envelope (``importacao``/``registro``); the communications inside are INFODIP 1.0's.
IMPORT_NS = "urn:gateway-interop:importacao:1.0"
FORMATS = ("csv", "xml")
#: The most characters of an origin's name and of an id in it (the columns of ``imported_communications``).
MAX_ORIGIN, MAX_ORIGIN_ID = 16, 40
ORIGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}")

#: The CSV layout's columns (``;``-separated, UTF-8, a header line first); docs/importacao.md describes each.
CSV_REQUIRED = ("id_origem", "orgao", "tipo", "data_recebimento", "nome", "data_fato")
CSV_COLUMNS = (
    *CSV_REQUIRED, "referencia", "cpf", "titulo_eleitor", "data_nascimento", "nome_mae", "processo", "observacao",
    "artigos", "suspensao", "obrigacoes", "motivo", "protocolo_condenacao", "causa_inelegibilidade", "alinea", "item",
    "dispositivo_penal", "pena", "regime", "descricao", "matricula_certidao", "natureza", "orgao_colegiado",
    "dispositivo", "cargo", "orgao_publico", "ato_demissao", "fundamento_legal",
)
_TERM = re.compile(r"P(?:(\d{1,4})Y)?(?:(\d{1,4})M)?(?:(\d{1,5})D)?")


@dataclass(frozen=True)
class Record:
    """One communication of an import file: *line* (1-based, the record's first line in the file), the id in its
    origin, the sending organ's code, when the origin received it (aware), and its ``inf:comunicacao`` element."""

    line: int
    origin_id: str
    organ: str
    received_at: datetime
    element: etree._Element


@dataclass(frozen=True)
class Refusal:
    """A record refused, with its line, its id in the origin (when read) and the error (code, message, field)."""

    line: int
    origin_id: str
    error: ValidationFailed | OperatorError | Exception


def check_origin(origin: str) -> str:
    """*origin* when it is a valid origin name (1–16 letters, digits, ``_.-``). Errors: OperatorError
    GATEWAY-E002."""
    if not ORIGIN_PATTERN.fullmatch(origin):
        raise OperatorError(f"origem inválida: {origin!r} (1 a 16 letras, dígitos, _ . -)", field="origem")
    return origin


def bad_field(code: str, field: str, why: str) -> ValidationFailed:
    """A record-level refusal (GATEWAY-E111 and the like) naming the column or attribute at fault."""
    return ValidationFailed(code, why, field=field)


def received_at_of(value: str, tz: ZoneInfo, field: str) -> datetime:
    """The reception instant *value* — ISO 8601 date-time with offset (``2021-03-04T10:20:00-03:00``), or a date
    (midnight in *tz*) — as aware UTC. Errors: ValidationFailed GATEWAY-E111."""
    value = value.strip()
    try:
        if "T" in value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=tz)
        else:
            parsed = datetime.combine(date.fromisoformat(value), time(), tz)
    except ValueError:
        raise bad_field("GATEWAY-E111", field, f"data de recebimento ilegível: {value!r} (use AAAA-MM-DD ou "
                        "AAAA-MM-DDThh:mm:ss±hh:mm)") from None
    return parsed.astimezone(UTC)


def origin_id_of(value: str | None, field: str) -> str:
    """The id in the origin, stripped. Errors: ValidationFailed GATEWAY-E111 when empty or over 40 characters."""
    value = (value or "").strip()
    if not value or len(value) > MAX_ORIGIN_ID:
        raise bad_field("GATEWAY-E111", field, f"id de origem ausente ou com mais de {MAX_ORIGIN_ID} caracteres")
    return value


# -- CSV ---------------------------------------------------------------------------------------------------------

def _add(parent: etree._Element, name: str, value: str | None) -> etree._Element | None:
    """Append ``inf:name`` with *value* when *value* is not blank."""
    if value is None or not value.strip():
        return None
    el = etree.SubElement(parent, f"{{{INFODIP_NS}}}{name}")
    el.text = value.strip()
    return el


def _term(parent: etree._Element, name: str, value: str, column: str) -> None:
    """``inf:name`` as a tipoPrazo from an ISO 8601 period (``P8Y``, ``P4Y6M``, ``P30D``); nothing when blank."""
    value = value.strip()
    if not value:
        return
    match = _TERM.fullmatch(value)
    if match is None or not any(match.groups()):
        raise bad_field("GATEWAY-E111", column, f"prazo ilegível: {value!r} (use P<anos>Y<meses>M<dias>D, p.ex. P4Y6M)")
    el = etree.SubElement(parent, f"{{{INFODIP_NS}}}{name}")
    for part, unit in zip(match.groups(), ("anos", "meses", "dias"), strict=True):
        _add(el, unit, part)


def _inelegibility(block: etree._Element, row: dict[str, str]) -> None:
    if not row.get("causa_inelegibilidade", "").strip():
        return
    el = etree.SubElement(block, f"{{{INFODIP_NS}}}inelegibilidade")
    _add(el, "causaInelegibilidade", row["causa_inelegibilidade"])
    _add(el, "alinea", row.get("alinea"))
    _add(el, "item", row.get("item"))


def _many(block: etree._Element, name: str, value: str) -> None:
    for part in value.split("|"):
        _add(block, name, part)


def communication_of_row(row: dict[str, str]) -> etree._Element:
    """The ``inf:comunicacao`` element a CSV *row* describes (columns as in :data:`CSV_COLUMNS`; blank ones are left
    out, so a missing mandatory field is the XSD's refusal, INFODIP-E011, as it would be live). The fact date is
    written both in the header and as the kind's own date. Errors: ValidationFailed GATEWAY-E111 (unknown
    ``tipo``, unreadable ``suspensao``/``pena``)."""
    g = {k: (v or "") for k, v in row.items()}
    try:
        kind = Kind(g["tipo"].strip())
    except ValueError:
        raise bad_field("GATEWAY-E111", "tipo", f"tipo desconhecido: {g['tipo']!r} (I a IX)") from None
    comm = etree.Element(f"{{{INFODIP_NS}}}comunicacao", tipo=kind.value, nsmap={"inf": INFODIP_NS})
    head = etree.SubElement(comm, f"{{{INFODIP_NS}}}cabecalho")
    _add(head, "referenciaRemetente", g["referencia"] or g["id_origem"])
    person = etree.SubElement(head, f"{{{INFODIP_NS}}}pessoa")
    for column, name in (("nome", "nome"), ("cpf", "cpf"), ("titulo_eleitor", "tituloEleitor"),
                         ("data_nascimento", "dataNascimento"), ("nome_mae", "nomeMae")):
        _add(person, name, g[column])
    if g["processo"].strip():
        _add(etree.SubElement(head, f"{{{INFODIP_NS}}}processo"), "numero", g["processo"])
    _add(head, "dataFato", g["data_fato"])
    _add(head, "observacao", g["observacao"])
    block = etree.SubElement(comm, f"{{{INFODIP_NS}}}{BLOCK_OF_KIND[kind]}")
    fact = g["data_fato"]
    if kind is Kind.VII:
        _add(block, "natureza", g["natureza"])
    _add(block, FACT_DATE_OF_KIND[kind], fact)
    if kind is Kind.I:
        _many(block, "artigo", g["artigos"])
        sanctions = etree.SubElement(block, f"{{{INFODIP_NS}}}sancoes")
        _term(sanctions, "suspensaoDireitosPoliticos", g["suspensao"], "suspensao")
    elif kind is Kind.II:
        _add(block, "obrigacoes", g["obrigacoes"])
    elif kind is Kind.III:
        _add(block, "motivo", g["motivo"])
        _add(block, "protocoloCondenacao", g["protocolo_condenacao"])
        _inelegibility(block, g)
    elif kind is Kind.IV:
        _many(block, "dispositivoPenal", g["dispositivo_penal"])
        _term(block, "pena", g["pena"], "pena")
        _add(block, "regime", g["regime"])
        _inelegibility(block, g)
    elif kind is Kind.V:
        _add(block, "motivo", g["motivo"])
        _add(block, "protocoloCondenacao", g["protocolo_condenacao"])
        _add(block, "descricao", g["descricao"])
    elif kind is Kind.VI:
        _add(block, "matriculaCertidao", g["matricula_certidao"])
    elif kind is Kind.VII:
        _add(block, "orgaoColegiado", g["orgao_colegiado"])
        _add(block, "dispositivo", g["dispositivo"])
        _inelegibility(block, g)
    elif kind is Kind.VIII:
        for column, name in (("cargo", "cargo"), ("orgao_publico", "orgaoPublico"), ("ato_demissao", "atoDemissao"),
                             ("fundamento_legal", "fundamentoLegal")):
            _add(block, name, g[column])
    else:  # IX
        _add(block, "descricao", g["descricao"])
        _add(block, "fundamentoLegal", g["fundamento_legal"])
        _term(block, "suspensaoDireitosPoliticos", g["suspensao"], "suspensao")
        _inelegibility(block, g)
    return comm


def read_csv(path: Path, tz: ZoneInfo) -> Iterator[Record | Refusal]:
    """The records of the CSV file at *path*, one at a time. Errors: OperatorError GATEWAY-E110 for a file that
    cannot be read (missing, not UTF-8, a header without the required columns or with unknown ones, broken
    quoting); a bad record is yielded as a :class:`Refusal`."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=";", strict=True)
            header = [h.strip() for h in reader.fieldnames or ()]
            missing = [c for c in CSV_REQUIRED if c not in header]
            unknown = [c for c in header if c not in CSV_COLUMNS]
            if missing or unknown:
                raise OperatorError(
                    f"{path}: cabeçalho CSV inválido"
                    + (f"; colunas obrigatórias ausentes: {', '.join(missing)}" if missing else "")
                    + (f"; colunas desconhecidas: {', '.join(unknown)}" if unknown else ""),
                    code="GATEWAY-E110", field="cabecalho")
            reader.fieldnames = header
            line = reader.line_num + 1
            for raw in reader:
                start, line = line, reader.line_num + 1
                row = {c: (raw.get(c) or "") for c in CSV_COLUMNS}
                origin_id = row["id_origem"].strip()
                try:
                    if None in raw:
                        raise bad_field("GATEWAY-E111", "linha", "mais campos que colunas no cabeçalho")
                    origin_id = origin_id_of(origin_id, "id_origem")
                    yield Record(start, origin_id, row["orgao"].strip(),
                                 received_at_of(row["data_recebimento"], tz, "data_recebimento"),
                                 communication_of_row(row))
                except ValidationFailed as exc:
                    yield Refusal(start, origin_id, exc)
    except UnicodeDecodeError as exc:
        raise OperatorError(f"{path}: o arquivo não está em UTF-8 ({exc.reason})", code="GATEWAY-E110") from None
    except csv.Error as exc:
        raise OperatorError(f"{path}: CSV ilegível ({exc})", code="GATEWAY-E110") from None


# -- XML ---------------------------------------------------------------------------------------------------------

def read_xml_records(path: Path, tz: ZoneInfo) -> Iterator[Record | Refusal]:
    """The records of the XML file at *path* (``<importacao xmlns="urn:gateway-interop:importacao:1.0">`` holding
    ``registro`` elements, each with the attributes ``idOrigem``, ``orgao``, ``dataRecebimento`` and one INFODIP
    1.0 ``comunicacao``), streamed: each ``registro`` is freed once read. No DTD, entity or network access.
    Errors: OperatorError GATEWAY-E110 for a file that is not such a document or stops being well-formed (the
    records before the fault have been yielded)."""
    registro = f"{{{IMPORT_NS}}}registro"
    try:
        events = etree.iterparse(str(path), events=("start", "end"), resolve_entities=False, no_network=True,
                                 load_dtd=False, remove_comments=True, remove_pis=True, huge_tree=False)
        root: etree._Element | None = None
        depth = 0
        for event, el in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = el
                    if el.tag != f"{{{IMPORT_NS}}}importacao":
                        raise OperatorError(f"{path}: o elemento raiz deve ser importacao em {IMPORT_NS}",
                                            code="GATEWAY-E110")
                    if el.getroottree().docinfo.doctype:
                        raise OperatorError(f"{path}: DOCTYPE, DTD e entidades não são aceitos", code="GATEWAY-E110")
                continue
            depth -= 1
            if depth != 1:
                continue
            if el.tag == registro:
                yield _record_of(el, tz)
            else:
                yield Refusal(_line(el), "", bad_field("GATEWAY-E111", etree.QName(el).localname,
                                                                 "elemento inesperado: use registro"))
            el.clear(keep_tail=False)
            parent = el.getparent()
            while parent is not None and el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise OperatorError(f"{path}: XML malformado na linha {exc.lineno}: {exc.msg}", code="GATEWAY-E110") from None
    except OSError as exc:
        raise OperatorError(f"{path}: arquivo ilegível ({exc})", code="GATEWAY-E110") from None


def _line(el: etree._Element) -> int:
    line = el.sourceline
    return line if isinstance(line, int) else 0


def _record_of(el: etree._Element, tz: ZoneInfo) -> Record | Refusal:
    line = _line(el)
    origin_id = (el.get("idOrigem") or "").strip()
    try:
        origin_id = origin_id_of(origin_id, "registro/@idOrigem")
        organ = (el.get("orgao") or "").strip()
        if not organ:
            raise bad_field("GATEWAY-E111", "registro/@orgao", "órgão remetente ausente")
        received_at = received_at_of(el.get("dataRecebimento") or "", tz, "registro/@dataRecebimento")
        found = [c for c in el if isinstance(c.tag, str)]
        if len(found) != 1 or found[0].tag != f"{{{INFODIP_NS}}}comunicacao":
            raise bad_field("GATEWAY-E111", "registro/comunicacao",
                            f"cada registro contém exatamente uma comunicacao em {INFODIP_NS}")
        return Record(line, origin_id, organ, received_at, found[0])
    except ValidationFailed as exc:
        return Refusal(line, origin_id, exc)


def read_records(path: Path, file_format: str, tz: ZoneInfo) -> Iterator[Record | Refusal]:
    """The records of *path* in *file_format* (``csv`` or ``xml``)."""
    return read_csv(path, tz) if file_format == "csv" else read_xml_records(path, tz)


def format_of(path: Path, given: str | None) -> str:
    """The layout of *path*: *given*, else its extension. Errors: OperatorError GATEWAY-E110."""
    chosen = (given or path.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise OperatorError(f"{path}: formato desconhecido; use --formato csv ou xml", code="GATEWAY-E110",
                            field="formato")
    return chosen
