"""The certificate's two documents, both signed with the key from the settings.

- **PDF** laid out by fpdf2 (core fonts: the text is extractable), with a QR code (``qrcode``) of the verification
  address, signed in **PAdES** (ETSI.CAdES.detached, SHA-256) by pyHanko — maintained libraries, no PDF or CMS code
  of our own.
- **XML** (``certidao`` in the namespace :data:`NS`) signed **XML-DSig** enveloped (RSA-SHA256 or ECDSA-SHA256,
  exclusive C14N) by signxml, the certificate in ``KeyInfo``; :func:`verify_xml` checks it (signxml too).

:class:`SigningKey` loads the PEM key and certificate (``GATEWAY_CERTIDOES_CHAVE_PATH``,
``GATEWAY_CERTIDOES_CERTIFICADO_PATH``) or makes a key and a self-signed certificate (:func:`generate`, the sandbox
and development).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import qrcode
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from fpdf import FPDF
from lxml import etree
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash
from signxml import InvalidInput, InvalidSignature, XMLSigner, XMLVerifier, methods

from gateway.certidoes.domain import Content, display_code, format_cpf
from gateway.errors import OperatorError

NS = "urn:gateway-interop:certidao:1.0"
_TZ = ZoneInfo("America/Sao_Paulo")


@dataclass(frozen=True)
class SigningKey:
    """A PEM private key and its PEM certificate (parsed once: loading an RSA key checks it, ~40 ms)."""

    key_pem: bytes
    cert_pem: bytes

    @functools.cached_property
    def private_key(self) -> PrivateKeyTypes:
        """The key, loaded (cryptography)."""
        return serialization.load_pem_private_key(self.key_pem, None)

    @functools.cached_property
    def pdf_signer(self) -> signers.SimpleSigner:
        """pyHanko's signer for this key and certificate."""
        certs = list(load_certs_from_pemder_data(self.cert_pem))
        return _LoadedKeySigner(self.private_key, signing_cert=certs[0],
                                signing_key=load_private_key_from_pemder_data(self.key_pem, None),
                                cert_registry=SimpleCertificateStore.from_certs(certs))

    @classmethod
    def load(cls, key_path: str, cert_path: str) -> SigningKey:
        """Read both files. Errors: OperatorError GATEWAY-E001 when unreadable."""
        try:
            key, cert = Path(key_path).read_bytes(), Path(cert_path).read_bytes()
            loaded = serialization.load_pem_private_key(key, None)
            x509.load_pem_x509_certificate(cert)
            if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                raise ValueError("use uma chave RSA ou EC")
        except (OSError, ValueError, TypeError) as exc:
            raise OperatorError(f"chave ou certificado das certidões ilegível ({exc})", code="GATEWAY-E001") from exc
        return cls(key, cert)

    def write(self, key_path: Path, cert_path: Path) -> None:
        """Write both files (the key 0600)."""
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        cert_path.write_bytes(self.cert_pem)


class _LoadedKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner with the key loaded once: its own ``sign_raw`` loads the key at every signature (an RSA
    key's checks cost ~40 ms each). RSA PKCS#1 v1.5 and ECDSA here; any other mechanism goes to pyHanko's."""

    def __init__(self, private_key: PrivateKeyTypes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loaded = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._loaded, rsa.RSAPrivateKey):
            return self._loaded.sign(data, PKCS1v15(), digest)
        if mechanism == "ecdsa" and isinstance(self._loaded, ec.EllipticCurvePrivateKey):
            return self._loaded.sign(data, ec.ECDSA(digest))
        return bytes(super().sign_raw(data, digest_algorithm))


def generate(common_name: str = "Gateway de interoperabilidade do Judiciário (sandbox)") -> SigningKey:
    """An RSA-2048 key and a self-signed certificate valid for ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BR"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return SigningKey(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
                      cert.public_bytes(serialization.Encoding.PEM))


def _local(at: datetime) -> str:
    return at.astimezone(_TZ).strftime("%d/%m/%Y %H:%M:%S (horário de Brasília)")


def statement(c: Content) -> list[str]:
    """The certificate's text, paragraph by paragraph (the PDF prints it; tests read it back)."""
    lines = [f"CERTIDÃO {c.kind.upper()} DE CONDENAÇÃO POR IMPROBIDADE ADMINISTRATIVA",
             f"Certidão nº {c.number}",
             f"Nome informado: {c.name}", f"CPF: {format_cpf(c.cpf)}"]
    if c.convictions:
        lines.append("CERTIFICA-SE que constam, nos dados recebidos por este gateway, as seguintes comunicações de "
                     "condenação por improbidade administrativa transitada em julgado (Res. Conjunta CNJ/TSE 6/2020, "
                     "art. 1º, parágrafo único, I) em vigor em nome do CPF acima:")
        for v in c.convictions:
            lines.append(f"- Processo {v.process_number or 'não informado'}; órgão remetente {v.sender}; trânsito em "
                         f"julgado em {v.final_judgment.strftime('%d/%m/%Y')}; protocolo {v.protocol}.")
    else:
        lines.append("CERTIFICA-SE que NÃO constam, nos dados recebidos por este gateway, comunicações de condenação "
                     "por improbidade administrativa transitada em julgado (Res. Conjunta CNJ/TSE 6/2020, art. 1º, "
                     "parágrafo único, I) em vigor em nome do CPF acima.")
    since = _local(c.coverage_since) if c.coverage_since else "nenhuma comunicação recebida até esta data"
    lines.append(f"Abrangência: comunicações recebidas desde {since}")
    if c.imported:
        lines.append("Históricos importados incluídos: " + "; ".join(
            f"{i.origin} (lote {i.batch}, {i.communications} comunicações)" for i in c.imported) + ".")
    else:
        lines.append("Nenhum histórico anterior foi importado: comunicações enviadas antes dessa data não constam.")
    lines += ["Esta certidão refere-se somente a pessoas físicas e apenas ao que foi comunicado a este gateway.",
              f"Emitida em {_local(c.issued_at)}.",
              f"Código de verificação: {display_code(c.code)}"]
    return lines


def render_pdf(c: Content, verify_url: str) -> bytes:
    """The certificate as an (unsigned) PDF: the statement's text and a QR code of *verify_url*."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"Certidão {c.kind} {c.number}")
    pdf.set_author("Gateway de interoperabilidade do Judiciário")
    pdf.set_lang("pt-BR")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 13)
    text = statement(c)
    pdf.multi_cell(0, 7, text[0], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("helvetica", "", 11)
    for line in text[1:]:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.ln(2)
    image = qrcode.make(verify_url, box_size=4, border=2).get_image()
    y = pdf.get_y()
    pdf.image(image, x=pdf.l_margin, y=y, w=36, h=36)
    pdf.set_xy(pdf.l_margin + 40, y + 4)
    pdf.multi_cell(0, 6, f"Verifique a autenticidade em {verify_url}\nou informe o código "
                         f"{display_code(c.code)} na página de verificação.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def sign_pdf(pdf: bytes, key: SigningKey) -> bytes:
    """*pdf* signed PAdES (pyHanko: ETSI.CAdES.detached, SHA-256) with *key*."""
    signer = key.pdf_signer
    meta = signers.PdfSignatureMetadata(field_name="AssinaturaGateway", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        reason="Certidão emitida pelo gateway", location="Brasil")
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return out.getvalue()


def render_xml(c: Content, verify_url: str) -> etree._Element:
    """The certificate as an (unsigned) ``certidao`` element."""
    e = etree.Element(f"{{{NS}}}certidao", nsmap={None: NS})  # type: ignore[dict-item]  # lxml-stubs: the default namespace
    e.set("Id", "certidao")

    def sub(parent: etree._Element, name: str, text: str | None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{NS}}}{name}")
        if text is not None:
            child.text = text
        return child

    sub(e, "tipo", c.kind)
    sub(e, "numero", c.number)
    sub(e, "codigoVerificacao", c.code)
    sub(e, "enderecoVerificacao", verify_url)
    sub(e, "emitidaEm", c.issued_at.isoformat())
    person = sub(e, "pessoa", None)
    sub(person, "nome", c.name)
    sub(person, "cpf", c.cpf)
    cov = sub(e, "abrangencia", None)
    if c.coverage_since:
        sub(cov, "desde", c.coverage_since.isoformat())
    for i in c.imported:
        h = sub(cov, "historicoImportado", None)
        h.set("origem", i.origin)
        h.set("lote", i.batch)
        h.set("comunicacoes", str(i.communications))
    convictions = sub(e, "condenacoes", None)
    for v in c.convictions:
        x = sub(convictions, "condenacao", None)
        sub(x, "protocolo", v.protocol)
        sub(x, "orgaoRemetente", v.sender)
        if v.process_number:
            sub(x, "processo", v.process_number)
        sub(x, "dataTransitoJulgado", v.final_judgment.isoformat())
    sub(e, "texto", "\n".join(statement(c)))
    return e


def sign_xml(element: etree._Element, key: SigningKey) -> bytes:
    """*element* signed XML-DSig enveloped (signxml; SHA-256, exclusive C14N), serialised UTF-8."""
    algorithm = "ecdsa-sha256" if isinstance(key.private_key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    signer = XMLSigner(method=methods.enveloped, signature_algorithm=algorithm, digest_algorithm="sha256",
                       c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    private = key.private_key
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)  # SigningKey.load refuses others
    signed = signer.sign(element, key=private, cert=key.cert_pem.decode())
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def verify_xml(data: bytes, key: SigningKey) -> bool:
    """Whether *data* is a ``certidao`` whose XML-DSig signature verifies with *key*'s certificate."""
    try:
        XMLVerifier().verify(data, x509_cert=key.cert_pem.decode(), expect_references=1)
    except (InvalidSignature, InvalidInput, etree.XMLSyntaxError, ValueError):
        return False
    return True
