"""Exact operating figures of today's margin-based plan beside the power-based plan (issue 15).

For every tier and estate sizes N = 80…3,000: the households each plan approaches, and —
computed exactly (hypergeometric, respondents = ⌊n × 0.85⌋, one stratum SRS) — the
probability of 未达标 when the true rate is exactly T (the one-sided error, nominal 2.5%),
of 未达标 at T − 5 points (power), of 达标 at T + 5 points, and of the plain reading
p̂ < T at T. Today's plan: margin 0.08 at the threshold, Korn–Graubard (beta) interval;
new plan: ``[sampling] sizing = "power"`` defaults with the exact interval.
Then the exact interval's guarantee on a wider grid than the unit tests (worst one-sided
error over every true count, N 30…3,000, sampling fractions 1 household…census), and the
planner's speed on 2,000 estates.
Run: ``python -m benchmarks exact``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.scoring import exact
from sampling import power as pw
from sampling.config import SamplingConfig
from sampling.size import sample_size
from wuye_common.vocabulary import DEFAULT_THRESHOLDS

SIZES = np.array([80, 100, 150, 200, 300, 500, 800, 1200, 2000, 3000])
RR = 0.85


def _figures(N: np.ndarray, m: np.ndarray, T: float, method: str) -> dict[str, np.ndarray]:
    def oc(rate: float) -> pd.DataFrame:
        return exact.operating_characteristic(N, m, T, min(rate, 1.0), method=method)

    m_t = exact.threshold_count(T, N)
    plain = stats.hypergeom.cdf(np.ceil(T * m - 1e-9) - 1, N, m_t, m)
    return {
        "error": oc(T)["p_fail"].to_numpy(),
        "power": oc(T - 0.05)["p_fail"].to_numpy(),
        "pass": oc(T + 0.05)["p_pass"].to_numpy(),
        "plain": plain,
    }


def _span(values: np.ndarray) -> str:
    return f"{values.min():6.1%}–{values.max():6.1%}"


def plans_table() -> pd.DataFrame:
    """One row per tier and plan: households and the exact figures' ranges over SIZES."""
    cfg = SamplingConfig()
    rows = []
    for tier, T in DEFAULT_THRESHOLDS.items():
        old_n = sample_size(SIZES, margin=0.08, p=T, response_rate=RR, minimum=30)
        new = pw.power_sizes(SIZES, T, pw.Target(response_rate=RR), minimum=cfg.minimum)
        for label, n, method in (
            ("margin 0.08 + beta", old_n, "beta"),
            ("power + exact", new.n, "exact"),
        ):
            m = np.minimum(np.floor(n * RR + 1e-9), SIZES).astype(np.int64)
            f = _figures(SIZES, m, T, method)
            rows.append(
                {
                    "tier": tier,
                    "plan": label,
                    "households": f"{int(n.min())}–{int(n.max())} ({int(n.sum())} in all)",
                    "P(未达标|T)": _span(f["error"]),
                    "P(未达标|T-5)": _span(f["power"]),
                    "P(达标|T+5)": _span(f["pass"]),
                    "P(p̂<T|T)": _span(f["plain"]),
                    "census": int(new.census_recommended.sum()) if method == "exact" else "",
                }
            )
    return pd.DataFrame(rows)


def worst_exact_error(populations: np.ndarray) -> float:
    """Worst one-sided error of the exact interval over every true count, for every N in
    ``populations`` and 25 sampling fractions from one household to a census."""
    worst = 0.0
    for N in populations:
        for n in np.unique(np.clip(np.round(np.geomspace(1, N, 25)), 1, N).astype(int)):
            low, high = exact.count_bounds(np.arange(n + 1), n, N)
            M = np.arange(N + 1)
            below = np.searchsorted(high, M, side="left") - 1
            above = np.searchsorted(low, M, side="right")
            under = np.where(below >= 0, stats.hypergeom.cdf(below, N, M, n), 0.0)
            over = np.where(above <= n, stats.hypergeom.sf(above - 1, N, M, n), 0.0)
            worst = max(worst, float(under.max()), float(over.max()))
    return worst


def main(argv: list[str] | None = None) -> None:
    """Print the plans side by side, the guarantee check and the planner's speed."""
    parser = argparse.ArgumentParser(prog="bench_exact")
    parser.add_argument("--grid", type=int, default=40, help="populations in the guarantee grid")
    parser.add_argument("--estates", type=int, default=2000)
    args = parser.parse_args([] if argv is None else argv)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(plans_table().to_string(index=False))
    start = time.perf_counter()
    grid = np.unique(np.round(np.geomspace(30, 3000, args.grid)).astype(int))
    worst = worst_exact_error(grid)
    print(
        f"exact interval, {len(grid)} populations 30…3,000 × 25 sampling fractions × every true "
        f"count: worst one-sided error {worst:.5f} (guarantee ≤ 0.025 → "
        f"{'OK' if worst <= 0.025 + 1e-12 else 'VIOLATED'}; {time.perf_counter() - start:.1f} s)"
    )
    rng = np.random.default_rng(1)
    N = rng.integers(80, 3000, args.estates)
    T = rng.choice(list(DEFAULT_THRESHOLDS.values()), args.estates)
    start = time.perf_counter()
    plan = pw.power_sizes(N, T, pw.Target(response_rate=RR), minimum=30)
    took = time.perf_counter() - start
    start = time.perf_counter()
    sample_size(N, margin=0.08, p=T, response_rate=RR, minimum=30)
    base = time.perf_counter() - start
    print(
        f"power planner, {args.estates:,} estates: {took:.2f} s ({int(plan.n.sum()):,} households; "
        f"baseline: Cochran's margin formula {base * 1000:.1f} ms, no exact figures)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
