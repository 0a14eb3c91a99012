"""Public statistics (Res. Conjunta 6/2020 art. 9 I): the fixed grid of :mod:`gateway.estatisticas.domain`,
suppressed as :mod:`gateway.estatisticas.suppression` says, read from counts kept at acceptance.

:class:`EstatisticasService` answers one year (every kind, or one) from a cache of suppressed tables per kind and
year: a kind-year is recomputed when its cached copy is older than ``cache_s`` **and** its atomic counts changed
(one indexed read of at most organs × 12 × 2 rows), in a background thread while the previous tables are
answered. Filters only select published cells (:class:`Filter`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from gateway.clock import Clock
from gateway.errors import ValidationFailed
from gateway.estatisticas import store
from gateway.estatisticas.domain import KINDS, NO_UF, UFS, KindTable, build

log = logging.getLogger(__name__)
#: the oldest and newest years a filter may name (communications predate the gateway: imported history)
FIRST_YEAR, LAST_YEAR = 1990, 2100


@dataclass(frozen=True)
class Filter:
    """What a request selects: one year; one kind or all; one UF or all (rows only: never a new sum)."""

    year: int
    kind: str | None = None
    uf: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], default_year: int) -> Filter:
        """From query parameters ``ano``, ``tipo``, ``uf``. Errors: ValidationFailed ESTAT-E001 (ano), E002 (tipo),
        E003 (uf), E004 (any other parameter: the grid has no other selection)."""
        unknown = sorted(set(params) - {"ano", "tipo", "uf"})
        if unknown:
            raise ValidationFailed("ESTAT-E004", f"parâmetro não aceito: {unknown[0]} (filtros: ano, tipo, uf)",
                                   field=unknown[0])
        raw_year = params.get("ano") or str(default_year)
        if not raw_year.isdigit() or not FIRST_YEAR <= int(raw_year) <= LAST_YEAR:
            raise ValidationFailed("ESTAT-E001", f"ano inválido: {raw_year[:10]!r} (AAAA, {FIRST_YEAR}–{LAST_YEAR})",
                                   field="ano")
        kind = params.get("tipo") or None
        if kind is not None and kind not in KINDS:
            raise ValidationFailed("ESTAT-E002", f"tipo inválido: {kind[:10]!r} (I a IX)", field="tipo")
        uf = (params.get("uf") or "").upper() or None
        if uf is not None and uf not in UFS and uf != NO_UF:
            raise ValidationFailed("ESTAT-E003", f"UF inválida: {uf[:10]!r}", field="uf")
        return cls(int(raw_year), kind, uf)


@dataclass(frozen=True)
class Answer:
    """The tables of one request, as of ``computed_at`` (the oldest cached table's time)."""

    filter: Filter
    threshold: int
    tables: tuple[KindTable, ...]
    years: tuple[int, ...]
    computed_at: datetime


class EstatisticasService:
    """The public statistics. ``uf_config``: JSON code → UF for organs without their own (settings)."""

    def __init__(self, reader: Engine, clock: Clock, threshold: int = 5, cache_s: float = 60.0,
                 uf_config: str = "") -> None:
        self.reader = reader
        self.clock = clock
        self.threshold = threshold
        self.cache_s = cache_s
        self.uf_config: dict[str, str] = {str(k): str(v).upper() for k, v in json.loads(uf_config).items()} \
            if uf_config.strip() else {}
        self._cache: dict[tuple[str, int], tuple[float, int, KindTable, datetime]] = {}
        self._years_cache: tuple[float, tuple[int, ...]] | None = None
        self._refreshing: set[int] = set()
        self._lock = threading.Lock()

    def answer(self, flt: Filter) -> Answer:
        """The tables *flt* selects (blocking: call it off the event loop). Errors: the database's.

        A kind-year never computed is computed now. One older than ``cache_s`` is answered as it is while a
        background thread re-reads its counts and recomputes it if they changed (``cache_s`` = 0: re-read before
        answering)."""
        kinds = (flt.kind,) if flt.kind else KINDS
        now_mono = self.clock.monotonic()
        stale: list[str] = []
        with self._lock:
            hits = {k: self._cache.get((k, flt.year)) for k in kinds}
        for k, hit in hits.items():
            if hit is not None and now_mono - hit[0] >= self.cache_s:
                if self.cache_s > 0:
                    stale.append(k)
                else:
                    hits[k] = None
        missing = [k for k, hit in hits.items() if hit is None]
        if missing:
            self._refresh(flt.year, missing)
            with self._lock:
                hits.update({k: self._cache[(k, flt.year)] for k in missing})
        if stale:
            self._refresh_later(flt.year, stale)
        tables = tuple(_select(hit[2], flt.uf) for hit in hits.values() if hit is not None)
        return Answer(flt, self.threshold, tables, self._years(now_mono),
                      min(hit[3] for hit in hits.values() if hit is not None))

    def warm_later(self, year: int) -> None:
        """Compute *year*'s tables of every kind in a background thread (at start: the first visitor of the page
        then finds them ready)."""
        self._refresh_later(year, list(KINDS))

    def _refresh(self, year: int, kinds: list[str]) -> None:
        """Re-read the counts of *kinds* in *year* and recompute the tables whose counts (or organs' UFs) changed."""
        now_mono = self.clock.monotonic()
        with self.reader.connect() as conn:
            counts = store.read_year(conn, year, kinds[0] if len(kinds) == 1 else None)
            organs = store.organ_infos(conn, self.uf_config) if counts else {}
        for k in kinds:
            mine = [c for c in counts if c.kind == k]
            used = {c.organ_id for c in mine}
            stamp = hash((tuple(sorted((c.organ_id, c.month, c.situation, c.people) for c in mine)),
                          tuple(sorted((i, o.uf) for i, o in organs.items() if i in used))))
            with self._lock:
                hit = self._cache.get((k, year))
            if hit is not None and hit[1] == stamp:
                table, at = hit[2], hit[3]
            else:
                table, at = build(k, year, mine, organs, self.threshold), self.clock.now()
            with self._lock:
                self._cache[(k, year)] = (now_mono, stamp, table, at)

    def _refresh_later(self, year: int, kinds: list[str]) -> None:
        """:meth:`_refresh` in a daemon thread, at most one per year at a time (errors logged, the old tables kept)."""
        with self._lock:
            if year in self._refreshing:
                return
            self._refreshing.add(year)

        def run() -> None:
            try:
                self._refresh(year, kinds)
            except Exception:  # the stale tables stay; the next request tries again
                log.exception("estatísticas: falha ao recalcular %s", year)
            finally:
                with self._lock:
                    self._refreshing.discard(year)

        threading.Thread(target=run, name=f"estatisticas-{year}", daemon=True).start()

    def _years(self, now_mono: float) -> tuple[int, ...]:
        with self._lock:
            cached = self._years_cache
        if cached is not None and now_mono - cached[0] < max(self.cache_s, 1.0):
            return cached[1]
        with self.reader.connect() as conn:
            years = tuple(store.years(conn))
        with self._lock:
            self._years_cache = (now_mono, years)
        return years


def _select(table: KindTable, uf: str | None) -> KindTable:
    """*table* with only the rows of *uf* (the total and the situations are kept: they are published anyway)."""
    if uf is None:
        return table
    return KindTable(table.kind, table.year, tuple(r for r in table.by_organ if r.uf == uf),
                     tuple(r for r in table.by_uf if r.uf == uf), table.total, table.by_situation, table.withheld)
