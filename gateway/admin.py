"""Administration of organs, credentials and grants: the service behind ``gateway organ …``, ``gateway credential
…``, ``gateway mni credential``, the REST operations API (``/api/v1/admin``) and the sandbox's demo organs.

Every change is one transaction that also writes its audit entry (``admin.…``: who — an :class:`Actor` —, what,
when) and, when it touches credentials, organs or grants, bumps the credential's ``version`` and the ``auth_epoch``
row (:mod:`gateway.auth_state`), then tells :attr:`AdminService.listeners` (this process's authenticator forgets
what it cached: the change applies here at once, and on every other process within ``GATEWAY_AUTH_REFRESH_S``).
Changes run as jobs (:data:`gateway.db.committer.Job`): through the group committer in a gateway process (its one
writer and audit chain), through :class:`Transactions` — own transactions, an audit chain of its own — in a CLI
command. Password hashing (scrypt) runs in the caller's thread, never in the writer's. Every refusal is an
:class:`AdminError` (``GATEWAY-E002``) or a :class:`~gateway.passwords.PasswordRefused` (``GATEWAY-E061``), raised
before anything is written.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway import passwords
from gateway.audit import AuditChain, Signer
from gateway.auth import hash_password
from gateway.auth_state import bump_epoch
from gateway.clock import Clock
from gateway.db.committer import Job, WriteContext
from gateway.db.tables import credentials, organ_grants, organs
from gateway.errors import OperatorError
from gateway.grants import scopes_of
from gateway.hub.credentials import CredentialStore, TribunalCredential
from gateway.infodip.domain import Kind
from gateway.organs import OrganType
from gateway.settings import SettingsError

T = TypeVar("T")


class AdminError(OperatorError):
    """An administration request that cannot be carried out (GATEWAY-E002)."""


@dataclass(frozen=True)
class Actor:
    """Who asks: the operator's name (the OS user or ``--operador`` on the CLI, the credential on REST) and the
    channel (``cli``, ``rest``)."""

    name: str
    channel: str = "cli"


    @classmethod
    def os_user(cls, name: str | None = None) -> Actor:
        """*name* on the CLI, else the operating system's user (``desconhecido`` when there is none)."""
        if not name:
            try:
                name = getpass.getuser()
            except (KeyError, OSError):  # no user name in the environment nor in the password database
                name = "desconhecido"
        return cls(name, "cli")


class Runner(Protocol):
    """Runs a job in a transaction that holds an audit chain, returning its result once committed."""

    def __call__(self, job: Job[T], /) -> T: ...


class Transactions:
    """A :class:`Runner` for commands: each job in its own transaction on *engine*, appending to an audit chain of
    its own (started with the first job that commits; its head signed by :meth:`close`)."""

    def __init__(self, engine: Engine, clock: Clock, signer: Signer | None = None, writer: str | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.signer = signer
        self.writer = writer
        self.chain: AuditChain | None = None

    def __call__(self, job: Job[T], /) -> T:
        """Run *job*; roll everything back (its audit entries included) if it raises."""
        chain, mark = self.chain, self.chain.mark() if self.chain else None
        try:
            with self.engine.begin() as conn:
                if self.chain is None:
                    self.chain = AuditChain.start(conn, self.clock.now(), self.signer, writer=self.writer)
                ctx = WriteContext(conn, self.chain, self.clock)
                result = job(ctx)
                ctx.finish()
                return result
        except BaseException:
            if chain is None:
                self.chain = None  # its chain row was rolled back with the job
            elif mark is not None:
                chain.restore(mark)
            raise

    def close(self) -> None:
        """Sign the chain's head (when a signing key is configured)."""
        if self.chain is not None and self.signer is not None:
            with self.engine.begin() as conn:
                self.chain.checkpoint(conn, self.clock.now())


@dataclass(frozen=True)
class OrganView:
    """An organ as ``gateway organ list`` shows it."""

    code: str
    name: str
    organ_type: str
    active: bool
    grants: tuple[str, ...]
    credentials: int


@dataclass(frozen=True)
class CredentialView:
    """A credential as ``gateway credential list`` shows it (never its hash)."""

    username: str
    organ: str
    active: bool
    version: int
    created_at: datetime
    revoked_at: datetime | None


@dataclass
class AdminService:
    """Organs, their credentials and grants, and the MNI hub clients' credentials towards tribunal installations."""

    run: Runner
    reader: Engine
    clock: Clock
    kdf_n: int
    tribunal_credentials: CredentialStore | None
    actor: Actor
    #: called after every committed change of credentials, organs or grants (bootstrap adds the authenticator's)
    listeners: list[Callable[[], None]] = field(default_factory=list)

    # -- reading ---------------------------------------------------------------------------------------------

    def organ_codes(self) -> set[str]:
        """The codes of every registered organ."""
        with self.reader.connect() as conn:
            return {r.code for r in conn.execute(select(organs.c.code))}

    def organs(self) -> list[OrganView]:
        """Every organ, by code, with its grants and how many credentials it has."""
        with self.reader.connect() as conn:
            grants: dict[int, list[str]] = {}
            for organ_id, scope in conn.execute(select(organ_grants.c.organ_id, organ_grants.c.scope)):
                grants.setdefault(organ_id, []).append(scope)
            counts: dict[int, int] = dict(conn.execute(select(credentials.c.organ_id, func.count()).group_by(
                credentials.c.organ_id)).all())
            rows = conn.execute(select(organs).order_by(organs.c.code)).mappings().all()
        return [OrganView(r["code"], r["name"], r["organ_type"], bool(r["active"]),
                          scopes_of(grants.get(r["id"], ())), int(counts.get(r["id"], 0))) for r in rows]

    def credentials(self, organ_code: str | None = None) -> list[CredentialView]:
        """Every credential (of one organ when given), by username."""
        query = (select(credentials, organs.c.code).join(organs, organs.c.id == credentials.c.organ_id)
                 .order_by(credentials.c.username))
        if organ_code is not None:
            query = query.where(organs.c.code == organ_code)
        with self.reader.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [CredentialView(r["username"], r["code"], bool(r["active"]), r["version"], r["created_at"],
                               r["revoked_at"]) for r in rows]

    # -- organs ----------------------------------------------------------------------------------------------

    def add_organ(self, code: str, name: str, organ_type: OrganType, *, kinds: Iterable[str] | None = None,
                  cns: str | None = None, actor: Actor | None = None) -> int:
        """Register an organ and return its id. *kinds* (``I``…``IX``) replaces the default competence of its type
        (DOMAIN.md §2); *cns* is a cartório's 6-digit CNS. Errors: AdminError for a code already registered, an
        unknown kind or a malformed CNS."""
        kinds_value = None if kinds is None else ",".join(_kind(k).value for k in kinds)
        if cns is not None and not (len(cns) == 6 and cns.isdigit()):
            raise AdminError(f"CNS inválido: {cns!r} (6 dígitos)", field="cns")

        def job(ctx: WriteContext) -> int:
            if _organ_id(ctx.conn, code) is not None:
                raise AdminError(f"órgão {code} já existe", field="code")
            result = ctx.conn.execute(insert(organs).values(
                code=code, name=name, organ_type=organ_type.value, kinds=kinds_value, cns=cns, active=True,
                created_at=ctx.clock.now()))
            key = result.inserted_primary_key
            assert key is not None
            self._audit(ctx, "admin.orgao.cadastro", actor, int(key[0]), orgao=code, tipo=organ_type.value,
                        tipos_comunicacao=kinds_value, cns=cns)
            return int(key[0])

        try:
            return self._change(job, epoch=False)
        except IntegrityError as exc:  # registered by someone else between the lookup and the insert
            raise AdminError(f"órgão {code} já existe", field="code") from exc

    def set_organ_active(self, code: str, active: bool, *, actor: Actor | None = None) -> None:
        """Disable an organ (every credential of it, and every token issued for them, stops working) or enable it
        again. Errors: AdminError for an unknown organ or one already in that state."""

        def job(ctx: WriteContext) -> None:
            organ_id = _existing_organ(ctx.conn, code)
            current = ctx.conn.execute(select(organs.c.active).where(organs.c.id == organ_id)).scalar_one()
            if bool(current) == active:
                raise AdminError(f"órgão {code} já está {'ativo' if active else 'desativado'}", field="organ")
            ctx.conn.execute(update(organs).where(organs.c.id == organ_id).values(active=active))
            self._audit(ctx, "admin.orgao.reativacao" if active else "admin.orgao.desativacao", actor, organ_id,
                        orgao=code)

        self._change(job)

    def grant(self, code: str, scopes: Iterable[str], *, actor: Actor | None = None) -> list[str]:
        """Give *scopes* (:data:`gateway.grants.SCOPES`) to organ *code*; return those it did not hold yet. Errors:
        AdminError (GATEWAY-E002) for an unknown organ or scope."""
        wanted = scopes_of(scopes)

        def job(ctx: WriteContext) -> list[str]:
            organ_id = _existing_organ(ctx.conn, code)
            held = set(ctx.conn.execute(select(organ_grants.c.scope).where(organ_grants.c.organ_id == organ_id))
                       .scalars())
            added = [s for s in wanted if s not in held]
            if added:
                now = ctx.clock.now()
                ctx.conn.execute(insert(organ_grants), [{"organ_id": organ_id, "scope": s, "granted_at": now}
                                                        for s in added])
                self._audit(ctx, "admin.permissao.concessao", actor, organ_id, orgao=code, escopos=added)
            return added

        return self._change(job)

    def revoke_grants(self, code: str, scopes: Iterable[str], *, actor: Actor | None = None) -> list[str]:
        """Take *scopes* from organ *code* (tokens already issued lose them too); return those it held. Errors:
        AdminError for an unknown organ or scope."""
        unwanted = scopes_of(scopes)

        def job(ctx: WriteContext) -> list[str]:
            organ_id = _existing_organ(ctx.conn, code)
            held = set(ctx.conn.execute(select(organ_grants.c.scope).where(organ_grants.c.organ_id == organ_id))
                       .scalars())
            removed = [s for s in unwanted if s in held]
            if removed:
                ctx.conn.execute(delete(organ_grants).where(organ_grants.c.organ_id == organ_id,
                                                            organ_grants.c.scope.in_(removed)))
                self._audit(ctx, "admin.permissao.revogacao", actor, organ_id, orgao=code, escopos=removed)
            return removed

        return self._change(job)

    # -- credentials -----------------------------------------------------------------------------------------

    def create_credential(self, username: str, organ_code: str, password: str | None = None, *,
                          actor: Actor | None = None) -> str:
        """Create the credential *username* of *organ_code*; return its password (generated when none is given).
        Errors: PasswordRefused (GATEWAY-E061); AdminError for an unknown organ or a username already taken."""
        password, hashed = self._password(username, password)

        def job(ctx: WriteContext) -> None:
            organ_id = _existing_organ(ctx.conn, organ_code)
            if _credential(ctx.conn, username) is not None:
                raise AdminError(f"credencial {username} já existe (para trocar a senha: gateway credential rotate)",
                                 field="username")
            self._insert(ctx, username, organ_id, hashed)
            self._audit(ctx, "admin.credencial.criacao", actor, organ_id, orgao=organ_code, usuario=username)

        self._change(job)
        return password

    def rotate_credential(self, username: str, password: str | None = None, *, actor: Actor | None = None) -> str:
        """Give the active credential *username* a new password (generated when none is given) and return it: the
        old one stops working. Errors: PasswordRefused; AdminError for an unknown or revoked credential."""
        password, hashed = self._password(username, password)

        def job(ctx: WriteContext) -> None:
            row = _existing_credential(ctx.conn, username)
            if not row.active:
                raise AdminError(f"credencial {username} revogada: crie outra (gateway credential create) ou "
                                 "reative-a com gateway credential set", field="username")
            version = self._update(ctx, row.id, password_hash=hashed)
            self._audit(ctx, "admin.credencial.troca", actor, row.organ_id, usuario=username, versao=version)

        self._change(job)
        return password

    def revoke_credential(self, username: str, *, actor: Actor | None = None) -> None:
        """Revoke the credential *username*: its password and its tokens stop working. Errors: AdminError for an
        unknown or already revoked credential."""

        def job(ctx: WriteContext) -> None:
            row = _existing_credential(ctx.conn, username)
            if not row.active:
                raise AdminError(f"credencial {username} já está revogada", field="username")
            version = self._update(ctx, row.id, active=False, revoked_at=ctx.clock.now())
            self._audit(ctx, "admin.credencial.revogacao", actor, row.organ_id, usuario=username, versao=version)

        self._change(job)

    def set_credential(self, username: str, organ_code: str, password: str | None = None, *, move: bool = False,
                       actor: Actor | None = None) -> str:
        """Create the credential *username* of *organ_code*, or give it a new password (and make it active again);
        return the password (generated when none is given). A credential of another organ moves to *organ_code*
        only with *move* (``--mover``). Errors: PasswordRefused; AdminError for an unknown organ or a move not
        asked for."""
        password, hashed = self._password(username, password)

        def job(ctx: WriteContext) -> None:
            organ_id = _existing_organ(ctx.conn, organ_code)
            row = _credential(ctx.conn, username)
            if row is None:
                self._insert(ctx, username, organ_id, hashed)
                self._audit(ctx, "admin.credencial.criacao", actor, organ_id, orgao=organ_code, usuario=username)
                return
            moved = row.organ_id != organ_id
            former = ctx.conn.execute(select(organs.c.code).where(organs.c.id == row.organ_id)).scalar_one()
            if moved and not move:
                raise AdminError(f"credencial {username} pertence ao órgão {former}: use --mover para transferi-la "
                                 f"para {organ_code}", field="organ")
            version = self._update(ctx, row.id, password_hash=hashed, organ_id=organ_id, active=True,
                                   revoked_at=None)
            extra: dict[str, Any] = {"de_orgao": former} if moved else {}
            self._audit(ctx, "admin.credencial.mudanca_orgao" if moved else "admin.credencial.troca", actor,
                        organ_id, orgao=organ_code, usuario=username, versao=version, **extra)

        self._change(job)
        return password

    def set_tribunal_credential(self, organ_code: str, jtr: str, instance: str, username: str, password: str, *,
                                actor: Actor | None = None) -> None:
        """Store, encrypted, the credential of the hub client *organ_code* towards the installation *instance* of
        tribunal *jtr* (``J.TR``, e.g. ``8.19``). Errors: SettingsError (GATEWAY-E001) when no key is configured;
        AdminError for an unknown organ."""
        store = self.tribunal_credentials
        if store is None:
            raise SettingsError("defina GATEWAY_MNI_CREDENTIALS_KEY ou GATEWAY_SECRET_KEY para guardar credenciais")

        def job(ctx: WriteContext) -> None:
            organ_id = _existing_organ(ctx.conn, organ_code)
            store.put(ctx.conn, organ_id, jtr, instance, TribunalCredential(username, password), ctx.clock.now())
            self._audit(ctx, "admin.mni.credencial", actor, organ_id, orgao=organ_code, tribunal=jtr,
                        instalacao=instance, usuario_no_tribunal=username)

        self._change(job, epoch=False)

    # -- helpers ---------------------------------------------------------------------------------------------

    def _password(self, username: str, password: str | None) -> tuple[str, str]:
        if password is None:
            password = passwords.generate(username)
        else:
            passwords.check(password, username)
        return password, hash_password(password, n=self.kdf_n)

    def _change(self, job: Job[T], *, epoch: bool = True) -> T:
        def with_epoch(ctx: WriteContext) -> T:
            result = job(ctx)
            bump_epoch(ctx.conn, ctx.clock.now())
            return result

        result = self.run(with_epoch if epoch else job)
        if epoch:
            for listener in self.listeners:
                listener()
        return result

    def _audit(self, ctx: WriteContext, event: str, actor: Actor | None, organ_id: int | None,
               **detail: Any) -> None:
        who = actor or self.actor
        ctx.audit.append(ctx.conn, event, ctx.clock.now(), organ_id=organ_id, detail={
            "operador": who.name, "canal": who.channel, **{k: v for k, v in detail.items() if v is not None}})

    @staticmethod
    def _insert(ctx: WriteContext, username: str, organ_id: int, hashed: str) -> None:
        now = ctx.clock.now()
        ctx.conn.execute(insert(credentials).values(username=username, organ_id=organ_id, password_hash=hashed,
                                                    active=True, created_at=now, updated_at=now, version=1))

    @staticmethod
    def _update(ctx: WriteContext, credential_id: int, **values: Any) -> int:
        """Apply *values* and bump the credential's version; return the new version."""
        ctx.conn.execute(update(credentials).where(credentials.c.id == credential_id).values(
            version=credentials.c.version + 1, updated_at=ctx.clock.now(), **values))
        return int(ctx.conn.execute(select(credentials.c.version).where(credentials.c.id == credential_id))
                   .scalar_one())


def _kind(value: str) -> Kind:
    try:
        return Kind(value.strip())
    except ValueError:
        raise AdminError(f"tipo de comunicação desconhecido: {value!r} (use {', '.join(k.value for k in Kind)})",
                         field="kinds") from None


def _organ_id(conn: Connection, code: str) -> int | None:
    row = conn.execute(select(organs.c.id).where(organs.c.code == code)).first()
    return None if row is None else int(row.id)


def _existing_organ(conn: Connection, code: str) -> int:
    organ_id = _organ_id(conn, code)
    if organ_id is None:
        raise AdminError(f"órgão {code} não existe", field="organ")
    return organ_id


def _credential(conn: Connection, username: str) -> Any:
    return conn.execute(select(credentials.c.id, credentials.c.organ_id, credentials.c.active)
                        .where(credentials.c.username == username)).first()


def _existing_credential(conn: Connection, username: str) -> Any:
    row = _credential(conn, username)
    if row is None:
        raise AdminError(f"credencial {username} não existe", field="username")
    return row
