"""Allocation across buildings: exact sums, bounds, largest remainder, Neyman."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling.allocation import allocate, allocate_arrays
from wuye_common.errors import WuyeError


def one(n: int, sizes: list[int], variances: list[float] | None = None) -> list[int]:
    strata = pd.Series(
        sizes,
        index=pd.MultiIndex.from_arrays(
            [["E"] * len(sizes), [f"{i + 1}栋" for i in range(len(sizes))]]
        ),
    )
    var = None if variances is None else pd.Series(variances, index=strata.index)
    return allocate(pd.Series({"E": n}), strata, variances=var).tolist()


def test_proportional_exact():
    assert one(10, [50, 30, 20]) == [5, 3, 2]


def test_largest_remainder():
    # quotas 4.2, 1.75, 1.05 → floors 4, 1, 1 (sum 6); the one left goes to the largest
    # remainder (0.75)
    assert one(7, [60, 25, 15]) == [4, 2, 1]
    # ties are broken by stratum order; n < buildings so no building is guaranteed one
    assert one(2, [3, 3, 3]) == [1, 1, 0]


def test_at_least_one_per_building_and_redistribution():
    assert one(10, [1, 1, 1, 97]) == [1, 1, 1, 7]
    assert one(4, [1, 2, 3, 94]) == [1, 1, 1, 1]
    assert one(5, [10, 10, 10, 200]) == [1, 1, 1, 2]  # λ·200 = 2 when the three small ones sit at 1


def test_census_and_zero():
    assert one(30, [10, 5, 15]) == [10, 5, 15]
    assert one(0, [10, 5, 15]) == [0, 0, 0]


def test_neyman():
    # w = N_h S_h = 100·1, 100·3 → 10, 30
    assert one(40, [100, 100], [1.0, 9.0]) == [10, 30]
    # w equal (10·10, 100·1): 25/25, but the first building has only 10 → 10, 40
    assert one(50, [10, 100], [100.0, 1.0]) == [10, 40]
    # the samplics issue: asking 600 must give 600
    sizes = [400, 300, 500, 800]
    got = one(600, sizes, [0.2, 0.25, 0.1, 0.05])
    assert sum(got) == 600 and all(g <= s for g, s in zip(got, sizes, strict=True))


def test_neyman_zero_variance():
    assert one(20, [50, 50], [0.0, 4.0]) == [1, 19]
    assert one(20, [50, 50], [0.0, 0.0]) == [10, 10]  # falls back to proportional
    assert one(100, [50, 50], [0.0, 4.0]) == [50, 50]  # census fills zero-variance strata too
    assert one(10, [50, 50], [1e-300, 1.0]) == [1, 9]
    assert one(10, [50, 50], [1e300, 1e300]) == [5, 5]


def test_many_estates_at_once_equal_one_by_one():
    rng = np.random.default_rng(3)
    rows = []
    for e in range(40):
        for b in range(rng.integers(1, 8)):
            rows.append((f"E{e}", f"{b}", int(rng.integers(1, 120))))
    strata = pd.DataFrame(rows, columns=["estate_id", "building", "N_h"]).set_index(
        ["estate_id", "building"]
    )["N_h"]
    totals = strata.groupby(level=0).sum()
    n = pd.Series(rng.integers(0, totals.to_numpy() + 1), index=totals.index)
    together = allocate(n, strata)
    for estate, part in strata.groupby(level=0):
        alone = allocate(n[[estate]], part)
        pd.testing.assert_series_equal(together.loc[part.index], alone)


def test_errors():
    strata = pd.Series([5, 5], index=pd.MultiIndex.from_arrays([["E", "E"], ["1", "2"]]))
    with pytest.raises(WuyeError):
        allocate(pd.Series({"E": 11}), strata)
    with pytest.raises(WuyeError, match="缺少小区"):
        allocate(pd.Series({"F": 1}), strata)
    with pytest.raises(WuyeError, match="variances"):
        allocate(pd.Series({"E": 2}), strata, variances=pd.Series([-1.0, 1.0], index=strata.index))
    with pytest.raises(WuyeError, match="strata_sizes"):
        allocate(pd.Series({"E": 2}), [5, 5])


@st.composite
def problems(draw):
    n_groups = draw(st.integers(1, 6))
    group, sizes, n = [], [], []
    for g in range(n_groups):
        k = draw(st.integers(1, 8))
        part = draw(st.lists(st.integers(0, 60), min_size=k, max_size=k))
        group += [g] * k
        sizes += part
        n.append(draw(st.integers(0, sum(part))))
    weights = draw(
        st.one_of(st.none(), st.lists(st.floats(0, 50), min_size=len(sizes), max_size=len(sizes)))
    )
    return np.array(n), np.array(group), np.array(sizes), weights


@settings(max_examples=150, deadline=None)
@given(problems())
def test_allocation_properties(problem):
    n, group, sizes, weights = problem
    w = None if weights is None else np.array(weights) * sizes
    got = allocate_arrays(n, group, sizes, weights=w)
    assert np.array_equal(np.bincount(group, weights=got, minlength=len(n)).astype(int), n)
    assert np.all(got >= 0) and np.all(got <= sizes)
    buildings = np.bincount(group, weights=sizes > 0, minlength=len(n))
    covered = (n[group] >= buildings[group]) & (sizes > 0)
    assert np.all(got[covered] >= 1)
    if weights is None:
        # where no bound binds, Hamilton's rounding stays within one of the exact quota
        totals = np.bincount(group, weights=sizes, minlength=len(n))
        quota = np.where(totals[group] > 0, n[group] * sizes / np.maximum(totals[group], 1), 0)
        free = np.array([np.all((quota[group == g] >= 1) | (n[g] < buildings[g])) for g in group])
        assert np.all(np.abs(got - quota)[free] < 1 + 1e-9)
