"""The REST scopes an organ may be granted (DESIGN.md "REST conventions"), and the sandbox's demo grants
(:mod:`gateway.demo_grants` gives them).

Deny by default: an organ holds no scope until ``gateway organ grant ORGAN SCOPE…`` gives it one; a bearer token
(``POST /oauth/token``) carries a subset of its organ's grants, and loses a scope as soon as the grant is revoked
(within the revocation bound, :mod:`gateway.auth_state`).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import OperatorError
from gateway.organs import OrganType

#: Every scope, with what it allows (Portuguese, shown in ``/docs`` and by ``gateway organ list``).
SCOPES: dict[str, str] = {
    "divida:ler": "consultar dívidas e devedores (PGFN/PGF)",
    "execucao-fiscal:ajuizar": "ajuizar execuções fiscais com CDAs estruturadas",
    "intimacoes:ler": "ler as intimações dos tribunais",
    "direitos-politicos:consultar": "consultar a situação de direitos políticos de uma pessoa",
    "obitos:enviar": "enviar lotes de óbitos",
    "relatorios:ler": "ler relatórios e estatísticas",
    "feed:ler": "ler o feed de alterações (repositórios TSE e CNJ: o que a tabela de roteamento lhes dá)",
    "operador": "operar o gateway (entregas mortas, credenciais, órgãos)",
}

#: What the sandbox gives its demo organs: the tribunal reads debts and political rights, the procuradorias file
#: execuções fiscais and read intimations, the registries send deaths, the operations organ operates and reads
#: reports. Organs not listed (court units, the presidency) hold none.
DEMO_GRANTS: dict[str, tuple[str, ...]] = {
    "TJRJ": ("divida:ler", "direitos-politicos:consultar"),
    "PGFN": ("execucao-fiscal:ajuizar", "intimacoes:ler"),
    "PGF": ("execucao-fiscal:ajuizar", "intimacoes:ler"),
    "RCPN-097543": ("obitos:enviar",),
    "CRC": ("obitos:enviar",),
    "OPERACAO": ("operador", "relatorios:ler"),
    "TSE": ("feed:ler",),
    "CNJ": ("feed:ler",),
}

#: The sandbox's operations organ and its credential (code, name, type, username).
OPERATIONS_ORGAN = ("OPERACAO", "Operação do gateway (equipe de TI)", OrganType.OPERADOR, "operacao-gateway")


def scopes_of(values: Iterable[str]) -> tuple[str, ...]:
    """*values* checked against :data:`SCOPES`, without repetitions, in the catalogue's order. Errors:
    OperatorError (GATEWAY-E002) naming the unknown scope and the valid ones."""
    wanted = set()
    for value in values:
        scope = value.strip()
        if scope not in SCOPES:
            raise OperatorError(f"escopo desconhecido: {scope!r} (use {', '.join(SCOPES)})", field="scope")
        wanted.add(scope)
    return tuple(s for s in SCOPES if s in wanted)
