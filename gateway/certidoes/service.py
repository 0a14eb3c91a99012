"""Certificates' use cases: issue (public, rate-limited per client address, audited), verify by code, check an
uploaded document against what was issued.

Issuing reads the person's kind I communications in force and the coverage on the reader engine, renders and signs
both documents off the event loop, then stores the certificate's row (code, what was printed, both SHA-256) and its
audit entry ``certidao.emitida`` in one committer job before answering: a certificate that was answered is always
verifiable. The documents themselves are not stored — the hashes prove them — and neither is the CPF in clear (a
keyed digest; the verification page prints it masked). Codes: CERT-E001…E004, E010, E090.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import anyio.to_thread
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from gateway.certidoes import documents
from gateway.certidoes.domain import (
    Content,
    Conviction,
    ImportedSource,
    mask_cpf,
    new_code,
    normalise_code,
)
from gateway.clock import Clock, utc
from gateway.consulta import store as consulta_store
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import certidoes
from gateway.errors import NotFound, TooManyRequests, ValidationFailed
from gateway.identifiers import is_valid_cnpj, is_valid_cpf
from gateway.settings import Settings
from gateway.throttle import ClientRateLimit

log = logging.getLogger(__name__)
#: the kind a certificate is about: condenação por improbidade administrativa transitada em julgado
KIND = "I"


@dataclass(frozen=True)
class Issued:
    """A certificate just issued: its content, both signed documents and their SHA-256 (hex)."""

    content: Content
    pdf: bytes
    xml: bytes
    pdf_sha256: str
    xml_sha256: str
    verify_url: str


@dataclass(frozen=True)
class Record:
    """What the gateway keeps of an issued certificate (what verification answers)."""

    code: str
    number: str
    kind: str
    name: str
    cpf_masked: str
    issued_at: datetime
    coverage_since: datetime | None
    protocols: tuple[str, ...]
    pdf_sha256: str
    xml_sha256: str


class CertidoesService:
    """Issue and verify certificates. *rate*: issuances per client address and minute."""

    def __init__(self, committer: GroupCommitter, reader: Engine, clock: Clock, key: documents.SigningKey,
                 secret: bytes, rate: ClientRateLimit, public_url: str = "") -> None:
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.key = key
        self.secret = secret
        self.rate = rate
        self.public_url = public_url.rstrip("/")

    def verify_url(self, code: str, base_url: str) -> str:
        """The address printed (and QR-coded) on the certificate: the public URL when configured, else the one the
        client reached."""
        return f"{self.public_url or base_url.rstrip('/')}/certidoes/verificar?codigo={code}"

    async def issue(self, cpf: str, name: str, client: str, base_url: str) -> Issued:
        """Issue a certificate about *cpf* for *name* as given. Errors: ValidationFailed CERT-E001 (CPF invalid),
        CERT-E002 (a CNPJ: people only), CERT-E003 (name missing or over 200 characters); TooManyRequests
        CERT-E004 (this client's issuances per minute); StorageUnavailable when it could not be stored (then it
        was not issued)."""
        digits = "".join(ch for ch in cpf if ch.isalnum()).upper()
        if len(digits) == 14 and is_valid_cnpj(digits):
            raise ValidationFailed("CERT-E002", field="cpf")
        if not is_valid_cpf(digits):
            raise ValidationFailed("CERT-E001", field="cpf")
        name = " ".join(name.split())
        if not name or len(name) > 200:
            raise ValidationFailed("CERT-E003", field="nome")
        wait = self.rate.retry_after(client)
        if wait is not None:
            raise TooManyRequests("CERT-E004", retry_after=wait)
        issued = await anyio.to_thread.run_sync(self._prepare, digits, name, base_url)
        c = issued.content

        def job(ctx: WriteContext) -> None:
            ctx.conn.execute(insert(certidoes), {
                "codigo": c.code, "numero": c.number, "tipo": c.kind, "nome": c.name, "cpf_mascarado": mask_cpf(c.cpf),
                "cpf_digest": self._digest(c.cpf), "emitida_em": c.issued_at, "cobertura_desde": c.coverage_since,
                "comunicacoes": json.dumps([v.protocol for v in c.convictions]),
                "pdf_sha256": issued.pdf_sha256, "xml_sha256": issued.xml_sha256})
            ctx.audit.append(ctx.conn, "certidao.emitida", c.issued_at, payload_digest=issued.pdf_sha256, detail={
                "codigo": c.code, "tipo": c.kind, "pessoa": self._digest(c.cpf), "xml_sha256": issued.xml_sha256,
                "comunicacoes": [v.protocol for v in c.convictions], "cliente": client})

        await self.committer.run(job)
        log.info("certidão emitida", extra={"codigo": c.code, "tipo": c.kind})
        return issued

    def _digest(self, cpf: str) -> str:
        return hmac.new(self.secret, b"certidao:" + cpf.encode(), hashlib.sha256).hexdigest()

    def _prepare(self, cpf: str, name: str, base_url: str) -> Issued:
        with self.reader.connect() as conn:
            found = consulta_store.find_person(conn, cpf=cpf)
            comms = consulta_store.load_communications(conn, found.protocols) if not found.ambiguous else []
            cov = consulta_store.coverage(conn)
        convictions = tuple(
            Conviction(x.protocol, x.sender, x.process_number, x.fact_date, x.created_at)
            for x in comms if x.kind == KIND and x.status == "ativa")
        now = self.clock.now()
        code = new_code()
        content = Content(code, f"{now:%Y%m%d}-{code}", cpf, name, now, cov.since,
                          tuple(ImportedSource(i.origin, i.batch, i.communications) for i in cov.imported),
                          convictions)
        url = self.verify_url(code, base_url)
        pdf = documents.sign_pdf(documents.render_pdf(content, url), self.key)
        xml = documents.sign_xml(documents.render_xml(content, url), self.key)
        return Issued(content, pdf, xml, hashlib.sha256(pdf).hexdigest(), hashlib.sha256(xml).hexdigest(), url)

    def find(self, raw_code: str) -> Record:
        """The certificate of *raw_code* (as typed). Errors: NotFound CERT-E010 (no such code, or not a code)."""
        code = normalise_code(raw_code)
        if code is None:
            raise NotFound("CERT-E010", field="codigo")
        with self.reader.connect() as conn:
            r = conn.execute(select(certidoes).where(certidoes.c.codigo == code)).mappings().first()
        if r is None:
            raise NotFound("CERT-E010", field="codigo")
        return Record(r["codigo"], r["numero"], r["tipo"], r["nome"], r["cpf_mascarado"], utc(r["emitida_em"]),
                      utc(r["cobertura_desde"]) if r["cobertura_desde"] else None,
                      tuple(json.loads(r["comunicacoes"])), r["pdf_sha256"], r["xml_sha256"])

    def check(self, raw_code: str, data: bytes) -> tuple[Record, str | None]:
        """The certificate of *raw_code* and which of its documents *data* is (``pdf``, ``xml``), or None when it is
        neither (altered, or another certificate's). Errors: as :meth:`find`."""
        record = self.find(raw_code)
        digest = hashlib.sha256(data).hexdigest()
        if hmac.compare_digest(digest, record.pdf_sha256):
            return record, "pdf"
        if hmac.compare_digest(digest, record.xml_sha256):
            return record, "xml"
        return record, None


def signing_key(settings: Settings) -> documents.SigningKey:
    """The key of the settings, or (none configured) one made for this process, with a warning."""
    if settings.certidoes_chave_path and settings.certidoes_certificado_path:
        return documents.SigningKey.load(settings.certidoes_chave_path, settings.certidoes_certificado_path)
    if settings.environment == "production":
        log.warning("GATEWAY_CERTIDOES_CHAVE_PATH não definido: certidões assinadas com uma chave temporária")
    return _process_key()


@functools.cache
def _process_key() -> documents.SigningKey:
    """One generated key per process (an RSA key takes ~0.1 s to make)."""
    return documents.generate()


def build_certidoes(settings: Settings, committer: GroupCommitter, reader: Engine, clock: Clock,
                    secret: bytes) -> CertidoesService:
    """The certificates' service from *settings* (for bootstrap)."""
    return CertidoesService(committer, reader, clock, signing_key(settings), secret,
                            ClientRateLimit(settings.certidoes_limite_por_minuto, clock), settings.public_url)
