"""The one wiring place: settings → database → committer → services → edges → application.

Nothing here runs at import time; :func:`create_app` builds an application whose lifespan opens and closes
everything.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from gateway.audit import Signer, load_signing_key
from gateway.auth import Authenticator
from gateway.clock import Clock, SystemClock
from gateway.db import migrate
from gateway.db.committer import GroupCommitter
from gateway.db.engine import is_sqlite, make_engine
from gateway.db.tables import outbox
from gateway.edges import ops
from gateway.edges.soap_infodip import InfodipEndpoint
from gateway.infodip.service import InfodipService
from gateway.metrics import Metrics
from gateway.settings import Settings

log = logging.getLogger("gateway")


@dataclass
class Gateway:
    """Every long-lived object of one gateway process."""

    settings: Settings
    clock: Clock
    writer_engine: Engine
    reader_engine: Engine
    signer: Signer | None
    committer: GroupCommitter
    auth: Authenticator
    infodip: InfodipService
    metrics: Metrics
    started: bool = field(default=False)

    def start(self) -> None:
        """Migrate (when allowed) and start the writer."""
        if self.settings.auto_migrate:
            migrate.upgrade(self.writer_engine)
        self.committer.start()
        self.started = True

    def stop(self) -> None:
        """Stop the writer and release connections."""
        if self.started:
            self.committer.stop()
            self.started = False
        self.writer_engine.dispose()
        self.reader_engine.dispose()


def build(settings: Settings, clock: Clock | None = None) -> Gateway:
    """Wire a gateway from *settings* (nothing is opened until :meth:`Gateway.start`)."""
    clock = clock or SystemClock()
    writer = make_engine(settings.database_url, writer=True, pool_size=2)
    reader = make_engine(settings.database_url, pool_size=10)
    signer = load_signing_key(settings.signing_key_path) if settings.signing_key_path else None
    if signer is None:
        log.warning("GATEWAY_SIGNING_KEY_PATH não definido: checkpoints do log de auditoria não serão assinados")
    secret = settings.secret_key.encode() if settings.secret_key else secrets.token_bytes(32)
    committer = GroupCommitter(writer, clock, signer, max_batch=settings.commit_batch_max,
                               wait_ms=settings.commit_wait_ms, checkpoint_every=settings.audit_checkpoint_every)
    auth = Authenticator(reader, secret, settings.auth_cache_seconds, settings.password_kdf_n)

    def outbox_counts() -> dict[str, dict[str, int]]:
        with reader.connect() as conn:
            rows = conn.execute(select(outbox.c.destination, outbox.c.status, func.count())
                                .group_by(outbox.c.destination, outbox.c.status))
            out: dict[str, dict[str, int]] = {}
            for dest, status, n in rows:
                out.setdefault(dest, {})[status] = n
            return out

    return Gateway(
        settings=settings, clock=clock, writer_engine=writer, reader_engine=reader, signer=signer,
        committer=committer, auth=auth, infodip=InfodipService(settings, committer, reader, clock),
        metrics=Metrics(outbox_counts),
    )


def create_app(settings: Settings, clock: Clock | None = None, gateway: Gateway | None = None) -> FastAPI:
    """The ASGI application of ``gateway serve`` and the sandbox."""
    gw = gateway or build(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.start()
        try:
            yield
        finally:
            gw.stop()

    app = FastAPI(
        title="Gateway de interoperabilidade do Judiciário",
        version="1.0",
        description="INFODIP (SOAP 1.1 em /soap/infodip), operações e saúde. Ver README.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    infodip = InfodipEndpoint(gw.infodip, gw.auth, settings.infodip_limits, gw.metrics)
    app.add_route("/soap/infodip", infodip.post, methods=["POST"], include_in_schema=False)
    app.add_route("/soap/infodip", infodip.get, methods=["GET"], include_in_schema=False)
    app.add_route("/xsd/{name}", ops.xsd, methods=["GET"], include_in_schema=False)
    app.add_route("/healthz", ops.healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", ops.readyz_endpoint(gw.reader_engine), methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", ops.metrics_endpoint(gw.metrics), methods=["GET"], include_in_schema=False)
    return app


def sqlite_path(settings: Settings) -> str | None:
    """The file of a SQLite database URL (None for other databases)."""
    if not is_sqlite(settings.database_url):
        return None
    return settings.database_url.split("///", 1)[-1]
