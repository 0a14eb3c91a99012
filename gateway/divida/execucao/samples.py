"""Synthetic, valid execução fiscal requests (the sandbox's ``samples.execucao_fiscal``, the tests, the benchmark):
CDAs with every requisite, valid identifiers, a PDF signed with a detached PKCS#7 by *signatario*. Fictional data."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from fpdf import FPDF

from gateway.divida.execucao.documents import Signatario
from gateway.identifiers import cnpj_check_digits, cpf_check_digits, inscricao_pgf_check_digit, is_valid_inscricao_pgfn

#: demo municipalities per TRF (IBGE, UF), all in the packaged localidades table
MUNICIPIOS = {"4.01": ("5300108", "DF"), "4.02": ("3304557", "RJ"), "4.03": ("3550308", "SP"),
              "4.04": ("4314902", "RS"), "4.05": ("2611606", "PE"), "4.06": ("3106200", "MG")}
#: a PGF creditor: an autarchy (fictional data of a real kind: INSS)
INSS = {"nome": "INSTITUTO NACIONAL DO SEGURO SOCIAL - INSS", "cnpj": "29979036000140"}


def inscricao_pgfn(n: int) -> str:
    """The *n*-th valid PGFN (SIDA) inscription number of the sandbox (13 digits)."""
    base = f"7061{n:07d}"
    return next(base + f"{dv:02d}" for dv in range(100) if is_valid_inscricao_pgfn(base + f"{dv:02d}"))


def inscricao_pgf(n: int) -> str:
    """The *n*-th valid PGF inscription number (15 digits, creditor 201)."""
    base = f"2012026{n:07d}"
    return base + inscricao_pgf_check_digit(base)


def cnpj(n: int) -> str:
    """The *n*-th valid CNPJ of fictional debtors."""
    base = f"{(n % 10**8) + 10**7:08d}0001"
    return base + cnpj_check_digits(base)


def cpf(n: int) -> str:
    """The *n*-th valid CPF of fictional co-responsible parties."""
    base = f"{(n % 10**8) + 3 * 10**8:09d}"
    return base + cpf_check_digits(base)


def cda_pdf(numero: str, devedor: str, valor: str) -> bytes:
    """A one-page CDA PDF (fpdf2)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(pdf.epw, 6, f"CERTIDAO DE DIVIDA ATIVA no {numero}\nDevedor: {devedor}\nValor: R$ {valor}\n"
                               "Documento ficticio do sandbox do gateway.")
    return bytes(pdf.output())


def cda(signatario: Signatario, numero: str, devedor_doc: str, ibge: str, uf: str, valor: str = "15000.00",
        signed: bool = True) -> dict[str, Any]:
    """One CDA of the request shape (:mod:`gateway.divida.execucao.contract`)."""
    pdf = cda_pdf(numero, devedor_doc, valor)
    documento = {"pdf": base64.b64encode(pdf).decode()}
    if signed:
        documento["assinatura"] = base64.b64encode(signatario.sign(pdf)).decode()
    return {
        "numeroInscricao": numero, "dataInscricao": "2025-03-10",
        "processoAdministrativo": f"10880.{numero[-6:]}/2024-11",
        "devedor": {"nome": f"EMPRESA FICTÍCIA {devedor_doc[:4]} LTDA", "cpfCnpj": devedor_doc,
                    "endereco": {"logradouro": "Rua Exemplo, 100", "municipioIbge": ibge, "uf": uf, "cep": "30130000"}},
        "corresponsaveis": [],
        "valorPrincipal": f"{float(valor) * 0.6:.2f}", "dataInicioJuros": "2024-05-01",
        "formaCalculoJuros": "Taxa SELIC acumulada (Lei 9.430/1996 art. 61 §3º) e encargo legal (DL 1.025/1969)",
        "origem": "Declaração de débitos (DCTF)", "natureza": "Tributária - IRPJ",
        "fundamentoLegal": "Lei 9.430/1996; CTN art. 201", "baseCorrecaoMonetaria": "Taxa SELIC",
        "valorAtualizado": valor, "dataValorAtualizado": date.today().isoformat(),
        "conciliacao": {"tipo": "transacao", "data": "2025-01-15"},
        "protesto": {"tipo": "protesto", "data": "2025-02-20"},
        "documento": documento}


def request(signatario: Signatario, referencia: str, n: int = 1, jtr: str = "4.06", procuradoria: str = "PGFN",
            cdas: int = 1, valor: str = "15000.00") -> dict[str, Any]:
    """A whole request: *cdas* CDAs of debtor number *n* domiciled in *jtr*'s demo municipality."""
    ibge, uf = MUNICIPIOS[jtr]
    doc = cnpj(n)
    number = inscricao_pgfn if procuradoria == "PGFN" else inscricao_pgf
    body: dict[str, Any] = {"referencia": referencia,
                            "cdas": [cda(signatario, number(n * 10 + i), doc, ibge, uf, valor) for i in range(cdas)]}
    if procuradoria == "PGF":
        body["credor"] = dict(INSS)
    return body
