"""Reference tables of the synthetic debts (``mocks.divida_data``): names, places, revenues, situations, creditors.

Everything here is fictional or public reference: names are common Brazilian given names and surnames combined at
random; revenues and legal bases are the public ones of each kind of credit; situation descriptions follow the
wording of PGFN's open data (``SITUACAO_INSCRICAO``, ``TIPO_SITUACAO_INSCRICAO``); the numeric situation codes,
unit codes and creditor codes are the simulators' own (the real tables are not public).
"""

from __future__ import annotations

from dataclasses import dataclass

GIVEN_NAMES = (
    "ANA", "MARIA", "JOSE", "JOAO", "ANTONIO", "FRANCISCO", "CARLOS", "PAULO", "PEDRO", "LUCAS", "LUIZ", "MARCOS",
    "LUIS", "GABRIEL", "RAFAEL", "DANIEL", "MARCELO", "BRUNO", "EDUARDO", "FELIPE", "RAIMUNDO", "RODRIGO", "MANOEL",
    "FRANCISCA", "ANTONIA", "ADRIANA", "JULIANA", "MARCIA", "FERNANDA", "PATRICIA", "ALINE", "SANDRA", "CAMILA",
    "AMANDA", "BRUNA", "JESSICA", "LETICIA", "JULIA", "LUCIANA", "VANESSA", "MARIANA", "GABRIELA", "VERA", "TEREZINHA",
    "BEATRIZ", "HELENA", "RENATA", "SIMONE", "CLAUDIA", "ROBERTO", "SERGIO", "FABIO", "RICARDO", "THIAGO", "VITOR",
)
SURNAMES = (
    "SILVA", "SANTOS", "OLIVEIRA", "SOUZA", "RODRIGUES", "FERREIRA", "ALVES", "PEREIRA", "LIMA", "GOMES", "COSTA",
    "RIBEIRO", "MARTINS", "CARVALHO", "ALMEIDA", "LOPES", "SOARES", "FERNANDES", "VIEIRA", "BARBOSA", "ROCHA", "DIAS",
    "NASCIMENTO", "ANDRADE", "MOREIRA", "NUNES", "MARQUES", "MACHADO", "MENDES", "FREITAS", "CARDOSO", "RAMOS",
    "GONCALVES", "SANTANA", "TEIXEIRA", "ARAUJO", "PINTO", "CAVALCANTI", "MONTEIRO", "MOURA", "CORREIA", "BATISTA",
)
BUSINESS_WORDS = (
    "COMERCIO DE ALIMENTOS", "TRANSPORTES", "CONSTRUTORA", "INDUSTRIA METALURGICA", "AGROPECUARIA", "DISTRIBUIDORA",
    "SERVICOS MEDICOS", "TECNOLOGIA", "MATERIAIS DE CONSTRUCAO", "AUTO PECAS", "CONFECCOES", "LOGISTICA",
    "MINERACAO", "ENGENHARIA", "COMBUSTIVEIS", "HOTELARIA", "EDITORA", "LABORATORIO", "MOVEIS", "TEXTIL",
)
LEGAL_FORMS = ("LTDA", "LTDA", "LTDA", "S.A.", "EIRELI", "ME", "EPP")

# UF → (municipalities, Justiça Federal region before 2022, region from 2022 on, origin codes of federal units)
UFS: dict[str, tuple[tuple[str, ...], int, int, tuple[int, ...]]] = {
    "AC": (("RIO BRANCO", "CRUZEIRO DO SUL"), 1, 1, (3000, 3001)),
    "AL": (("MACEIO", "ARAPIRACA"), 5, 5, (8000, 8001)),
    "AM": (("MANAUS", "TABATINGA"), 1, 1, (3200, 3201)),
    "AP": (("MACAPA", "OIAPOQUE"), 1, 1, (3100, 3101)),
    "BA": (("SALVADOR", "FEIRA DE SANTANA", "VITORIA DA CONQUISTA"), 1, 1, (3300, 3304, 3307)),
    "CE": (("FORTALEZA", "JUAZEIRO DO NORTE"), 5, 5, (8100, 8102)),
    "DF": (("BRASILIA",), 1, 1, (3400,)),
    "ES": (("VITORIA", "SERRA", "CACHOEIRO DE ITAPEMIRIM"), 2, 2, (5001, 5002, 5003)),
    "GO": (("GOIANIA", "ANAPOLIS"), 1, 1, (3500, 3502)),
    "MA": (("SAO LUIS", "IMPERATRIZ"), 1, 1, (3700, 3701)),
    "MG": (("BELO HORIZONTE", "UBERLANDIA", "JUIZ DE FORA", "MONTES CLAROS"), 1, 6, (3800, 3803, 3801, 3807)),
    "MS": (("CAMPO GRANDE", "DOURADOS"), 3, 3, (6000, 6002)),
    "MT": (("CUIABA", "RONDONOPOLIS"), 1, 1, (3600, 3602)),
    "PA": (("BELEM", "SANTAREM", "MARABA"), 1, 1, (3900, 3902, 3901)),
    "PB": (("JOAO PESSOA", "CAMPINA GRANDE"), 5, 5, (8200, 8201)),
    "PE": (("RECIFE", "CARUARU", "PETROLINA"), 5, 5, (8300, 8302, 8308)),
    "PI": (("TERESINA", "PARNAIBA"), 1, 1, (4000, 4002)),
    "PR": (("CURITIBA", "LONDRINA", "MARINGA", "CASCAVEL"), 4, 4, (7000, 7001, 7003, 7005)),
    "RJ": (("RIO DE JANEIRO", "NITEROI", "DUQUE DE CAXIAS", "CAMPOS DOS GOYTACAZES"), 2, 2, (5101, 5102, 5118, 5103)),
    "RN": (("NATAL", "MOSSORO"), 5, 5, (8400, 8401)),
    "RO": (("PORTO VELHO", "JI-PARANA"), 1, 1, (4100, 4101)),
    "RR": (("BOA VISTA",), 1, 1, (4200,)),
    "RS": (("PORTO ALEGRE", "CAXIAS DO SUL", "PELOTAS", "SANTA MARIA"), 4, 4, (7100, 7107, 7110, 7102)),
    "SC": (("FLORIANOPOLIS", "JOINVILLE", "BLUMENAU", "CHAPECO"), 4, 4, (7200, 7201, 7205, 7202)),
    "SE": (("ARACAJU", "ITABAIANA"), 5, 5, (8500, 8501)),
    "SP": (("SAO PAULO", "CAMPINAS", "SANTOS", "RIBEIRAO PRETO", "SOROCABA"), 3, 3, (6100, 6105, 6104, 6102, 6110)),
    "TO": (("PALMAS", "ARAGUAINA"), 1, 1, (4300, 4301)),
}
UF_WEIGHTS = {"SP": 22, "MG": 10, "RJ": 9, "RS": 6, "PR": 6, "BA": 6, "SC": 4, "PE": 4, "GO": 3, "CE": 4, "PA": 3,
              "DF": 2, "ES": 2, "AM": 2, "MA": 2, "MT": 2, "MS": 1, "PB": 1, "RN": 1, "AL": 1, "PI": 1, "SE": 1,
              "RO": 1, "TO": 1, "AC": 1, "AP": 1, "RR": 1}


@dataclass(frozen=True)
class Receita:
    """A kind of credit: revenue code and name, nature, legal basis, and who owes it (``PF``, ``PJ`` or both)."""

    codigo: str
    nome: str
    natureza: str  # TRIBUTARIA | NAO TRIBUTARIA
    fundamento: str
    pessoas: str  # "PF", "PJ" or "PF PJ"
    sida_tipo: int = 6  # the T digit of a SIDA number (PGFN only)


# PGFN (SIDA). The T digit groups the revenue as on public CDAs (80.1 IRPF, 80.2 IRPJ, 80.3 IPI, 80.4 Simples,
# 80.5 não tributária, 80.6 other taxes, 80.7 PIS) — modelled on them, not an official table.
RECEITAS_PGFN = (
    Receita("2904", "IRPF - IMPOSTO DE RENDA PESSOA FISICA", "TRIBUTARIA", "Lei 9.250/1995; Decreto 9.580/2018",
            "PF", 1),
    Receita("2917", "IRPJ - IMPOSTO DE RENDA PESSOA JURIDICA", "TRIBUTARIA", "Lei 9.430/1996; Decreto 9.580/2018",
            "PJ", 2),
    Receita("1097", "IPI - IMPOSTO SOBRE PRODUTOS INDUSTRIALIZADOS", "TRIBUTARIA", "Decreto 7.212/2010", "PJ", 3),
    Receita("4714", "SIMPLES NACIONAL", "TRIBUTARIA", "Lei Complementar 123/2006", "PJ", 4),
    Receita("3551", "MULTA ELEITORAL", "NAO TRIBUTARIA", "Lei 4.737/1965 (Código Eleitoral), art. 367", "PF", 5),
    Receita("4811", "MULTA TRABALHISTA - CLT", "NAO TRIBUTARIA", "Decreto-Lei 5.452/1943 (CLT), art. 642", "PJ", 5),
    Receita("3880", "TAXA DE OCUPACAO - TERRENO DA UNIAO", "NAO TRIBUTARIA", "Decreto-Lei 9.760/1946, art. 127",
            "PF PJ", 5),
    Receita("3820", "COFINS", "TRIBUTARIA", "Lei Complementar 70/1991; Lei 10.833/2003", "PJ", 6),
    Receita("3773", "CSLL - CONTRIBUICAO SOCIAL SOBRE O LUCRO LIQUIDO", "TRIBUTARIA", "Lei 7.689/1988", "PJ", 6),
    Receita("3710", "ITR - IMPOSTO TERRITORIAL RURAL", "TRIBUTARIA", "Lei 9.393/1996", "PF PJ", 6),
    Receita("3836", "PIS - PROGRAMA DE INTEGRACAO SOCIAL", "TRIBUTARIA", "Lei Complementar 7/1970; Lei 10.637/2002",
            "PJ", 7),
)


@dataclass(frozen=True)
class Credor:
    """A federal autarchy or foundation whose credits PGF inscribes (Lei 10.480/2002, art. 10)."""

    codigo: int  # the CCC of the PGF inscription number (our table)
    sigla: str
    nome: str
    cnpj: str
    receitas: tuple[Receita, ...]


def _r(codigo: str, nome: str, natureza: str, fundamento: str, pessoas: str = "PF PJ") -> Receita:
    return Receita(codigo, nome, natureza, fundamento, pessoas)


_MULTA_AMBIENTAL = _r("M-AMB", "MULTA POR INFRACAO AMBIENTAL", "NAO TRIBUTARIA",
                      "Lei 9.605/1998, art. 70 e 72; Decreto 6.514/2008")
CREDORES = (
    Credor(101, "INSS", "INSTITUTO NACIONAL DO SEGURO SOCIAL", "29979036000140", (
        _r("B-IND", "RESSARCIMENTO DE BENEFICIO PAGO INDEVIDAMENTE", "NAO TRIBUTARIA",
           "Lei 8.213/1991, art. 115, §3º", "PF"),)),
    Credor(201, "IBAMA", "INSTITUTO BRASILEIRO DO MEIO AMBIENTE E DOS RECURSOS NATURAIS RENOVAVEIS",
           "03659166000102", (_MULTA_AMBIENTAL, _r("TCFA", "TAXA DE CONTROLE E FISCALIZACAO AMBIENTAL", "TRIBUTARIA",
                                                   "Lei 6.938/1981, art. 17-B", "PJ"))),
    Credor(202, "ICMBIO", "INSTITUTO CHICO MENDES DE CONSERVACAO DA BIODIVERSIDADE", "08829974000194",
           (_MULTA_AMBIENTAL,)),
    Credor(301, "ANTT", "AGENCIA NACIONAL DE TRANSPORTES TERRESTRES", "04898488000177", (
        _r("M-TT", "MULTA ADMINISTRATIVA - TRANSPORTE TERRESTRE", "NAO TRIBUTARIA", "Lei 10.233/2001, art. 78-A"),)),
    Credor(302, "DNIT", "DEPARTAMENTO NACIONAL DE INFRAESTRUTURA DE TRANSPORTES", "04892707000100", (
        _r("M-PESO", "MULTA DE TRANSITO - EXCESSO DE PESO", "NAO TRIBUTARIA", "Lei 9.503/1997 (CTB), art. 231, V"),)),
    Credor(401, "ANATEL", "AGENCIA NACIONAL DE TELECOMUNICACOES", "02030715000112", (
        _r("M-TEL", "MULTA POR INFRACAO - TELECOMUNICACOES", "NAO TRIBUTARIA", "Lei 9.472/1997, art. 173", "PJ"),
        _r("TFF", "TAXA DE FISCALIZACAO DE FUNCIONAMENTO (FISTEL)", "TRIBUTARIA", "Lei 5.070/1966", "PJ"))),
    Credor(501, "ANVISA", "AGENCIA NACIONAL DE VIGILANCIA SANITARIA", "03112386000111", (
        _r("TFVS", "TAXA DE FISCALIZACAO DE VIGILANCIA SANITARIA", "TRIBUTARIA", "Lei 9.782/1999, art. 23", "PJ"),
        _r("M-SAN", "MULTA POR INFRACAO SANITARIA", "NAO TRIBUTARIA", "Lei 6.437/1977", "PJ"))),
    Credor(502, "ANS", "AGENCIA NACIONAL DE SAUDE SUPLEMENTAR", "03589068000146", (
        _r("R-SUS", "RESSARCIMENTO AO SUS", "NAO TRIBUTARIA", "Lei 9.656/1998, art. 32", "PJ"),)),
    Credor(601, "ANP", "AGENCIA NACIONAL DO PETROLEO, GAS NATURAL E BIOCOMBUSTIVEIS", "02313673000127", (
        _r("M-ANP", "MULTA POR INFRACAO - ABASTECIMENTO", "NAO TRIBUTARIA", "Lei 9.847/1999, art. 3º", "PJ"),)),
    Credor(602, "ANEEL", "AGENCIA NACIONAL DE ENERGIA ELETRICA", "02270669000129", (
        _r("M-EE", "MULTA POR INFRACAO - SETOR ELETRICO", "NAO TRIBUTARIA", "Lei 9.427/1996, art. 3º, X", "PJ"),)),
    Credor(701, "INMETRO", "INSTITUTO NACIONAL DE METROLOGIA, QUALIDADE E TECNOLOGIA", "00662270000168", (
        _r("M-MET", "MULTA POR INFRACAO METROLOGICA", "NAO TRIBUTARIA", "Lei 9.933/1999, art. 8º e 9º", "PJ"),)),
    Credor(702, "CADE", "CONSELHO ADMINISTRATIVO DE DEFESA ECONOMICA", "00418993000116", (
        _r("M-CADE", "MULTA POR INFRACAO DA ORDEM ECONOMICA", "NAO TRIBUTARIA", "Lei 12.529/2011, art. 37", "PJ"),)),
    Credor(703, "CVM", "COMISSAO DE VALORES MOBILIARIOS", "29507878000108", (
        _r("TFCVM", "TAXA DE FISCALIZACAO DO MERCADO DE VALORES MOBILIARIOS", "TRIBUTARIA", "Lei 7.940/1989", "PJ"),)),
)
CREDORES_POR_CODIGO = {c.codigo: c for c in CREDORES}


@dataclass(frozen=True)
class Situacao:
    """A situation of an inscription: our key, a code, its description and group, and what it implies."""

    chave: str  # em_cobranca, ajuizada, parcelada, suspensa_decisao_judicial, garantida, extinta… (PGF uses it)
    codigo: str  # simulator's code (SERPRO's situacaoInscricao)
    descricao: str  # as PGFN's open data words it (SITUACAO_INSCRICAO)
    tipo: str  # TIPO_SITUACAO_INSCRICAO
    ajuizada: bool
    ativa: bool
    peso: int  # relative frequency in the generated data


SITUACOES = (
    Situacao("em_cobranca", "101", "ATIVA EM COBRANCA", "Em cobrança", False, True, 20),
    Situacao("a_ser_ajuizada", "102", "ATIVA A SER AJUIZADA", "Em cobrança", False, True, 6),
    Situacao("ajuizada", "103", "ATIVA AJUIZADA", "Em cobrança", True, True, 18),
    Situacao("parcelada", "201", "ATIVA EM COBRANCA - PARCELAMENTO", "Em negociação", False, True, 8),
    Situacao("parcelada_ajuizada", "202", "ATIVA AJUIZADA - PARCELAMENTO", "Em negociação", True, True, 5),
    Situacao("transacao", "203", "ATIVA EM COBRANCA - TRANSACAO", "Em negociação", False, True, 4),
    Situacao("beneficio_fiscal", "301", "ATIVA - BENEFICIO FISCAL", "Benefício fiscal", False, True, 2),
    Situacao("suspensa_decisao_judicial", "401", "ATIVA - SUSPENSA POR DECISAO JUDICIAL",
             "Suspenso por decisão judicial", False, True, 4),
    Situacao("suspensa_decisao_judicial_ajuizada", "402", "ATIVA AJUIZADA - SUSPENSA POR DECISAO JUDICIAL",
             "Suspenso por decisão judicial", True, True, 3),
    Situacao("garantida_penhora", "501", "ATIVA AJUIZADA - GARANTIA - PENHORA", "Garantia", True, True, 4),
    Situacao("garantida_seguro", "502", "ATIVA AJUIZADA - GARANTIA - SEGURO GARANTIA", "Garantia", True, True, 2),
    Situacao("garantida_deposito", "503", "ATIVA AJUIZADA - GARANTIA - DEPOSITO JUDICIAL", "Garantia", True, True, 2),
    Situacao("extinta_pagamento", "901", "EXTINTA POR PAGAMENTO", "Extinta", False, False, 6),
    Situacao("extinta_cancelamento", "902", "EXTINTA - CANCELAMENTO", "Extinta", False, False, 2),
    Situacao("extinta_prescricao", "903", "EXTINTA - PRESCRICAO", "Extinta", False, False, 1),
    Situacao("extinta_ajuizada", "904", "EXTINTA POR PAGAMENTO - AJUIZADA", "Extinta", True, False, 2),
)
SITUACOES_POR_CHAVE = {s.chave: s for s in SITUACOES}

# PGFN units by region of the Procuradoria-Regional (PRFN 1ª–6ª); a unit per UF, named as PGFN names them.
PRFN_DA_UF = {"DF": 1, "GO": 1, "MT": 1, "TO": 1, "AC": 1, "AM": 1, "AP": 1, "BA": 1, "MA": 1, "PA": 1, "PI": 1,
              "RO": 1, "RR": 1, "RJ": 2, "ES": 2, "SP": 3, "MS": 3, "RS": 4, "PR": 4, "SC": 4, "PE": 5, "AL": 5,
              "CE": 5, "PB": 5, "RN": 5, "SE": 5, "MG": 6}
SEDE_PRFN = {1: "DF", 2: "RJ", 3: "SP", 4: "RS", 5: "PE", 6: "MG"}
