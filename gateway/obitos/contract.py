"""Wire formats of death batches: the streaming readers (SOAP ``schemas/crc/1.0`` with lxml ``iterparse``, REST
JSON with ijson) and the INFODIP 1.0 kind VI communication each stored record becomes.

A batch is read from a spooled file, never from memory: :meth:`BatchReader.count` is one quick pass (the limit is
checked before anything is stored), :meth:`BatchReader.records` the streaming pass whose elements are freed as soon
as each record is read, so memory does not grow with the batch.

XML keeps the hardened reader's protections (``gateway/xml/reader.py``): a DOCTYPE in the prolog is refused before
parsing (INFODIP-E002), the parser resolves no entity, loads no DTD, touches no network, and libxml2's own limits
stay on (no ``huge_tree``); depth and text length are bounded per element (INFODIP-E005).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import ijson
from lxml import etree

from gateway.errors import ClientError, MalformedRequest, ValidationFailed
from gateway.obitos.domain import Registro, competencia_of
from gateway.xml.reader import _doctype_in_prolog, malformed  # the one hardened reader's prolog check
from gateway.xml.soap import PASSWORD_TEXT, WSSE_NS, UsernameToken

NS = "urn:gateway-interop:crc:1.0"
INFODIP_NS = "urn:gateway-interop:infodip:1.0"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ENVIAR, CONSULTAR, DECLARAR = "enviarLoteObitos", "consultarLote", "declararSemObitos"
OPERATIONS = (ENVIAR, CONSULTAR, DECLARAR)
#: Field names of a record, the same in JSON and XML (``registro``'s children).
FIELDS = ("matricula", "nome", "cpf", "tituloEleitor", "dataNascimento", "nomeMae", "nomePai", "sexo",
          "dataObito", "municipioObito", "cnsCartorio", "dataRegistro")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only
_LOTE_ID = re.compile(r"[A-Za-z0-9._:/\-]{1,64}")
#: characters XML 1.0 cannot carry (a name with one could not be sent to the TSE)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_DEPTH = 16
MAX_TEXT = 4096
#: an escape of half a UTF-16 surrogate pair (a high half not followed by a low one, or a low one alone)
_LONE_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


@dataclass(frozen=True)
class Header:
    """A batch's header: the sender's batch id and the competência (``AAAA-MM``)."""

    lote_id: str
    competencia: str


def check_header(lote_id: str | None, competencia: str | None) -> Header:
    """The header checked. Errors: INFODIP-E076 (no or bad ``idLote``), INFODIP-E071 (``competencia``)."""
    if not lote_id or not _LOTE_ID.fullmatch(lote_id):
        raise ValidationFailed("INFODIP-E076", "idLote ausente ou inválido (1 a 64 caracteres A-Z a-z 0-9 . _ : / -)"
                                               ", antes de registros.", field="idLote")
    if competencia is None or competencia_of(competencia) is None:
        raise ValidationFailed("INFODIP-E071", field="competencia")
    return Header(lote_id, competencia)


def registro_of(fields: Mapping[str, Any]) -> Registro:
    """A :class:`Registro` from a record's fields (strings); the first unreadable one (not a string, a date that
    is not ``AAAA-MM-DD``, a character XML cannot carry) is kept in ``bad_field`` for the domain to refuse
    (INFODIP-E069), so one bad record never stops the batch."""
    bad: tuple[str, str] | None = None
    values: dict[str, str | None] = {}
    for name in FIELDS:
        raw = fields.get(name)
        if raw is None:
            values[name] = None
            continue
        if not isinstance(raw, str):
            bad = bad or (name, f"{name} deve ser texto.")
            values[name] = None
            continue
        value = raw.strip()
        if _NOT_XML.search(value):
            bad = bad or (name, f"{name} contém caractere de controle.")
        values[name] = value or None
    dates: dict[str, date | None] = {}
    for name in ("dataNascimento", "dataObito", "dataRegistro"):
        text = values[name]
        dates[name] = None
        if text is None:
            continue
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            dates[name] = date.fromisoformat(text)
        except ValueError:
            bad = bad or (name, f"{name} não é uma data AAAA-MM-DD: {text[:20]!r}.")
    sexo = values["sexo"]
    if sexo is not None and sexo not in ("M", "F", "I"):
        bad = bad or ("sexo", "sexo deve ser M, F ou I.")
    return Registro(
        matricula=values["matricula"] or "", nome=values["nome"] or "", data_obito=dates["dataObito"],
        data_registro=dates["dataRegistro"], cns_cartorio=values["cnsCartorio"] or "",
        municipio_obito=values["municipioObito"] or "", cpf=values["cpf"], titulo_eleitor=values["tituloEleitor"],
        data_nascimento=dates["dataNascimento"], nome_mae=values["nomeMae"], nome_pai=values["nomePai"], sexo=sexo,
        bad_field=bad)


def record_digest(r: Registro) -> bytes:
    """The bytes a record contributes to its batch's digest: every field, in order, whatever the channel (the
    same batch sent by SOAP and by REST has one digest)."""
    parts = (r.matricula, r.nome, r.cpf, r.titulo_eleitor, r.data_nascimento, r.nome_mae, r.nome_pai, r.sexo,
             r.data_obito, r.municipio_obito, r.cns_cartorio, r.data_registro, r.bad_field)
    return "\x1f".join("" if p is None else str(p) for p in parts).encode() + b"\x1e"


def seed_digest(header: Header, total: int) -> str:
    """The start of a batch's digest chain (its header and size)."""
    return hashlib.sha256(f"{header.lote_id}\x1f{header.competencia}\x1f{total}".encode()).hexdigest()


def chain(previous: str, records: list[Registro]) -> str:
    """The digest chain after one more chunk: SHA-256 of the previous link and the chunk's records."""
    h = hashlib.sha256(previous.encode())
    for r in records:
        h.update(record_digest(r))
    return h.hexdigest()


class BatchReader(Protocol):
    """A spooled batch, read incrementally."""

    header: Header

    def count(self) -> int:
        """How many records the batch holds (one quick pass)."""
        ...

    def records(self) -> Iterator[Registro]:
        """The records in order, read incrementally."""
        ...


# -- REST: JSON ---------------------------------------------------------------------------------------------------


@dataclass
class _Position:
    """Where a pass over a JSON batch is, for its error messages."""

    records: int = 0
    inside: bool = False

    def where(self) -> str:
        return f"registros/{self.records}" if self.inside else ""


class JsonBatch:
    """``{"idLote": "…", "competencia": "AAAA-MM", "registros": [{…}, …]}`` read with ijson (yajl2 C backend):
    the header members (strings) must come before ``registros``, which must be one list. Errors: INFODIP-E076
    (unreadable JSON; not an object; no header before the records; ``registros`` absent, repeated or not a list; an
    escape of half a surrogate pair, which is not Unicode text), INFODIP-E071, INFODIP-E005 (nesting deeper than
    :data:`MAX_DEPTH`).

    The passes read ijson's flat events (``basic_parse``), which hold nothing per level, and refuse excessive
    nesting before any value is built: ijson's prefixed events and items keep a path per open level, so 100,000
    nested ``[`` in a 200 KB body would take gigabytes. Numbers are read as floats (``use_float``): yajl2_c's
    integer conversion fails without an exception for one of more than 4,300 digits, which crashed the process;
    as floats such a number is refused as unreadable (yajl's "integer overflow"), and a record field that is a
    number is refused as not text anyway."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header = self._header()

    def _open(self) -> BinaryIO:
        return open(self.path, "rb")

    def _events(self, f: BinaryIO, where: Callable[[], str]) -> Iterator[tuple[str, Any, int]]:
        """``(event, value, depth)`` of *f*'s flat events, depth being the number of open containers before the
        event; JSON errors become INFODIP-E076 (*where* says after which record), nesting over :data:`MAX_DEPTH`
        INFODIP-E005."""
        depth = 0
        try:
            for event, value in ijson.basic_parse(f, use_float=True):
                if event in ("start_map", "start_array"):
                    yield event, value, depth
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise malformed("INFODIP-E005", f"JSON aninhado além de {MAX_DEPTH} níveis",
                                        field=where())
                    continue
                if event in ("end_map", "end_array"):
                    depth -= 1
                yield event, value, depth
        except (ijson.JSONError, ValueError, SystemError) as exc:  # SystemError: yajl2_c on a bad escape
            raise ValidationFailed("INFODIP-E076", f"JSON ilegível{where() and ' em ' + where()}: {exc}"[:300],
                                   field=where() or "corpo") from None

    def _header(self) -> Header:
        self._lone_surrogates()
        found: dict[str, str] = {}
        key: str | None = None
        with self._open() as f:
            for event, value, depth in self._events(f, lambda: ""):
                if depth == 0 and event != "start_map":
                    raise ValidationFailed("INFODIP-E076", "O lote deve ser um objeto JSON.", field="corpo")
                if depth != 1:
                    continue
                if event == "map_key":
                    key = value
                elif key == "registros":
                    break
                elif key in ("idLote", "competencia") and event == "string":
                    found[key] = value
        return check_header(found.get("idLote"), found.get("competencia"))

    def _lone_surrogates(self) -> None:
        """Refuse an escape of half a surrogate pair (``\\uD800``–``\\uDFFF`` without its other half): yajl2_c
        turns a lone high half into "?" and fails on a lone low half, so neither can be read faithfully."""
        # blocks of 1 MiB, each after the previous one's last 18 bytes: an escape (6 bytes) ending in a block's last 6
        # is judged with the next block, whose first 12 bytes (escapes judged already) give it its lookbehind
        tail = b""
        with self._open() as f:
            while True:
                piece = f.read(1 << 20)
                block = tail + piece
                for m in _LONE_SURROGATE.finditer(block) if b"\\u" in block else ():  # most bodies have none
                    if m.end() > len(tail) - 6 and (not piece or m.end() <= len(block) - 6):
                        raise ValidationFailed("INFODIP-E076", "JSON com escape \\uD800–\\uDFFF sem o seu par: "
                                                               "não é texto Unicode.", field="corpo")
                if not piece:
                    return
                tail = block[-18:]

    def count(self) -> int:
        """The records in ``registros`` (one pass over the whole body; every error of the class's docstring)."""
        at = _Position()
        key: str | None = None
        seen = False
        with self._open() as f:
            for event, value, depth in self._events(f, at.where):
                if depth == 1:
                    if event == "map_key":
                        key = value
                    elif at.inside:  # the end of registros
                        at.inside = False
                    elif key == "registros" and event != "end_map":
                        if event != "start_array" or seen:
                            raise ValidationFailed("INFODIP-E076", "registros deve aparecer uma vez, como lista.",
                                                   field="registros")
                        at.inside = seen = True
                elif depth == 2 and at.inside and event not in ("end_map", "end_array"):
                    at.records += 1
        if not seen:
            raise ValidationFailed("INFODIP-E076", "O lote não tem a lista registros.", field="registros")
        return at.records

    def records(self) -> Iterator[Registro]:
        """The records in order (after :meth:`count` checked the body's shape and nesting)."""
        with self._open() as f:
            for item in ijson.items(f, "registros.item", use_float=True):
                yield registro_of(item) if isinstance(item, dict) else Registro(
                    "", "", None, None, "", "", bad_field=("registro", "O registro deve ser um objeto JSON."))


# -- SOAP: XML ------------------------------------------------------------------------------------------------------


def _iterparse(f: BinaryIO, events: tuple[str, ...], tag: str | None = None) -> Any:
    return etree.iterparse(f, events=events, tag=tag, resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True, remove_pis=True,
                           collect_ids=False)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def check_prolog(path: Path) -> None:
    """Refuse a DOCTYPE in the prolog before the parser sees a byte (INFODIP-E002)."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    if _doctype_in_prolog(head):
        raise malformed("INFODIP-E002")


@dataclass
class SoapCall:
    """A CRC SOAP request read up to its operation's data: the UsernameTokens, the operation, the simple fields
    before the first ``registro`` (``idLote``, ``competencia``, ``cnsCartorio``, ``cursor``, ``limite``)."""

    operation: str
    tokens: tuple[UsernameToken, ...]
    fields: dict[str, str]


def _check_root(el: etree._Element, q: etree.QName) -> None:
    """The root element *el* (its name *q*) at its start: no DOCTYPE before it (INFODIP-E002; the byte check of the
    prolog sees neither a UTF-16 body nor a DOCTYPE after 64 KB of prolog, the parser has read any by now, whatever
    the encoding), and a SOAP 1.1 ``Envelope`` (E007, E008)."""
    if el.getroottree().docinfo.doctype:  # type: ignore[attr-defined]  # not in lxml-stubs
        raise malformed("INFODIP-E002")
    if q.localname != "Envelope":
        raise ClientError("INFODIP-E007", field="Envelope")
    if q.namespace != SOAP_NS:
        raise ClientError("INFODIP-E008", field="Envelope")


def _syntax(exc: etree.XMLSyntaxError) -> MalformedRequest:
    text = str(exc)
    if "Detected an entity reference loop" in text or "DOCTYPE" in text or "Entity" in text:
        return malformed("INFODIP-E002", text[:200])
    return malformed("INFODIP-E001", text[:200])


def read_call(path: Path) -> SoapCall:
    """Read the envelope of the spooled request *path* up to the first record. Errors: INFODIP-E001/E002/E005
    (hardened reading), E007 (not a SOAP 1.1 envelope, no body operation), E008 (SOAP 1.2), E009/E010 (unknown
    operation or namespace)."""
    check_prolog(path)
    tokens: list[UsernameToken] = []
    fields: dict[str, str] = {}
    operation: str | None = None
    depth = 0
    with open(path, "rb") as f:
        try:
            for event, el in _iterparse(f, ("start", "end")):
                if event == "start":
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise malformed("INFODIP-E005", f"profundidade acima de {MAX_DEPTH}")
                    q = etree.QName(el)
                    if depth == 1:
                        _check_root(el, q)
                    if depth == 3 and operation is None and _local(el.getparent()) == "Body":
                        if q.namespace != NS:
                            raise MalformedRequest("INFODIP-E010", f"Namespace {q.namespace or '(vazio)'} "
                                                                   f"desconhecido; use {NS}.", field=q.localname)
                        if q.localname not in OPERATIONS:
                            raise MalformedRequest("INFODIP-E009", f"Operação {q.localname} desconhecida.",
                                                   field=q.localname)
                        operation = q.localname
                    if depth == 4 and operation is not None and q.localname == "registro":
                        break
                    continue
                depth -= 1
                if el.tag == f"{{{WSSE_NS}}}UsernameToken":
                    user = el.findtext(f"{{{WSSE_NS}}}Username") or ""
                    pw = el.find(f"{{{WSSE_NS}}}Password")
                    tokens.append(UsernameToken(user.strip(), (pw.text or "") if pw is not None else "",
                                                pw.get("Type", PASSWORD_TEXT) if pw is not None else PASSWORD_TEXT))
                elif depth == 3 and operation is not None:
                    text = el.text or ""
                    if len(text) > MAX_TEXT:
                        raise malformed("INFODIP-E005", "texto longo demais", field=_local(el))
                    fields[_local(el)] = text.strip()
        except etree.XMLSyntaxError as exc:
            raise _syntax(exc) from None
    if operation is None:
        raise ClientError("INFODIP-E007", "Envelope SOAP 1.1 sem operação no Body.", field="Body")
    return SoapCall(operation, tuple(tokens), fields)


class EnvelopeHead:
    """A CRC SOAP request's first bytes read as they arrive, up to the start of its ``Body``: the UsernameTokens of
    the ``Header`` are then complete, so the sender is authenticated before the rest of the body is spooled (a bad
    credential never costs reading a 100 MB batch). The same hardening as :func:`read_call` — the prolog's DOCTYPE
    refused before the parser sees a byte (the first 64 KB are gathered first), no entity, DTD or network, depth
    bounded — and at most :attr:`MAX_HEAD` bytes before the ``Body``. Errors: INFODIP-E001/E002/E005/E007/E008."""

    PROLOG = 64 * 1024
    MAX_HEAD = 1024 * 1024

    def __init__(self) -> None:
        self.tokens: list[UsernameToken] = []
        #: True once the Body started (the tokens are all read)
        self.done = False
        self._parser = etree.XMLPullParser(
            events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
            dtd_validation=False, huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False)
        self._prolog: bytes | None = b""
        self._seen = 0
        self._depth = 0

    def feed(self, piece: bytes) -> bool:
        """Read *piece*; True once the Body started."""
        if self.done:
            return True
        self._seen += len(piece)
        if self._prolog is not None:
            self._prolog += piece
            if len(self._prolog) < self.PROLOG:
                return False
            piece, self._prolog = self._prolog, None
            if _doctype_in_prolog(piece):
                raise malformed("INFODIP-E002")
        try:
            self._parser.feed(piece)
            self._read()
        except etree.XMLSyntaxError as exc:
            raise _syntax(exc) from None
        if not self.done and self._seen > self.MAX_HEAD:
            raise malformed("INFODIP-E005", f"mais de {self.MAX_HEAD} bytes antes do Body")
        return self.done

    def end(self) -> bool:
        """The body ended (shorter than the prolog's 64 KB, or without a Body): read what was gathered; True when
        the Body started. A malformed document is left to :func:`read_call`, which reports it as before."""
        if not self.done and self._prolog is not None:
            head, self._prolog = self._prolog, None
            if _doctype_in_prolog(head):
                raise malformed("INFODIP-E002")
            try:
                self._parser.feed(head)
                self._read()
            except etree.XMLSyntaxError:
                return False
        return self.done

    def _read(self) -> None:
        events: Any = self._parser.read_events()
        for event, el in events:
            if event == "start":
                self._depth += 1
                if self._depth > MAX_DEPTH:
                    raise malformed("INFODIP-E005", f"profundidade acima de {MAX_DEPTH}")
                q = etree.QName(el)
                if self._depth == 1:
                    _check_root(el, q)
                if self._depth == 2 and q.localname == "Body":
                    self.done = True
                    return
                continue
            self._depth -= 1
            if el.tag == f"{{{WSSE_NS}}}UsernameToken":
                user = el.findtext(f"{{{WSSE_NS}}}Username") or ""
                pw = el.find(f"{{{WSSE_NS}}}Password")
                self.tokens.append(UsernameToken(user.strip(), (pw.text or "") if pw is not None else "",
                                                 pw.get("Type", PASSWORD_TEXT) if pw is not None else PASSWORD_TEXT))


class XmlBatch:
    """The records of an ``enviarLoteObitos`` request, streamed with lxml ``iterparse``: each ``registro`` is read
    at its end and freed with what came before it."""

    def __init__(self, path: Path, call: SoapCall) -> None:
        self.path = path
        self.header = check_header(call.fields.get("idLote"), call.fields.get("competencia"))

    def count(self) -> int:
        n = 0
        with open(self.path, "rb") as f:
            try:
                for _event, el in _iterparse(f, ("end",), tag=f"{{{NS}}}registro"):
                    n += 1
                    el.clear(keep_tail=False)
                    while el.getprevious() is not None:
                        del el.getparent()[0]
            except etree.XMLSyntaxError as exc:
                raise _syntax(exc) from None
        return n

    def records(self) -> Iterator[Registro]:
        with open(self.path, "rb") as f:
            for _event, el in _iterparse(f, ("end",), tag=f"{{{NS}}}registro"):
                fields: dict[str, Any] = {}
                bad: tuple[str, str] | None = None
                for child in el:
                    tag = child.tag
                    if not isinstance(tag, str):
                        continue
                    name = tag.rpartition("}")[2]
                    if len(child):
                        bad = bad or (name, f"{name} deve ser texto simples.")
                    text = child.text or ""
                    if len(text) > MAX_TEXT:
                        bad = bad or (name, f"{name} longo demais.")
                        text = text[:MAX_TEXT]
                    fields[name] = text
                r = registro_of(fields)
                if bad is not None and r.bad_field is None:
                    r = Registro(r.matricula, r.nome, r.data_obito, r.data_registro, r.cns_cartorio,
                                 r.municipio_obito, r.cpf, r.titulo_eleitor, r.data_nascimento, r.nome_mae,
                                 r.nome_pai, r.sexo, bad)
                yield r
                el.clear(keep_tail=False)
                while el.getprevious() is not None:
                    del el.getparent()[0]


# -- the INFODIP kind VI communication ---------------------------------------------------------------------------


def _esc(text: str) -> str:
    """Text content as exclusive C14N writes it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def communication_payload(r: Registro, reference: str) -> bytes:
    """The INFODIP 1.0 ``comunicacao`` of kind VI for a valid record, already in exclusive C14N (the bytes stored,
    hashed and sent to the TSE — the same form ``infodip.contract.c14n`` gives). What the 1.0 block cannot carry
    (the IBGE municipality, the registration date) goes in ``observacao`` and stays in ``obito_registros``."""
    p = [f'<i:comunicacao xmlns:i="{INFODIP_NS}" tipo="VI"><i:cabecalho>',
         f"<i:referenciaRemetente>{reference}</i:referenciaRemetente><i:pessoa><i:nome>{_esc(r.nome)}</i:nome>"]
    if r.cpf:
        p.append(f"<i:cpf>{r.cpf}</i:cpf>")
    if r.titulo_eleitor:
        p.append(f"<i:tituloEleitor>{r.titulo_eleitor}</i:tituloEleitor>")
    if r.data_nascimento:
        p.append(f"<i:dataNascimento>{r.data_nascimento.isoformat()}</i:dataNascimento>")
    if r.nome_mae:
        p.append(f"<i:nomeMae>{_esc(r.nome_mae)}</i:nomeMae>")
    if r.nome_pai:
        p.append(f"<i:nomePai>{_esc(r.nome_pai)}</i:nomePai>")
    if r.sexo:
        p.append(f"<i:sexo>{r.sexo}</i:sexo>")
    assert r.data_obito is not None and r.data_registro is not None
    obito = r.data_obito.isoformat()
    p.append(f"</i:pessoa><i:dataFato>{obito}</i:dataFato><i:observacao>Lote de óbitos do registro civil; "
             f"registro em {r.data_registro.isoformat()}; município do óbito (IBGE) {r.municipio_obito}."
             f"</i:observacao></i:cabecalho><i:obito><i:dataObito>{obito}</i:dataObito>"
             f"<i:matriculaCertidao>{r.matricula}</i:matriculaCertidao><i:cnsCartorio>{r.cns_cartorio}"
             "</i:cnsCartorio></i:obito></i:comunicacao>")
    return "".join(p).encode()
