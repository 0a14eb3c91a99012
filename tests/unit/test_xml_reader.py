"""The one hardened XML reader and the SOAP envelope reader, without a server, for every endpoint's policy."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.errors import CATALOGUE, GatewayError, MalformedRequest, MustUnderstand, VersionMismatch
from gateway.settings import XmlLimits
from gateway.xml.reader import LATIN1, UTF8, XmlPolicy, infodip_policy, mni_policy, read_xml
from gateway.xml.soap import SOAP11_NS, WSSE_NS, read_envelope

LIMITS = XmlLimits(max_body_bytes=10_000, max_depth=20, max_text_bytes=1000)
INFODIP = infodip_policy(LIMITS)
MNI = mni_policy(LIMITS)
POLICIES = [pytest.param(INFODIP, id="INFODIP"), pytest.param(MNI, id="MNI")]


def code_of(data: bytes, policy: XmlPolicy = INFODIP, charset: str | None = None) -> str:
    """The error code reading *data* (XML, then the strict envelope) raises."""
    with pytest.raises(GatewayError) as e:
        root, _ = read_xml(data, policy, charset)
        read_envelope(root, policy.family)
    return e.value.code


def soap(body: str = "<a/>", header: str | None = None) -> bytes:
    """A SOAP 1.1 envelope with *body* in the Body and, when given, *header* in a Header."""
    head = "" if header is None else f"<s:Header>{header}</s:Header>"
    return f'<s:Envelope xmlns:s="{SOAP11_NS}">{head}<s:Body>{body}</s:Body></s:Envelope>'.encode()


BILLION_LAUGHS = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + b"".join(
    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
) + b"]><l>&j;</l>"

# (body, check number): what every policy refuses, with the same number in each family.
ONE_SET_OF_CHECKS = [
    pytest.param(b"<a><b></a>", 1, id="malformed"),
    pytest.param(b"<a><depth></a>", 1, id="mismatch-naming-depth-is-not-a-limit"),
    pytest.param(b"<a>\x01</a>", 1, id="control-character"),
    pytest.param(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 2, id="doctype-internal-entity"),
    pytest.param(b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', 2, id="doctype-xxe"),
    pytest.param(b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><a/>', 2,
                 id="parameter-entity"),
    pytest.param(b'<a><!ENTITY x "y"></a>', 2, id="entity-without-doctype"),
    pytest.param(b"<a><!ATTLIST a b CDATA #IMPLIED></a>", 2, id="attlist"),
    pytest.param(BILLION_LAUGHS, 2, id="billion-laughs"),
    pytest.param(b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>', 3,
                 id="xinclude"),
    pytest.param(soap('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>'), 3,
                 id="xinclude-in-body"),
    pytest.param(b"<a>" + b"x" * 10_001 + b"</a>", 4, id="size"),
    pytest.param(b"<a>" * 21 + b"</a>" * 21, 5, id="depth"),
    pytest.param(b"<a>" * 300 + b"</a>" * 300, 5, id="depth-past-libxml2-cap"),
    pytest.param(b"<a>" + b"t" * 1001 + b"</a>", 5, id="text"),
    pytest.param(b'<a b="' + b"t" * 1001 + b'"/>', 5, id="attribute"),
    pytest.param(b"<a><conteudo b='" + b"t" * 1001 + b"'/></a>", 5, id="attribute-of-binary-element"),
    pytest.param(b"<a>" + "é".encode("latin-1") + b"</a>", 6, id="invalid-utf8"),
    pytest.param(b"<a>ok</a><!-- \xe9 -->", 6, id="invalid-utf8-after-root"),
    pytest.param("<a>ç</a>".encode("utf-16"), 6, id="utf16-bom"),
    pytest.param('<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16-le"), 6, id="utf16le-no-bom"),
    pytest.param(b'<?xml version="1.0" encoding="UTF-16"?><a/>', 6, id="declared-utf16"),
    pytest.param(b'<?xml version="1.0" encoding="EBCDIC-US"?><a/>', 6, id="declared-unknown"),
    pytest.param(b"<a>\x00</a>", 6, id="nul"),
    pytest.param(b'\xef\xbb\xbf<?xml version="1.0" encoding="ISO-8859-1"?><a/>', 6, id="bom-contradicts-decl"),
]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("data", "number"), ONE_SET_OF_CHECKS)
def test_one_set_of_checks_for_every_family(policy: XmlPolicy, data: bytes, number: int) -> None:
    """Each forbidden construct or broken limit is refused by every endpoint's policy with the same check number
    in its own family (INFODIP-E00n, MNI-E00n), a catalogued Client fault."""
    with pytest.raises(MalformedRequest) as e:
        read_xml(data, policy)
    assert e.value.code == f"{policy.family}-E{number:03d}" == policy.code(number)
    assert e.value.code in CATALOGUE and e.value.faultcode == "soap:Client"
    assert e.value.message.startswith(CATALOGUE[e.value.code])


@pytest.mark.parametrize("policy", POLICIES)
def test_binary_elements_are_exempt_from_the_text_limit_only(policy: XmlPolicy) -> None:
    """A long text is accepted only inside the policy's binary elements (MNI: conteudo, recibo; INFODIP: none), and
    giving INFODIP's policy the same names exempts them the same way: one mechanism, not one per family."""
    long_text = b"QUJD" * 300  # 1200 characters of base64, over the 1000 limit
    for name in ("conteudo", "recibo"):
        data = f'<a xmlns:i="urn:x"><i:{name}>'.encode() + long_text + f"</i:{name}></a>".encode()
        if name in policy.binary_elements:
            assert read_xml(data, policy)[0][0].text == long_text.decode()
        else:
            assert code_of(data, policy) == policy.code(5)
        exempt = dataclasses.replace(policy, binary_elements=frozenset({name}))
        assert read_xml(data, exempt)[0][0].text == long_text.decode()
    assert MNI.binary_elements == {"conteudo", "recibo"} and not INFODIP.binary_elements
    other = b"<a><outro>" + long_text + b"</outro></a>"
    assert code_of(other, dataclasses.replace(policy, binary_elements=frozenset({"conteudo"}))) == policy.code(5)


def test_huge_text_nodes_need_the_policy() -> None:
    """A binary text node over libxml2's 10 MB cap is read where the policy allows huge text (MNI) and refused
    with E005 where it does not, even when the element is exempt from the text limit."""
    limits = XmlLimits(max_body_bytes=12 * 1024 * 1024, max_depth=20, max_text_bytes=1000)
    data = b"<a><conteudo>" + b"A" * (11 * 1024 * 1024) + b"</conteudo></a>"
    root, _ = read_xml(data, mni_policy(limits))
    assert len(root[0].text or "") == 11 * 1024 * 1024
    strict = dataclasses.replace(infodip_policy(limits), binary_elements=frozenset({"conteudo"}))
    assert code_of(data, strict) == "INFODIP-E005"


def test_encodings_are_what_the_policy_accepts() -> None:
    """ISO-8859-1 (declared, or named by the HTTP charset of a body without declaration) is read by MNI and
    reported; INFODIP accepts UTF-8 only and ignores the charset (so the Latin-1 byte is invalid UTF-8)."""
    declared = b'<?xml version="1.0" encoding="ISO-8859-1"?><a>' + "ç".encode("latin-1") + b"</a>"
    root, info = read_xml(declared, MNI)
    assert (root.text, info.encoding, info.latin1) == ("ç", LATIN1, True)
    assert code_of(declared, INFODIP) == "INFODIP-E006"
    bare = b"<a>" + "ç".encode("latin-1") + b"</a>"
    root, info = read_xml(bare, MNI, charset="ISO-8859-1")
    assert (root.text, info.latin1) == ("ç", True)
    assert code_of(bare, MNI) == "MNI-E006"  # no charset: UTF-8, and the byte is not UTF-8
    assert code_of(bare, INFODIP, charset="ISO-8859-1") == "INFODIP-E006"
    utf8 = '<?xml version="1.0" encoding="utf-8"?><a>ç</a>'.encode()
    for policy in (INFODIP, MNI):
        root, info = read_xml(utf8, policy, charset="ISO-8859-1")  # the declaration wins over the charset
        assert (root.text, info.encoding) == ("ç", UTF8)


@pytest.mark.parametrize("policy", POLICIES)
def test_utf8_bom_decides_the_encoding(policy: XmlPolicy) -> None:
    """A UTF-8 byte-order mark is accepted, the declaration after it is still read, and it outweighs an HTTP
    charset (XML 1.0 Appendix F)."""
    for data in (b"\xef\xbb\xbf<a>\xc3\xa7</a>", b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><a>\xc3\xa7</a>'):
        root, info = read_xml(data, policy, charset="ISO-8859-1")
        assert (root.text, info.encoding) == ("ç", UTF8)
    assert code_of(b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-16"?><a/>', policy) == policy.code(6)


@pytest.mark.parametrize("policy", POLICIES)
def test_comments_and_cdata_are_ordinary_xml(policy: XmlPolicy) -> None:
    """Comments and CDATA are allowed (comments are dropped from the tree) under every policy."""
    root, info = read_xml(b"<a><!-- c --><![CDATA[x<y]]></a>", policy)
    assert root.text == "x<y" and len(root) == 0 and info.encoding == UTF8


@pytest.mark.parametrize(("data", "code"), [
    (b"<a/>", "INFODIP-E007"),
    (soap("<a/>").replace(b"<s:Body><a/></s:Body>", b"<s:Header/>"), "INFODIP-E007"),
    (soap("<a/><b/>"), "INFODIP-E007"),
    (soap("", header=None), "INFODIP-E007"),
    (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/></s:Body></s:Envelope>',
     "INFODIP-E008"),
    (b"<Envelope><Body><a/></Body></Envelope>", "INFODIP-E008"),
    (soap("<a/>", '<h s:mustUnderstand="1"/>'), "INFODIP-E012"),
    (soap("<a/>").replace(b"</s:Body>", b"</s:Body><s:Header/>"), "INFODIP-E007"),
    (soap("<a/>").replace(b"</s:Body>", b"</s:Body><x/>"), "INFODIP-E007"),
])
def test_strict_envelope_codes(data: bytes, code: str) -> None:
    """The strict envelope reader (INFODIP) refuses each broken envelope with its stable code."""
    assert code_of(data) == code


def test_fault_classes() -> None:
    """An Envelope outside SOAP 1.1's namespace is a VersionMismatch, mustUnderstand its own faultcode, the rest
    Client faults — in both families."""
    for policy in (INFODIP, MNI):
        root, _ = read_xml(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', policy)
        for tolerant in (False, True):
            with pytest.raises(VersionMismatch) as v:
                read_envelope(root, policy.family, tolerant=tolerant)
            assert v.value.code == policy.code(8)
    with pytest.raises(MalformedRequest) as e:
        read_xml(b"<a", INFODIP)
    assert e.value.faultcode == "soap:Client"
    with pytest.raises(MustUnderstand) as m:
        read_envelope(read_xml(soap("<a/>", '<h s:mustUnderstand="true"/>'), INFODIP)[0])
    assert m.value.faultcode == "soap:MustUnderstand"


def test_tolerant_envelope_reads_what_the_strict_one_refuses() -> None:
    """The tolerant mode (MNI) reads a Header after the Body and ignores unknown children, and lists unprocessed
    mustUnderstand headers instead of refusing them; a Security header is understood by both modes."""
    security = f'<w:Security xmlns:w="{WSSE_NS}" s:mustUnderstand="1"/>'
    data = soap("<op/>").replace(
        b"</s:Body>", f'</s:Body><s:Header>{security}<h s:mustUnderstand="1"/><g/></s:Header><x/>'.encode()
    )
    req = read_envelope(read_xml(data, MNI)[0], "MNI", tolerant=True)
    assert req.operation.tag == "op" and req.header is not None
    assert req.ignored_headers == ("h",)
    assert code_of(data, MNI) == "MNI-E007"
    strict = read_envelope(read_xml(soap("<op/>", security), INFODIP)[0])
    assert strict.ignored_headers == () and strict.username_token is None


def test_username_token_is_read_in_the_envelope_pass() -> None:
    """The UsernameToken's user, password and type come with the envelope, without a second look at the header."""
    data = soap("<a/>", (
        f'<w:Security xmlns:w="{WSSE_NS}"><w:UsernameToken><w:Username> u1 </w:Username>'
        "<w:Password>p&amp;1</w:Password></w:UsernameToken></w:Security>"
    ))
    for policy, tolerant in ((INFODIP, False), (MNI, True)):
        token = read_envelope(read_xml(data, policy)[0], policy.family, tolerant=tolerant).username_token
        assert token is not None and token.username == "u1" and token.password == "p&1"
        assert token.password_type.endswith("#PasswordText")


def test_policies_are_built_once_per_limits() -> None:
    """Each endpoint's factory returns the same policy object for the same limits (its compiled check is reused)."""
    assert infodip_policy(LIMITS) is INFODIP and mni_policy(LIMITS) is MNI
    assert INFODIP.tree_check is INFODIP.tree_check
    assert (INFODIP.family, MNI.family) == ("INFODIP", "MNI")
    assert MNI.huge_text and not INFODIP.huge_text
    assert MNI.encodings == {UTF8, LATIN1} and INFODIP.encodings == {UTF8}
