"""Benchmark: lists that hold (issue #18) — the 红黑榜's operating characteristics, simulated
with the project's own ``score_round`` and ``rank_round`` (default rules) on finite
populations whose true rates are known (:mod:`evaluation.demo.listsim`).

1. **All at threshold**: 40 estates (8 per tier), 12 firms, every estate's true rate equal
   to its threshold, equal credit scores and complaints; ``--rounds`` rounds (default
   2,000). Nobody deserves a list: goals P(≥ 1 estate on 黑榜) ≤ 5%, the same for 红榜
   and for firms; mean rank of equally compliant estates within 8 places across tiers.
   Also: rank movement between rounds with identical truths, 退出预警 (2 consecutive black
   listings) within blocks of 10 rounds. Before #18 (the issue's figures, same design):
   black 53%, red 51%, firm black 25%, mean rank 5.1 (一级) vs 35.1 (还建社区), 退出预警
   ~12% / ~6%.
2. **Mixed city**: 2,000 estates, a known 10% truly 5 points below T, the others between
   T and T + 10 points; firms of 1–3 estates (and a few larger); ``--city-rounds`` rounds
   (default 40). Goals: false-discovery share among black-listed estates ≤ 5% on average;
   rank intervals' joint coverage of the true ranks ≥ 95%; firm intervals (firms of 1–3
   estates) cover their true rates 93–97% of the time.

Run: ``.venv/bin/python -m benchmarks lists`` or ``.venv/bin/python benchmarks/bench_lists.py
[--rounds 2000] [--city-rounds 40] [--seed 18] [--design simple|stratified]
[--sizing power|margin]``. The defaults are the project's since #15: a simple random sample
of each estate (exact interval and exact p-values) sized by power (``sampling.power``:
P(未达标) ≥ 80% at T − 5 points, exact, at least 30 households). ``--design stratified
--sizing margin`` is the design #18 was first measured with (proportional allocation over
the buildings, beta interval, ±8 points at the threshold, ``sampling.sample_size``).
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation.demo.listsim import SimDistrict, build_district, run_round
from evaluation.ranking.composite import compliance_score
from sampling.power import Target, power_sizes
from sampling.size import sample_size
from wuye_common.vocabulary import DEFAULT_THRESHOLDS, TIERS


@dataclass(frozen=True)
class Plan:
    """The simulated design: ``simple`` (SRS of the estate, exact) or ``stratified``; the
    sample sizes by ``power`` or by ``margin``."""

    design: str = "simple"
    sizing: str = "power"

    def sizes(self, N: np.ndarray, T: np.ndarray) -> np.ndarray:
        if self.sizing == "margin":
            return sample_size(N, margin=0.08, p=T, minimum=30)
        method = "exact" if self.design == "simple" else "beta"
        return power_sizes(N, T, Target(method=method), minimum=30).n


def threshold_district(
    seed: int, estates: int = 40, firms: int = 12, plan: Plan = Plan()
) -> SimDistrict:
    """The all-at-threshold district: every estate's true rate is its threshold."""
    rng = np.random.default_rng([seed, 1])
    tiers = np.array([TIERS[i % len(TIERS)] for i in range(estates)])
    N = rng.integers(200, 2000, estates)
    T = np.array([DEFAULT_THRESHOLDS[t] for t in tiers])
    owner = np.r_[np.arange(firms), rng.integers(0, firms, estates - firms)]
    return build_district(
        tiers=tiers,
        households=N,
        buildings=rng.integers(3, 12, estates),
        n=plan.sizes(N, T),
        rates=T,
        firms=np.array([f"企业{i:02d}" for i in rng.permutation(owner)]),
        seed=seed,
        design=plan.design,
    )


def mixed_city(
    seed: int, estates: int = 2000, plan: Plan = Plan()
) -> tuple[SimDistrict, np.ndarray]:
    """The mixed city and its truly-below mask."""
    rng = np.random.default_rng([seed, 2])
    tiers = np.array([TIERS[i % len(TIERS)] for i in range(estates)])
    N = rng.integers(200, 2000, estates)
    T = np.array([DEFAULT_THRESHOLDS[t] for t in tiers])
    below = rng.permutation(estates) < estates // 10
    rates = np.where(below, T - 0.05, np.minimum(T + rng.uniform(0, 0.10, estates), 0.99))
    sizes = rng.choice([1, 2, 3, 8], size=estates, p=[0.45, 0.3, 0.2, 0.05])
    owner = np.repeat(np.arange(estates), sizes)[:estates]
    district = build_district(
        tiers=tiers,
        households=N,
        buildings=rng.integers(3, 12, estates),
        n=plan.sizes(N, T),
        rates=rates,
        firms=np.array([f"企业{i:04d}" for i in owner]),
        seed=seed,
        design=plan.design,
    )
    return district, below


@dataclass
class Tally:
    """Per-round records of the all-at-threshold simulation."""

    black: list[bool] = field(default_factory=list)
    red: list[bool] = field(default_factory=list)
    firm_black: list[bool] = field(default_factory=list)
    firm_red: list[bool] = field(default_factory=list)
    black_ids: list[set] = field(default_factory=list)
    black_firms: list[set] = field(default_factory=list)
    ranks: list[np.ndarray] = field(default_factory=list)


def escalations_within(listed: list[set], block: int = 10) -> float:
    """Share of blocks of ``block`` rounds in which some unit is black twice in a row."""
    hits = []
    for start in range(0, len(listed) - block + 1, block):
        rounds = listed[start : start + block]
        hits.append(any(a & b for a, b in itertools.pairwise(rounds)))
    return float(np.mean(hits)) if hits else float("nan")


def all_at_threshold(rounds: int, seed: int, plan: Plan = Plan()) -> dict[str, float]:
    district = threshold_district(seed, plan=plan)
    tally = Tally()
    for r in range(rounds):
        _, ranking = run_round(district, np.random.default_rng([seed, 10, r]), seed=r)
        e, f = ranking.estates, ranking.firms
        tally.black.append(bool((e["list"] == "黑榜").any()))
        tally.red.append(bool((e["list"] == "红榜").any()))
        tally.firm_black.append(bool((f["list"] == "黑榜").any()))
        tally.firm_red.append(bool((f["list"] == "红榜").any()))
        tally.black_ids.append(set(e.loc[e["list"] == "黑榜", "estate_id"]))
        tally.black_firms.append(set(f.loc[f["list"] == "黑榜", "firm"]))
        tally.ranks.append(e["rank"].to_numpy(dtype=float, na_value=np.nan))
    ranks = np.column_stack(tally.ranks)  # estates (register order) × rounds
    by_tier = pd.Series(np.nanmean(ranks, axis=1)).groupby(district.register["tier"]).mean()
    moves = float(np.nanmean(np.abs(np.diff(ranks, axis=1)))) if rounds > 1 else np.nan
    return {
        "P(≥1 estate 黑榜)": float(np.mean(tally.black)),
        "P(≥1 estate 红榜)": float(np.mean(tally.red)),
        "P(≥1 firm 黑榜)": float(np.mean(tally.firm_black)),
        "P(≥1 firm 红榜)": float(np.mean(tally.firm_red)),
        "退出预警 in 10 rounds (estates)": escalations_within(tally.black_ids),
        "退出预警 in 10 rounds (firms)": escalations_within(tally.black_firms),
        "mean rank spread across tiers": float(by_tier.max() - by_tier.min()),
        "mean |rank change| between rounds": float(moves),
        **{f"mean rank {t}": float(by_tier.get(t, np.nan)) for t in TIERS},
    }


def _true_ranks(district: SimDistrict, eligible: pd.Series) -> pd.Series:
    """Ranks (1 = best) of the true composites among the eligible estates (register parts
    are equal, so the true compliance score orders them)."""
    reg = district.register.set_index("estate_id")
    score = pd.Series(
        compliance_score(district.truth.to_numpy(), reg["threshold"].to_numpy()), index=reg.index
    )[eligible[eligible].index]
    return score.rank(ascending=False, method="min")


def _firm_truth(district: SimDistrict) -> pd.Series:
    reg = district.register.set_index("estate_id")
    w = reg["households"].astype(float)
    return (district.truth * w).groupby(reg["firm"]).sum() / w.groupby(reg["firm"]).sum()


def city(rounds: int, seed: int, plan: Plan = Plan()) -> dict[str, float]:
    district, below = mixed_city(seed, plan=plan)
    truly_below = pd.Series(below, index=district.register["estate_id"])
    sizes = district.register.groupby("firm").size()
    small = sizes.index[sizes <= 3]
    firm_truth = _firm_truth(district)
    fdp, listed, power, joint, firm_cover, seconds = [], [], [], [], [], []
    normal_cover, normal_zero = [], []
    for r in range(rounds):
        start = time.perf_counter()
        scores, ranking = run_round(district, np.random.default_rng([seed, 20, r]), seed=r)
        seconds.append(time.perf_counter() - start)
        cover, zero = _normal_rollup(district, scores.estates, small, firm_truth)
        normal_cover.append(cover)
        normal_zero.append(zero)
        e = ranking.estates.set_index("estate_id")
        black = e.index[e["list"] == "黑榜"]
        listed.append(len(black))
        fdp.append(float((~truly_below[black]).mean()) if len(black) else 0.0)
        power.append(float(truly_below[black].sum() / truly_below.sum()))
        truth = _true_ranks(district, e["eligible"])
        el = e.loc[truth.index]
        joint.append(
            bool(
                (
                    (truth >= el["rank_low"].astype(float))
                    & (truth <= el["rank_high"].astype(float))
                ).all()
            )
        )
        f = ranking.firms.set_index("firm").loc[small]
        t = firm_truth[small]
        firm_cover.append(float(((f["rate_low"] <= t) & (t <= f["rate_high"])).mean()))
    return {
        "mean false-discovery share (黑榜)": float(np.mean(fdp)),
        "mean estates on 黑榜": float(np.mean(listed)),
        "mean share of truly-below estates listed": float(np.mean(power)),
        "rank intervals' joint coverage": float(np.mean(joint)),
        "firm interval coverage (firms of 1–3 estates)": float(np.mean(firm_cover)),
        "  baseline: normal roll-up (before #18) coverage": float(np.mean(normal_cover)),
        "  baseline: normal roll-up zero-width share": float(np.mean(normal_zero)),
        "seconds per 2,000-estate round (score + rank)": float(np.median(seconds)),
    }


def _normal_rollup(
    district: SimDistrict, estates: pd.DataFrame, small: pd.Index, truth: pd.Series
) -> tuple[float, float]:
    """The roll-up before #18 on the same scores: ``p̂_F ± 1.96·√Σ W²se²`` (an estate at
    p̂ = 0 or 1 carries se 0) — its coverage and share of zero-width intervals among the
    small firms."""
    reg = district.register.set_index("estate_id")
    e = estates.set_index("estate_id")
    firm = reg.loc[e.index, "firm"]
    N = reg.loc[e.index, "households"].astype(float)
    w = N / N.groupby(firm).transform("sum")
    p = (w * e["rate"]).groupby(firm).sum()
    se = np.sqrt((w**2 * e["rate_se"] ** 2).groupby(firm).sum())
    lo, hi = (p - 1.96 * se).clip(0, 1)[small], (p + 1.96 * se).clip(0, 1)[small]
    t = truth[small]
    return float(((lo <= t) & (t <= hi)).mean()), float((hi - lo <= 1e-12).mean())


GOALS = {
    "P(≥1 estate 黑榜)": ("≤", 0.05),
    "P(≥1 estate 红榜)": ("≤", 0.05),
    "P(≥1 firm 黑榜)": ("≤", 0.05),
    "P(≥1 firm 红榜)": ("≤", 0.05),
    "mean rank spread across tiers": ("≤", 8.0),
    "mean false-discovery share (黑榜)": ("≤", 0.05),
    "rank intervals' joint coverage": ("≥", 0.95),
    "firm interval coverage (firms of 1–3 estates)": ("in", (0.93, 0.97)),
}


def verdict(name: str, value: float) -> str:
    if name not in GOALS:
        return ""
    op, goal = GOALS[name]
    if op == "in":
        ok = goal[0] <= value <= goal[1]
        return f"goal {goal[0]:g}–{goal[1]:g} → {'met' if ok else 'NOT met'}"
    ok = value <= goal if op == "≤" else value >= goal
    return f"goal {op} {goal:g} → {'met' if ok else 'NOT met'}"


def report(title: str, figures: dict[str, float]) -> None:
    print(title)
    for name, value in figures.items():
        print(f"  {name:<48} {value:10.4f}  {verdict(name, value)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--city-rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--design", choices=["simple", "stratified"], default="simple")
    parser.add_argument("--sizing", choices=["power", "margin"], default="power")
    args = parser.parse_args()
    plan = Plan(design=args.design, sizing=args.sizing)
    print(f"design {plan.design}, sizes by {plan.sizing}")
    start = time.perf_counter()
    report(
        f"all at threshold: 40 estates, 12 firms, {args.rounds} rounds",
        all_at_threshold(args.rounds, args.seed, plan),
    )
    print(f"  ({time.perf_counter() - start:.0f} s)")
    start = time.perf_counter()
    report(
        f"mixed city: 2,000 estates, {args.city_rounds} rounds",
        city(args.city_rounds, args.seed, plan),
    )
    print(f"  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
