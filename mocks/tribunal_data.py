"""Profiles and demo data of the tribunal MNI simulator (``mocks.tribunal``): processes, avisos, documents.

Everything here is fictional. Process numbers are valid CNJ numbers (Res. CNJ 65/2008) with the profile's J.TR.
The 50 MB demo document is never held in memory: :func:`big_chunks` produces it deterministically, piece by piece.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import cache

# Credentials each profile accepts (idConsultante / idManifestante / idRecebedor → password).
PJE_TJRJ_CREDENTIALS: Mapping[str, str] = {"pgfn-tjrj": "senha-pgfn-tjrj", "pgf-tjrj": "senha-pgf-tjrj"}
EPROC_TRF4_CREDENTIALS: Mapping[str, str] = {"pgfn-trf4": "senha-pgfn-trf4", "pgf-trf4": "senha-pgf-trf4"}


def _trf_credentials(n: int) -> Mapping[str, str]:
    """The PGFN and PGF accounts of simulated TRF *n* (issue 12: both procuradorias file execuções fiscais)."""
    return {f"pgfn-trf{n}": f"senha-pgfn-trf{n}", f"pgf-trf{n}": f"senha-pgf-trf{n}"}

BIG_DOCUMENT_SIZE = 50 * 1024 * 1024
CHUNK = 3 * 2**18  # 786,432 bytes: a multiple of 3, so base64 pieces concatenate without padding in between
SMALL_DOCUMENT_LIMIT = 1024 * 1024  # documents received above this size are kept as size + sha256 only


def cnj_number(sequence: int, year: int, segment: int, tribunal: int, origin: int) -> str:
    """The 20-digit CNJ number ``NNNNNNN DD AAAA J TR OOOO`` with its check digits (Res. CNJ 65/2008)."""
    base = f"{sequence:07d}{year:04d}{segment:d}{tribunal:02d}{origin:04d}"
    dd = 98 - int(base + "00") % 97
    number = f"{sequence:07d}{dd:02d}{year:04d}{segment:d}{tribunal:02d}{origin:04d}"
    assert int(number[:7] + number[9:] + number[7:9]) % 97 == 1
    return number


def tiny_pdf(text: str) -> bytes:
    """A small, valid one-page PDF showing *text* (ASCII; other characters become ``?``)."""
    safe = text.encode("ascii", "replace").decode().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    lines = [safe[i:i + 80] for i in range(0, len(safe), 80)] or [""]
    stream = "BT /F1 11 Tf 40 800 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


_BIG_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n% documento volumoso (50 MB) gerado pelo simulador de tribunal\n"
_BIG_TAIL = b"\n%%EOF\n"


@cache
def _pattern() -> bytes:
    return random.Random(20250101).randbytes(65536)


def big_chunks(size: int = BIG_DOCUMENT_SIZE, chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes of the big demo document, in pieces of *chunk* bytes (deterministic: same bytes every time)."""
    pattern = _pattern()
    filler_end = size - len(_BIG_TAIL)
    pos = 0
    while pos < size:
        n = min(chunk, size - pos)
        piece = bytearray()
        p = pos
        while p < pos + n:
            if p < len(_BIG_HEAD):
                take = min(len(_BIG_HEAD) - p, pos + n - p)
                piece += _BIG_HEAD[p:p + take]
            elif p < filler_end:
                off = (p - len(_BIG_HEAD)) % len(pattern)
                take = min(len(pattern) - off, filler_end - p, pos + n - p)
                piece += pattern[off:off + take]
            else:
                off = p - filler_end
                take = min(len(_BIG_TAIL) - off, pos + n - p)
                piece += _BIG_TAIL[off:off + take]
            p += take
        yield bytes(piece)
        pos += n


@cache
def big_sha256(size: int = BIG_DOCUMENT_SIZE) -> str:
    """sha256 hex of the big demo document (computed once per process, by streaming)."""
    h = hashlib.sha256()
    for piece in big_chunks(size):
        h.update(piece)
    return h.hexdigest()


@dataclass
class Document:
    """A document of a process. Small ones keep their bytes; the big demo one is generated on demand."""

    id: str
    tipo: str
    descricao: str
    mimetype: str
    data_hora: str
    size: int
    sha256: str
    movimento: str | None = None
    content: bytes | None = None
    generated: bool = False
    nivel_sigilo: int = 0

    @classmethod
    def of(cls, id_: str, tipo: str, descricao: str, data_hora: str, content: bytes, mimetype: str = "application/pdf",
           movimento: str | None = None) -> Document:
        """A document holding *content*."""
        return cls(id_, tipo, descricao, mimetype, data_hora, len(content), hashlib.sha256(content).hexdigest(),
                   movimento, content)

    @property
    def available(self) -> bool:
        """True when the simulator can give the content back (it was small enough to keep, or it is generated)."""
        return self.content is not None or self.generated

    def chunks(self) -> Iterator[bytes]:
        """The content in pieces of :data:`CHUNK` bytes (multiples of 3 except the last)."""
        if self.generated:
            yield from big_chunks(self.size)
        elif self.content is not None:
            for i in range(0, len(self.content), CHUNK):
                yield self.content[i:i + CHUNK]


@dataclass
class Person:
    """A party or an addressee."""

    nome: str
    tipo_pessoa: str = "juridica"
    documento: str | None = None
    sexo: str | None = None


@dataclass
class Polo:
    """One side of the process (``AT`` active, ``PA`` passive…)."""

    polo: str | None
    partes: list[Person]


@dataclass(frozen=True)
class Orgao:
    """Órgão julgador."""

    codigo: str
    nome: str
    instancia: str
    ibge: int


@dataclass
class Movement:
    """A movement (TPU national code) with the documents it brought."""

    id: str
    data_hora: str
    codigo: int
    complemento: str | None = None
    documentos: list[str] = field(default_factory=list)


@dataclass
class Process:
    """A process as a tribunal installation holds it."""

    numero: str
    installation: str
    classe: int
    codigo_localidade: str
    orgao: Orgao
    assuntos: list[int]
    polos: list[Polo]
    data_ajuizamento: str
    valor_causa: float | None = None
    competencia: int | None = None
    nivel_sigilo: int = 0
    movements: list[Movement] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)

    def header_dump(self) -> str:
        """Canonical JSON of the header (the data ``hashCabecalho`` covers)."""
        return json.dumps({"numero": self.numero, "classe": self.classe, "codigoLocalidade": self.codigo_localidade,
                           "orgao": asdict(self.orgao), "assuntos": self.assuntos,
                           "polos": [asdict(p) for p in self.polos], "dataAjuizamento": self.data_ajuizamento,
                           "valorCausa": self.valor_causa, "competencia": self.competencia,
                           "nivelSigilo": self.nivel_sigilo}, sort_keys=True, ensure_ascii=False)

    def hashes(self) -> tuple[str, str, str]:
        """(hashCabecalho, hashMovimentacoes, hashDocumentos): SHA-1 hex of canonical dumps of each part.

        Header: the canonical JSON of :meth:`header_dump`; movements: ``id|dataHora|codigo`` lines; documents: the
        concatenation of each document's sha256 hex (as the XSD suggests for ``hashDocumentos``).
        """
        movs = "\n".join(f"{m.id}|{m.data_hora}|{m.codigo}" for m in self.movements)
        docs = "".join(d.sha256 for d in self.documents)
        return (hashlib.sha1(self.header_dump().encode()).hexdigest(),  # noqa: S324 - the MNI contract says SHA-1
                hashlib.sha1(movs.encode()).hexdigest(),  # noqa: S324
                hashlib.sha1(docs.encode()).hexdigest())  # noqa: S324


@dataclass
class Aviso:
    """A pending communication (intimação / citação) for one consultant."""

    id: str
    consultant: str
    numero: str
    tipo: str
    disponibilizacao: str
    teor: str
    prazo: int
    destinatario: Person
    documentos: list[str] = field(default_factory=list)
    ciencia: str | None = None  # AAAAMMDDHHMMSS when consultarTeorComunicacao registered it


@dataclass(frozen=True)
class Installation:
    """One MNI endpoint of a tribunal (PJe: one per degree)."""

    id: str
    path: str
    grau: str


@dataclass(frozen=True)
class Profile:
    """A simulated tribunal."""

    name: str
    tribunal: str
    system: str  # "pje" | "eproc"
    segment: int
    tr: int
    origin: int
    ibge: int
    installations: tuple[Installation, ...]
    credentials: Mapping[str, str]
    salted_password: bool
    rejects_duplicates: bool
    omits_avisos_status: bool

    @property
    def jtr(self) -> str:
        """``J.TR`` as in ``8.19``."""
        return f"{self.segment}.{self.tr:02d}"


PROFILES: dict[str, Profile] = {
    "pje-tjrj": Profile("pje-tjrj", "TJRJ", "pje", 8, 19, 1, 3304557,
                        (Installation("1", "/pje1grau/intercomunicacao", "1"),
                         Installation("2", "/pje2grau/intercomunicacao", "2")),
                        PJE_TJRJ_CREDENTIALS, salted_password=False, rejects_duplicates=False,
                        omits_avisos_status=False),
    "eproc-trf4": Profile("eproc-trf4", "TRF4", "eproc", 4, 4, 7100, 4314902,
                          (Installation("1", "/eproc/intercomunicacao", "1"),),
                          EPROC_TRF4_CREDENTIALS, salted_password=True, rejects_duplicates=True,
                          omits_avisos_status=True),
}

# The other regional federal courts (issue 12: an execução fiscal goes to the TRF of the debtor's State; MG → TRF6),
# each with one first-degree installation, served together by ``--profile federal`` (mocks.tribunal), each under its
# own prefix ``/trfN``. PJe (TRF1, TRF3, TRF5) or eproc (TRF2, TRF6), as the courts run.
FEDERAL = {1: ("pje", 3400, 5300108), 2: ("eproc", 5101, 3304557), 3: ("pje", 6100, 3550308),
           5: ("pje", 8300, 2611606), 6: ("eproc", 3800, 3106200)}
for _n, (_system, _origin, _ibge) in FEDERAL.items():
    _eproc = _system == "eproc"
    PROFILES[f"{_system}-trf{_n}"] = Profile(
        f"{_system}-trf{_n}", f"TRF{_n}", _system, 4, _n, _origin, _ibge,
        (Installation("1", f"/{_system}/intercomunicacao", "1"),), _trf_credentials(_n), salted_password=_eproc,
        rejects_duplicates=_eproc, omits_avisos_status=_eproc)
#: ``--profile federal``: every TRF but TRF4 (which ``eproc-trf4`` serves alone), each under ``/trfN``.
FEDERAL_PROFILES = tuple(f"{system}-trf{n}" for n, (system, _o, _i) in FEDERAL.items())

UNIAO = Person("UNIÃO - FAZENDA NACIONAL", "juridica", "00394460005887")
INSS = Person("INSTITUTO NACIONAL DO SEGURO SOCIAL - INSS", "juridica", "29979036000140")


@dataclass
class Demo:
    """The demo processes and avisos of one profile."""

    processes: dict[str, Process]
    avisos: dict[str, Aviso]
    big_document: tuple[str, str]  # (process number, document id)


class _Ids:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.doc = 0
        self.mov = 0

    def doc_id(self) -> str:
        """The next document id, shaped as the system's."""
        self.doc += 1
        if self.profile.system == "eproc":
            return f"71141100781146445150392{self.doc:07d}"  # 30 digits, as eproc's ids
        return f"1407{self.doc:05d}"

    def mov_id(self) -> str:
        """The next movement id."""
        self.mov += 1
        return str(self.mov)


def _add(ids: _Ids, p: Process, when: str, codigo: int, docs: list[tuple[str, str, bytes | None]],
         complemento: str | None = None) -> list[Document]:
    """Add a movement with documents (tipo, descricao, content; None content = the big generated document)."""
    mov = Movement(ids.mov_id(), when, codigo, complemento)
    added = []
    for tipo, descricao, content in docs:
        if content is None:
            d = Document(ids.doc_id(), tipo, descricao, "application/pdf", when, BIG_DOCUMENT_SIZE, big_sha256(),
                         mov.id, generated=True)
        else:
            d = Document.of(ids.doc_id(), tipo, descricao, when, content, movimento=mov.id)
        mov.documentos.append(d.id)
        p.documents.append(d)
        added.append(d)
    p.movements.append(mov)
    return added


def demo_data(profile: Profile) -> Demo:
    """Fresh demo data for *profile* (deterministic)."""
    ids = _Ids(profile)
    j, tr, origin = profile.segment, profile.tr, profile.origin
    processes: dict[str, Process] = {}
    avisos: dict[str, Aviso] = {}
    seq = 0

    def aviso(consultant: str, p: Process, tipo: str, day: str, teor: str, prazo: int, dest: Person,
              docs: list[Document]) -> None:
        """Register a pending aviso for *consultant*."""
        nonlocal seq
        seq += 1
        a = Aviso(f"{day}{seq:07d}", consultant, p.numero, tipo, day + "100000", teor, prazo, dest,
                  [d.id for d in docs])
        avisos[a.id] = a

    if profile.system == "pje":
        vara = Orgao("1201", "12ª Vara de Fazenda Pública da Comarca da Capital", "ORIG", profile.ibge)
        camara = Orgao("3030", "3ª Câmara de Direito Público", "REV", profile.ibge)
        empresa = Person("COMÉRCIO FICTÍCIO DE ALIMENTOS LTDA", "juridica", "11222333000181")
        segurado = Person("JOSÉ DA SILVA FICTÍCIO", "fisica", "52998224725", "M")
        # execução fiscal da União ajuizada na Justiça Estadual (competência delegada, anterior a 2020)
        p1 = Process(cnj_number(812345, 2019, j, tr, origin), "1", 1116, "1", vara, [6017],
                     [Polo("AT", [UNIAO]), Polo("PA", [empresa])], "20190314101500", 48210.55, 12)
        _add(ids, p1, "20190314101500", 26, [("1", "Petição inicial", tiny_pdf("Execucao fiscal - peticao inicial")),
                                            ("1", "Certidão de Dívida Ativa", tiny_pdf("CDA 7061900012345"))])
        d = _add(ids, p1, "20250610100000", 11010, [("58", "Despacho", tiny_pdf("Intime-se a exequente."))])
        aviso("pgfn-tjrj", p1, "INT", "20250610", "Intimação da exequente para se manifestar sobre a exceção de "
              "pré-executividade.", 30, UNIAO, d)
        # apelação em ação acidentária: subiu ao 2º grau e manteve o número
        p2 = Process(cnj_number(23456, 2018, j, tr, origin), "2", 198, "1", camara, [10567],
                     [Polo("AT", [INSS]), Polo("PA", [segurado])], "20180502143000", 35000.0, 5)
        _add(ids, p2, "20180502143000", 26, [("1", "Petição inicial", tiny_pdf("Acao acidentaria - inicial"))])
        _add(ids, p2, "20240819110000", 123, [], "remetidos os autos ao Tribunal (2º grau), mesmo número")
        d = _add(ids, p2, "20250612090000", 11010, [("58", "Despacho", tiny_pdf("Contrarrazoes em 15 dias."))])
        aviso("pgf-tjrj", p2, "INT", "20250612", "Intimação do INSS (apelante) do despacho.", 15, INSS, d)
        # embargos à execução fiscal com um volume digitalizado de 50 MB
        p3 = Process(cnj_number(34567, 2022, j, tr, origin), "1", 1118, "1", vara, [6017],
                     [Polo("AT", [empresa]), Polo("PA", [UNIAO])], "20220905160000", 48210.55, 12)
        _add(ids, p3, "20220905160000", 26, [("1", "Petição inicial dos embargos", tiny_pdf("Embargos"))])
        big = _add(ids, p3, "20220906100000", 85, [("4050007", "Processo administrativo digitalizado", None)])
        d = _add(ids, p3, "20250613140000", 11010, [("58", "Despacho", tiny_pdf("Impugne a embargada."))])
        aviso("pgfn-tjrj", p3, "INT", "20250613", "Intimação da embargada para impugnar os embargos.", 30, UNIAO, d)
        big_ref = (p3.numero, big[0].id)
        processes.update({p.numero: p for p in (p1, p2, p3)})
    else:
        vara = Orgao("RS0000071", "Juízo Substituto da 5ª VF de Porto Alegre", "ORIG", profile.ibge)
        vara25 = Orgao("RS0000183", "25ª Vara Federal de Porto Alegre", "ORIG", profile.ibge)
        empresa = Person("COMERCIAL EXEMPLO DO SUL LTDA", "juridica", "11444777000161")
        autora = Person("MARIA FICTÍCIA DE SOUZA", "fisica", "11144477735", "F")
        e1 = Process(cnj_number(5012345, 2023, j, tr, origin), "1", 1116, "7100", vara, [6017],
                     [Polo("AT", [UNIAO]), Polo("PA", [empresa])], "20230201090000", 152300.12, 12)
        _add(ids, e1, "20230201090000", 26, [("1", "PETIÇÃO INICIAL", tiny_pdf("Execucao fiscal TRF4 - inicial"))])
        d = _add(ids, e1, "20250609150000", 11010, [("212", "DESPACHO/DECISÃO", tiny_pdf("Diga a exequente."))])
        aviso("pgfn-trf4", e1, "INT", "20250609", "Intimação Eletrônica - Expedida/Certificada (EXEQUENTE - UNIÃO - "
              "FAZENDA NACIONAL) - Prazo: 30 dias", 30, UNIAO, d)
        e2 = Process(cnj_number(5023456, 2024, j, tr, origin), "1", 1118, "7100", vara, [6017],
                     [Polo("AT", [empresa]), Polo("PA", [UNIAO])], "20240410110000", 152300.12, 12)
        _add(ids, e2, "20240410110000", 26, [("1", "PETIÇÃO INICIAL", tiny_pdf("Embargos a execucao fiscal"))])
        d = _add(ids, e2, "20250611100000", 11010, [("212", "DESPACHO/DECISÃO", tiny_pdf("Impugne a embargada."))])
        aviso("pgfn-trf4", e2, "INT", "20250611", "Intimação Eletrônica (EMBARGADA - UNIÃO - FAZENDA NACIONAL) - "
              "Prazo: 30 dias", 30, UNIAO, d)
        e3 = Process(cnj_number(5034567, 2024, j, tr, origin), "1", 7, "7100", vara25, [10671],
                     [Polo("AT", [autora]), Polo("PA", [UNIAO])], "20240720100000", 60000.0, 1)
        _add(ids, e3, "20240720100000", 26, [("1", "PETIÇÃO INICIAL", tiny_pdf("Procedimento comum - inicial"))])
        big = _add(ids, e3, "20240721100000", 85, [("4050007", "PROCESSO ADMINISTRATIVO DIGITALIZADO", None)])
        d = _add(ids, e3, "20250612100000", 60, [("12", "MANDADO DE CITAÇÃO", tiny_pdf("Cite-se a Uniao."))])
        aviso("pgfn-trf4", e3, "CIT", "20250612", "Citação Eletrônica (RÉU - UNIÃO - FAZENDA NACIONAL) - Prazo: 30 "
              "dias", 30, UNIAO, d)
        big_ref = (e3.numero, big[0].id)
        processes.update({p.numero: p for p in (e1, e2, e3)})
    return Demo(processes, avisos, big_ref)
