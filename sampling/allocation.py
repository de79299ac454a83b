"""Allocation of each estate's sample across its buildings (strata).

All estates are allocated at once: the functions work on flat arrays of strata with a
group (estate) code, never looping over estates in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from wuye_common.errors import Problem, WuyeError

_BISECTION_STEPS = 100


def allocate(
    sizes_per_estate: pd.Series | ArrayLike,
    strata_sizes: pd.Series,
    *,
    variances: pd.Series | ArrayLike | None = None,
) -> pd.Series:
    """Split each estate's sample size ``n`` across its buildings; returns ``n_h``.

    ``strata_sizes`` holds ``N_h`` with the estate as the first index level (e.g. a
    ``(estate_id, building)`` MultiIndex); ``sizes_per_estate`` holds ``n`` indexed by
    estate (a scalar is allowed when there is one estate). ``variances`` (aligned with
    ``strata_sizes``) switches from proportional to Neyman allocation, ``n_h ∝ N_h·S_h``
    (Cochran 1977, §5.5, eq. 5.60). See :func:`allocate_arrays` for the rules. Returns a
    Series ``n_h`` (int64) with the index of ``strata_sizes``.
    """
    if not isinstance(strata_sizes, pd.Series):
        raise WuyeError(
            Problem(
                "参数 strata_sizes 无效：应为以小区为第一层索引的 Series",
                "例如 frame.groupby(['estate_id', 'building']).size()",
            )
        )
    estates = strata_sizes.index.get_level_values(0)
    codes, uniques = pd.factorize(estates)
    if isinstance(sizes_per_estate, pd.Series):
        n = sizes_per_estate.reindex(uniques)
        if n.isna().any():
            missing = "、".join(map(str, uniques[n.isna().to_numpy()][:5]))
            raise WuyeError(
                Problem(
                    f"参数 sizes_per_estate 缺少小区 {missing} 的样本量", "为每个小区给出样本量"
                )
            )
        n_group = n.to_numpy()
    else:
        n_group = np.broadcast_to(np.asarray(sizes_per_estate), (len(uniques),))
    weights = None
    if variances is not None:
        var = (
            variances.reindex(strata_sizes.index)
            if isinstance(variances, pd.Series)
            else np.asarray(variances, dtype=float)
        )
        var = np.asarray(var, dtype=float)
        if var.shape != (len(strata_sizes),) or np.any(~np.isfinite(var)) or np.any(var < 0):
            raise WuyeError(
                Problem(
                    "参数 variances 无效：应为与各楼栋一一对应的非负方差",
                    "检查 variances 的长度与取值",
                )
            )
        weights = strata_sizes.to_numpy(dtype=float) * np.sqrt(var)
    n_h = allocate_arrays(n_group, codes, strata_sizes.to_numpy(), weights=weights)
    return pd.Series(n_h, index=strata_sizes.index, name="n_h")


def allocate_arrays(
    n_group: ArrayLike,
    group: ArrayLike,
    population: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    floor_one: bool = True,
) -> np.ndarray:
    """Vectorised bounded allocation with largest-remainder rounding.

    ``group[h]`` is the estate code (0..G−1) of stratum ``h``, ``population[h] = N_h``,
    ``n_group[g] = n``. The real-valued quotas are ``q_h = clip(λ_g·w_h, L_h, N_h)`` with
    ``λ_g`` solved (bisection, all estates at once) so that ``Σ q_h = n`` exactly: the
    allocation proportional to ``w_h`` (``w_h = N_h``, or ``N_h·S_h`` for Neyman) subject
    to ``L_h ≤ n_h ≤ N_h``; capped strata give their excess to the others, as in Cochran
    (1977, §5.8) for Neyman's over-allocation. ``L_h = 1`` for every non-empty building
    when ``floor_one`` and ``n ≥`` the number of non-empty buildings, else 0. Quotas are
    rounded by Hamilton's largest-remainder method so each estate's parts add up to ``n``
    exactly (ties: earlier stratum first). Weights are scaled so each estate's largest
    ``w_h/N_h`` is 1 and nudged by ``1e-9·N_h``, so zero-variance strata are filled last;
    an estate whose weights are all zero falls back to proportional allocation.
    """
    g = np.asarray(group, dtype=np.int64)
    big_n = np.asarray(population, dtype=np.int64)
    n_groups = int(g.max()) + 1 if g.size else 0
    n = np.asarray(n_group, dtype=np.int64)
    if n.shape != (n_groups,):
        n = np.broadcast_to(n, (n_groups,)).astype(np.int64)
    if np.any(big_n < 0):
        raise WuyeError(Problem("参数 strata_sizes 无效：楼栋户数不能为负", "检查户数"))
    capacity = np.bincount(g, weights=big_n, minlength=n_groups).astype(np.int64)
    if np.any(n < 0) or np.any(n > capacity):
        bad = np.flatnonzero((n < 0) | (n > capacity))[:5]
        raise WuyeError(
            Problem(
                f"样本量超出小区总户数（第 {', '.join(str(int(b) + 1) for b in bad)} 个小区）",
                "样本量应在 0 与该小区户数之间",
            )
        )
    if g.size == 0:
        return np.zeros(0, dtype=np.int64)

    nonempty = big_n > 0
    n_buildings = np.bincount(g, weights=nonempty, minlength=n_groups)
    lower = (nonempty & (n[g] >= n_buildings[g])).astype(float) if floor_one else np.zeros(g.size)
    upper = big_n.astype(float)

    w = big_n.astype(float) if weights is None else np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(nonempty, w / np.maximum(big_n, 1), 0.0)
        top = np.zeros(n_groups)
        np.maximum.at(top, g, ratio)
        # Normalise so the largest w_h/N_h of each estate is 1 (no overflow for tiny
        # weights); all-zero weights fall back to proportional allocation.
        usable = np.isfinite(top) & (top > 0)
        w = np.where(usable[g], w / np.where(usable, top, 1.0)[g], big_n)
    w = np.where(nonempty, w + 1e-9 * big_n, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = np.where(w > 0, upper / w, 0.0)
    hi = np.zeros(n_groups)
    np.maximum.at(hi, g, reach)
    lo = np.zeros(n_groups)
    target = n.astype(float)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        total = np.bincount(g, weights=np.clip(mid[g] * w, lower, upper), minlength=n_groups)
        below = total < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    quota = np.clip(hi[g] * w, lower, upper)

    base = np.floor(quota).astype(np.int64)
    short = n - np.bincount(g, weights=base, minlength=n_groups).astype(np.int64)
    remainder = np.where(base < big_n, quota - base, -1.0)
    order = np.lexsort((np.arange(g.size), -remainder, g))
    starts = np.searchsorted(g[order], np.arange(n_groups))
    rank = np.empty(g.size, dtype=np.int64)
    rank[order] = np.arange(g.size) - starts[g[order]]
    result = base + ((rank < short[g]) & (remainder >= 0)).astype(np.int64)
    sums = np.bincount(g, weights=result, minlength=n_groups).astype(np.int64)
    if not np.array_equal(sums, n) or np.any(result > big_n):  # pragma: no cover - invariant
        raise RuntimeError("allocation invariant violated")
    return result
