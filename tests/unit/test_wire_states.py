"""Internal states never reach the wire (issue 9, point 3): every state the storage declares has a word in the
INFODIP contract's vocabulary, the one mapping the SOAP and REST answers use, and a state without one is a bug
(KeyError → INFODIP-E090), never a value the XSD does not allow."""

from __future__ import annotations

import pytest

from gateway.db.tables import COMMUNICATION_STATES, OUTBOX_STATES
from gateway.infodip.contract import communication_situacao, delivery_situacao
from tests.saf_support import enumeration


def test_every_outbox_state_maps_onto_tipo_situacao_entrega() -> None:
    """Each outbox state — ``sending`` (under a relay's lease) included — is a ``tipoSituacaoEntrega`` value, and
    ``sending`` reads ``pendente``: the destination has not confirmed it yet."""
    allowed = enumeration("tipoSituacaoEntrega")
    assert {s: delivery_situacao(s) for s in OUTBOX_STATES} == {
        "pending": "pendente", "blocked": "bloqueada", "sending": "pendente", "delivered": "entregue",
        "failed": "falha", "dead": "morta"}
    assert {delivery_situacao(s) for s in OUTBOX_STATES} == allowed


def test_every_communication_state_maps_onto_tipo_situacao_comunicacao() -> None:
    """Each communication state is a ``tipoSituacaoComunicacao`` value."""
    assert {communication_situacao(s) for s in COMMUNICATION_STATES} == enumeration("tipoSituacaoComunicacao")


@pytest.mark.parametrize("mapping", [delivery_situacao, communication_situacao])
def test_a_state_without_a_word_in_the_contract_is_never_passed_through(mapping: object) -> None:
    """An unknown state raises instead of leaking onto the wire as is."""
    with pytest.raises(KeyError):
        mapping("leased")  # type: ignore[operator]
