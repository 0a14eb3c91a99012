"""Primary and complementary cell suppression for tables published together (no I/O; numpy only).

A *publication* is a set of cells (each a count of people) and the additive relations that bind them: every row
of a table sums to its total, every column to its total, a UF's subtotal is the sum of its organs, the situation
table's total equals the grid's grand total… (:class:`Publication`: one equation ``Σ coef·cell = 0`` each).

**Algorithm** (documented in the README, section "Estatísticas públicas"):

1. *Primary suppression*: every cell with ``0 < value < threshold`` is withheld (zeros are published: nobody is
   there to protect).
2. *Complementary suppression*: first the classic pass — while an equation has exactly one withheld cell, the
   smallest non-zero other cell of it is withheld. Then the exact check: a withheld cell is **recoverable** when
   the published cells and the equations fix its value — over the reals, when the unit vector of the cell lies in
   the row space of the equations restricted to the withheld cells (equivalently: every vector of that
   restriction's null space is zero at the cell) — one SVD per independent block of cells a round. For every
   recoverable cell, the smallest non-zero published cell that shares an equation with it is withheld too (a total
   only when no inner cell is left); rounds repeat until no withheld cell is recoverable. A cell none of whose
   equations has a candidate left makes every non-zero cell of those equations withheld; after
   :data:`MAX_ROUNDS` rounds every non-zero cell is withheld (the bound is what guarantees termination).
3. Every withheld cell holds at least 1, so along any direction of the null space through it the values can move
   by a positive amount either way without turning negative: differencing the published tables (row or column
   totals, a UF's subtotal against its organs, one table against another) never recovers a withheld value.

Filters of the API only *select* cells of a publication already suppressed as a whole; they never compute new sums
(free period arithmetic would let suppressed cells be recovered by differencing).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

#: the default minimum number of people in a published cell (README: ``GATEWAY_ESTATISTICAS_LIMIAR``)
DEFAULT_THRESHOLD = 5
#: rounds of complementary suppression before everything non-zero is withheld
MAX_ROUNDS = 60
_EPS = 1e-8


@dataclass
class Publication:
    """Cells (key → count ≥ 0) and equations (each a sequence of (key, coefficient) summing to zero). ``totals``
    names the cells that are totals (chosen as complements only when no inner cell is left)."""

    cells: dict[Hashable, int] = field(default_factory=dict)
    equations: list[tuple[tuple[Hashable, int], ...]] = field(default_factory=list)
    totals: set[Hashable] = field(default_factory=set)

    def add_sum(self, parts: Iterable[Hashable], total: Hashable) -> None:
        """The equation ``Σ parts = total``."""
        terms = (*tuple((p, 1) for p in parts), (total, -1))
        if len(terms) > 1:
            self.equations.append(terms)
        self.totals.add(total)

    def add_equal(self, a: Hashable, b: Hashable) -> None:
        """The equation ``a = b`` (the same count published in two tables)."""
        self.equations.append(((a, 1), (b, -1)))


def recoverable(pub: Publication, withheld: set[Hashable]) -> set[Hashable]:
    """The withheld cells whose value the published cells and *pub*'s equations determine (over the reals).

    The equations restricted to the withheld cells split into independent blocks (cells linked by sharing an
    equation: a UF's organs, a row…); each block is one small SVD, and a cell is determined when its unit vector lies
    in its block's row space (its projection on the space keeps all its length)."""
    if not withheld:
        return set()
    parent: dict[Hashable, Hashable] = {k: k for k in withheld}

    def find(k: Hashable) -> Hashable:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    rows: list[dict[Hashable, float]] = []
    for eq in pub.equations:
        row: dict[Hashable, float] = {}
        for k, coef in eq:
            if k in withheld:
                row[k] = row.get(k, 0.0) + coef
        row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        rows.append(row)
        first, *rest = row
        for k in rest:
            a, b = find(first), find(k)
            if a != b:
                parent[a] = b
    blocks: dict[Hashable, list[dict[Hashable, float]]] = {}
    for row in rows:
        blocks.setdefault(find(next(iter(row))), []).append(row)
    out: set[Hashable] = set()
    # one BLAS thread: these matrices are small, and OpenBLAS's threads on a busy machine made each SVD ~20× slower
    with threadpool_limits(limits=1, user_api="blas"):
        for block in blocks.values():
            out.update(_determined(block))
    return out


def _determined(block: list[dict[Hashable, float]]) -> list[Hashable]:
    """The cells of one block of equations (each a dict cell → coefficient) that the block determines."""
    order = sorted({k for row in block for k in row}, key=repr)
    index = {k: i for i, k in enumerate(order)}
    m = np.zeros((len(block), len(order)))
    for r, row in enumerate(block):
        for k, v in row.items():
            m[r, index[k]] = v
    _u, sv, vt = np.linalg.svd(m, full_matrices=False)
    rank = int((sv > _EPS * max(1.0, float(sv[0]))).sum())
    length = (vt[:rank] ** 2).sum(axis=0)  # the squared length of each unit vector's projection
    return [order[i] for i in range(len(order)) if length[i] > 1 - 1e-7]


def suppress(pub: Publication, threshold: int = DEFAULT_THRESHOLD) -> set[Hashable]:
    """The cells of *pub* to withhold: primary, then complementary suppression as the module says. Returns a new
    set; *pub* is not changed. ``threshold`` ≥ 1 (1: nothing withheld)."""
    cells = pub.cells
    withheld = {k for k, v in cells.items() if 0 < v < threshold}
    if not withheld:
        return withheld
    by_cell: dict[Hashable, list[int]] = {}
    for n, eq in enumerate(pub.equations):
        for k, _ in eq:
            by_cell.setdefault(k, []).append(n)
    _lines(pub, withheld)
    for _round in range(MAX_ROUNDS):
        exposed = recoverable(pub, withheld)
        if not exposed:
            return withheld
        added: set[Hashable] = set()
        for cell in sorted(exposed, key=repr):
            if cell not in exposed or _covered(cell, added, by_cell, pub):
                continue
            choice = _complement(cell, withheld | added, by_cell, pub)
            if choice is not None:
                added.add(choice)
            else:  # nothing small enough left beside it: its equations' non-zero cells, all of them
                for n in by_cell.get(cell, ()):
                    added.update(k for k, _ in pub.equations[n] if cells.get(k, 0) > 0)
        added -= withheld
        if not added:
            break
        withheld |= added
    return {k for k, v in cells.items() if v > 0}


def _lines(pub: Publication, withheld: set[Hashable]) -> None:
    """The classic first pass, cheap and without algebra: while an equation has exactly one withheld cell (its
    value is the difference of the others), withhold the smallest non-zero other cell of it (in place)."""
    changed = True
    while changed:
        changed = False
        for eq in pub.equations:
            inside = [k for k, _ in eq if k in withheld]
            if len(inside) != 1:
                continue
            choice = _complement(inside[0], withheld, {inside[0]: [0]}, Publication(pub.cells, [eq], pub.totals))
            if choice is not None:
                withheld.add(choice)
                changed = True


def _covered(cell: Hashable, added: set[Hashable], by_cell: Mapping[Hashable, list[int]], pub: Publication) -> bool:
    """Whether a complement added in this round already shares an equation with *cell* (one per cell a round)."""
    return any(k in added for n in by_cell.get(cell, ()) for k, _ in pub.equations[n])


def _complement(cell: Hashable, withheld: set[Hashable], by_cell: Mapping[Hashable, list[int]],
                pub: Publication) -> Hashable | None:
    candidates: list[tuple[bool, int, str, Hashable]] = []
    for n in by_cell.get(cell, ()):
        for k, _ in pub.equations[n]:
            value = pub.cells.get(k, 0)
            if k != cell and k not in withheld and value > 0:
                candidates.append((k in pub.totals, value, repr(k), k))
    if not candidates:
        return None
    return min(candidates)[3]


def published(pub: Publication, withheld: set[Hashable]) -> dict[Hashable, int | None]:
    """Every cell of *pub* with its value, ``None`` where withheld."""
    return {k: (None if k in withheld else v) for k, v in pub.cells.items()}
