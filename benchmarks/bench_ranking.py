"""Benchmark: rank and store a 2,000-estate round (goal ≤ 2 s on 2 cores).

Run: ``.venv/bin/python benchmarks/bench_ranking.py [--estates 2000] [--repeat 3]``.
Timings are noisy on a shared machine, so the ranking is also reported as a ratio against
two baselines measured in the same run: the bare pandas sort of the scores, and a naive
per-estate Python loop computing the same composite and firm sums.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.ranking.lists import rank_round
from evaluation.store import Store

GOAL_S = 2.0


def make_round(n: int, seed: int, round_id: str) -> tuple[SimpleNamespace, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"E{i:05d}" for i in range(n)]
    firms = [f"物业{i:03d}" for i in rng.integers(0, max(n // 7, 1), n)]
    tiers = rng.choice(["一级", "二级", "三级", "四级", "还建社区"], n)
    thr = pd.Series(tiers).map(
        {"一级": 0.9, "二级": 0.8, "三级": 0.7, "四级": 0.6, "还建社区": 0.5}
    )
    register = pd.DataFrame(
        {
            "estate_id": ids,
            "estate_name": [f"小区{i}" for i in range(n)],
            "community": "社区",
            "firm": firms,
            "tier": tiers,
            "households": rng.integers(50, 3000, n),
            "threshold": thr.to_numpy(),
            "complaints": rng.poisson(3, n),
            "credit_score": rng.uniform(50, 100, n).round(1),
        }
    )
    rate = rng.uniform(0.4, 1.0, n)
    se = rng.uniform(0.01, 0.08, n)
    z = stats.norm.ppf(0.975)
    low, high = np.clip(rate - z * se, 0, 1), np.clip(rate + z * se, 0, 1)
    verdict = np.where(low >= thr, "达标", np.where(high < thr, "未达标", "临界"))
    scores = pd.DataFrame(
        {
            "estate_id": ids,
            "rate": rate,
            "rate_se": se,
            "rate_low": low,
            "rate_high": high,
            "index": 100 * rate,
            "index_low": 100 * low,
            "index_high": 100 * high,
            "n": rng.integers(15, 120, n),
            "response_rate": rng.uniform(0.4, 1, n),
            "threshold": thr.to_numpy(),
            "tier": tiers,
            "verdict": verdict,
            "point_pass": rate >= thr,
            "flags": "",
        }
    )
    rnd = SimpleNamespace(
        round_id=round_id, period=round_id, confidence=0.95, rules={}, register=register
    )
    return rnd, scores


def naive_loop(rnd: SimpleNamespace, scores: pd.DataFrame) -> list:
    """Per-estate Python loop: composite, sort, per-firm sums (the slow way)."""
    reg = {r["estate_id"]: r for r in rnd.register.to_dict("records")}
    points = {"达标": 100, "临界": 50, "未达标": 0}
    rows = []
    for s in scores.to_dict("records"):
        r = reg[s["estate_id"]]
        per100 = r["complaints"] / r["households"] * 100
        comp = (
            0.6 * s["index"]
            + 0.2 * points[s["verdict"]]
            + 0.1 * r["credit_score"]
            + 0.1 * 100 * (1 - min(per100 / 10, 1))
        )
        rows.append((comp, s["rate_low"], s["estate_id"], r["firm"], r["households"], s))
    rows.sort(key=lambda t: (-t[0], -t[1]))
    firms: dict[str, list[float]] = {}
    for _, _, _, firm, hh, s in rows:
        acc = firms.setdefault(firm, [0.0, 0.0, 0.0])
        acc[0] += hh
        acc[1] += hh * s["rate"]
        acc[2] += hh**2 * s["rate_se"] ** 2
    return rows


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--estates", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    prev, prev_scores = make_round(args.estates, 1, "2025H1")
    rnd, scores = make_round(args.estates, 2, "2025H2")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "wuye.sqlite")
        for r, s in ((prev, prev_scores), (rnd, scores)):
            store.write_step(
                r.round_id, "round", {"register": r.register}, meta={"period": r.period}
            )
            store.write_step(r.round_id, "score", {"estates": s})
        first = rank_round(prev, prev_scores, history=store)
        store.write_step(
            prev.round_id,
            "rank",
            {"estates": first.estates, "firms": first.firms, "escalations": first.escalations},
        )

        def rank_only() -> None:
            rank_round(rnd, scores, history=store)

        def rank_and_store() -> None:
            ranking = rank_round(rnd, scores, history=store)
            store.write_step(
                rnd.round_id,
                "rank",
                {
                    "estates": ranking.estates,
                    "firms": ranking.firms,
                    "escalations": ranking.escalations,
                },
            )

        t_sort = best(lambda: scores.sort_values(["rate_low", "rate"], ascending=False), 5)
        t_loop = best(lambda: naive_loop(rnd, scores), args.repeat)
        t_rank = best(rank_only, args.repeat)
        t_total = best(rank_and_store, args.repeat)
        listed = store.read("ranking", rnd.round_id)["list"].value_counts().to_dict()
        store.close()
    print(f"{args.estates} estates, {rnd.register['firm'].nunique()} firms; lists: {listed}")
    print(f"baseline bare pandas sort        {t_sort * 1e3:8.1f} ms")
    print(f"baseline naive per-estate loop   {t_loop * 1e3:8.1f} ms")
    print(
        f"rank_round (with history read)   {t_rank * 1e3:8.1f} ms  "
        f"= {t_rank / t_sort:.0f}× sort, {t_rank / t_loop:.1f}× naive loop"
    )
    print(
        f"rank + store (one transaction)   {t_total * 1e3:8.1f} ms  "
        f"= {t_total / t_loop:.1f}× naive loop; goal ≤ {GOAL_S:.1f} s → "
        f"{'met' if t_total <= GOAL_S else 'NOT met'} ({t_total / GOAL_S:.0%} of goal)"
    )


if __name__ == "__main__":
    main()
