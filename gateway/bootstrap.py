"""The one wiring place: settings → database → committer → services → edges → application.

Nothing here runs at import time; :func:`create_app` builds an application whose lifespan opens and closes
everything.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from adapters.base import Adapter
from adapters.cnj import CnjAdapter
from adapters.tse import TseAdapter
from gateway.audit import Signer, load_signing_key
from gateway.auth import Authenticator
from gateway.clock import Clock, SystemClock
from gateway.crash import crash_hook
from gateway.db import migrate
from gateway.db.committer import GroupCommitter
from gateway.db.engine import is_sqlite, make_engine
from gateway.delivery import DeliveryService
from gateway.edges import ops, rest
from gateway.edges.soap_infodip import InfodipEndpoint
from gateway.edges.soap_mni import MniEndpoint
from gateway.health import Health
from gateway.hub.credentials import CredentialStore, fernet_key
from gateway.hub.forwarder import Forwarder
from gateway.hub.registry import load_registry
from gateway.hub.service import Hub
from gateway.infodip.intake import IntakeChecks
from gateway.infodip.routing import CNJ, TSE
from gateway.infodip.service import InfodipService
from gateway.metrics import Metrics
from gateway.relay import Relay, RelayPolicy
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
    delivery: DeliveryService
    metrics: Metrics
    adapters: dict[str, Adapter] = field(default_factory=dict)
    relay: Relay | None = None
    hub: Hub | None = None
    started: bool = field(default=False)
    _relay_task: asyncio.Task[None] | None = None
    _relay_stop: asyncio.Event | None = None

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

    def start_relay(self) -> None:
        """Start the relay as a task of the running event loop (when there is one to run)."""
        if self.relay is None or self._relay_task is not None:
            return
        self._relay_stop = asyncio.Event()
        self._relay_task = asyncio.get_running_loop().create_task(self.relay.run_forever(self._relay_stop))

    async def stop_relay(self) -> None:
        """Stop the relay task and close the adapters."""
        if self._relay_task is not None and self._relay_stop is not None:
            self._relay_stop.set()
            try:
                await asyncio.wait_for(self._relay_task, timeout=30)
            except TimeoutError:
                self._relay_task.cancel()
            self._relay_task = None
        for adapter in self.adapters.values():
            await adapter.aclose()
        if self.hub is not None:
            await self.hub.drain()
            await self.hub.forwarder.aclose()

    def partner_status(self) -> dict[str, object]:
        """What ``/readyz`` reports about partners (never a reason for 503: store-and-forward keeps accepting)."""
        states = self.relay.circuit_states() if self.relay else {}
        for name, state in states.items():
            self.metrics.circuit_open.labels(name).set(0 if state == "closed" else 1)
        configured = {TSE: bool(self.settings.tse_url), CNJ: bool(self.settings.cnj_url)}
        return {"relay": "ativo" if self.relay else "desativado",
                "partners": {name: (states.get(name, "closed") if ok else "não configurado")
                             for name, ok in configured.items()}}


def build(settings: Settings, clock: Clock | None = None, relay_wanted: bool | None = None) -> Gateway:
    """Wire a gateway from *settings* (nothing is opened until :meth:`Gateway.start`)."""
    if relay_wanted is None:
        relay_wanted = settings.relay_enabled
    clock = clock or SystemClock()
    writer = make_engine(settings.database_url, writer=True, pool_size=2)
    reader = make_engine(settings.database_url, pool_size=10)
    signer = load_signing_key(settings.signing_key_path) if settings.signing_key_path else None
    if signer is None:
        log.warning("GATEWAY_SIGNING_KEY_PATH não definido: checkpoints do log de auditoria não serão assinados")
    secret = settings.secret_key.encode() if settings.secret_key else secrets.token_bytes(32)
    hook = crash_hook(settings)
    committer = GroupCommitter(writer, clock, signer, max_batch=settings.commit_batch_max,
                               wait_ms=settings.commit_wait_ms, checkpoint_every=settings.audit_checkpoint_every,
                               crash_hook=hook)
    auth = Authenticator(reader, secret, settings.auth_cache_seconds, settings.password_kdf_n)
    delivery = DeliveryService(committer, reader)
    metrics = Metrics(delivery.outbox_counts)
    adapters = build_adapters(settings)
    relay = None
    if adapters and relay_wanted:
        relay = Relay(committer, adapters, clock, metrics, policy=RelayPolicy.of(settings),
            is_postgres=not is_sqlite(settings.database_url), crash_hook=hook)
    infodip = InfodipService(IntakeChecks(settings, clock), committer, reader, clock)
    if relay is not None:  # what intake stores and what an operator replays is delivered now, not at the next poll
        infodip.listeners.append(relay.wake)
        delivery.listeners.append(relay.wake)
    hub = None
    if settings.mni_registry_path:
        hub = Hub(load_registry(settings.mni_registry_path),
                  CredentialStore(fernet_key(settings.mni_credentials_key, settings.secret_key or secret.hex())),
                  auth, committer, reader, clock, Forwarder(settings.mni_timeout_s), settings.mni_limits,
                  timedelta(hours=settings.mni_filing_ttl_hours))
    return Gateway(
        settings=settings, clock=clock, writer_engine=writer, reader_engine=reader, signer=signer,
        committer=committer, auth=auth, infodip=infodip, delivery=delivery, metrics=metrics, adapters=adapters,
        relay=relay, hub=hub,
    )


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """One adapter per configured partner."""
    adapters: dict[str, Adapter] = {}
    if settings.tse_url:
        adapters[TSE] = TseAdapter(settings.tse_url, settings.partner_timeout_s, settings.partner_batch_max)
    if settings.cnj_url:
        adapters[CNJ] = CnjAdapter(settings.cnj_url, settings.partner_timeout_s, settings.partner_batch_max)
    return adapters


def create_app(settings: Settings, clock: Clock | None = None, gateway: Gateway | None = None) -> FastAPI:
    """The ASGI application of ``gateway serve`` and the sandbox."""
    gw = gateway or build(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.start()
        gw.start_relay()
        try:
            yield
        finally:
            await gw.stop_relay()
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
    mni = MniEndpoint(gw.hub, settings.mni_max_body_bytes, gw.metrics)
    app.add_route("/soap/mni", mni.post, methods=["POST"], include_in_schema=False)
    app.add_route("/soap/mni", mni.get, methods=["GET"], include_in_schema=False)
    app.add_route("/xsd/{name}", ops.xsd, methods=["GET"], include_in_schema=False)
    app.add_route("/healthz", ops.healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", ops.readyz_endpoint(Health(gw.reader_engine, gw.partner_status)), methods=["GET"],
                  include_in_schema=False)
    app.add_route("/metrics", ops.metrics_endpoint(gw.metrics), methods=["GET"], include_in_schema=False)
    rest.install(app, gw.infodip, gw.delivery, gw.auth, settings.admin_token)
    return app

