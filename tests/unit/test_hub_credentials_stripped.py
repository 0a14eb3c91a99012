"""No credential of a hub client reaches a tribunal, and the audit digest of a request never covers one
(gateway/hub/contract.py: ``with_credentials``, ``request_digest``), for every MNI credential pair on every operation
the hub forwards, with WS-Security headers wherever a client may put them."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from lxml import etree

from gateway.hub import contract
from gateway.hub.credentials import TribunalCredential
from gateway.mni.reader import read_request
from gateway.settings import Settings

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSSE_2002 = "http://schemas.xmlsoap.org/ws/2002/07/secext"
LIMITS = Settings.from_env({}).mni_limits
TRIBUNAL = TribunalCredential("conta-no-tribunal", "senha-no-tribunal")
PAIRS = contract.CREDENTIAL_PAIRS
#: operation → its children besides credentials (the hub forwards each of these)
OPERATIONS = {
    "consultarProcesso": "<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso>",
    "consultarAlteracao": "<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso>",
    "consultarAvisosPendentes": "<tip:idRepresentado>12345678000190</tip:idRepresentado>",
    "consultarTeorComunicacao": "<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso>"
                                "<tip:identificadorAviso>12345</tip:identificadorAviso>",
    "entregarManifestacaoProcessual": "<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso>"
                                      '<tip:documento mimetype="application/pdf" tipoDocumento="58">'
                                      "<int:conteudo>JVBERi0xLjQ=</int:conteudo></tip:documento>"
                                      "<tip:dataEnvio>20261121120000</tip:dataEnvio>",
}


def wsse(password: str, ns: str = WSSE, user: str = "pgfn-mni") -> str:
    """A WS-Security header block with a UsernameToken."""
    return (f'<w:Security xmlns:w="{ns}"><w:UsernameToken><w:Username>{user}</w:Username>'
            f"<w:Password>{password}</w:Password></w:UsernameToken></w:Security>")


def request(operation: str, pairs: list[tuple[str, str]], user: str, password: str, *, token: str | None = None,
            second_header: str | None = None, password_last: bool = False) -> bytes:
    """A client's request of *operation* carrying *user*/*password* in each of *pairs* (before the other children,
    or after them when *password_last*), a UsernameToken with *token* as password, and a second Header."""
    creds = "".join(f"<tip:{u}>{user}</tip:{u}><tip:{p}>{password}</tip:{p}>" for u, p in pairs)
    inner = OPERATIONS[operation] + creds if password_last else creds + OPERATIONS[operation]
    header = f"<soap:Header>{wsse(token)}</soap:Header>" if token is not None else ""
    extra = f"<soap:Header>{second_header}</soap:Header>" if second_header is not None else ""
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            f"{header}{extra}<soap:Body><ser:{operation}>{inner}</ser:{operation}></soap:Body>"
            "</soap:Envelope>").encode()


def forwarded(body: bytes) -> etree._Element:
    """What the hub sends to the tribunal for *body*."""
    msg = read_request(body, "text/xml; charset=utf-8", LIMITS)
    return etree.fromstring(contract.with_credentials(msg, TRIBUNAL))


CASES = [
    *((op, [pair]) for op, pair in itertools.product(OPERATIONS, PAIRS)),
    *((op, list(PAIRS)) for op in OPERATIONS),  # every pair at once
]


@pytest.mark.parametrize(("operation", "pairs"), CASES, ids=lambda v: v if isinstance(v, str) else
                         "+".join(u for u, _ in v))
@pytest.mark.parametrize("password_last", [False, True], ids=["credentials-first", "credentials-last"])
def test_no_client_credential_is_forwarded(operation: str, pairs: list[tuple[str, str]], password_last: bool) -> None:
    """Whatever pair the client authenticated with (the operation's own, another operation's, or all three), and
    with UsernameTokens in the first Header and in a second one (in another WS-Security namespace), the forwarded
    request holds no client password, no client user field, no ``Security`` header — only the operation's own pair,
    once, set to the tribunal's credential, where the client's credentials were."""
    body = request(operation, pairs, "pgfn-mni", "senha-do-cliente", token="senha-do-token",
                   second_header=wsse("senha-do-segundo", WSSE_2002), password_last=password_last)
    root = forwarded(body)
    text = etree.tostring(root).decode()
    for secret in ("senha-do-cliente", "senha-do-token", "senha-do-segundo", "pgfn-mni"):
        assert secret not in text
    assert not [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Security"]
    op = root.find(f"{{{SOAP}}}Body/{{{SERVICO}}}{operation}")
    assert op is not None
    user_field, pass_field = contract.credential_fields(operation)
    creds = [(etree.QName(c).localname, c.text) for c in op if etree.QName(c).localname in contract.CREDENTIAL_FIELDS]
    assert creds == [(user_field, TRIBUNAL.username), (pass_field, TRIBUNAL.password)]
    names = [etree.QName(c).localname for c in op]
    assert names[names.index(user_field) + 1] == pass_field
    if not password_last:  # where the client's credentials were (the schema's place: only idRepresentado before)
        assert set(names[:names.index(user_field)]) <= {"idRepresentado"}


def test_a_token_only_request_gets_the_tribunal_pair_at_the_schema_place() -> None:
    """A client that authenticated with a UsernameToken alone: the token goes, the operation's pair is added first
    (after ``idRepresentado`` where the schema puts that first)."""
    for operation in OPERATIONS:
        op = forwarded(request(operation, [], "", "", token="senha-do-token")).find(
            f"{{{SOAP}}}Body/{{{SERVICO}}}{operation}")
        assert op is not None
        names = [etree.QName(c).localname for c in op]
        first = 1 if operation == "consultarAvisosPendentes" else 0
        assert names[first:first + 2] == list(contract.credential_fields(operation))


def test_the_audit_digest_is_of_the_request_with_credentials_blanked() -> None:
    """The digest equals SHA-256 of the same request written with every credential value empty (each MNI pair and
    the UsernameToken password; the token's user stays), for every pair; two requests that differ only in their
    passwords have the same digest, and the raw request's digest is never the one used."""
    for operation, pair in itertools.product(OPERATIONS, PAIRS):
        sent = request(operation, [pair], "pgfn-mni", "s&amp;nha<![CDATA[x]]>1", token="t0ken")
        blanked = request(operation, [pair], "", "", token="")
        assert contract.request_digest(sent) == hashlib.sha256(blanked).hexdigest()
        other = request(operation, [pair], "pgfn-mni", "outra-senha", token="outro")
        assert contract.request_digest(other) == contract.request_digest(sent)
        assert contract.request_digest(sent) != hashlib.sha256(sent).hexdigest()
    # a different request (another process) has another digest
    a = request("consultarProcesso", [PAIRS[0]], "u", "p")
    b = a.replace(b"08123459320198190001", b"08123459320198190002")
    assert contract.request_digest(a) != contract.request_digest(b)


def test_the_digest_blanks_utf16_and_prefixed_self_described_credentials() -> None:
    """Prefixes and attributes of any kind, a password after the documents, and a UTF-16 body: the digest never
    depends on the password."""
    base = request("entregarManifestacaoProcessual", [PAIRS[1]], "pgfn-mni", "{}", password_last=True).decode()
    for pw in ("senha-um", "senha-dois"):
        body = base.replace("{}", pw).replace("<tip:senhaManifestante>", '<tip:senhaManifestante xml:lang="pt">')
        for data in (body.encode(), body.encode("utf-16"), body.encode("utf-16-le")):
            blanked = contract.blank_credentials(data)
            assert pw.encode() not in blanked and b"pgfn-mni" not in blanked
    assert (contract.request_digest(base.replace("{}", "senha-um").encode("utf-16"))
            == contract.request_digest(base.replace("{}", "senha-dois").encode("utf-16")))
