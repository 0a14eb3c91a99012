"""The one wiring place: settings → database → committer → services → edges → application.

Nothing here runs at import time. :func:`build` wires a gateway process (``gateway serve``, ``gateway relay``) and
:func:`create_app` the ASGI application whose lifespan opens and closes it (and :func:`create_ops_app` the
operations application when ``GATEWAY_OPS_LISTEN`` moves ``/metrics``, ``/readyz``, ``/docs`` and
``/openapi.json`` off the public port); :func:`console` gives operator commands (the CLI, the sandbox's setup) what
each needs, opened on first use and closed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import Adapter
from adapters.cnj import CnjAdapter
from adapters.tribunal import AiohttpTribunalClient
from adapters.tse import TseAdapter
from gateway import audit, keys
from gateway.admin import Actor, AdminService, Transactions
from gateway.admission import Admission, AdmissionMiddleware
from gateway.audit import Signer, load_signing_key
from gateway.auth_state import AuthState
from gateway.certidoes.service import CertidoesService, build_certidoes
from gateway.client_certs import CertificateAuthenticator, CertificateDirectory, ClientCertificateMiddleware
from gateway.clock import Clock, SystemClock
from gateway.consulta import store as consulta_store
from gateway.consulta.facts import PersonKeys
from gateway.consulta.rules import load_rules
from gateway.consulta.service import ConsultaService
from gateway.crash import crash_hook
from gateway.db import migrate
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.engine import is_sqlite, make_engine, normalise_url, sqlite_path
from gateway.delivery import DeliveryService
from gateway.divida.access import DividaAccess
from gateway.divida.build import build_divida
from gateway.divida.execucao.build import build_execucao
from gateway.divida.execucao.callbacks import CallbackPusher as ExecucaoCallbacks
from gateway.divida.execucao.service import ExecucaoService
from gateway.divida.execucao.service import Sender as ExecucaoSender
from gateway.divida.intimacoes.callbacks import CallbackPusher, Callbacks
from gateway.divida.intimacoes.collector import Collector, parse_tribunais
from gateway.divida.intimacoes.service import IntimacoesService
from gateway.edges import (
    admin_api,
    certidoes_api,
    divida_api,
    estatisticas_api,
    execucao_api,
    feed_api,
    intimacoes_api,
    oauth,
    ops,
    rest,
    rest_consulta,
    rest_obitos,
    web_console,
    web_form,
    web_session,
)
from gateway.edges.forwarded import ClientAddressMiddleware, Forwarding
from gateway.edges.soap_crc import CrcEndpoint
from gateway.edges.soap_infodip import InfodipEndpoint
from gateway.edges.soap_infodip11 import ENDPOINT_11, Infodip11Endpoint
from gateway.edges.soap_mni import MniEndpoint
from gateway.errors import OperatorError
from gateway.estatisticas import store as estatisticas_store
from gateway.estatisticas.service import EstatisticasService
from gateway.health import Health
from gateway.history.service import HistoryImport
from gateway.hub.credentials import CredentialStore
from gateway.hub.monitor import TribunalMonitor
from gateway.hub.registry import Registry, load_registry, reload_registry
from gateway.hub.service import Hub
from gateway.infodip.deadlines import local_today
from gateway.infodip.feed import FeedService
from gateway.infodip.intake import IntakeChecks
from gateway.infodip.outcomes import OutcomePoller
from gateway.infodip.routing import CNJ, TSE
from gateway.infodip.service import InfodipService
from gateway.infodip.versions import Deprecation, deprecation_of
from gateway.infodip.webhooks import PushPolicy, WebhookPusher, WebhookService
from gateway.metrics import Metrics
from gateway.obitos import spooled
from gateway.obitos.service import ObitosService
from gateway.relay import Relay, RelayPolicy
from gateway.settings import Settings, SettingsError, redact_url
from gateway.throttle import ClientRateLimit, LoginThrottle, report_forever
from gateway.tokens import TokenIssuer
from gateway.web import render as web_render
from gateway.web.people import PasswordAuthenticator, People
from gateway.xml.body import BodyBudget

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
    auth: CertificateAuthenticator
    infodip: InfodipService
    obitos: ObitosService
    delivery: DeliveryService
    metrics: Metrics
    admission: Admission
    adapters: dict[str, Adapter] = field(default_factory=dict)
    relay: Relay | None = None
    hub: Hub | None = None
    throttle: LoginThrottle | None = None
    tokens: TokenIssuer | None = None
    admin: AdminService | None = None
    consulta: ConsultaService | None = None
    deprecation_10: Deprecation | None = None
    divida: DividaAccess | None = None
    forwarding: Forwarding = field(default_factory=Forwarding)
    feed: FeedService | None = None
    webhooks: WebhookService | None = None
    pusher: WebhookPusher | None = None
    outcomes: OutcomePoller | None = None
    intimacoes: IntimacoesService | None = None
    intimacao_callbacks: Callbacks | None = None
    collector: Collector | None = None
    callback_pusher: CallbackPusher | None = None
    execucoes: ExecucaoService | None = None  # issue 12 points 1–6 (h12a)
    execucao_sender: ExecucaoSender | None = None
    execucao_callbacks: ExecucaoCallbacks | None = None
    _execucao_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _execucao_task: asyncio.Task[None] | None = None
    _execucao_stop: asyncio.Event | None = None
    # issue 12 point 3 (h12c): True in the processes that deliver (``gateway serve`` with the relay enabled,
    # ``gateway relay``); the execuções' sender and callbacks run there, never in a process that only serves
    delivers: bool = False
    # issue 16 (h16): the people of the web form and the console, their sessions and drafts
    people: People | None = None
    estatisticas: EstatisticasService | None = None  # issue 15: public statistics
    certidoes: CertidoesService | None = None  # issue 15: certificates
    started: bool = field(default=False)
    _intimacoes_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _intimacoes_stop: asyncio.Event | None = None
    _relay_task: asyncio.Task[None] | None = None
    _relay_stop: asyncio.Event | None = None
    _side_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _report_task: asyncio.Task[None] | None = None
    _report_stop: asyncio.Event | None = None
    _probe_task: asyncio.Task[None] | None = None
    _probe_stop: asyncio.Event | None = None
    _spool_task: asyncio.Task[None] | None = None
    _spool_stop: asyncio.Event | None = None

    def start(self) -> None:
        """Migrate (when allowed) and start the writer."""
        if self.settings.auto_migrate:
            migrate.upgrade(self.writer_engine)
        if self.hub is not None:  # a key that cannot read the stored MNI credentials: refused now (GATEWAY-E060)
            keys.check_readable(self.reader_engine, self.hub.credentials)
        self.committer.start()
        self.started = True
        if self.estatisticas is not None:  # this year's public statistics computed off the first request's path
            self.estatisticas.warm_later(local_today(self.clock.now(), ZoneInfo(self.settings.timezone)).year)

    def stop(self) -> None:
        """Stop the writer and release connections."""
        if self.started:
            self.committer.stop()
            self.started = False
        self.writer_engine.dispose()
        self.reader_engine.dispose()

    def start_reports(self) -> None:
        """Start writing the failed logins' aggregated audit entries (one per ``GATEWAY_LOGIN_AUDIT_INTERVAL_S``)."""
        if self.throttle is None or self._report_task is not None:
            return
        committer, clock = self.committer, self.clock

        async def write(summary: dict[str, object]) -> None:
            def job(ctx: WriteContext) -> None:
                ctx.audit.append(ctx.conn, "auth.falhas", clock.now(), detail=summary)
            await committer.run(job)

        self._report_stop = asyncio.Event()
        self._report_task = asyncio.get_running_loop().create_task(report_forever(
            self.throttle, write, self.settings.login_audit_interval_s, self._report_stop))

    async def stop_reports(self) -> None:
        """Write the last summary and stop."""
        if self._report_task is not None and self._report_stop is not None:
            self._report_stop.set()
            try:
                await asyncio.wait_for(self._report_task, timeout=30)
            except TimeoutError:
                self._report_task.cancel()
            self._report_task = None

    # --- issues 13/14 (p1314): spooled death batches resumed and swept ---
    def start_spooled(self) -> None:
        """Resume the death batches a crash interrupted (their spooled files), then sweep the spool directory every
        hour (:mod:`gateway.obitos.spooled`)."""
        if self._spool_task is not None:
            return
        self._spool_stop = asyncio.Event()
        self._spool_task = asyncio.get_running_loop().create_task(spooled.run_forever(self.obitos, self._spool_stop))

    async def stop_spooled(self) -> None:
        """Stop the sweeping (bounded wait)."""
        if self._spool_task is not None and self._spool_stop is not None:
            self._spool_stop.set()
            try:
                await asyncio.wait_for(self._spool_task, timeout=10)
            except TimeoutError:
                self._spool_task.cancel()
            self._spool_task = None

    async def warm_up(self) -> None:
        """Warm the consultation's read path before serving (bounded by ``GATEWAY_CONSULTA_WARMUP_S``, ≤ 5 s)."""
        if self.consulta is None or self.settings.consulta_warmup_s <= 0:
            return
        started = time.monotonic()
        done = await asyncio.get_running_loop().run_in_executor(
            None, self.consulta.warm_up, self.settings.consulta_warmup_s, self.settings.reader_pool_size)
        logging.getLogger("gateway.consulta").info("consulta aquecida", extra={
            "segundos": round(time.monotonic() - started, 3), "leituras": done})
        # what start-up allocated lives as long as the process: out of the collector's sight, so a full collection
        # scans only what requests allocate (measured: a 100-200 ms pause of every request ~3 s into the load).
        # Once per process: a test session starting many applications freezes only the first one's objects.
        global _GC_FROZEN
        if not _GC_FROZEN:
            _GC_FROZEN = True
            gc.collect()
            gc.freeze()
    # --- end of p1314's block ---

    def start_relay(self) -> None:
        """Start the relay as a task of the running event loop (when there is one to run), and with it the feed's
        webhook pusher and the TSE outcome poller."""
        if self.relay is None or self._relay_task is not None:
            return
        self._relay_stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._relay_task = loop.create_task(self.relay.run_forever(self._relay_stop))
        if self.pusher is not None:
            self._side_tasks.append(loop.create_task(self.pusher.run_forever(self._relay_stop)))
        if self.outcomes is not None:
            self._side_tasks.append(loop.create_task(self.outcomes.run_forever(self._relay_stop)))

    async def stop_relay(self) -> None:
        """Stop the relay task and close the adapters."""
        if self._relay_task is not None and self._relay_stop is not None:
            self._relay_stop.set()
            try:
                await asyncio.wait_for(self._relay_task, timeout=30)
            except TimeoutError:
                self._relay_task.cancel()
            self._relay_task = None
        for task in self._side_tasks:
            try:
                await asyncio.wait_for(task, timeout=30)
            except TimeoutError:
                task.cancel()
        self._side_tasks.clear()
        for adapter in self.adapters.values():
            await adapter.aclose()
        if self.hub is not None:
            await self.hub.aclose()

    async def stop_divida(self) -> None:
        """Wait for the dívida accesses' audit entries on their way, then close the debt partners' connections."""
        if self.divida is not None:
            await self.divida.drain()
            await self.divida.service.aclose()

    def start_probes(self) -> None:
        """Start probing the MNI hub's tribunal installations (``GATEWAY_MNI_PROBE_INTERVAL_S`` > 0), and reload the
        registry on SIGHUP (where the loop can take signals: the main thread of ``gateway serve``)."""
        hub = self.hub
        if hub is None or self._probe_task is not None:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._reload_on_signal)
        if self.settings.mni_probe_interval_s > 0:
            self._probe_stop = asyncio.Event()
            self._probe_task = loop.create_task(hub.monitor.probe_forever(
                lambda: hub.registry.all_installations(), self.settings.mni_probe_interval_s,
                self.settings.mni_probe_timeout_s, self._probe_stop))

    async def stop_probes(self) -> None:
        """Stop the probe and the SIGHUP handler."""
        if self.hub is None:
            return
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._probe_task is not None and self._probe_stop is not None:
            self._probe_stop.set()
            try:
                await asyncio.wait_for(self._probe_task, timeout=10)
            except TimeoutError:
                self._probe_task.cancel()
            self._probe_task = None

    def start_intimacoes(self) -> None:
        """Start the intimations' collector (``GATEWAY_INTIMACOES_INTERVALO_S`` > 0) and the callbacks' pusher as
        tasks of the running loop (when the MNI hub is configured)."""
        if self.intimacoes is None or self._intimacoes_stop is not None:
            return
        self._intimacoes_stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if self.collector is not None:
            self._intimacoes_tasks.append(loop.create_task(self.collector.run_forever(self._intimacoes_stop)))
        if self.callback_pusher is not None:
            self._intimacoes_tasks.append(loop.create_task(self.callback_pusher.run_forever(self._intimacoes_stop)))

    def start_execucoes(self) -> None:
        """Start the execuções fiscais' sender and status callbacks (issue 12 point 3) as tasks of the running loop,
        wherever the relay runs — ``gateway serve`` with ``GATEWAY_RELAY_ENABLED``, and ``gateway relay`` — when the
        hub is configured. A process that only serves (relay disabled) stores filings; the delivering process finds
        them at its next poll (the sender's ``poll_s``)."""
        if self.execucao_sender is None or self._execucao_stop is not None or not self.delivers:
            return
        self._execucao_stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._execucao_task = loop.create_task(self.execucao_sender.run_forever(self._execucao_stop))
        if self.execucao_callbacks is not None:
            self._execucao_tasks.append(loop.create_task(self.execucao_callbacks.run_forever(self._execucao_stop)))

    async def stop_execucoes(self) -> None:
        """Stop the sender (10 s to record what it is sending; what it could not record expires indeterminada)."""
        if self._execucao_stop is None or self._execucao_task is None:
            return
        self._execucao_stop.set()
        for task in [self._execucao_task, *self._execucao_tasks]:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
        self._execucao_tasks.clear()
        self._execucao_stop = self._execucao_task = None

    async def stop_intimacoes(self) -> None:
        """Stop the collector and the callbacks' pusher (each given 10 s to finish what it is doing)."""
        if self._intimacoes_stop is None:
            return
        self._intimacoes_stop.set()
        for task in self._intimacoes_tasks:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
        self._intimacoes_tasks.clear()
        self._intimacoes_stop = None

    def reload_registry(self) -> Registry:
        """Read ``GATEWAY_MNI_REGISTRY_PATH`` again and swap the hub's registry (a call in flight keeps the one it
        started with). Errors: RegistryError (GATEWAY-E003: the file is invalid, the running registry stays),
        SettingsError (GATEWAY-E001) when the hub is not configured."""
        hub = self.hub
        if hub is None:
            raise SettingsError("hub MNI não configurado (GATEWAY_MNI_REGISTRY_PATH)")

        def apply(registry: Registry) -> None:
            hub.registry = registry

        return reload_registry(self.settings.mni_registry_path, apply,
                               lambda outcome: self.metrics.mni_registry_reloads.labels(outcome).inc())

    def _reload_on_signal(self) -> None:
        with contextlib.suppress(OperatorError):  # logged by reload_registry; the running registry stays
            self.reload_registry()

    def partner_status(self) -> dict[str, object]:
        """What ``/readyz`` reports about partners (never a reason for 503: store-and-forward keeps accepting)."""
        states = self.relay.circuit_states() if self.relay else {}
        for name, state in states.items():
            self.metrics.circuit_open.labels(name).set(0 if state == "closed" else 1)
        configured = {TSE: bool(self.settings.tse_url), CNJ: bool(self.settings.cnj_url)}
        status: dict[str, object] = {"relay": "ativo" if self.relay else "desativado",
                                     "partners": {name: (states.get(name, "closed") if ok else "não configurado")
                                                  for name, ok in configured.items()}}
        if self.hub is not None:  # the tribunals' reachability: reported, never a reason for 503
            status["tribunais"] = self.hub.monitor.report(self.hub.registry.all_installations())
        if self.collector is not None:  # the intimations' last collection per court: reported, never a 503
            status["intimacoes"] = self.collector.report()
        if self.divida is not None:  # the debt partners' breakers: reported, never a reason for 503
            service = self.divida.service
            status["divida"] = {credor: (state if credor in service.partners else "não configurado")
                                for credor, state in service.circuitos().items()}
        return status


def build(settings: Settings, clock: Clock | None = None, relay_wanted: bool | None = None) -> Gateway:
    """Wire a gateway from *settings* (nothing is opened until :meth:`Gateway.start`)."""
    if relay_wanted is None:
        relay_wanted = settings.relay_enabled
    clock = clock or SystemClock()
    keys.check_settings(settings)
    writer = make_engine(settings.database_url, writer=True, pool_size=2, timeout_s=settings.commit_timeout_s,
                         cache_mb=settings.sqlite_writer_cache_mb)
    reader = make_engine(settings.database_url, pool_size=settings.reader_pool_size,
                         timeout_s=settings.commit_timeout_s)
    signer = _signer(settings)
    secret = settings.secret_key.encode() if settings.secret_key else secrets.token_bytes(32)
    hook = crash_hook(settings)
    committer = GroupCommitter(writer, clock, signer, max_batch=settings.commit_batch_max,
                               wait_ms=settings.commit_wait_ms, checkpoint_every=settings.audit_checkpoint_every,
                               crash_hook=hook, timeout_s=settings.commit_timeout_s,
                               queue_max=settings.commit_queue_max)
    delivery = DeliveryService(committer, reader)
    metrics = Metrics(delivery.outbox_counts)
    throttle = LoginThrottle(clock, settings.login_max_failures, settings.login_window_s)
    state = AuthState(reader, clock, settings.auth_refresh_s)
    auth = CertificateAuthenticator(reader, secret, settings.auth_cache_seconds, settings.password_kdf_n,
                                    throttle=throttle, metrics=metrics, state=state)
    auth.certificates = CertificateDirectory(reader, clock, settings.client_cert_cache_s)
    tribunal_store = keys.credential_store(settings, secret.hex())
    admin = AdminService(committer.run_sync, reader, clock, settings.password_kdf_n, tribunal_store,
                         Actor("desconhecido", "rest"), listeners=[state.invalidate])
    admission = Admission(settings.intake_max_inflight, settings.overload_retry_after_s,
                          lambda channel: metrics.rejected.labels(channel, "INFODIP-E092").inc(),
                          target_s=settings.intake_target_ms / 1000,
                          lag_target_s=settings.intake_max_lag_ms / 1000, monotonic=clock.monotonic)
    adapters = build_adapters(settings)
    relay = None
    if adapters and relay_wanted:
        relay = Relay(committer, adapters, clock, metrics, policy=RelayPolicy.of(settings),
                      is_postgres=not is_sqlite(settings.database_url), crash_hook=hook, intake_busy=admission.busy)
    infodip = InfodipService(IntakeChecks(settings, clock), committer, reader, clock)
    if relay is not None:  # what intake stores and what an operator replays is delivered now, not at the next poll
        infodip.listeners.append(relay.wake)
        delivery.listeners.append(relay.wake)
    deprecation_10 = deprecation_of("1.0", settings.infodip_1_0_deprecation, settings.infodip_1_0_sunset,
                                    ENDPOINT_11 + "?wsdl")
    consulta = ConsultaService(committer, reader, clock, load_rules(settings.consulta_rules_path or None),
                               ZoneInfo(settings.timezone), secret,
                               ClientRateLimit(settings.consulta_rate_per_minute, clock), settings.consulta_page_max)
    # the person index is written with each envio and retificação, in its transaction
    infodip.stored_hooks.append(lambda conn, protocol, comm, version: consulta_store.record_person(
        conn, protocol, PersonKeys.of(comm.person), new=version == 1))
    # the public statistics' counts follow each new communication and each cancelamento, in its transaction
    infodip.accepted_hooks.append(estatisticas_store.count_new_at_commit)
    infodip.withdrawn_hooks.append(estatisticas_store.withdrawn_at_commit)
    infodip.rekeyed_hooks.append(estatisticas_store.rekeyed_at_commit)  # a retificação naming another person
    feed = FeedService(reader, committer, clock)
    pusher = outcomes = None
    if relay is not None:  # the processes that deliver also push the feed and ask the TSE store what it did
        pusher = WebhookPusher(feed, committer, clock, PushPolicy(
            batch=settings.feed_webhook_batch, timeout_s=settings.feed_webhook_timeout_s,
            base_backoff_s=settings.feed_webhook_base_backoff_s, max_backoff_s=settings.feed_webhook_max_backoff_s,
            max_attempts=settings.feed_webhook_max_attempts, poll_s=settings.feed_webhook_poll_s))
        infodip.listeners.append(pusher.wake)
        tse = adapters.get(TSE)
        if isinstance(tse, TseAdapter) and settings.tse_outcome_poll_s > 0:
            outcomes = OutcomePoller(tse, committer, reader, clock, settings.tse_outcome_poll_s)
    webhooks = WebhookService(reader, committer, clock, listeners=[pusher.subscriptions_changed] if pusher else [])
    obitos = ObitosService(settings, committer, reader, clock, listeners=infodip.listeners,
                           intake_busy=admission.busy)
    hub = None
    if settings.mni_registry_path:
        assert tribunal_store is not None  # a fallback secret always forms a key
        hub = Hub(load_registry(settings.mni_registry_path), tribunal_store, auth, committer, reader, clock,
                  AiohttpTribunalClient(settings.mni_timeout_s), settings.mni_limits,
                  timedelta(hours=settings.mni_filing_ttl_hours), monitor=TribunalMonitor(clock, metrics))
    intimacoes = intimacao_callbacks = collector = callback_pusher = None
    execucoes = execucao_sender = execucao_callbacks = None
    if hub is not None:  # the intimations brought back to the procuradorias (issue 12 point 7), through the hub
        intimacoes = IntimacoesService(hub, committer, reader, clock, ZoneInfo(settings.timezone),
                                       settings.intimacoes_timeout_s)
        # issue 12 point 4 (h12a): an intimation proving an indeterminada filing protocolled resolves it
        execucoes, execucao_sender = build_execucao(settings, hub, committer, reader, clock)
        intimacoes.evidence_hook = execucoes.resolve_from_evidence
        execucao_callbacks = ExecucaoCallbacks(
            reader, committer, clock, timeout_s=settings.feed_webhook_timeout_s, poll_s=settings.feed_webhook_poll_s,
            base_backoff_s=settings.feed_webhook_base_backoff_s, max_backoff_s=settings.feed_webhook_max_backoff_s)
        intimacao_callbacks = Callbacks(intimacoes, committer)
        callback_pusher = CallbackPusher(intimacoes, PushPolicy(
            batch=settings.feed_webhook_batch, timeout_s=settings.feed_webhook_timeout_s,
            base_backoff_s=settings.feed_webhook_base_backoff_s, max_backoff_s=settings.feed_webhook_max_backoff_s,
            max_attempts=settings.feed_webhook_max_attempts, poll_s=settings.feed_webhook_poll_s))
        intimacoes.listeners.append(callback_pusher.wake)
        intimacao_callbacks.listeners.append(callback_pusher.wake)
        if settings.intimacoes_intervalo_s > 0:
            the_hub = hub
            collector = Collector(intimacoes, lambda: the_hub.registry, parse_tribunais(settings.intimacoes_tribunais),
                                  [o.strip() for o in settings.intimacoes_orgaos.split(",") if o.strip()],
                                  settings.intimacoes_intervalo_s, settings.intimacoes_backoff_max_s, metrics)
    return Gateway(
        settings=settings, clock=clock, writer_engine=writer, reader_engine=reader, signer=signer,
        committer=committer, auth=auth, infodip=infodip, obitos=obitos, delivery=delivery, metrics=metrics,
        admission=admission,
        adapters=adapters, relay=relay, hub=hub, throttle=throttle,
        tokens=TokenIssuer(secret, clock, settings.token_ttl_s), admin=admin, consulta=consulta,
        deprecation_10=deprecation_10,
        divida=DividaAccess(build_divida(settings, clock), committer, clock,
                            ClientRateLimit(settings.divida_limite_por_minuto, clock)),
        forwarding=Forwarding(settings.public_url, settings.trusted_networks),
        feed=feed, webhooks=webhooks, pusher=pusher, outcomes=outcomes,
        intimacoes=intimacoes, intimacao_callbacks=intimacao_callbacks, collector=collector,
        callback_pusher=callback_pusher, execucoes=execucoes, execucao_sender=execucao_sender,
        execucao_callbacks=execucao_callbacks, delivers=relay_wanted,
        # issue 16 (h16): people of the web form and the console (changes through the committer, audited)
        people=People(committer.run_sync, reader, clock, secret, kdf_n=settings.password_kdf_n,
                      idle_s=settings.web_session_idle_s),
        estatisticas=EstatisticasService(reader, clock, settings.estatisticas_limiar, settings.estatisticas_cache_s,
                                         settings.estatisticas_uf),
        certidoes=build_certidoes(settings, committer, reader, clock, secret),
    )


def _signer(settings: Settings) -> Signer | None:
    """The audit checkpoints' signing key, or None (with a warning) when none is configured. Errors: SettingsError
    (GATEWAY-E001) for a key that cannot be read."""
    if not settings.signing_key_path:
        log.warning("GATEWAY_SIGNING_KEY_PATH não definido: checkpoints do log de auditoria não serão assinados")
        return None
    try:
        return load_signing_key(settings.signing_key_path)
    except (OSError, ValueError, TypeError) as exc:
        raise SettingsError(f"GATEWAY_SIGNING_KEY_PATH: não foi possível ler a chave Ed25519 "
                            f"{settings.signing_key_path} ({exc})") from exc


def tribunal_credential_store(settings: Settings) -> CredentialStore | None:
    """The encrypted store of the hub clients' credentials towards tribunals (:func:`gateway.keys.fernet_keys`: the
    current key writes, the previous ones read); None when no key is set. Errors: SettingsError (GATEWAY-E001) for a
    key that is not a Fernet key."""
    return keys.credential_store(settings)


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """One adapter per configured partner."""
    adapters: dict[str, Adapter] = {}
    if settings.tse_url:
        adapters[TSE] = TseAdapter(settings.tse_url, settings.partner_timeout_s, settings.partner_batch_max)
    if settings.cnj_url:
        adapters[CNJ] = CnjAdapter(settings.cnj_url, settings.partner_timeout_s, settings.partner_batch_max)
    return adapters


TITLE = "Gateway de interoperabilidade do Judiciário"
#: whether this process froze its start-up objects out of the garbage collector's sight (Gateway.warm_up)
_GC_FROZEN = False


def create_app(settings: Settings, clock: Clock | None = None, gateway: Gateway | None = None) -> FastAPI:
    """The ASGI application of ``gateway serve`` and the sandbox. With ``GATEWAY_OPS_LISTEN`` set it serves neither
    ``/metrics``, ``/readyz``, ``/docs`` nor ``/openapi.json`` (:func:`create_ops_app` does); ``/healthz`` always."""
    gw = gateway or build(settings, clock)
    public_ops = settings.ops_address is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.start()
        gw.start_relay()
        gw.start_reports()
        gw.start_probes()
        gw.start_intimacoes()
        gw.start_execucoes()
        gw.start_spooled()
        await gw.warm_up()
        try:
            yield
        finally:
            # The background workers are independent and each stop is bounded (10–30 s): stopping them together
            # bounds a shutdown (Ctrl+C, SIGTERM) by the slowest one instead of their sum.
            await asyncio.gather(gw.stop_spooled(), gw.obitos.drain(), gw.stop_execucoes(), gw.stop_intimacoes(),
                                 gw.stop_probes(), gw.stop_relay(), gw.stop_divida(), gw.stop_reports())
            gw.stop()

    app = FastAPI(
        title=TITLE,
        version="1.0",
        description="INFODIP (SOAP 1.1 em /soap/infodip), operações e saúde. Ver README.",
        lifespan=lifespan,
        docs_url=None,  # /docs is ops.docs_routes', with bundled assets (no CDN)
        redoc_url=None,
        openapi_url="/openapi.json" if public_ops else None,
    )
    app.state.gateway = gw
    budget = BodyBudget(settings.body_budget_bytes, settings.body_budget_min_bytes, settings.body_budget_wait_s)
    infodip = InfodipEndpoint(gw.infodip, gw.auth, settings.infodip_limits, gw.metrics, budget, gw.forwarding)
    app.add_route("/soap/infodip", infodip.post, methods=["POST"], include_in_schema=False)
    app.add_route("/soap/infodip", infodip.get, methods=["GET"], include_in_schema=False)
    tz = ZoneInfo(settings.timezone)
    infodip.deprecation = gw.deprecation_10
    infodip.today = lambda: local_today(gw.clock.now(), tz)  # type: ignore[method-assign]
    infodip11 = Infodip11Endpoint(gw.infodip, gw.auth, settings.infodip_limits, gw.metrics, budget, gw.forwarding)
    assert gw.consulta is not None  # build() sets it
    infodip11.consulta = gw.consulta
    app.add_route(ENDPOINT_11, infodip11.post, methods=["POST"], include_in_schema=False)
    app.add_route(ENDPOINT_11, infodip11.get, methods=["GET"], include_in_schema=False)
    crc = CrcEndpoint(gw.obitos, gw.auth, gw.metrics, gw.forwarding)
    app.add_route("/soap/crc", crc.post, methods=["POST"], include_in_schema=False)
    app.add_route("/soap/crc", crc.get, methods=["GET"], include_in_schema=False)
    mni = MniEndpoint(gw.hub, settings.mni_max_body_bytes, gw.metrics, budget, gw.forwarding,
                      spill_dir=settings.obitos_spool_dir, spill_threshold=settings.mni_spill_threshold_bytes)
    app.add_route("/soap/mni", mni.post, methods=["POST"], include_in_schema=False)
    app.add_route("/soap/mni", mni.get, methods=["GET"], include_in_schema=False)
    app.add_route("/xsd/{name}", ops.xsd, methods=["GET"], include_in_schema=False)
    app.add_route("/healthz", ops.healthz, methods=["GET"], include_in_schema=False)
    if public_ops:
        app.add_route("/readyz", ops.readyz_endpoint(Health(gw.reader_engine, gw.partner_status)), methods=["GET"],
                      include_in_schema=False)
        app.add_route("/metrics", ops.metrics_endpoint(gw.metrics), methods=["GET"], include_in_schema=False)
        app.router.routes.extend(ops.docs_routes(f"{TITLE} — API"))
    assert gw.tokens is not None and gw.admin is not None  # build() sets both
    oauth.install(app, oauth.OAuthEdge(gw.auth, gw.tokens, settings.admin_token))
    rest.install(app, gw.infodip, gw.delivery,
                 reload_registry=gw.reload_registry if gw.hub is not None else None)
    rest_obitos.install(app, gw.obitos)
    admin_api.install(app, gw.admin)
    rest_consulta.install(app, gw.consulta)
    assert gw.feed is not None and gw.webhooks is not None
    feed_api.install(app, gw.feed, gw.webhooks)
    if gw.divida is not None:
        divida_api.install(app, gw.divida)
    web_render.install(app)  # /static/: the pages' bundled assets
    if gw.estatisticas is not None:  # issue 15: public statistics and certificates, no authentication
        estatisticas_api.install(app, gw.estatisticas, tz)
    if gw.certidoes is not None:
        certidoes_api.install(app, gw.certidoes)
    if gw.intimacoes is not None and gw.intimacao_callbacks is not None:
        intimacoes_api.install(app, gw.intimacoes, gw.intimacao_callbacks)
    if gw.execucoes is not None:
        execucao_api.install(app, gw.execucoes, gw.settings.mni_limits)
    # issue 16 (h16): the web form (/web/) and the operators' console (/console/), one session for both
    assert gw.people is not None
    pages = web_session.Pages(gw.people, settings.web_cookie_secure, gw.forwarding)
    web_form.install(app, web_form.WebForm(pages, PasswordAuthenticator(gw.people, gw.throttle), gw.infodip,
                                           gw.consulta, gw.reader_engine, gw.metrics))
    web_console.install(app, web_console.Console(pages, gw.delivery, gw.consulta, gw.reader_engine, gw.clock,
                                                 ZoneInfo(settings.timezone), lambda: gw.hub))
    app.add_middleware(ClientCertificateMiddleware, forwarding=gw.forwarding)
    app.add_middleware(ClientAddressMiddleware, forwarding=gw.forwarding)
    app.add_middleware(AdmissionMiddleware, admission=gw.admission)  # intake sheds load beyond its bound
    return app


def create_ops_app(app: FastAPI) -> Starlette:
    """The operations application of ``GATEWAY_OPS_LISTEN``: ``/healthz``, ``/readyz``, ``/metrics``, and the public
    application's ``/openapi.json`` and ``/docs`` (its schema, built on first use). No lifespan: the public
    application's opens and closes the gateway."""
    gw: Gateway = app.state.gateway
    schema: dict[str, object] = {}

    async def openapi(_request: Request) -> Response:
        if not schema:
            schema.update(app.openapi())
        return JSONResponse(schema)

    return Starlette(routes=[
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz_endpoint(Health(gw.reader_engine, gw.partner_status)), methods=["GET"]),
        Route("/metrics", ops.metrics_endpoint(gw.metrics), methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *ops.docs_routes(f"{TITLE} — API"),
    ])


class Console:
    """What operator commands use: the CLI, the sandbox's setup, tests that seed a database.

    Each part is built on first use, and what was opened is closed when the :func:`console` block ends:
    ``gateway validate`` opens nothing, ``gateway organ add`` one engine, ``gateway replay`` a started gateway
    (its writer and its audit chain)."""

    def __init__(self, settings: Settings, clock: Clock | None = None, *,
                 announce: Callable[[str], None] | None = None, create_database: bool = True) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.announce = announce
        self.create_database = create_database
        self._gateway: Gateway | None = None
        self._announced = False

    def database(self) -> str:
        """Say which database this console touches (once, through *announce*: ``banco de dados: URL (origem)``,
        its password masked; a SQLite file by its absolute path). Errors: OperatorError (GATEWAY-E050) when the
        SQLite file does not exist and this console may not create it — an operator command run in the wrong
        directory must not answer from a new, empty database."""
        url = self.settings.database_url
        path = sqlite_path(normalise_url(url))
        if path is not None and not self.create_database and not path.exists():
            raise OperatorError(f"banco de dados não encontrado: {path.resolve()} — defina GATEWAY_DATABASE_URL "
                                "ou GATEWAY_CONFIG_FILE (o sandbox imprime a linha a usar), ou crie-o com gateway "
                                "migrate", code="GATEWAY-E050", field="database_url")
        shown = f"sqlite:///{path.resolve()}" if path is not None else redact_url(url)
        if self.announce is not None and not self._announced:
            self._announced = True
            self.announce(f"banco de dados: {shown} ({self.settings.sources.get('database_url', 'padrão')})")
        return shown

    @cached_property
    def writer(self) -> Engine:
        """A writer engine on the settings' database (SQLite: the write lock taken at BEGIN)."""
        self.database()
        return make_engine(self.settings.database_url, writer=True)

    @cached_property
    def reader(self) -> Engine:
        """A reading engine on the settings' database (never takes the write lock)."""
        self.database()
        return make_engine(self.settings.database_url, pool_size=1)

    @cached_property
    def admin(self) -> AdminService:
        """Organs, credentials and grants; changes in transactions of their own, audited on a chain of this command
        (the operator: the OS user unless a command names another)."""
        signer = _signer(self.settings) if self.settings.signing_key_path else None
        return AdminService(Transactions(self.writer, self.clock, signer), self.reader, self.clock,
                            self.settings.password_kdf_n, tribunal_credential_store(self.settings),
                            Actor.os_user())

    @cached_property
    def people(self) -> People:
        """The people of the web form and the console (``gateway user …``): changes in transactions of their own,
        audited on a chain of this command (issue 16)."""
        signer = _signer(self.settings) if self.settings.signing_key_path else None
        secret = self.settings.secret_key.encode() if self.settings.secret_key else secrets.token_bytes(32)
        return People(Transactions(self.writer, self.clock, signer), self.reader, self.clock, secret,
                      kdf_n=self.settings.password_kdf_n, idle_s=self.settings.web_session_idle_s)

    def check_keys(self) -> None:
        """Refuse, before serving, a key that cannot read the stored MNI credentials (when the hub is configured).
        Errors: KeyMismatch (GATEWAY-E060)."""
        if not self.settings.mni_registry_path:
            return
        engine = make_engine(self.settings.database_url, pool_size=1)
        try:  # its own engine, closed before the gateway's are made
            keys.check_readable(engine, tribunal_credential_store(self.settings))
        finally:
            engine.dispose()

    @cached_property
    def history(self) -> HistoryImport:
        """The history import (``gateway import``): its writes in transactions of their own, on an audit chain of
        this command."""
        signer = _signer(self.settings) if self.settings.signing_key_path else None
        return HistoryImport(self.settings, self.writer, self.reader, self.clock,
                             Transactions(self.writer, self.clock, signer))

    @cached_property
    def intake(self) -> IntakeChecks:
        """INFODIP intake's checks, the same pipeline as ``/soap/infodip`` (no database)."""
        return IntakeChecks(self.settings, self.clock)

    def gateway(self, *, relay: bool = False) -> Gateway:
        """A started gateway (migrated when allowed), delivering when *relay* (the INFODIP relay when TSE/CNJ are
        configured, the execuções fiscais' sender when the MNI hub is). Errors: SettingsError (GATEWAY-E001) when
        delivery is asked for and neither is configured."""
        if self._gateway is None:
            self.database()
            gw = build(self.settings, self.clock, relay_wanted=relay)
            if relay and gw.relay is None and gw.execucao_sender is None:
                raise SettingsError("nada a entregar: nenhum parceiro configurado (GATEWAY_TSE_URL, GATEWAY_CNJ_URL) "
                                    "nem hub MNI (GATEWAY_MNI_REGISTRY_PATH)")
            gw.start()
            self._gateway = gw
        return self._gateway

    def migrate(self, revision: str = "head") -> str:
        """Bring the database to *revision*; return the revision it is at."""
        migrate.upgrade(self.writer, revision)
        return str(migrate.current_revision(self.writer))

    def verify_audit(self, public_key_path: str | None = None) -> tuple[audit.VerifyReport, bool]:
        """Walk every audit chain; check checkpoint signatures with the PEM public key at *public_key_path*, else
        the settings' signing key. Returns the report and whether signatures were checked. Errors: OperatorError
        (GATEWAY-E002) for an unreadable public key, SettingsError for an unreadable signing key."""
        public_key: Ed25519PublicKey | None = None
        if public_key_path:
            try:
                loaded = serialization.load_pem_public_key(Path(public_key_path).read_bytes())
            except (OSError, ValueError) as exc:
                raise OperatorError(f"chave pública ilegível: {public_key_path} ({exc})", field="public-key") from exc
            if not isinstance(loaded, Ed25519PublicKey):
                raise OperatorError(f"{public_key_path} não é uma chave pública Ed25519", field="public-key")
            public_key = loaded
        else:
            signer = _signer(self.settings) if self.settings.signing_key_path else None
            public_key = signer.public_key if signer else None
        with self.reader.connect() as conn:
            return audit.verify(conn, public_key), public_key is not None

    def close(self) -> None:
        """Stop what was started and release every connection."""
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        admin = self.__dict__.pop("admin", None)
        if isinstance(admin, AdminService) and isinstance(admin.run, Transactions):
            admin.run.close()
        people = self.__dict__.pop("people", None)
        if isinstance(people, People) and isinstance(people.run, Transactions):
            people.run.close()
        history = self.__dict__.pop("history", None)
        if isinstance(history, HistoryImport):
            history.run.close()
        for name in ("writer", "reader"):
            engine = self.__dict__.pop(name, None)
            if engine is not None:
                engine.dispose()


@contextmanager
def console(settings: Settings, clock: Clock | None = None, *, announce: Callable[[str], None] | None = None,
            create_database: bool = True) -> Iterator[Console]:
    """A :class:`Console` for the block, closed at its end (*announce*, *create_database*: :meth:`Console.database`)."""
    con = Console(settings, clock, announce=announce, create_database=create_database)
    try:
        yield con
    finally:
        con.close()

