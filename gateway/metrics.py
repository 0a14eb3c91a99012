"""Prometheus metrics (names prefixed ``gateway_``), one registry per application instance.

``docs/alerts.yml`` holds example alert rules on these names and ``docs/deploy.md`` says what each alert means; a
test checks that every name a rule uses is exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _DbGauges(Collector):
    """Gauges read from the database at scrape time (outbox depth, dead letters)."""

    def __init__(self, read: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("gateway_database_up", "1 when the database answered this scrape's outbox query, else 0")
        try:
            counts = self.read()
        except Exception:  # a scrape must never fail because the database is down
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("gateway_outbox_depth", "Outbox rows not yet delivered, per destination",
                                  labels=["destination"])
        dead = GaugeMetricFamily("gateway_dead_letters", "Outbox rows in the dead-letter state, per destination",
                                 labels=["destination"])
        for destination, by_status in sorted(counts.items()):
            depth.add_metric([destination], sum(n for s, n in by_status.items() if s not in ("delivered",)))
            dead.add_metric([destination], by_status.get("dead", 0))
        yield depth
        yield dead


class Metrics:
    """The gateway's metrics."""

    def __init__(self, outbox_counts: Callable[[], dict[str, dict[str, int]]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter("gateway_messages_accepted_total", "Messages accepted and stored",
                                ["channel", "kind", "operation"], registry=self.registry)
        self.replayed = Counter("gateway_messages_replayed_total", "Idempotent resubmissions answered from storage",
                                ["channel"], registry=self.registry)
        self.rejected = Counter("gateway_messages_rejected_total", "Requests refused, by error code",
                                ["channel", "code"], registry=self.registry)
        self.late = Counter("gateway_messages_late_total", "Communications accepted after their deadline",
                            ["kind"], registry=self.registry)
        self.latency = Histogram("gateway_request_duration_seconds", "Time to answer a request",
                                 ["channel"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.deliveries = Counter("gateway_deliveries_total", "Delivery attempts by destination and outcome",
                                  ["destination", "outcome"], registry=self.registry)
        self.circuit_open = Gauge("gateway_circuit_open",
                                  "1 while the circuit breaker towards a partner is not closed (open or half-open)",
                                  ["destination"], registry=self.registry)
        self.login_failures = Counter("gateway_login_failures_total", "Failed logins (wrong user or password)",
                                      ["channel"], registry=self.registry)
        self.logins_throttled = Counter("gateway_logins_throttled_total",
                                        "Login attempts refused unchecked: too many failures of that user from that "
                                        "address", ["channel"], registry=self.registry)
        self.connection_events = Counter("gateway_connection_events_total",
                                         "Connections cut or refused by the server (slow head or body, idle, caps, "
                                         "invalid requests, clients gone away)", ["reason"], registry=self.registry)
        # The MNI hub (gateway/hub/monitor.py): each call to a tribunal installation ("8.19/1") and operation
        self.mni_calls = Counter("gateway_mni_calls_total",
                                 "Calls from the MNI hub to tribunal installations by outcome: sucesso (the tribunal "
                                 "answered sucesso=true), insucesso (it answered sucesso=false), erro (no usable "
                                 "answer: unreachable, timeout, refused, unreadable)",
                                 ["installation", "operation", "outcome"], registry=self.registry)
        self.mni_duration = Histogram("gateway_mni_call_duration_seconds",
                                      "Time from sending a call to a tribunal installation to having read its answer",
                                      ["installation", "operation"], registry=self.registry,
                                      buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.mni_errors = Counter("gateway_mni_errors_total",
                                  "Calls to tribunal installations without a usable answer, by the code the client "
                                  "got (MNI-E041 unreachable, MNI-E042 timeout, MNI-E043 filing indeterminate, "
                                  "MNI-E047 unreadable)", ["installation", "operation", "code"], registry=self.registry)
        self.mni_answers = Counter("gateway_mni_answers_total",
                                   "Answers of the MNI hub to its clients by operation and code: OK, or the MNI-E… "
                                   "code of a sucesso=false answer or a Fault", ["operation", "code"],
                                   registry=self.registry)
        self.mni_installation_up = Gauge("gateway_mni_installation_up",
                                         "1 when the latest probe or call reached the tribunal installation, 0 when "
                                         "it did not (absent until either happened)", ["installation"],
                                         registry=self.registry)
        self.mni_spilled = Counter("gateway_mni_spilled_bytes_total",
                                   "Bytes of large documents the MNI hub kept on disk instead of in memory while "
                                   "they passed (gateway/mni/spill.py): base64 runs and MTOM parts, both directions",
                                   registry=self.registry)
        self.mni_registry_reloads = Counter("gateway_mni_registry_reloads_total",
                                            "Reloads of the MNI registry file (SIGHUP or the operations API) by "
                                            "outcome: ok, or invalido (the previous registry was kept)", ["outcome"],
                                            registry=self.registry)
        self.intimacoes_collections = Counter("gateway_intimacoes_collections_total",
                                              "Collections of a procuradoria's pending avisos at one court "
                                              "installation, by outcome: ok or erro", ["installation", "outcome"],
                                              registry=self.registry)
        self.intimacoes_new = Counter("gateway_intimacoes_new_total",
                                      "Intimations stored for the first time, by court installation",
                                      ["installation"], registry=self.registry)
        if outbox_counts is not None:
            self.registry.register(_DbGauges(outbox_counts))
