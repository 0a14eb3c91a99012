"""Suppression of the public statistics (issue 15 point 1): a property test that differencing the published tables
— rows against their totals, a UF against its organs, the situation table against the grid — never recovers a
withheld cell. The attacker here is independent of the code under test: exact rational elimination (fractions) over
every equation the publication satisfies, and an explicit second table that agrees with everything published but
differs in the withheld cell."""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.estatisticas.domain import Count, OrganInfo, build, layout
from gateway.estatisticas.suppression import Publication, published, suppress

UFS = ("RJ", "SP", "AC")


def rref(rows: list[list[Fraction]], ncols: int) -> tuple[list[list[Fraction]], list[int]]:
    """Reduced row echelon form over the rationals, and its pivot columns."""
    m = [r[:] for r in rows]
    pivots: list[int] = []
    r = 0
    for c in range(ncols):
        p = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if p is None:
            continue
        m[r], m[p] = m[p], m[r]
        inv = 1 / m[r][c]
        m[r] = [v * inv for v in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[r], strict=True)]
        pivots.append(c)
        r += 1
    return m[:r], pivots


def alternative(pub: Publication, withheld: set[Hashable], cell: Hashable) -> dict[Hashable, Fraction] | None:
    """Another table agreeing with every published cell and every equation, non-negative, whose *cell* differs —
    None when the published cells pin *cell* down."""
    order = sorted(withheld, key=repr)
    index = {k: i for i, k in enumerate(order)}
    rows = []
    for eq in pub.equations:
        row = [Fraction(0)] * len(order)
        for k, coef in eq:
            if k in index:
                row[index[k]] += coef
        if any(row):
            rows.append(row)
    red, pivots = rref(rows, len(order))
    s = index[cell]
    free = [c for c in range(len(order)) if c not in pivots]
    direction = None
    for f in free:  # the null space's basis vector of free column f: d_f = 1, d_pivot = -R[row, f]
        d = [Fraction(0)] * len(order)
        d[f] = Fraction(1)
        for row_i, p in enumerate(pivots):
            d[p] = -red[row_i][f]
        if d[s] != 0:
            direction = d
            break
    if direction is None:
        return None
    step = 1 / max(abs(v) for v in direction)
    other = {k: Fraction(v) for k, v in pub.cells.items()}
    for k, i in index.items():
        other[k] += step * direction[i]
    return other


counts = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 4), st.sampled_from(("ativa", "cancelada")),
                            st.one_of(st.integers(0, 4), st.integers(0, 30))), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts, st.integers(2, 8))
def test_differencing_published_tables_never_recovers_a_withheld_cell(raw: list[tuple[int, int, str, int]],
                                                                     threshold: int) -> None:
    organs = {i: OrganInfo(f"ORG{i}", f"Órgão {i}", UFS[i % len(UFS)]) for i in range(6)}
    data = [Count("I", o, 202400 + m, s, n) for o, m, s, n in raw]
    pub = layout("I", 2024, data, organs).publication
    withheld = suppress(pub, threshold)
    # primary suppression: every small non-zero cell; complements are non-zero (so every withheld cell can move)
    assert {k for k, v in pub.cells.items() if 0 < v < threshold} <= withheld
    assert all(pub.cells[k] >= 1 for k in withheld)
    for cell in withheld:
        other = alternative(pub, withheld, cell)
        assert other is not None, f"{cell} recoverable from the published tables"
        assert other[cell] != pub.cells[cell]
        assert all(v >= 0 for v in other.values())
        assert all(sum(coef * other[k] for k, coef in eq) == 0 for eq in pub.equations)
        assert all(other[k] == v for k, v in pub.cells.items() if k not in withheld)
    # what is published is what build() shows; a filter never adds a sum
    table = build("I", 2024, data, organs, threshold)
    shown = published(pub, withheld)
    assert table.total.year == shown[("t", "", 0)]
    assert {r.uf: r.year for r in table.by_uf} == {k[1]: v for k, v in shown.items() if k[0] == "u" and k[2] == 0}


def test_a_lonely_small_cell_takes_complements_in_its_row_column_and_the_other_tables() -> None:
    """One organ with 3 people in March among larger cells: March, its year total, its UF's March… each equation
    that would give it away loses another cell."""
    organs = {1: OrganInfo("TJRJ", "TJ", "RJ"), 2: OrganInfo("TJRJ-PRES", "P", "RJ"), 3: OrganInfo("TJSP", "S", "SP")}
    data = [Count("I", 1, 202403, "ativa", 3), Count("I", 1, 202404, "ativa", 9), Count("I", 2, 202403, "ativa", 7),
            Count("I", 2, 202404, "ativa", 8), Count("I", 3, 202403, "ativa", 20), Count("I", 3, 202404, "ativa", 11)]
    pub = layout("I", 2024, data, organs).publication
    withheld = suppress(pub, 5)
    assert ("o", "TJRJ", 3) in withheld and len(withheld) >= 4
    assert all(alternative(pub, withheld, c) is not None for c in withheld)
    assert suppress(pub, 2) == set()  # nothing below 2: nothing withheld
