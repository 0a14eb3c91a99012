"""Handlers of the administration commands (``gateway organ …``, ``gateway credential …``, ``gateway mni
credential``, ``gateway keys …``): rows of :data:`gateway.cli.COMMANDS`.

Thin: each parses its arguments and calls one method of :class:`gateway.admin.AdminService` (or
:mod:`gateway.keys`) as the operator named by ``--operador`` — by default the OS user —, who is recorded in the audit
entry of every change. A generated password is printed once and never stored in clear.
"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING

from gateway import keys
from gateway.admin import Actor
from gateway.organs import OrganType
from gateway.settings import SettingsError

if TYPE_CHECKING:
    from gateway.bootstrap import Console


def actor(args: argparse.Namespace) -> Actor:
    """The operator of this command: ``--operador``, else the OS user."""
    return Actor.os_user(getattr(args, "operador", None))


def cmd_organ_add(args: argparse.Namespace, con: Console) -> int:
    """Register an organ."""
    kinds = args.kinds.split(",") if args.kinds is not None else None
    con.admin.add_organ(args.code, args.name, OrganType(args.type), kinds=kinds, cns=args.cns, actor=actor(args))
    print(f"órgão {args.code} cadastrado")
    return 0


def cmd_organ_list(_args: argparse.Namespace, con: Console) -> int:
    """Every organ: code, type, state, credentials, grants."""
    rows = con.admin.organs()
    print(f"{'órgão':<14} {'tipo':<15} {'situação':<10} {'credenciais':>11}  permissões")
    for o in rows:
        print(f"{o.code:<14} {o.organ_type:<15} {'ativo' if o.active else 'desativado':<10} {o.credentials:>11}  "
              + (" ".join(o.grants) or "-"))
    print(f"{len(rows)} órgão(s)")
    return 0


def cmd_organ_disable(args: argparse.Namespace, con: Console) -> int:
    """Disable an organ: its credentials and tokens stop working."""
    con.admin.set_organ_active(args.code, False, actor=actor(args))
    print(f"órgão {args.code} desativado: suas credenciais e tokens deixam de valer")
    return 0


def cmd_organ_enable(args: argparse.Namespace, con: Console) -> int:
    """Enable a disabled organ again."""
    con.admin.set_organ_active(args.code, True, actor=actor(args))
    print(f"órgão {args.code} reativado")
    return 0


def cmd_organ_grant(args: argparse.Namespace, con: Console) -> int:
    """Give scopes to an organ."""
    added = con.admin.grant(args.organ, args.scopes, actor=actor(args))
    print(f"{args.organ}: concedido(s) {' '.join(added) or 'nada (já tinha todos)'}")
    return 0


def cmd_organ_revoke(args: argparse.Namespace, con: Console) -> int:
    """Take scopes from an organ."""
    removed = con.admin.revoke_grants(args.organ, args.scopes, actor=actor(args))
    print(f"{args.organ}: revogado(s) {' '.join(removed) or 'nada (não tinha nenhum)'}")
    return 0


def _password_line(args: argparse.Namespace, password: str) -> str:
    return "" if args.password else f"; senha: {password}"


def cmd_credential_create(args: argparse.Namespace, con: Console) -> int:
    """Create a credential (a generated password is printed once)."""
    password = con.admin.create_credential(args.username, args.organ, args.password, actor=actor(args))
    print(f"credencial {args.username} do órgão {args.organ} criada" + _password_line(args, password))
    return 0


def cmd_credential_rotate(args: argparse.Namespace, con: Console) -> int:
    """Give a credential a new password: the old one stops working."""
    password = con.admin.rotate_credential(args.username, args.password, actor=actor(args))
    print(f"credencial {args.username}: senha trocada, a anterior deixou de valer" + _password_line(args, password))
    return 0


def cmd_credential_revoke(args: argparse.Namespace, con: Console) -> int:
    """Revoke a credential: its password and tokens stop working."""
    con.admin.revoke_credential(args.username, actor=actor(args))
    print(f"credencial {args.username} revogada")
    return 0


def cmd_credential_list(args: argparse.Namespace, con: Console) -> int:
    """Every credential (of one organ with ``--organ``)."""
    rows = con.admin.credentials(args.organ)
    print(f"{'usuário':<24} {'órgão':<14} {'situação':<9} {'versão':>6}  criada em")
    for c in rows:
        print(f"{c.username:<24} {c.organ:<14} {'ativa' if c.active else 'revogada':<9} {c.version:>6}  "
              f"{c.created_at:%Y-%m-%d %H:%M}")
    print(f"{len(rows)} credencial(is)")
    return 0


def cmd_credential_set(args: argparse.Namespace, con: Console) -> int:
    """Create a credential or replace its password (moving it to another organ only with ``--mover``)."""
    password = con.admin.set_credential(args.username, args.organ, args.password, move=args.mover,
                                        actor=actor(args))
    print(f"credencial {args.username} do órgão {args.organ}" + _password_line(args, password))
    return 0


def cmd_mni_credential(args: argparse.Namespace, con: Console) -> int:
    """Store (encrypted) the credential of a hub client towards one tribunal installation."""
    password = args.password or getpass.getpass("senha no tribunal: ")
    con.admin.set_tribunal_credential(args.organ, args.tribunal, args.instance, args.username, password,
                                      actor=actor(args))
    print(f"credencial de {args.organ} para {args.tribunal}/{args.instance} guardada (cifrada)")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, con: Console) -> int:
    """Re-encrypt every stored MNI credential under the current key (the previous keys still read them)."""
    store = keys.credential_store(con.settings)
    if store is None:
        raise SettingsError("defina GATEWAY_MNI_CREDENTIALS_KEY (a chave nova) para recifrar as credenciais MNI")
    who = actor(args)
    count = con.admin.run(keys.rotate_job(store, who.name, who.channel))
    print(f"{count} credencial(is) MNI recifrada(s) com a chave atual; GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS já pode "
          "ser removida quando todas as réplicas usarem a chave nova")
    return 0


def cmd_keys_generate(_args: argparse.Namespace, _con: Console) -> int:
    """Print a new Fernet key (for GATEWAY_MNI_CREDENTIALS_KEY)."""
    print(keys.generate())
    return 0


def scopes_help() -> str:
    """The valid scopes, for the commands' help."""
    from gateway.grants import SCOPES

    return "escopos: " + ", ".join(SCOPES)



# -- issue 16 (h16): people of the web form and the console (gateway user …) ----------------------------------------

def cmd_user_create(args: argparse.Namespace, con: Console) -> int:
    """Create a person who signs in to /web/ (remetente) or /console/ (operador); a generated password is printed
    once."""
    password = con.people.create(args.cpf, args.nome, args.email, args.orgao, args.papel, admin=args.administrador,
                                 password=args.password, actor=actor(args))
    print(f"pessoa {args.cpf} ({args.papel}) do órgão {args.orgao} criada" + _password_line(args, password))
    return 0


def cmd_user_disable(args: argparse.Namespace, con: Console) -> int:
    """Disable a person: their sessions end at once."""
    con.people.set_active(args.cpf, False, actor=actor(args))
    print(f"pessoa {args.cpf} desativada: suas sessões terminaram")
    return 0


def cmd_user_enable(args: argparse.Namespace, con: Console) -> int:
    """Enable a disabled person again."""
    con.people.set_active(args.cpf, True, actor=actor(args))
    print(f"pessoa {args.cpf} reativada")
    return 0


def cmd_user_reset(args: argparse.Namespace, con: Console) -> int:
    """Give a person a new password (their sessions end)."""
    password = con.people.reset(args.cpf, args.password, actor=actor(args))
    print(f"pessoa {args.cpf}: senha trocada, sessões encerradas" + _password_line(args, password))
    return 0


def cmd_user_list(args: argparse.Namespace, con: Console) -> int:
    """Every person (of one organ with ``--orgao``), never a password."""
    rows = con.people.people(args.orgao)
    print(f"{'cpf':<12} {'órgão':<14} {'papel':<10} {'adm':<4} {'situação':<10} nome")
    for p in rows:
        print(f"{p.cpf:<12} {p.organ_code:<14} {p.role:<10} {'sim' if p.admin else 'não':<4} "
              f"{'ativa' if p.active else 'desativada':<10} {p.name}")
    print(f"{len(rows)} pessoa(s)")
    return 0
