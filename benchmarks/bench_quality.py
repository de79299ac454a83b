"""Surveyor-level checks on a seeded simulation: 2 of 20 surveyors fabricate 40 % of their
forms (:mod:`evaluation.demo.surveyor_sim`). Goals: the fabrication score's AUC ≥ 0.90, at
most 5 % of honest surveyors flagged, and the risk-weighted 回访名单 at a 15 % back-check
rate reaches ≥ 80 % of the fabricating surveyors.

    .venv/bin/python benchmarks/bench_quality.py [--replications 200]
"""

from __future__ import annotations

import argparse
import time

from evaluation.demo.surveyor_sim import replicate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replications", type=int, default=200)
    args = parser.parse_args()
    t0 = time.perf_counter()
    table = replicate(args.replications)
    print(
        f"{args.replications} replications in {time.perf_counter() - t0:.1f} s: "
        f"mean AUC {table['auc'].mean():.3f} (goal ≥ 0.90), honest surveyors flagged "
        f"{table['honest_flagged'].mean():.1%} (goal ≤ 5 %), fabricators reached by the "
        f"15 % 回访名单 {table['reached'].mean():.1%} (goal ≥ 80 %)"
    )


if __name__ == "__main__":
    main()
