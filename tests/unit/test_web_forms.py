"""The web form's fields ↔ the INFODIP contract (gateway/web/forms.py, pure): every kind's sample read into the
fields and built back is the same communication; each XSD or rule error lands on the field it concerns."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.edges.web_form import identifier_verdict
from gateway.errors import ClientError
from gateway.infodip import contract
from gateway.infodip.contract import NS
from gateway.infodip.domain import Kind, check_rules
from gateway.infodip.samples import sample_path
from gateway.web import forms


def _sample(kind: Kind) -> etree._Element:
    comm = etree.parse(str(sample_path(kind))).getroot().find(f".//{{{NS}}}comunicacao")
    assert comm is not None
    return comm


@pytest.mark.parametrize("kind", list(Kind))
def test_fields_round_trip_every_kind(kind: Kind) -> None:
    """Reading a sample into the fields and building it again gives an XSD-valid communication with the same
    person, process, fact date and block as the sample (only the reference differs)."""
    values = forms.fields_of(kind, _sample(kind))
    op = forms.build_operation(contract.ENVIAR, kind=kind, values=values, reference="WEB-TESTE-1")
    contract.validate_operation(op)
    built = contract.read_request(op).communication
    original = contract.read_communication(_sample(kind))
    assert built is not None and built.reference == "WEB-TESTE-1"
    assert (built.kind, built.person, built.process_number, built.fact_date, built.block_fact_date,
            built.improbity_articles, built.suspension) == (
        original.kind, original.person, original.process_number, original.fact_date, original.block_fact_date,
        original.improbity_articles, original.suspension)


@pytest.mark.parametrize("kind", list(Kind))
def test_a_missing_required_field_is_shown_on_that_field(kind: Kind) -> None:
    """Emptying each required field of the kind's own block makes the XSD refuse it (INFODIP-E011), and the
    error is placed on that very field (or, for the fact date, on the one date typed)."""
    required = [f for f in forms.BLOCK_FIELDS[kind] if f.required]
    assert required  # every kind's block has at least its date
    for field in required:
        typed = {**forms.fields_of(kind, _sample(kind)), field.name: ""}
        op = forms.build_operation(contract.ENVIAR, kind=kind, values=typed, reference="WEB-TESTE-2")
        with pytest.raises(ClientError) as refused:
            contract.validate_operation(op)
        assert forms.field_for_error(kind, refused.value.field, refused.value.message) == field.name, (
            field.name, refused.value.field, refused.value.message)


def test_rule_errors_land_on_their_fields() -> None:
    """A CPF with wrong check digits (E030) on the CPF; no person key (E045) on the CPF; masks are removed."""
    values = forms.fields_of(Kind.IV, _sample(Kind.IV))
    values["cabecalho-pessoa-cpf"] = "318.462.957-01"
    comm = contract.read_request(forms.build_operation(contract.ENVIAR, kind=Kind.IV, values=values,
                                                       reference="WEB-3")).communication
    assert comm is not None and comm.person.cpf == "31846295701"
    with pytest.raises(ClientError) as refused:
        check_rules(comm, comm.fact_date)
    assert refused.value.code == "INFODIP-E030"
    assert forms.field_for_error(Kind.IV, refused.value.field) == "cabecalho-pessoa-cpf"
    assert forms.field_for_error(Kind.IV, "comunicacao/cabecalho/pessoa") == "cabecalho-pessoa-cpf"
    assert forms.field_for_error(Kind.IV, "comunicacao/cabecalho/dataFato") == "condenacaoCriminal-dataTransitoJulgado"
    assert forms.field_for_error(Kind.IV, "comunicacao/@tipo") is None


def test_identifier_verdicts_use_intakes_checks() -> None:
    """The as-you-type check answers what intake would: masks allowed, check digits verified."""
    assert identifier_verdict("cpf", "529.982.247-25")["valido"] is True
    assert identifier_verdict("cpf", "529.982.247-24")["valido"] is False
    assert identifier_verdict("processo", "0045218-09.2024.8.19.0001")["valido"] is True
    assert identifier_verdict("protocolo", "20261130-ABCDEF123456")["valido"] is True
    assert identifier_verdict("desconhecido", "1")["valido"] is False
