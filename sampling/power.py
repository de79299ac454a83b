"""Sample sizes by power: how many households to approach so that a shortfall is detected.

For an estate of ``N`` households with tier threshold ``T`` the verdict is 未达标 only when the
interval lies wholly below T. The planner asks for the smallest number of respondents ``m``
such that an estate whose true rate is ``T − delta`` is named 未达标 with probability at least
``power``, while an estate exactly at T is named 未达标 with probability at most α/2 (by the
interval's construction). The probabilities are the exact operating characteristics of
:mod:`evaluation.scoring.exact` (hypergeometric, one stratum sampled by SRS), not a normal
formula, so small estates and high sampling fractions are right:

* ``method = "exact"`` (SRS of the estate, the default design): the exact interval's verdict;
* ``"beta"`` (stratified or systematic designs, judged with the Korn–Graubard interval):
  the beta interval's verdict on every outcome under SRS (the stratified design's own
  distribution is close to it; see ``docs/architecture.md``).

Power is not monotone in ``m`` (discreteness); the search returns an ``m`` whose power is
computed and reported, never assumed. Households to approach: ``n = ⌈m · deff / rr⌉``
(Kish design effect, response rate), then ``[minimum, maximum]``, never above ``N``. When
``n`` would reach ``N`` no sample below a census gets the power: ``census_recommended``.
The plan reports, at the ``n`` drawn, the expected respondents ``⌊n · rr⌋``, the power at
``T − delta`` (``power``), the probability of 达标 at ``T + delta`` (``power_pass``) and the
smallest shortfall detected with the target power (``detectable_delta``).

With a ``budget`` (households in total) :func:`allocate_budget` spreads it so as to
maximise the expected number of decided verdicts when every estate sits ``delta`` from its
threshold, on either side with equal chance.

This module imports :mod:`evaluation.scoring.exact` (a pure numeric module) when called: it
is the one home of the hypergeometric machinery, and the planner must judge a sample
exactly as scoring will.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from wuye_common.errors import Problem, WuyeError

_TOLERANCE = 1e-9
#: at most this many households are added where the planned size falls in a power dip
_REPAIR_STEPS = 50
#: grid points per estate for the budget allocation (geometric between minimum and N)
BUDGET_GRID = 24


@dataclass(frozen=True)
class Target:
    """What the planner aims at and assumes: the shortfall ``delta`` to detect with
    probability ``power``, the confidence level (one-sided error α/2), the response rate,
    the design effect and the interval method scoring will use (``"exact"`` or ``"beta"``;
    one for all estates or one per estate)."""

    delta: float = 0.05
    power: float = 0.8
    confidence: float = 0.95
    response_rate: float = 1.0
    deff: float = 1.0
    method: Any = "exact"

    def methods(self, shape: tuple[int, ...]) -> np.ndarray:
        """The interval method per estate."""
        return np.broadcast_to(np.atleast_1d(np.asarray(self.method, dtype=object)), shape)


@dataclass
class PowerPlan:
    """Per estate: households to approach and the design's exact operating figures."""

    n: np.ndarray
    """Households to approach (main sample)."""
    respondents: np.ndarray
    """Expected respondents ``⌊n · rr⌋`` (at most N), the sample the figures are for."""
    power: np.ndarray
    """P(未达标) when the true rate is ``T − delta``."""
    power_pass: np.ndarray
    """P(达标) when the true rate is ``T + delta`` (at most 1)."""
    census_recommended: np.ndarray
    """No sample below N reaches the power: approach every household."""
    detectable_delta: np.ndarray
    """Smallest shortfall named 未达标 with probability ≥ ``power`` (NaN: none)."""


def _exact():
    from evaluation.scoring import exact

    return exact


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise WuyeError(Problem(f"参数 {name} 无效：{message}", f"修改 {name} 的取值", column=name))


def _targets(
    threshold: np.ndarray, delta: float, power: float, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    _check(0 < float(confidence) < 1, "confidence", "置信水平应在 0 与 1 之间，通常写 0.95")
    _check(0 < float(delta) < 1, "delta", "要识别的差距应在 0 与 1 之间，例如 0.05")
    _check(
        (1 - float(confidence)) / 2 < float(power) < 1,
        "power",
        "检验功效应大于单侧误差 α/2 且小于 1，例如 0.8",
    )
    low = threshold - float(delta)
    _check(bool(np.all(low > 0)), "delta", "达标线减去差距后应大于 0")
    return low, np.minimum(threshold + float(delta), 1.0)


def figures(
    respondents: ArrayLike, population: ArrayLike, threshold: ArrayLike, target: Target
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(power, power_pass, detectable_delta)`` of ``respondents`` (an SRS) out of
    ``population`` (arrays, one element per estate; 0 respondents give NaN)."""
    exact = _exact()
    m = np.atleast_1d(np.asarray(respondents, dtype=np.int64))
    big_n = np.broadcast_to(np.atleast_1d(np.asarray(population, dtype=np.int64)), m.shape)
    t = np.broadcast_to(np.atleast_1d(np.asarray(threshold, dtype=float)), m.shape)
    power, confidence = target.power, target.confidence
    low, high = _targets(t, target.delta, power, confidence)
    methods = target.methods(m.shape)
    p_fail = np.full(m.shape, np.nan)
    p_pass = np.full(m.shape, np.nan)
    detect = np.full(m.shape, np.nan)
    for name in sorted(set(methods.tolist())):
        sel = np.flatnonzero((methods == name) & (m > 0) & (big_n > 0))
        if not sel.size:
            continue
        N, mm, tt = big_n[sel], m[sel], t[sel]
        p_fail[sel] = exact.verdict_probabilities(
            N,
            mm,
            tt,
            exact.true_count(low[sel], N, tt),
            method=name,
            confidence=confidence,
            sides=("fail",),
        )[2]
        p_pass[sel] = exact.verdict_probabilities(
            N,
            mm,
            tt,
            exact.true_count(high[sel], N, tt),
            method=name,
            confidence=confidence,
            sides=("pass",),
        )[0]
        detect[sel] = _detectable(N, mm, tt, power, name, confidence)
    return p_fail, p_pass, detect


def _detectable(
    N: np.ndarray, m: np.ndarray, t: np.ndarray, power: float, method: str, confidence: float
) -> np.ndarray:
    """``T − M*/N`` with ``M*`` the largest count below ``⌈T·N⌉`` named 未达标 with
    probability ≥ ``power`` (P(未达标) falls as M rises); NaN when even M = 0 is not."""
    exact = _exact()
    m_t = exact.threshold_count(t, N)

    def enough(count: np.ndarray, idx: np.ndarray) -> np.ndarray:
        p_fail = exact.verdict_probabilities(
            N[idx], m[idx], t[idx], count, method=method, confidence=confidence, sides=("fail",)
        )[2]
        return p_fail < power

    # guess: the shortfall a normal test detects, (z_{α/2} + z_power)·sd of the rate
    z = stats.norm.isf((1 - confidence) / 2) + stats.norm.ppf(power)
    sd = np.sqrt(t * (1 - t) * np.maximum(N - m, 0) / (np.maximum(m, 1) * np.maximum(N - 1, 1)))
    guess = np.floor((t - z * sd) * N).astype(np.int64)
    width = (3 + np.ceil(0.3 * z * sd * N)).astype(np.int64)
    first_short = exact._bisect(enough, np.full(N.shape, -1), m_t, guess=guess, width=width)
    best = first_short - 1
    return np.where(best >= 0, t - best / N, np.nan)


def respondents_needed(population: ArrayLike, threshold: ArrayLike, target: Target) -> np.ndarray:
    """Respondents ``m`` (an SRS; bisection over 1..N from the normal-formula guess) with
    P(未达标 | T − delta) ≥ ``power`` and ``m − 1`` short of it; a census of respondents
    (m = N) always decides, so ``m ≤ N``."""
    exact = _exact()
    big_n = np.atleast_1d(np.asarray(population, dtype=np.int64))
    t = np.broadcast_to(np.atleast_1d(np.asarray(threshold, dtype=float)), big_n.shape)
    power, confidence = target.power, target.confidence
    low, _ = _targets(t, target.delta, power, confidence)
    methods = target.methods(big_n.shape)
    out = np.zeros(big_n.shape, dtype=np.int64)
    for name in sorted(set(methods.tolist())):
        sel = np.flatnonzero((methods == name) & (big_n > 0))
        if not sel.size:
            continue
        N, tt = big_n[sel], t[sel]
        alt = exact.true_count(low[sel], N, tt)

        def reaches(m: np.ndarray, idx: np.ndarray, N=N, tt=tt, alt=alt, name=name) -> np.ndarray:
            p_fail = exact.verdict_probabilities(
                N[idx], m, tt[idx], alt[idx], method=name, confidence=confidence, sides=("fail",)
            )[2]
            return p_fail >= power

        guess, width = _normal_respondents(N, tt, low[sel], power, confidence)
        out[sel] = exact._bisect(reaches, np.zeros(sel.size), N, guess=guess, width=width)
    return out


def _normal_respondents(
    N: np.ndarray, t: np.ndarray, low: np.ndarray, power: float, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """The normal-approximation respondents (a guess for the exact search) with FPC:
    ``m0 = ((z_{α/2}·√(T(1−T)) + z_power·√(p1(1−p1))) / (T − p1))²``,
    ``m = m0 / (1 + (m0 − 1)/N)`` (Cochran 1977, eq. 4.3), and a search half-width."""
    z_a = stats.norm.isf((1 - confidence) / 2)
    z_b = stats.norm.ppf(power)
    m0 = ((z_a * np.sqrt(t * (1 - t)) + z_b * np.sqrt(low * (1 - low))) / (t - low)) ** 2
    m = m0 / (1 + (m0 - 1) / np.maximum(N, 1))
    return np.ceil(m).astype(np.int64), (5 + np.ceil(0.2 * m)).astype(np.int64)


def power_sizes(
    population: ArrayLike,
    threshold: ArrayLike,
    target: Target,
    *,
    minimum: int = 0,
    maximum: int | None = None,
) -> PowerPlan:
    """Households to approach per estate for the power target, and the design's figures
    (see the module docstring). ``population`` = N per estate (0: nothing to draw)."""
    big_n = np.atleast_1d(np.asarray(population, dtype=np.int64))
    rr, deff, power = float(target.response_rate), float(target.deff), target.power
    _check(0 < rr <= 1, "response_rate", "预计应答率应在 0 与 1 之间")
    _check(deff > 0, "deff", "设计效应应大于 0")
    m = respondents_needed(big_n, threshold, target)
    wanted = np.ceil(np.ceil(m * deff - _TOLERANCE) / rr - _TOLERANCE)
    census = (wanted >= big_n) & (big_n > 0)
    n = np.maximum(wanted, minimum)
    if maximum is not None:
        n = np.minimum(n, maximum)
    n = np.minimum(n, big_n).astype(np.int64)
    thresholds = np.broadcast_to(np.atleast_1d(np.asarray(threshold, dtype=float)), n.shape)
    methods = target.methods(n.shape)
    plan = design_figures(n, big_n, thresholds, target, census=census)
    # power is not monotone in n (discreteness): where the expected respondents ⌊n·rr⌋
    # fall in a dip below the target, approach more households until it is reached
    cap = big_n if maximum is None else np.minimum(big_n, maximum)
    for _ in range(_REPAIR_STEPS):
        short = np.flatnonzero((plan.power < power) & (plan.n < cap))
        if not short.size:
            break
        bumped = design_figures(
            plan.n[short] + 1,
            big_n[short],
            thresholds[short],
            replace(target, method=methods[short]),
        )
        for name in ("n", "respondents", "power", "power_pass", "detectable_delta"):
            getattr(plan, name)[short] = getattr(bumped, name)
    plan.census_recommended = census | ((plan.power < power) & (plan.n >= big_n) & (big_n > 0))
    return plan


def design_figures(
    n: ArrayLike,
    population: ArrayLike,
    threshold: ArrayLike,
    target: Target,
    *,
    census: ArrayLike | None = None,
) -> PowerPlan:
    """The :class:`PowerPlan` of a given ``n`` households to approach per estate:
    expected respondents ``⌊n · rr⌋`` (an SRS-equivalent ``⌊n · rr / deff⌋`` for the
    figures) and the exact figures at them."""
    n_ = np.atleast_1d(np.asarray(n, dtype=np.int64))
    big_n = np.broadcast_to(np.atleast_1d(np.asarray(population, dtype=np.int64)), n_.shape)
    respondents = np.minimum(np.floor(n_ * float(target.response_rate) + _TOLERANCE), big_n)
    effective = np.floor(respondents / float(target.deff) + _TOLERANCE).astype(np.int64)
    p_fail, p_pass, detect = figures(effective, big_n, threshold, target)
    if census is None:
        census = np.zeros(n_.shape, dtype=bool)
    return PowerPlan(
        n=n_,
        respondents=respondents.astype(np.int64),
        power=p_fail,
        power_pass=p_pass,
        census_recommended=np.asarray(census, dtype=bool),
        detectable_delta=detect,
    )


def allocate_budget(
    population: ArrayLike,
    threshold: ArrayLike,
    budget: int,
    target: Target,
    *,
    minimum: int = 0,
) -> np.ndarray:
    """Households to approach per estate, ``budget`` in total, maximising the expected
    number of decided verdicts ``Σ ½·[P(未达标 | T − δ) + P(达标 | T + δ)]``.

    Every estate first gets ``min(minimum, N)``. Each estate's decided-verdict curve is
    computed exactly on a grid of sizes (:data:`BUDGET_GRID` points, geometric up to N) and
    replaced by its least concave majorant; the budget then buys the hull segments in
    order of decided verdicts per household (the greedy rule, optimal for concave curves),
    the last one in part. A budget at least ``Σ N`` surveys everyone.
    """
    big_n = np.atleast_1d(np.asarray(population, dtype=np.int64))
    t = np.broadcast_to(np.atleast_1d(np.asarray(threshold, dtype=float)), big_n.shape)
    base = np.minimum(int(minimum), big_n)
    _check(
        isinstance(budget, (int, np.integer)) and budget >= int(base.sum()),
        "budget",
        f"总户数预算应为整数且不少于各小区最少样本量之和 {int(base.sum())}",
    )
    if budget >= int(big_n.sum()):
        return big_n.copy()
    grid = _budget_grid(base, big_n)
    E, G = grid.shape
    flat = grid.ravel()
    ok = flat > 0
    methods = np.repeat(target.methods(big_n.shape), G)[ok]
    plan = design_figures(
        flat[ok], np.repeat(big_n, G)[ok], np.repeat(t, G)[ok], replace(target, method=methods)
    )
    values = np.zeros(flat.shape)
    values[ok] = 0.5 * (np.nan_to_num(plan.power) + np.nan_to_num(plan.power_pass))
    starts, ends, slopes = _hull_segments(grid, values.reshape(E, G))
    owner = np.repeat(np.arange(E), G - 1)
    order = np.lexsort((starts, owner, -slopes))
    cost = (ends - starts).astype(np.int64)[order]
    owner = owner[order]
    left = int(budget - base.sum())
    spent = np.cumsum(cost)
    full = spent <= left
    n = base.astype(np.int64).copy()
    np.add.at(n, owner[full], cost[full])
    partial = np.flatnonzero(~full)
    if partial.size:
        j = partial[0]
        n[owner[j]] += left - (int(spent[j - 1]) if j > 0 else 0)
    return np.minimum(n, big_n)


def _budget_grid(base: np.ndarray, big_n: np.ndarray) -> np.ndarray:
    """Per estate ``BUDGET_GRID`` sizes from ``base`` to N (geometric, integers, sorted)."""
    lo = np.maximum(base, 1).astype(float)
    steps = np.linspace(0.0, 1.0, BUDGET_GRID)
    grid = np.round(lo[:, None] * (np.maximum(big_n, 1) / lo)[:, None] ** steps[None, :])
    grid[:, 0] = base
    grid = np.minimum(np.maximum.accumulate(grid, axis=1), big_n[:, None])
    return grid.astype(np.int64)


def _hull_segments(
    grid: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The least concave majorant of each row's points ``(grid, values)`` as segments
    ``(start, end, slope)``, flat with ``G − 1`` slots per row (unused slots: zero cost and
    slope −inf). Built for all rows at once, one grid point per step."""
    E, G = grid.shape
    rows = np.arange(E)
    cur = np.zeros(E, dtype=np.int64)
    starts = np.zeros((E, G - 1), dtype=np.int64)
    ends = np.zeros((E, G - 1), dtype=np.int64)
    slopes = np.full((E, G - 1), -np.inf)
    later = np.arange(G)[None, :]
    for step in range(G - 1):
        x0 = grid[rows, cur][:, None]
        y0 = values[rows, cur][:, None]
        dx = grid - x0
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where((later > cur[:, None]) & (dx > 0), (values - y0) / dx, -np.inf)
        nxt = np.argmax(slope, axis=1)
        best = slope[rows, nxt]
        live = np.isfinite(best)
        starts[live, step] = grid[live, cur[live]]
        ends[live, step] = grid[live, nxt[live]]
        slopes[live, step] = best[live]
        cur = np.where(live, nxt, cur)
    return starts.ravel(), ends.ravel(), slopes.ravel()
