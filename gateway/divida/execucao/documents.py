"""The filing's documents: the CDA's signature checked, the petition rendered as PDF and signed, and the MNI 2.2.2
``entregarManifestacaoProcessual`` built and validated against the official schema.

Libraries, each maintained and chosen over own code (STYLE.md): **pyHanko** verifies CMS/PKCS#7 detached signatures
and PAdES signatures (it is the reference Python implementation of both, with its certificate validator); **fpdf2**
renders the petition (text stays extractable); **cryptography** signs it (PKCS#7 detached, SHA-256). Trust in the
signer's certificate is checked against ``GATEWAY_EXECUCAO_CDA_RAIZES`` (a PEM bundle) when set; without it only the
signature's integrity is required (the sandbox), and the signer is recorded.

The MNI document carries, in ``tipoDocumento``'s required ``##other`` slot, the official CDA extension of MNI 2.2.2
(``cda:tipoDividaAtiva``, ``schemas/mni/2.2.2/xsd/cda-2.2.2.xsd``): the petition with every CDA, each CDA document
with its own, so the whole request is valid against the official schema with no deviation.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from fpdf import FPDF
from lxml import etree

from gateway.divida.execucao.domain import (
    ASSUNTO_DIVIDA_ATIVA,
    CLASSE_EXECUCAO_FISCAL,
    Cda,
    Destino,
    Erro,
    Pedido,
    Pessoa,
)
from gateway.mni.names import CDA_NS, INTER_NS, SERVICO_NS, TIPOS_NS
from gateway.mni.schema import operation_schema

log = logging.getLogger("gateway.execucao")
_T, _I, _C = f"{{{TIPOS_NS}}}", f"{{{INTER_NS}}}", f"{{{CDA_NS}}}"
NSMAP = {"tip": TIPOS_NS, "int": INTER_NS, "cda": CDA_NS}
#: MNI tipoDocumento codes used (TPU documents): petição inicial, certidão de dívida ativa, petição.
TIPO_PETICAO_INICIAL, TIPO_CDA, TIPO_PETICAO = "1", "68", "13"
INITIAL_NUMBER = "0" * 20  # dadosBasicos@numero of an initial petition: no number yet


# -- signatures ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assinatura:
    """A verified signature: the detached PKCS#7 bytes (None for PAdES, inside the PDF), the signer's subject and
    certificate (DER), and whether it chains to a configured root."""

    p7s: bytes | None
    signatario: str
    certificado: bytes
    confiavel: bool


class Verificador:
    """Verifies CDA documents' signatures (pyHanko). *roots*: trusted certificates (empty: integrity only)."""

    def __init__(self, roots: list[x509.Certificate] | None = None) -> None:
        self.roots = roots or []
        # pyHanko logs every untrusted path at ERROR with a traceback; the outcome is ours to report
        logging.getLogger("pyhanko").setLevel(logging.CRITICAL)

    def _context(self) -> object:
        from asn1crypto import x509 as ax509
        from pyhanko_certvalidator import ValidationContext

        roots = [ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in self.roots]
        return ValidationContext(trust_roots=roots, allow_fetching=False)

    async def verificar(self, cda: Cda, where: str) -> Assinatura | Erro:
        """The signature of *cda*'s document, or the :class:`Erro` refusing it (``EXEC-E014`` invalid or absent,
        ``EXEC-E015`` not a PDF), naming ``{where}.documento``."""
        doc = cda.documento
        campo = f"{where}.documento"
        if not doc.pdf.startswith(b"%PDF-"):
            return Erro("EXEC-E015", f"{campo}.pdf", f"CDA {cda.numero_inscricao}: o documento não é um PDF.")
        try:
            if doc.p7s is not None:
                return await self._detached(doc.pdf, doc.p7s)
            return await self._pades(doc.pdf)
        except _Invalid as exc:
            return Erro("EXEC-E014", f"{campo}.assinatura", f"CDA {cda.numero_inscricao}: {exc}")

    async def _detached(self, pdf: bytes, p7s: bytes) -> Assinatura:
        from pyhanko.sign.validation import async_validate_detached_cms

        try:
            info = cms.ContentInfo.load(p7s)
            signed = info["content"]
            if info["content_type"].native != "signed_data":
                raise ValueError("não é SignedData")
            status = await async_validate_detached_cms(
                pdf, signed, signer_validation_context=self._context())  # type: ignore[arg-type]
        except _Invalid:
            raise
        except Exception as exc:  # asn1crypto/pyHanko: anything unreadable is a bad signature
            raise _Invalid(f"assinatura PKCS#7 ilegível ({type(exc).__name__}).") from None
        if not (status.intact and status.valid):
            raise _Invalid("a assinatura PKCS#7 não confere com o PDF.")
        return self._answer(p7s, status)

    async def _pades(self, pdf: bytes) -> Assinatura:
        import io

        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import async_validate_pdf_signature

        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            sigs = reader.embedded_signatures
        except Exception:
            raise _Invalid("PDF ilegível.") from None
        if not sigs:
            raise _Invalid("documento sem assinatura: envie a assinatura PKCS#7 destacada ou um PDF PAdES.")
        try:
            status = await async_validate_pdf_signature(sigs[-1], signer_validation_context=self._context())  # type: ignore[arg-type]
        except Exception as exc:
            raise _Invalid(f"assinatura PAdES ilegível ({type(exc).__name__}).") from None
        if not (status.intact and status.valid):
            raise _Invalid("a assinatura PAdES não confere com o PDF.")
        from pyhanko.sign.validation.status import SignatureCoverageLevel

        if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
            raise _Invalid("o PDF foi alterado depois da assinatura PAdES (a assinatura não cobre o arquivo todo).")
        return self._answer(None, status)

    def _answer(self, p7s: bytes | None, status: object) -> Assinatura:
        cert = status.signing_cert  # type: ignore[attr-defined]
        confiavel = bool(getattr(status, "trusted", False))
        if self.roots and not confiavel:
            raise _Invalid("certificado do signatário fora das raízes configuradas.")
        return Assinatura(p7s, cert.subject.human_friendly, cert.dump(), confiavel)


class _Invalid(Exception):
    """A signature refused (its Portuguese reason)."""


# -- the procuradoria's key ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signatario:
    """The procuradoria's signing key and certificate (PEM files; the sandbox generates them)."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def sign(self, data: bytes) -> bytes:
        """A detached PKCS#7 (CMS SignedData, DER) of *data*, SHA-256."""
        return pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(self.cert, self.key, hashes.SHA256()).sign(
            serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])

    @property
    def subject(self) -> str:
        """The certificate's subject, RFC 4514."""
        return self.cert.subject.rfc4514_string()


def load_signatario(key_path: str, cert_path: str) -> Signatario:
    """Read the key (PEM, unencrypted) and certificate (PEM). Errors: OSError, ValueError."""
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("a chave de assinatura das petições deve ser EC (P-256)")
    return Signatario(key, x509.load_pem_x509_certificate(Path(cert_path).read_bytes()))


def create_signatario(key_path: str, cert_path: str, common_name: str) -> Signatario:
    """Generate a P-256 key and a self-signed certificate for *common_name* (sandbox and tests), files 0600."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sandbox do gateway (não ICP-Brasil)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    for path, data in ((key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())),
                       (cert_path, cert.public_bytes(serialization.Encoding.PEM))):
        p = Path(path)
        p.write_bytes(data)
        p.chmod(0o600)
    return Signatario(key, cert)


# -- the petition --------------------------------------------------------------------------------------------------


def _latin1(text: str) -> str:
    return text.replace("—", "-").replace("–", "-").replace("º", "o").encode("latin-1", "replace").decode("latin-1")


def money(value: Decimal) -> str:
    """``1234.5`` → ``R$ 1.234,50``."""
    s = f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return f"R$ {s}"


def render_petition(p: Pedido, destino: Destino, tribunal: str, when: dt.datetime) -> bytes:
    """The initial petition of the execução fiscal as PDF (fpdf2; text extractable): the court, the parties, each
    CDA's requisites, the value of the claim and the request for citação (LEF arts. 6º and 8º)."""
    pdf = FPDF()
    pdf.set_title("Petição inicial - execução fiscal")
    pdf.set_author(p.procuradoria)
    pdf.set_creation_date(when)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 12)
    w = pdf.epw

    def para(text: str, style: str = "", size: int = 10) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.multi_cell(w, 5.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)

    para(f"EXCELENTÍSSIMO(A) SENHOR(A) JUIZ(A) FEDERAL DA VARA COM COMPETÊNCIA EM EXECUÇÃO FISCAL - {tribunal} "
         f"(localidade {destino.codigo_localidade})", "B", 11)
    d = p.devedor
    doc = f", inscrito(a) sob o nº {d.documento}" if d.documento else ""
    para(f"{p.credor_nome} (CNPJ {p.credor_cnpj}), representada pela {p.procuradoria}, vem propor EXECUÇÃO FISCAL "
         f"(classe {CLASSE_EXECUCAO_FISCAL}, assunto {ASSUNTO_DIVIDA_ATIVA}) em face de {d.nome}{doc}, com domicílio "
         f"em {_endereco(d)}, com fundamento na Lei nº 6.830/1980, pelos créditos inscritos em dívida ativa "
         "descritos nas certidões anexas, que gozam de presunção de certeza e liquidez (art. 3º).")
    for c in p.cdas:
        corresp = "; ".join(f"{co.nome} ({co.documento or 'sem documento'}, {co.tipo or 'corresponsável'})"
                            for co in c.corresponsaveis) or "nenhum"
        para(f"CDA nº {c.numero_inscricao}, inscrita em {c.data_inscricao:%d/%m/%Y}, processo administrativo "
             f"{c.processo_administrativo}. Origem: {c.origem}. Natureza: {c.natureza}. Fundamento legal: "
             f"{c.fundamento_legal}. Principal {money(c.valor_principal)}; juros desde {c.data_inicio_juros:%d/%m/%Y}"
             f" ({c.forma_calculo_juros}); correção: {c.base_correcao_monetaria or 'não há'}. Valor atualizado em "
             f"{c.data_valor_atualizado:%d/%m/%Y}: {money(c.valor_atualizado)}. Corresponsáveis: {corresp}.")
    para(f"Requer a citação do(a) executado(a) para, no prazo de 5 (cinco) dias, pagar a dívida com os acréscimos "
         f"legais ou garantir a execução (LEF art. 8º), sob pena de penhora. Dá-se à causa o valor de "
         f"{money(p.valor)}.")
    para(f"Referência da procuradoria: {p.referencia}. Documento gerado pelo gateway de interoperabilidade em "
         f"{when:%d/%m/%Y %H:%M} (UTC) e assinado digitalmente.")
    return bytes(pdf.output())


def _endereco(pe: Pessoa) -> str:
    e = pe.endereco
    if e is None:
        return "endereço ignorado"
    return f"{e.logradouro}, município IBGE {e.municipio_ibge}/{e.uf}" + (f", CEP {e.cep}" if e.cep else "")


# -- the MNI request -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anexo:
    """A document of the filing: type, description, PDF bytes, signature (detached PKCS#7 or None for PAdES), the
    signer's certificate (DER) and the CDAs it concerns."""

    tipo: str
    descricao: str
    pdf: bytes
    p7s: bytes | None
    certificado: bytes
    cdas: tuple[Cda, ...]
    #: a follow-up petition without a CDA of its own: (debtor's CPF/CNPJ, value of the claim, date) of the execução
    resumo: tuple[str, str, str] | None = None


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def _pessoa(parent: etree._Element, pe: Pessoa, tipo_pessoa: str | None = None) -> None:
    parte = etree.SubElement(parent, f"{_I}parte")
    attrs = {"nome": pe.nome, "sexo": "D",
             "tipoPessoa": tipo_pessoa or ("fisica" if pe.documento and len(pe.documento) == 11 else "juridica")}
    if pe.documento and pe.documento.isdigit():
        attrs["numeroDocumentoPrincipal"] = pe.documento
    pessoa = etree.SubElement(parte, f"{_I}pessoa", attrs)
    if pe.endereco is not None:
        end = etree.SubElement(pessoa, f"{_I}endereco", {"cep": pe.endereco.cep} if pe.endereco.cep else {})
        etree.SubElement(end, f"{_I}logradouro").text = pe.endereco.logradouro
        etree.SubElement(end, f"{_I}cidade").text = pe.endereco.municipio_ibge
        etree.SubElement(end, f"{_I}estado").text = pe.endereco.uf
        etree.SubElement(end, f"{_I}pais").text = "BR"


def _divida_ativa(parent: etree._Element, cdas: tuple[Cda, ...]) -> None:
    """``cda:tipoDividaAtiva`` (MNI 2.2.2's CDA extension) describing *cdas*."""
    root = etree.SubElement(parent, f"{_C}tipoDividaAtiva")
    for c in cdas:
        cert = etree.SubElement(root, f"{_C}certidao")
        etree.SubElement(cert, f"{_C}devedorPrincipal", inscricaoMF=c.devedor.documento or "")
        for co in c.corresponsaveis:
            etree.SubElement(cert, f"{_C}devedorAlternativo", inscricaoMF=co.documento or "",
                             tipo=co.tipo or "SOLIDARIO")
        etree.SubElement(cert, f"{_C}valor", valor=f"{c.valor_principal:.2f}",
                         dataApuracao=c.data_inscricao.isoformat(), rubrica="PRINCIPAL", tipoValor="ORIGINARIO",
                         dataInicioIncidencia=c.data_inicio_juros.isoformat())
        etree.SubElement(cert, f"{_C}valor", valor=f"{c.valor_atualizado:.2f}",
                         dataApuracao=c.data_valor_atualizado.isoformat(), rubrica="PRINCIPAL",
                         tipoValor="ATUALIZACAO")


def _documento(parent: etree._Element, a: Anexo, when: dt.datetime) -> None:
    el = etree.SubElement(parent, f"{_T}documento", {
        "tipoDocumento": a.tipo, "dataHora": _stamp(when), "mimetype": "application/pdf", "descricao": a.descricao,
        "hash": hashlib.sha256(a.pdf).hexdigest()})
    etree.SubElement(el, f"{_I}conteudo").text = base64.b64encode(a.pdf).decode()
    sig = {"dataAssinatura": _stamp(when), "cadeiaCertificado": base64.b64encode(a.certificado).decode(),
           "algoritmoHash": "SHA-256", "codificacaoCertificado": "X.509 DER (base64)"}
    if a.p7s is not None:
        sig["assinatura"] = base64.b64encode(a.p7s).decode()
    else:
        sig["assinatura"] = "PAdES"  # the signature is inside the PDF
    etree.SubElement(el, f"{_I}assinatura", sig)
    if a.cdas or a.resumo is None:
        _divida_ativa(el, a.cdas)
    else:  # the execução's debt as a whole (MNI's cda extension names no inscription number)
        cert = etree.SubElement(etree.SubElement(el, f"{_C}tipoDividaAtiva"), f"{_C}certidao")
        devedor, valor, dia = a.resumo
        etree.SubElement(cert, f"{_C}devedorPrincipal", inscricaoMF=devedor)
        etree.SubElement(cert, f"{_C}valor", valor=valor, dataApuracao=dia, rubrica="PRINCIPAL",
                         tipoValor="ATUALIZACAO")


def build_initial(p: Pedido, destino: Destino, anexos: list[Anexo], when: dt.datetime) -> bytes:
    """The body of an initial ``entregarManifestacaoProcessual`` without the credential fields (the hub adds the
    procuradoria's credential towards the court): ``tip:dadosBasicos`` (class 1116, subject 6017, polo ativo the
    creditor, polo passivo the debtor and co-responsible parties, ``valorCausa``, ``codigoLocalidade``), one
    ``tip:documento`` per :class:`Anexo`, ``tip:dataEnvio`` and ``tip:parametros tribunal``. Rendered once and
    stored: retries send these bytes."""
    holder = etree.Element(f"{{{SERVICO_NS}}}entregarManifestacaoProcessual", nsmap={"ser": SERVICO_NS, **NSMAP})
    ibge = p.devedor.endereco.municipio_ibge if p.devedor.endereco else "0"
    dados = etree.SubElement(holder, f"{_T}dadosBasicos", {
        "numero": INITIAL_NUMBER, "classeProcessual": str(CLASSE_EXECUCAO_FISCAL),
        "codigoLocalidade": destino.codigo_localidade, "nivelSigilo": "0", "dataAjuizamento": _stamp(when)})
    ativo = etree.SubElement(dados, f"{_I}polo", polo="AT")
    _pessoa(ativo, Pessoa(p.credor_nome, p.credor_cnpj, None), "juridica")
    passivo = etree.SubElement(dados, f"{_I}polo", polo="PA")
    _pessoa(passivo, p.devedor)
    extras: dict[str, Pessoa] = {}
    for c in p.cdas:
        for co in c.corresponsaveis:
            extras.setdefault(co.documento or co.nome, co)
    for co in extras.values():
        _pessoa(passivo, co)
    assunto = etree.SubElement(dados, f"{_I}assunto", principal="true")
    etree.SubElement(assunto, f"{_I}codigoNacional").text = str(ASSUNTO_DIVIDA_ATIVA)
    etree.SubElement(dados, f"{_I}valorCausa").text = f"{p.valor:.2f}"
    etree.SubElement(dados, f"{_I}orgaoJulgador", codigoOrgao=destino.codigo_localidade,
                     nomeOrgao="A distribuir", instancia="ORIG", codigoMunicipioIBGE=str(int(ibge)))
    for a in anexos:
        _documento(holder, a, when)
    etree.SubElement(holder, f"{_T}dataEnvio").text = _stamp(when)
    etree.SubElement(holder, f"{_T}parametros", nome="tribunal", valor=destino.jtr)
    etree.SubElement(holder, f"{_T}parametros", nome="referencia", valor=p.referencia)
    return b"".join(etree.tostring(child) for child in holder)


def build_incidental(numero_processo: str, anexos: list[Anexo], when: dt.datetime, tipo: str) -> bytes:
    """The body of an incidental ``entregarManifestacaoProcessual`` (follow-up petition *tipo*) on process
    *numero_processo*, without the credential fields."""
    holder = etree.Element(f"{{{SERVICO_NS}}}entregarManifestacaoProcessual", nsmap={"ser": SERVICO_NS, **NSMAP})
    etree.SubElement(holder, f"{_T}numeroProcesso").text = numero_processo
    for a in anexos:
        _documento(holder, a, when)
    etree.SubElement(holder, f"{_T}dataEnvio").text = _stamp(when)
    etree.SubElement(holder, f"{_T}parametros", nome="tipoPeticao", valor=tipo)
    return b"".join(etree.tostring(child) for child in holder)


def validate(inner: bytes) -> list[str]:
    """The official MNI 2.2.2 schema's errors for the operation built around *inner* with placeholder credentials
    (empty list: valid). The operation element is declared in the WSDL's schema, which imports the three XSDs."""
    doc = (f'<ser:entregarManifestacaoProcessual xmlns:ser="{SERVICO_NS}" xmlns:tip="{TIPOS_NS}">'
           "<tip:idManifestante>x</tip:idManifestante><tip:senhaManifestante>x</tip:senhaManifestante>").encode() + \
        inner + b"</ser:entregarManifestacaoProcessual>"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    element = etree.fromstring(doc, parser)
    schema = operation_schema()
    if schema.validate(element):
        return []
    return [f"{e.line}: {e.message}" for e in list(schema.error_log)]  # type: ignore[call-overload]


async def verify_all(verificador: Verificador, cdas: tuple[Cda, ...]) -> list[Assinatura | Erro]:
    """Each CDA's signature checked (concurrently)."""
    return list(await asyncio.gather(*(verificador.verificar(c, f"cdas[{i}]") for i, c in enumerate(cdas))))
