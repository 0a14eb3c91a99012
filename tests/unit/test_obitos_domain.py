"""The pure rules of death batches (gateway/obitos/domain.py) and the wire forms (contract.py): the matrícula's
check digits (property-based), the deadline, the outcome rules, each record rule's code, the INFODIP payload."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from validate_docbr import Certidao

from gateway.infodip import contract as infodip_contract
from gateway.obitos import contract, synthetic
from gateway.obitos.domain import (
    _W1,
    _W2,
    Earlier,
    Outcome,
    check_record,
    deadline_of,
    due_of,
    matricula_check_digits,
    outcome_of,
    parse_matricula,
)
from gateway.schemas import CRC_XSD, INFODIP_XSD, xml_schema

TODAY = date(2026, 11, 30)
digits30 = st.text(alphabet="0123456789", min_size=30, max_size=30)


def test_worked_examples_of_domain_md() -> None:
    assert matricula_check_digits("104539015520131000120210000123") == "21"
    assert matricula_check_digits("123456015520244000120340000567") == "50"
    m = parse_matricula("12345601552024400012034000056750")
    assert m is not None and (m.cns, m.year, m.book_type) == ("123456", 2024, "4")


@given(digits30)
def test_agrees_with_validate_docbr(first30: str) -> None:
    """Our implementation and the maintained library compute the same digits (DOMAIN.md §3 cites both)."""
    assert Certidao().validate(first30 + matricula_check_digits(first30))


def _raw_remainders(first30: str) -> tuple[int, int]:
    r1 = sum(int(d) * w for d, w in zip(first30, _W1, strict=True)) % 11
    dv1 = 1 if r1 == 10 else r1
    r2 = sum(int(d) * w for d, w in zip(first30 + str(dv1), _W2, strict=True)) % 11
    return r1, r2


@settings(max_examples=300)
@given(digits30, st.integers(0, 31), st.integers(1, 9))
def test_every_single_digit_change_is_detected(first30: str, position: int, shift: int) -> None:
    """A change of one digit — any position, body or check digits — makes the matrícula invalid, except where
    the rule itself cannot see it: a remainder of 10 is written 1 (DOMAIN.md §3), so a change that moves a
    remainder between 1 and 10 (or leaves it, where the weight is 0) on both check digits keeps the same digits.
    The property states exactly that, and the exception is rare (≈0.25 % of single-digit changes)."""
    valid = first30 + matricula_check_digits(first30)
    changed = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1:]
    still_valid = matricula_check_digits(changed[:30]) == changed[30:]
    if position >= 30:  # a check digit changed: always detected
        assert not still_valid
        return
    if still_valid:
        before, after = _raw_remainders(valid[:30]), _raw_remainders(changed[:30])
        for a, b in zip(before, after, strict=True):
            assert a == b or {a, b} == {1, 10}


def test_detection_rate_over_every_single_digit_change() -> None:
    """Over every single-digit change of 200 matrículas: detected in at least 99.5 % of them."""
    import random
    rng = random.Random(7)
    missed = total = 0
    for _ in range(200):
        first30 = "".join(rng.choice("0123456789") for _ in range(30))
        valid = first30 + matricula_check_digits(first30)
        for i in range(32):
            for d in "0123456789":
                if d != valid[i]:
                    total += 1
                    w = valid[:i] + d + valid[i + 1:]
                    missed += matricula_check_digits(w[:30]) == w[30:]
    assert missed / total < 0.005


@pytest.mark.parametrize(("death", "registered", "due"), [
    (date(2026, 10, 3), date(2026, 10, 5), date(2026, 11, 15)),
    (date(2026, 10, 30), date(2026, 11, 2), date(2026, 12, 15)),  # registered late: the registration's month
    (date(2026, 12, 31), date(2026, 12, 31), date(2027, 1, 15)),
])
def test_due_is_the_15th_after_the_later_of_death_and_registration(death: date, registered: date, due: date) -> None:
    assert due_of(death, registered) == due


def test_lateness_is_counted_never_refused() -> None:
    assert deadline_of(date(2026, 10, 3), date(2026, 10, 5), date(2026, 11, 15)).late is False
    late = deadline_of(date(2026, 10, 3), date(2026, 10, 5), date(2026, 11, 18))
    assert late.late and late.days_late == 3
    assert deadline_of(date(2026, 10, 3), date(2026, 10, 5), date(2026, 11, 18), day=20).late is False


def test_outcome_rules() -> None:
    mine = Earlier("P1", organ_id=7, cns="097543")
    other = Earlier("P2", organ_id=9, cns="555555")
    assert outcome_of(None, None, 7, {"097543"}) == (Outcome.ACEITO, None)
    assert outcome_of(mine, None, 7, {"097543"}) == (Outcome.DUPLICADO, "P1")
    # another registry's record: duplicate, its protocol not revealed
    assert outcome_of(other, None, 7, {"097543"}) == (Outcome.DUPLICADO, None)
    # a CRC answering for the cartório that sent it sees the earlier protocol
    assert outcome_of(Earlier("P3", 1, "097543"), None, 8, {"097543", "123456"}) == (Outcome.DUPLICADO, "P3")
    # the same person and date from another matrícula: stored and linked
    assert outcome_of(None, other, 7, {"097543"}) == (Outcome.VINCULADO, "P2")
    assert outcome_of(mine, other, 7, {"097543"})[0] is Outcome.DUPLICADO  # the matrícula wins


def _rec(**changes: object) -> contract.Registro:
    base = next(synthetic.records(1, ["097543"], "2026-10", seed=3))
    base["matricula"] = synthetic.matricula("097543", int(base["dataRegistro"][:4]), "4", 1, 1, 77)
    base["cpf"] = synthetic.cpf(__import__("random").Random(1))
    base.update({k: v for k, v in changes.items()})
    return contract.registro_of({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(("changes", "code", "field"), [
    ({}, None, None),
    ({"matricula": "0975430155202640000100100000770"}, "INFODIP-E062", "matricula"),
    ({"matricula": synthetic.matricula("097543", 2026, "5", 1, 1, 9)}, "INFODIP-E063", "matricula"),
    ({"matricula": synthetic.matricula("097543", 2026, "1", 1, 1, 9)}, "INFODIP-E064", "matricula"),
    ({"matricula": synthetic.matricula("555555", 2026, "4", 1, 1, 9), "cnsCartorio": "555555"}, "INFODIP-E065",
     "matricula"),
    ({"cnsCartorio": "123456"}, "INFODIP-E074", "cnsCartorio"),
    ({"cpf": "12345678900"}, "INFODIP-E066", "cpf"),
    ({"tituloEleitor": "123456789012"}, "INFODIP-E067", "tituloEleitor"),
    ({"cpf": None, "nomeMae": None}, "INFODIP-E068", "nomeMae"),
    ({"cpf": None, "dataNascimento": None}, "INFODIP-E068", "dataNascimento"),
    ({"dataObito": "2026-13-01"}, "INFODIP-E069", "dataObito"),
    ({"nome": 12}, "INFODIP-E069", "nome"),
    ({"municipioObito": None}, "INFODIP-E069", "municipioObito"),
    ({"municipioObito": "9904557"}, "INFODIP-E072", "municipioObito"),
    ({"dataObito": "2026-12-01", "dataRegistro": "2026-12-01"}, "INFODIP-E070", "dataObito"),
    ({"dataNascimento": "2026-10-30", "dataObito": "2026-10-01", "dataRegistro": "2026-10-02"}, "INFODIP-E070",
     "dataNascimento"),
])
def test_record_rules(changes: dict[str, object], code: str | None, field: str | None) -> None:
    rej = check_record(_rec(**changes), {"097543"}, TODAY)
    assert (rej.code, rej.field) == (code, field) if rej else (code is None and field is None)


def test_payload_is_canonical_and_valid_infodip_kind_vi() -> None:
    r = _rec(nome="Ana & <Maria>", nomePai="José\rSilva".replace("\r", ""))
    payload = contract.communication_payload(r, "OB1-" + r.matricula)
    element = etree.fromstring(payload)
    assert infodip_contract.c14n(element) == payload  # already the exclusive C14N the INFODIP path stores
    comm = infodip_contract.read_communication(element)
    assert comm.kind.value == "VI" and comm.person.cpf == r.cpf and comm.death_registration == r.matricula
    doc = etree.fromstring(
        f'<i:enviarComunicacao xmlns:i="urn:gateway-interop:infodip:1.0">{payload.decode()}</i:enviarComunicacao>'
        .encode())
    assert xml_schema(INFODIP_XSD).validate(doc), xml_schema(INFODIP_XSD).error_log


def test_readers_give_the_same_records_and_digest(tmp_path: Path) -> None:
    recs = list(synthetic.records(120, ["097543", "123456"], "2026-10"))
    j, x = tmp_path / "b.json", tmp_path / "b.xml"
    with open(j, "w") as f:
        synthetic.write_json(f, "L1", "2026-10", iter(recs))
    with open(x, "w") as f:
        synthetic.write_soap(f, "L1", "2026-10", iter(recs))
    jb = contract.JsonBatch(j)
    call = contract.read_call(x)
    xb = contract.XmlBatch(x, call)
    assert call.operation == "enviarLoteObitos" and call.tokens[0].username == "crc-nacional"
    assert jb.header == xb.header == contract.Header("L1", "2026-10")
    assert jb.count() == xb.count() == 120
    a, b = list(jb.records()), list(xb.records())
    assert a == b
    assert contract.chain("s", a) == contract.chain("s", b)
    # the XSD of the contract accepts the generated request's operation
    op = etree.parse(str(x)).getroot()[1][0]
    assert xml_schema(CRC_XSD).validate(op), xml_schema(CRC_XSD).error_log
    assert len(json.loads(j.read_text())["registros"]) == 120


def test_xml_reader_refuses_doctype_and_deep_nesting(tmp_path: Path) -> None:
    p = tmp_path / "evil.xml"
    p.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a/>')
    with pytest.raises(contract.MalformedRequest) as e:
        contract.read_call(p)
    assert e.value.code == "INFODIP-E002"
    p.write_text('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                 '<c:consultarLote xmlns:c="urn:gateway-interop:crc:1.0">' + "<a>" * 40 + "</a>" * 40
                 + "</c:consultarLote></soap:Body></soap:Envelope>")
    with pytest.raises(contract.MalformedRequest) as e:
        contract.read_call(p)
    assert e.value.code == "INFODIP-E005"


def test_json_header_must_come_first(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    p.write_text('{"registros": [], "idLote": "L", "competencia": "2026-10"}')
    with pytest.raises(contract.ValidationFailed) as e:
        contract.JsonBatch(p)
    assert e.value.code == "INFODIP-E076"
    p.write_text('{"idLote": "L", "competencia": "2026-13", "registros": []}')
    with pytest.raises(contract.ValidationFailed) as e:
        contract.JsonBatch(p)
    assert e.value.code == "INFODIP-E071"


# -- hostile JSON and XML (a probe of the sandbox found each of these; the first two killed the process) ----------

_HEAD = '{"idLote": "L1", "competencia": "2026-10", '


def _refused(path: Path) -> str:
    """The code of the error opening and counting the JSON batch *path* (nothing stored: both run before)."""
    with pytest.raises(contract.ClientError) as e:
        contract.JsonBatch(path).count()
    return e.value.code


def test_a_number_of_more_than_4300_digits_is_refused_not_a_crash(tmp_path: Path) -> None:
    """yajl2_c's integer conversion failed without an exception on such a number and the process died (no answer,
    no log line). Read in a child process, so that a regression fails this test instead of killing the suite."""
    import subprocess
    import sys

    for i, body in enumerate(('{"idLote": ' + "9" * 5000 + ', "competencia": "2026-10", "registros": []}',
                              _HEAD + '"registros": [{"nome": ' + "9" * 5000 + "}]}")):
        p = tmp_path / f"n{i}.json"
        p.write_text(body)
        code = ("import sys\nfrom pathlib import Path\nfrom gateway.obitos import contract\n"
                "try:\n    contract.JsonBatch(Path(sys.argv[1])).count()\n"
                "except contract.ClientError as e:\n    print(e.code)\n")
        done = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout.strip()) == (0, "INFODIP-E076"), done.stderr[-2000:]


def test_deep_nesting_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    """100,000 nested arrays (a 200 KB body) took gigabytes in ijson's prefixed events: refused at the 17th level,
    in the records and before them, with INFODIP-E005."""
    p = tmp_path / "deep.json"
    p.write_text(_HEAD + '"registros": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    assert _refused(p) == "INFODIP-E005"
    p.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + ', "idLote": "L1", "competencia": "2026-10", '
                 '"registros": []}')
    assert _refused(p) == "INFODIP-E005"
    p.write_text(_HEAD + '"registros": [{"nome": ' + "[" * 12 + "]" * 12 + "}]}")  # deep, within the bound
    [r] = list(contract.JsonBatch(p).records())
    assert r.bad_field is not None and r.bad_field[0] == "nome"


@pytest.mark.parametrize("registros", ['"registros": {}}', '"registros": "x"}', '"registros": null}',
                                       '"outra": []}', '"registros": [], "registros": [{}]}'])
def test_registros_must_be_one_list(tmp_path: Path, registros: str) -> None:
    """An object, a string, null, no registros, or registros twice: INFODIP-E076, and so the batch id is not spent on
    an empty batch (it was: 200 concluido with total 0, then the real batch under that id was refused E061)."""
    p = tmp_path / "b.json"
    p.write_text(_HEAD + registros)
    assert _refused(p) == "INFODIP-E076"


def test_escapes_of_half_a_surrogate_pair_are_refused(tmp_path: Path) -> None:
    """yajl2_c stored a lone high half as "?" and failed on a lone low half (500): INFODIP-E076. A whole pair, also
    one split across the 1 MiB blocks the check reads, is a character like any other."""
    p = tmp_path / "b.json"
    for lone in ("\\ud800 x", "x \\udfff", "\\uDBFF\\u0041"):
        p.write_text(_HEAD + '"registros": [{"nome": "' + lone + '"}]}')
        assert _refused(p) == "INFODIP-E076", lone
    pair = "\\ud83d\\ude00"
    p.write_text(_HEAD + '"registros": [{"nome": "Ana ' + pair + '"}]}')
    [r] = list(contract.JsonBatch(p).records())
    assert r.nome == "Ana \U0001f600"
    start = _HEAD + '"registros": [{"nome": "'
    pad = (1 << 20) - len(start.encode()) - 6  # the high half ends exactly at the first block's end
    p.write_text(start + "a" * pad + pair + '"}]}')
    assert contract.JsonBatch(p).count() == 1


def test_header_members_must_be_strings_in_ascii_digits(tmp_path: Path) -> None:
    """A competência in other digits (Arabic-Indic "٢٠٢٦-٠٨" was accepted, and the report then listed the month as
    missing) is INFODIP-E071; an idLote that is a number is no idLote (E076)."""
    p = tmp_path / "b.json"
    p.write_text('{"idLote": "L1", "competencia": "٢٠٢٦-٠٨", "registros": []}')
    assert _refused(p) == "INFODIP-E071"
    p.write_text('{"idLote": 123, "competencia": "2026-08", "registros": []}')
    assert _refused(p) == "INFODIP-E076"


def test_a_doctype_is_refused_in_utf16_and_after_a_long_prolog(tmp_path: Path) -> None:
    """The byte check of the first 64 KB saw neither a UTF-16 body nor a DOCTYPE after 64 KB of prolog (a body that
    was then stored): the parser's own view of the document refuses it, INFODIP-E002, in both readers."""
    body = ('<!DOCTYPE e [<!ENTITY x "y">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            '<soap:Body><c:consultarLote xmlns:c="urn:gateway-interop:crc:1.0"><c:idLote>L1</c:idLote>'
            "</c:consultarLote></soap:Body></soap:Envelope>")
    p = tmp_path / "e.xml"
    for data in (('<?xml version="1.0" encoding="UTF-16"?>' + body).encode("utf-16"),
                 b"<?xml version=\"1.0\"?>" + b" " * 70_000 + body.encode()):
        p.write_bytes(data)
        with pytest.raises(contract.MalformedRequest) as e:
            contract.read_call(p)
        assert e.value.code == "INFODIP-E002"
        head = contract.EnvelopeHead()
        with pytest.raises(contract.MalformedRequest) as e:
            for i in range(0, len(data), 8192):
                head.feed(data[i:i + 8192])
            head.end()
        assert e.value.code == "INFODIP-E002"
