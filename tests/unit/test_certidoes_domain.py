"""Certificates' pure parts (issue 15 point 2): the verification code (random, unambiguous alphabet, at least 10
characters, typed loosely), the CPF as printed, the statement of a negativa that says its coverage, and the key
loading's refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.certidoes import documents
from gateway.certidoes.domain import (
    ALPHABET,
    CODE_LENGTH,
    Content,
    Conviction,
    ImportedSource,
    display_code,
    mask_cpf,
    new_code,
    normalise_code,
)
from gateway.errors import OperatorError


def test_codes_are_random_unambiguous_and_read_back_loosely() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000 and CODE_LENGTH >= 10
    assert not set(ALPHABET) & set("0O1IL5S2Z8BUV")
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    code = next(iter(codes))
    assert normalise_code(display_code(code).lower()) == code
    assert normalise_code(" " + display_code(code) + " ") == code
    assert normalise_code("0" * CODE_LENGTH) is None and normalise_code(code[:-1]) is None


def test_statement_states_coverage_and_what_a_positiva_lists() -> None:
    at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    negativa = Content("AAAA", "n", "52998224725", "Ana", at, None)
    text = "\n".join(documents.statement(negativa))
    assert "NEGATIVA" in text and "nenhuma comunicação recebida até esta data" in text
    assert "Nenhum histórico anterior foi importado" in text and "pessoas físicas" in text
    positiva = Content("AAAA", "n", "52998224725", "Ana", at, datetime(2020, 9, 1, tzinfo=UTC),
                       (ImportedSource("sei-tse", "3", 1200),),
                       (Conviction("20250101-X", "TJRJ", "00012345620248190001", date(2024, 5, 6), at),))
    text = "\n".join(documents.statement(positiva))
    assert "POSITIVA" in text and "00012345620248190001" in text and "06/05/2024" in text
    assert "sei-tse (lote 3, 1200 comunicações)" in text and "01/09/2020" not in text  # Brasília: 31/08 21:00
    assert mask_cpf("52998224725") == "***.982.247-**"


def test_key_files_refused_when_unreadable_or_of_another_kind(tmp_path: Path) -> None:
    key = documents.generate()
    key.write(tmp_path / "k.pem", tmp_path / "c.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0
    assert documents.SigningKey.load(str(tmp_path / "k.pem"), str(tmp_path / "c.pem")) == key
    with pytest.raises(OperatorError):
        documents.SigningKey.load(str(tmp_path / "nada.pem"), str(tmp_path / "c.pem"))
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "ed.pem").write_bytes(other)
    with pytest.raises(OperatorError):
        documents.SigningKey.load(str(tmp_path / "ed.pem"), str(tmp_path / "c.pem"))
