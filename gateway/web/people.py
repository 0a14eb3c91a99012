"""People who sign in to the web pages, their sessions and drafts (issue 16 point 1).

A web session belongs to a **natural person** — name, CPF, e-mail — acting for one organ with a role:
``remetente`` (an organ's staff: the form ``/web/``) or ``operador`` (the national stores' and the gateway's
operators: the console ``/console/``); ``admin`` marks an organ's own administrator of people. Accounts are created,
disabled and reset by ``gateway user …`` (:mod:`gateway.admin_cli`) and in the console; passwords follow the
credential lifecycle's policy (:mod:`gateway.passwords`, GATEWAY-E061) and are stored as the credentials' scrypt
hashes (:func:`gateway.auth.hash_password`). Every change and every sign-in is one transaction with its audit entry
(``web.pessoa.*``, ``web.entrada``, ``web.saida``) naming the person acting (``web:<CPF>``).

Login is pluggable: the edges call a :class:`PersonAuthenticator`; :class:`PasswordAuthenticator` (CPF + password,
failures throttled per CPF and address by the gateway's :class:`~gateway.throttle.LoginThrottle`) is the one there
is today — an ICP-Brasil certificate or the courts' single sign-on would be another implementation.

Sessions are server-side: the cookie carries a random token (32 bytes); the table keeps only its SHA-256. A session
ends on logout or after ``GATEWAY_WEB_SESSION_IDLE_S`` without a request, measured with the injected clock.
CSRF tokens are signed with itsdangerous (a maintained signing library: no home-made HMAC format) over the session's
id, so a token from another session, a forged one or one older than the idle limit is refused (WEB-E003).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio.to_thread
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from gateway import identifiers as ids
from gateway import passwords
from gateway.admin import Actor, AdminError, Runner
from gateway.auth import Caller, hash_password, verify_password
from gateway.clock import Clock, utc
from gateway.db.committer import WriteContext
from gateway.db.tables import organs, web_drafts, web_people, web_sessions
from gateway.errors import AuthenticationFailed, ClientError, NotFound, TooManyRequests
from gateway.infodip.domain import competent_kinds
from gateway.organs import OrganType
from gateway.throttle import LoginThrottle

ROLES = ("remetente", "operador")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DUMMY = hash_password("senha-ficticia-para-tempo-constante", n=2**10)
#: a session is touched (``last_seen_at`` written) at most once per this many seconds
TOUCH_EVERY_S = 30.0


@dataclass(frozen=True)
class Person:
    """A person who signs in (never the hash)."""

    id: int
    cpf: str
    name: str
    email: str
    organ_id: int
    organ_code: str
    organ_type: str
    organ_kinds: str | None
    role: str
    admin: bool
    active: bool

    @property
    def actor(self) -> str:
        """How the audit log names this person: ``web:<CPF>``."""
        return f"web:{self.cpf}"

    def caller(self) -> Caller:
        """The INFODIP service's caller for this person: the organ they act for, its competence; the audit entry's
        ``usuario`` is :attr:`actor`."""
        organ_type = OrganType(self.organ_type)
        return Caller(self.actor, self.organ_id, self.organ_code, organ_type,
                      competent_kinds(organ_type, self.organ_kinds.split(",") if self.organ_kinds else None))


@dataclass(frozen=True)
class Session:
    """A live session: its id (the token's SHA-256), its person, when it was last used (UTC)."""

    id: str
    person: Person
    last_seen_at: datetime


@dataclass(frozen=True)
class Draft:
    """A saved draft of the form: the kind, the protocol it retifies (or None) and the fields typed so far."""

    id: str
    kind: str
    protocol: str | None
    fields: dict[str, str]
    updated_at: datetime


class PersonAuthenticator(Protocol):
    """What the login page calls: the person named by the submitted *form*, or AuthenticationFailed (WEB-E001) /
    TooManyRequests (WEB-E007). An ICP-Brasil certificate or single sign-on would implement this too."""

    async def authenticate(self, form: Mapping[str, str], client: str) -> Person: ...


def token_id(token: str) -> str:
    """The stored id of a session token: SHA-256 hex (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


_PERSON_COLUMNS = (web_people.c.id, web_people.c.cpf, web_people.c.name, web_people.c.email, web_people.c.organ_id,
                   organs.c.code, organs.c.organ_type, organs.c.kinds, web_people.c.role, web_people.c.admin,
                   web_people.c.active)


def _person(row: Any) -> Person:
    return Person(row.id, row.cpf, row.name, row.email, row.organ_id, row.code, row.organ_type, row.kinds, row.role,
                  bool(row.admin), bool(row.active))


class People:
    """Accounts, sessions and drafts. Reads on *reader*; every change a job of *run* (the group committer in a
    gateway, :class:`~gateway.admin.Transactions` in a command), with its audit entry."""

    def __init__(self, run: Runner, reader: Engine, clock: Clock, secret: bytes, *, kdf_n: int = 2**14,
                 idle_s: float = 1800.0) -> None:
        self.run = run
        self.reader = reader
        self.clock = clock
        self.kdf_n = kdf_n
        self.idle = timedelta(seconds=idle_s)
        self.csrf = URLSafeTimedSerializer(secret, salt="gateway-web-csrf")

    # -- accounts --------------------------------------------------------------------------------------------------

    def create(self, cpf: str, name: str, email: str, organ_code: str, role: str, *, admin: bool = False,
               password: str | None = None, actor: Actor) -> str:
        """Create a person; returns the password (generated when *password* is None). Errors: AdminError
        (GATEWAY-E002: CPF with bad check digits, empty name, bad e-mail, unknown organ or role, CPF already there),
        PasswordRefused (GATEWAY-E061)."""
        cpf = ids.only_digits(cpf)
        if not ids.is_valid_cpf(cpf):
            raise AdminError(f"CPF inválido: {cpf}", field="cpf")
        if not name.strip() or len(name) > 200:
            raise AdminError("nome vazio ou com mais de 200 caracteres", field="nome")
        if not _EMAIL.fullmatch(email) or len(email) > 200:
            raise AdminError(f"e-mail inválido: {email}", field="email")
        if role not in ROLES:
            raise AdminError(f"papel inválido: {role} (use {' ou '.join(ROLES)})", field="papel")
        if password is None:
            password = passwords.generate(cpf)
        else:
            passwords.check(password, cpf)
        hashed = hash_password(password, n=self.kdf_n)
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            organ = ctx.conn.execute(select(organs.c.id).where(organs.c.code == organ_code)).first()
            if organ is None:
                raise AdminError(f"órgão {organ_code} não cadastrado", field="orgao")
            if ctx.conn.execute(select(web_people.c.id).where(web_people.c.cpf == cpf)).first() is not None:
                raise AdminError(f"já existe uma pessoa com o CPF {cpf}", field="cpf")
            ctx.conn.execute(insert(web_people).values(
                cpf=cpf, name=name.strip(), email=email, organ_id=organ.id, role=role, admin=admin,
                password_hash=hashed, active=True, created_at=now, updated_at=now))
            ctx.audit.append(ctx.conn, "web.pessoa.criada", now, organ_id=organ.id, detail={
                "pessoa": f"web:{cpf}", "papel": role, "administrador": admin, "por": actor.name,
                "canal": actor.channel})

        self.run(job)
        return password

    def set_active(self, cpf: str, active: bool, *, actor: Actor, organ_id: int | None = None) -> None:
        """Disable (or enable again) a person: a disabled person's sessions end at once. *organ_id* limits the change
        to one organ (an organ's administrator). Errors: AdminError (GATEWAY-E002) for an unknown CPF."""
        cpf = ids.only_digits(cpf)
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            row = self._existing(ctx.conn, cpf, organ_id)
            ctx.conn.execute(update(web_people).where(web_people.c.id == row.id).values(active=active, updated_at=now))
            if not active:
                ctx.conn.execute(update(web_sessions).where(web_sessions.c.person_id == row.id,
                                                            web_sessions.c.ended_at.is_(None)).values(ended_at=now))
            ctx.audit.append(ctx.conn, "web.pessoa.ativada" if active else "web.pessoa.desativada", now,
                             organ_id=row.organ_id, detail={"pessoa": f"web:{cpf}", "por": actor.name,
                                                            "canal": actor.channel})

        self.run(job)

    def reset(self, cpf: str, password: str | None = None, *, actor: Actor, organ_id: int | None = None) -> str:
        """Give a person a new password (generated when None; returned): their sessions end. Errors: AdminError
        (GATEWAY-E002), PasswordRefused (GATEWAY-E061)."""
        cpf = ids.only_digits(cpf)
        if password is None:
            password = passwords.generate(cpf)
        else:
            passwords.check(password, cpf)
        hashed = hash_password(password, n=self.kdf_n)
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            row = self._existing(ctx.conn, cpf, organ_id)
            ctx.conn.execute(update(web_people).where(web_people.c.id == row.id).values(
                password_hash=hashed, updated_at=now))
            ctx.conn.execute(update(web_sessions).where(web_sessions.c.person_id == row.id,
                                                        web_sessions.c.ended_at.is_(None)).values(ended_at=now))
            ctx.audit.append(ctx.conn, "web.pessoa.senha", now, organ_id=row.organ_id,
                             detail={"pessoa": f"web:{cpf}", "por": actor.name, "canal": actor.channel})

        self.run(job)
        return password

    @staticmethod
    def _existing(conn: Connection, cpf: str, organ_id: int | None) -> Any:
        row = conn.execute(select(web_people.c.id, web_people.c.organ_id).where(web_people.c.cpf == cpf)).first()
        if row is None or (organ_id is not None and row.organ_id != organ_id):
            raise AdminError(f"pessoa com CPF {cpf} não encontrada", field="cpf")
        return row

    def people(self, organ_code: str | None = None) -> list[Person]:
        """Every person (of one organ when given), by organ and name."""
        q = select(*_PERSON_COLUMNS).join(organs, organs.c.id == web_people.c.organ_id)
        if organ_code:
            q = q.where(organs.c.code == organ_code)
        with self.reader.connect() as conn:
            return [_person(r) for r in conn.execute(q.order_by(organs.c.code, web_people.c.name))]

    def find(self, cpf: str) -> Person | None:
        """The person with *cpf*, or None."""
        with self.reader.connect() as conn:
            row = conn.execute(select(*_PERSON_COLUMNS, web_people.c.password_hash)
                               .join(organs, organs.c.id == web_people.c.organ_id)
                               .where(web_people.c.cpf == ids.only_digits(cpf))).first()
        return _person(row) if row else None

    def check_password(self, cpf: str, password: str) -> Person:
        """The active person whose CPF and password match (the KDF always runs: an unknown CPF takes as long).
        Errors: AuthenticationFailed (WEB-E001)."""
        with self.reader.connect() as conn:
            row = conn.execute(select(*_PERSON_COLUMNS, web_people.c.password_hash, organs.c.active.label("oa"))
                               .join(organs, organs.c.id == web_people.c.organ_id)
                               .where(web_people.c.cpf == ids.only_digits(cpf))).first()
        if row is None:
            verify_password(password, _DUMMY)
            raise AuthenticationFailed("WEB-E001", field="cpf")
        if not verify_password(password, row.password_hash) or not row.active or not row.oa:
            raise AuthenticationFailed("WEB-E001", field="cpf")
        return _person(row)

    # -- sessions --------------------------------------------------------------------------------------------------

    async def open_session(self, person: Person, client: str) -> str:
        """A new session for *person*; returns the cookie's token. Audited ``web.entrada``."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            # sessions that ended or went idle are of no use any more: each sign-in clears its person's
            ctx.conn.execute(delete(web_sessions).where(
                web_sessions.c.person_id == person.id,
                (web_sessions.c.ended_at.is_not(None)) | (web_sessions.c.last_seen_at < now - self.idle)))
            ctx.conn.execute(insert(web_sessions).values(id=token_id(token), person_id=person.id, created_at=now,
                                                         last_seen_at=now))
            ctx.audit.append(ctx.conn, "web.entrada", now, organ_id=person.organ_id,
                             detail={"pessoa": person.actor, "nome": person.name, "papel": person.role,
                                     "endereco": client})

        await self.run_async(job)
        return token

    async def session(self, token: str | None) -> Session | None:
        """The live session of the cookie's *token* (touched), or None when absent, ended, idle for longer than the
        limit, or its person disabled."""
        if not token:
            return None
        sid = token_id(token)

        def read() -> Any:
            with self.reader.connect() as conn:
                return conn.execute(select(*_PERSON_COLUMNS, web_sessions.c.last_seen_at, web_sessions.c.ended_at,
                                           organs.c.active.label("oa"))
                                    .select_from(web_sessions.join(web_people,
                                                                   web_people.c.id == web_sessions.c.person_id)
                                                 .join(organs, organs.c.id == web_people.c.organ_id))
                                    .where(web_sessions.c.id == sid)).first()

        row = await anyio.to_thread.run_sync(read)
        if row is None or row.ended_at is not None or not row.active or not row.oa:
            return None
        now = self.clock.now()
        last = utc(row.last_seen_at)
        if now - last > self.idle:
            return None
        if (now - last).total_seconds() >= TOUCH_EVERY_S:
            await self.run_async(lambda ctx: ctx.conn.execute(
                update(web_sessions).where(web_sessions.c.id == sid).values(last_seen_at=now)))
            last = now
        return Session(sid, _person(row), last)

    async def close_session(self, session: Session) -> None:
        """End *session* (logout). Audited ``web.saida``."""
        now = self.clock.now()

        def job(ctx: WriteContext) -> None:
            ctx.conn.execute(update(web_sessions).where(web_sessions.c.id == session.id).values(ended_at=now))
            ctx.audit.append(ctx.conn, "web.saida", now, organ_id=session.person.organ_id,
                             detail={"pessoa": session.person.actor})

        await self.run_async(job)

    # -- CSRF ------------------------------------------------------------------------------------------------------

    def csrf_token(self, binding: str) -> str:
        """A CSRF token bound to *binding* (a session id, or the login page's pre-session value)."""
        return self.csrf.dumps(binding[:32])

    def check_csrf(self, token: str | None, binding: str | None) -> None:
        """Refuse a missing, forged, foreign or stale token. Errors: ClientError WEB-E003."""
        if not token or not binding:
            raise ClientError("WEB-E003", field="csrf")
        try:
            value = self.csrf.loads(token, max_age=int(self.idle.total_seconds()))
        except BadSignature:
            raise ClientError("WEB-E003", field="csrf") from None
        if not secrets.compare_digest(str(value), binding[:32]):
            raise ClientError("WEB-E003", field="csrf")

    # -- drafts ----------------------------------------------------------------------------------------------------

    async def save_draft(self, person: Person, kind: str, fields: Mapping[str, str], *, draft_id: str | None = None,
                         protocol: str | None = None) -> str:
        """Store (or update) a draft of *person*; returns its id."""
        now = self.clock.now()
        did = draft_id or secrets.token_hex(16)
        data = json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)

        def job(ctx: WriteContext) -> None:
            done = ctx.conn.execute(update(web_drafts).where(web_drafts.c.id == did,
                                                             web_drafts.c.person_id == person.id)
                                    .values(fields=data, updated_at=now)).rowcount
            if not done:
                ctx.conn.execute(insert(web_drafts).values(id=did, person_id=person.id, kind=kind, protocol=protocol,
                                                           fields=data, created_at=now, updated_at=now))
            ctx.audit.append(ctx.conn, "web.rascunho", now, organ_id=person.organ_id,
                             detail={"pessoa": person.actor, "rascunho": did, "tipo": kind})

        await self.run_async(job)
        return did

    async def drafts(self, person: Person) -> list[Draft]:
        """*person*'s drafts, newest first."""
        def read() -> list[Draft]:
            with self.reader.connect() as conn:
                rows = conn.execute(select(web_drafts).where(web_drafts.c.person_id == person.id)
                                    .order_by(web_drafts.c.updated_at.desc())).mappings().all()
            return [Draft(r["id"], r["kind"], r["protocol"], json.loads(r["fields"]), utc(r["updated_at"]))
                    for r in rows]

        return await anyio.to_thread.run_sync(read)

    async def draft(self, person: Person, draft_id: str) -> Draft:
        """One of *person*'s drafts. Errors: NotFound WEB-E005."""
        for d in await self.drafts(person):
            if d.id == draft_id:
                return d
        raise NotFound("WEB-E005", field="rascunho")

    async def drop_draft(self, person: Person, draft_id: str) -> None:
        """Delete a draft (after its communication was accepted)."""
        await self.run_async(lambda ctx: ctx.conn.execute(delete(web_drafts).where(
            web_drafts.c.id == draft_id, web_drafts.c.person_id == person.id)))

    # -- plumbing --------------------------------------------------------------------------------------------------

    async def run_async(self, job: Any) -> Any:
        """Run *job* through :attr:`run` off the event loop (the committer's ``run_sync`` blocks)."""
        return await anyio.to_thread.run_sync(self.run, job)


class PasswordAuthenticator:
    """CPF + password (``cpf``, ``senha`` fields), failures throttled per (CPF, address) by the gateway's login
    throttle (refused with WEB-E007 before the KDF)."""

    def __init__(self, people: People, throttle: LoginThrottle | None = None) -> None:
        self.people = people
        self.throttle = throttle

    async def authenticate(self, form: Mapping[str, str], client: str) -> Person:
        """The person; errors: AuthenticationFailed WEB-E001, TooManyRequests WEB-E007."""
        cpf = ids.only_digits(form.get("cpf", ""))
        key = f"web:{cpf}"
        if self.throttle is not None:
            wait = self.throttle.retry_after(key, client)
            if wait is not None:
                self.throttle.refused(key, client)
                raise TooManyRequests("WEB-E007", field="cpf", retry_after=max(1, int(wait + 0.999)))
        try:
            person = await anyio.to_thread.run_sync(self.people.check_password, cpf, form.get("senha", ""))
        except AuthenticationFailed:
            if self.throttle is not None:
                self.throttle.failed(key, client)
            raise
        if self.throttle is not None:
            self.throttle.succeeded(key, client)
        return person
