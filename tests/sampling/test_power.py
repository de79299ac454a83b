"""Sample sizes by power (``sampling.power``) and the simple random sample of the estate.

The figures are checked against ``evaluation.operating_characteristic`` (the exact
hypergeometric verdict probabilities), never against a normal formula."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evaluation
from sampling import power as pw
from sampling.config import SamplingConfig
from sampling.design import draw_round
from wuye_common.errors import WuyeError
from wuye_common.vocabulary import DEFAULT_THRESHOLDS

POPULATIONS = np.array([30, 45, 60, 81, 114, 150, 230, 400, 700, 1000, 1600, 2400, 3000])


def _default_plan(rr: float = 0.85):
    cfg = SamplingConfig()
    target = pw.Target(
        delta=cfg.delta, power=cfg.power, response_rate=rr, deff=cfg.deff, method="exact"
    )
    rows = []
    for threshold in sorted(set(DEFAULT_THRESHOLDS.values())):
        plan = pw.power_sizes(POPULATIONS, threshold, target, minimum=cfg.minimum)
        rows.append(
            pd.DataFrame(
                {
                    "N": POPULATIONS,
                    "threshold": threshold,
                    "n": plan.n,
                    "m": plan.respondents,
                    "power": plan.power,
                    "power_pass": plan.power_pass,
                    "census": plan.census_recommended,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("rr", [1.0, 0.85, 0.6])
def test_default_plan_keeps_the_error_and_reaches_the_power(rr):
    """Done when: P(未达标 | rate = T) ≤ 2.5% for every tier and N, and
    P(未达标 | rate = T − delta) ≥ power wherever no census is recommended."""
    plan = _default_plan(rr)
    m = plan["m"].to_numpy()
    at_t = evaluation.operating_characteristic(plan["N"], m, plan["threshold"], plan["threshold"])
    assert (at_t["p_fail"] <= 0.025).all()
    below = evaluation.operating_characteristic(
        plan["N"], m, plan["threshold"], plan["threshold"] - 0.05
    )
    assert np.allclose(below["p_fail"], plan["power"], atol=1e-12)
    decided = ~plan["census"]
    assert (plan.loc[decided, "power"] >= 0.8).all()
    above = evaluation.operating_characteristic(
        plan["N"], m, plan["threshold"], np.minimum(plan["threshold"] + 0.05, 1)
    )
    assert np.allclose(above["p_pass"], plan["power_pass"], atol=1e-12)
    # a census of respondents decides with certainty; where approaching everyone still
    # leaves non-respondents, the plan says so instead of pretending
    assert (plan.loc[plan["census"], "n"] == plan.loc[plan["census"], "N"]).all()
    assert decided.any() and (plan["census"].any() or rr == 1.0)


def test_power_sizes_are_bigger_where_deciding_is_harder():
    target = pw.Target(response_rate=1.0)
    n = pw.power_sizes(np.full(5, 3000), [0.9, 0.8, 0.7, 0.6, 0.5], target).n
    assert (np.diff(n) > 0).all()  # p(1 − p) grows towards 0.5
    smaller = pw.power_sizes([3000], 0.7, dataclasses.replace(target, delta=0.1)).n
    assert smaller[0] < n[2] / 3


def test_respondents_needed_is_a_crossing_of_the_exact_power():
    target = pw.Target()
    N = np.array([60, 200, 900, 2500])
    m = pw.respondents_needed(N, 0.8, target)
    at = evaluation.operating_characteristic(N, m, 0.8, 0.75)["p_fail"].to_numpy()
    before = evaluation.operating_characteristic(N, m - 1, 0.8, 0.75)["p_fail"].to_numpy()
    assert (at >= 0.8).all() and (before < 0.8).all()


def test_detectable_delta():
    target = pw.Target()
    p_fail, _, detect = pw.figures([150], [1000], [0.8], target)
    # the shortfall detected with the target power, and not one household less
    count = np.round((0.8 - detect[0]) * 1000)
    ok = evaluation.operating_characteristic(1000, 150, 0.8, count / 1000)["p_fail"][0]
    short = evaluation.operating_characteristic(1000, 150, 0.8, (count + 1) / 1000)["p_fail"][0]
    assert ok >= 0.8 > short
    assert detect[0] > 0.05 and p_fail[0] < 0.8  # 150 of 1,000 cannot detect 5 points


def test_budget_allocation_spends_the_budget_and_beats_an_even_spread():
    rng = np.random.default_rng(5)
    N = rng.integers(80, 2000, 30)
    t = rng.choice([0.9, 0.8, 0.7, 0.6, 0.5], 30)
    target = pw.Target(response_rate=0.85)
    budget = 3000
    n = pw.allocate_budget(N, t, budget, target, minimum=30)
    assert n.sum() == budget and (n >= 30).all() and (n <= N).all()

    def decided(sizes: np.ndarray) -> float:
        fig = pw.design_figures(sizes, N, t, target)
        return float(np.sum(0.5 * (fig.power + fig.power_pass)))

    even = np.minimum(np.round(N / N.sum() * budget).astype(int), N)
    equal = np.minimum(np.full(30, budget // 30), N)
    assert decided(n) > decided(even) and decided(n) > decided(equal)
    assert (pw.allocate_budget(N, t, int(N.sum()) + 5, target) == N).all()
    with pytest.raises(WuyeError, match="budget"):
        pw.allocate_budget(N, t, 100, target, minimum=30)


# --------------------------------------------------------------------------- the draw
def _round(sizes: dict[str, list[int]], thresholds: dict[str, float]):
    rows = []
    for estate, buildings in sizes.items():
        for b, count in enumerate(buildings, start=1):
            rows += [(estate, f"{b}栋", "1单元", "1", f"{r:03d}") for r in range(1, count + 1)]
    frame = pd.DataFrame(rows, columns=["estate_id", "building", "unit", "floor", "room"])
    register = pd.DataFrame({"estate_id": list(sizes), "threshold": list(thresholds.values())})
    return register, frame


def test_simple_design_draws_an_srs_of_the_estate():
    register, frame = _round({"A": [30, 50, 20], "B": [400]}, {"A": 0.8, "B": 0.5})
    drawn = draw_round(register, frame, SamplingConfig(), seed=9, confidence=0.95)
    plan = drawn.plan.set_index("estate_id")
    strata = drawn.strata
    assert set(strata["design"]) == {"simple_srs"} and set(plan["interval_method"]) == {"exact"}
    main = drawn.sample[drawn.sample["role"] == "main"]
    assert main.groupby("estate_id").size().to_dict() == plan["n"].to_dict()
    a = strata[strata["estate_id"] == "A"]
    assert a["n_h"].sum() == plan.loc["A", "n"]
    assert np.allclose(a["pi_h"], plan.loc["A", "n"] / 100)
    assert {"power", "power_pass", "census_recommended", "n_topup"} <= set(plan.columns)
    assert plan.loc["B", "power"] >= 0.8 and not plan.loc["B", "census_recommended"]


def test_simple_design_every_subset_equally_likely():
    """An SRS: the n households with the smallest random keys of the estate; over many
    seeds every pair of a 6-household estate is drawn equally often."""
    from sampling.selection import estate_keys, household_keys

    register, frame = _round({"A": [3, 3]}, {"A": 0.5})
    config = SamplingConfig(sizing="margin", margin=0.99, minimum=2, maximum=2, reserve_ratio=0)
    position = np.arange(1, 7)
    counts = dict.fromkeys(itertools.combinations(range(6), 2), 0)
    for seed in range(3000):
        z = household_keys(np.repeat(estate_keys(["A"], seed), 6), position)
        counts[tuple(sorted(np.argsort(z)[:2].tolist()))] += 1
        if seed < 5:  # the draw takes exactly those households
            drawn = draw_round(register, frame, config, seed=seed, confidence=0.95).sample
            rows = frame.reset_index().merge(drawn, on=["building", "room"])["index"]
            assert sorted(rows) == sorted(np.argsort(z)[:2].tolist())
    observed = np.array(list(counts.values()))
    assert stats.chisquare(observed).pvalue > 0.001


def test_budget_and_margin_sizing_in_the_draw():
    register, frame = _round({"A": [300], "B": [900], "C": [120]}, {"A": 0.9, "B": 0.5, "C": 0.7})
    drawn = draw_round(register, frame, SamplingConfig(budget=400), seed=2, confidence=0.95)
    assert drawn.plan["n"].sum() == 400
    margin = draw_round(register, frame, SamplingConfig(sizing="margin"), seed=2, confidence=0.95)
    assert margin.plan["power"].notna().all()  # the figures of the margin-based plan too
    two = draw_round(register, frame, SamplingConfig(waves=2), seed=2, confidence=0.95).plan
    one = draw_round(register, frame, SamplingConfig(), seed=2, confidence=0.95).plan
    assert (two["n"] == np.maximum(np.ceil(0.6 * one["n"]), 30)).all()
    approached = two["n"] + np.ceil(0.15 * two["n"] - 1e-9)  # mains + a reserve per refusal
    room = np.maximum(two["N"] - approached, 0)
    assert (two["n_topup"] == np.minimum(np.ceil(0.8 * one["n"]), room)).all()


def test_power_sizing_needs_thresholds():
    register, frame = _round({"A": [100]}, {"A": np.nan})
    with pytest.raises(WuyeError, match="达标线"):
        draw_round(register, frame, SamplingConfig(), seed=1, confidence=0.95)
    drawn = draw_round(
        register, frame, SamplingConfig(sizing="margin", planning_p=0.5), seed=1, confidence=0.95
    )
    assert np.isnan(drawn.plan["power"]).all()
