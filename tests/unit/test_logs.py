"""Structured logs: one JSON object per line, ids kept, personal data masked."""

from __future__ import annotations

import json
import logging

from gateway.logs import JsonFormatter, mask


def test_cpf_like_numbers_are_masked() -> None:
    """CPFs, masked or not, keep only their last two digits; other numbers are untouched."""
    assert mask("cpf 52998224725 e 529.982.247-25") == "cpf ***.***.***-25 e ***.***.***-25"
    assert mask("protocolo 20261121-ABC e processo 00452180920248190001") == \
        "protocolo 20261121-ABC e processo 00452180920248190001"


def test_json_line_keeps_ids_and_hides_personal_fields() -> None:
    """Extra fields such as message_id travel as JSON keys; fields named like personal data are replaced."""
    record = logging.LogRecord("gateway.test", logging.INFO, __file__, 1, "aceita para %s", ("52998224725",), None)
    record.message_id = "4a1e…"
    record.nome = "Maria da Silva"
    record.cpf = "52998224725"
    line = json.loads(JsonFormatter().format(record))
    assert line["message_id"] == "4a1e…" and line["level"] == "INFO" and line["logger"] == "gateway.test"
    assert line["nome"] == "***" and line["cpf"] == "***"
    assert "52998224725" not in json.dumps(line) and line["msg"].endswith("***.***.***-25")
