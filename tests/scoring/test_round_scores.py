"""score_round: weights from the sampling record, estates/items/dimensions/district."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation.scoring.estimation import survey_mean, survey_proportion
from evaluation.scoring.round_scores import score_round
from evaluation.scoring.weights import respondent_weights

THRESHOLDS = {"一级": 0.9, "二级": 0.8, "三级": 0.7, "四级": 0.6, "还建社区": 0.5}
TIER_LIST = list(THRESHOLDS)


def synth(n_estates=6, resp_per=40, n_items=5, buildings=3, seed=0, households=150):
    """A small synthetic round: answers long, sampling record, 台账."""
    rng = np.random.default_rng(seed)
    est = [f"E{i:03d}" for i in range(n_estates)]
    blds = [f"{b + 1}栋" for b in range(buildings)]
    rec = pd.DataFrame(
        {
            "estate_id": np.repeat(est, buildings),
            "building": np.tile(blds, n_estates),
            "N_h": households // buildings,
        }
    )
    R = n_estates * resp_per
    resp = pd.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(R)],
            "estate_id": np.repeat(est, resp_per),
            "building": rng.choice(blds, R),
        }
    )
    items = [f"S{i + 1:02d}" for i in range(n_items)]
    dims = [f"D{i // 2}" for i in range(n_items - 1)] + ["总体评价"]
    p = np.repeat(rng.uniform(0.5, 0.97, n_estates), resp_per)[:, None]
    sat = (rng.random((R, n_items)) < p).astype(float)
    sat[rng.random((R, n_items)) < 0.05] = np.nan
    pts = np.where(
        np.isnan(sat),
        np.nan,
        np.where(sat == 1, 75.0, 25.0) + rng.choice([0.0, 25.0], (R, n_items)),
    )
    ans = pd.DataFrame(
        {
            "response_id": np.repeat(resp.response_id, n_items),
            "estate_id": np.repeat(resp.estate_id, n_items),
            "item_id": np.tile(items, R),
            "dimension": np.tile(dims, R),
            "satisfied": sat.ravel(),
            "points": pts.ravel(),
        }
    )
    reg = pd.DataFrame(
        {
            "estate_id": est,
            "firm": [f"F{i % 2}" for i in range(n_estates)],
            "tier": [TIER_LIST[i % 5] for i in range(n_estates)],
            "households": households,
        }
    )
    reg["threshold"] = reg.tier.map(THRESHOLDS)
    rr = pd.DataFrame({"estate_id": est, "response_rate": np.linspace(0.3, 1, n_estates)})
    rnd = SimpleNamespace(
        register=reg, confidence=0.95, interval_method="beta", questionnaire="default"
    )
    return rnd, SimpleNamespace(respondents=resp, answers=ans, response_rates=rr), rec


@pytest.fixture(scope="module")
def scored():
    rnd, ing, rec = synth()
    return rnd, ing, rec, score_round(rnd, ing, rec, overall_item="S05")


def test_estate_rate_equals_survey_proportion_on_overall_item(scored):
    rnd, ing, rec, s = scored
    w = respondent_weights(ing.respondents, rec, rnd.register)
    ov = ing.answers[ing.answers.item_id == "S05"].merge(w, on=["response_id", "estate_id"])
    ref = survey_proportion(
        ov, "satisfied", strata="stratum", weights="weight", fpc="N_h", by="estate_id"
    )
    e = s.estates.set_index("estate_id").loc[ref.estate_id]
    np.testing.assert_allclose(e.rate, ref.estimate, rtol=1e-12)
    np.testing.assert_allclose(e.rate_low, ref.ci_low, rtol=1e-10)
    np.testing.assert_allclose(e.rate_high, ref.ci_high, rtol=1e-10)
    np.testing.assert_array_equal(e.df, ref.df)


def test_weights_sum_to_households(scored):
    _rnd, _ing, _rec, s = scored
    sums = s.weights.groupby("estate_id").weight.sum()
    np.testing.assert_allclose(sums, 150)


def test_index_is_mean_of_respondent_mean_points(scored):
    _rnd, ing, _rec, s = scored
    per = ing.answers.groupby("response_id").points.mean().rename("ri").reset_index()
    w = s.weights.merge(per, on="response_id")
    ref = survey_mean(w, "ri", strata="stratum", weights="weight", fpc="N_h", by="estate_id")
    e = s.estates.set_index("estate_id").loc[ref.estate_id]
    np.testing.assert_allclose(e["index"], ref.estimate, rtol=1e-12)
    np.testing.assert_allclose(e.index_low, ref.ci_low, rtol=1e-10)


def test_items_and_dimensions_shapes(scored):
    _rnd, ing, _rec, s = scored
    assert len(s.items) == 6 * 5
    assert set(s.items.columns) >= {
        "estate_id",
        "item_id",
        "dimension",
        "rate",
        "ci_low",
        "ci_high",
        "n",
    }
    assert set(s.dimensions.columns) >= {
        "estate_id",
        "dimension",
        "rate",
        "ci_low",
        "ci_high",
        "index",
        "n",
    }
    assert (s.items.ci_low <= s.items.rate).all() and (s.items.rate <= s.items.ci_high).all()
    # a one-item dimension's rate equals the item's rate
    d = s.dimensions[s.dimensions.dimension == "D1"].set_index("estate_id").rate
    i = s.items[s.items.item_id == "S03"].set_index("estate_id").rate
    # D1 has items S03, S04: compare against respondent-level mean instead
    a = ing.answers[ing.answers.dimension == "D1"]
    per = a.groupby("response_id").satisfied.mean().rename("ds").reset_index()
    ref = survey_mean(
        s.weights.merge(per, on="response_id"),
        "ds",
        strata="stratum",
        weights="weight",
        fpc="N_h",
        by="estate_id",
    )
    np.testing.assert_allclose(d.loc[ref.estate_id], ref.estimate, rtol=1e-12)
    assert len(i) == 6


def test_district_is_household_weighted(scored):
    _rnd, _ing, _rec, s = scored
    e = s.estates
    overall = s.district[s.district.tier == "全区"].iloc[0]
    N = e.households.to_numpy(float)
    assert overall.rate == pytest.approx((N * e.rate).sum() / N.sum(), rel=1e-12)
    assert overall.rate_se == pytest.approx(
        np.sqrt(((N / N.sum()) ** 2 * e.rate_se**2).sum()), rel=1e-10
    )
    assert s.district.tier.tolist()[:5] == TIER_LIST


def test_verdict_columns_and_response_rate_flag(scored):
    s = scored[3]
    e = s.estates
    for col in (
        "estate_id",
        "rate",
        "rate_se",
        "rate_low",
        "rate_high",
        "index",
        "index_low",
        "index_high",
        "n",
        "response_rate",
        "df",
        "deff",
        "threshold",
        "tier",
        "verdict",
        "point_pass",
        "flags",
    ):
        assert col in e.columns
    assert e.loc[e.response_rate < 0.5, "flags"].str.contains("应答率偏低").all()


def test_fallback_without_sampling_record():
    """No sampling record and no [sampling] design: a non-probability sample, estimated
    without the finite-population correction; with the external design named, the FPC
    with N = 台账 户数 and the 分层回退 flag."""
    rnd, ing, _ = synth(n_estates=2)
    s = score_round(rnd, ing, None, overall_item="S05")
    e = s.estates.set_index("estate_id")
    assert e["flags"].str.contains("非概率样本").all() and e["nonprobability"].all()
    assert not e["flags"].str.contains("分层回退").any()
    assert s.weights.groupby("estate_id").weight.sum().tolist() == pytest.approx([150, 150])
    # no FPC: R's svyby(~y, ~estate, svydesign(ids=~1, strata=~estate, weights=~w)) with
    # the domain of answered overall items; with the design named, fpc = 台账 户数
    ov = ing.answers[ing.answers["item_id"] == "S05"].assign(w=150 / 40, N=150.0)
    plain = survey_proportion(ov, "satisfied", strata="estate_id", weights="w", by="estate_id")
    assert e["rate_se"].to_numpy() == pytest.approx(plain["se"].to_numpy())
    rnd.sampling = SimpleNamespace(design="srs")
    named = score_round(rnd, ing, None, overall_item="S05").estates.set_index("estate_id")
    assert named["flags"].str.contains("分层回退").all() and not named["nonprobability"].any()
    fpc = survey_proportion(ov, "satisfied", strata="estate_id", fpc="N", by="estate_id")
    assert named["rate_se"].to_numpy() == pytest.approx(fpc["se"].to_numpy())
    assert (named["rate_se"] < e["rate_se"]).all()


def test_collapse_empty_and_unknown_buildings():
    resp = pd.DataFrame(
        {
            "response_id": list("abcdef"),
            "estate_id": "E1",
            "building": ["1", "1", "3", None, "9", "3"],
        }
    )
    rec = pd.DataFrame(
        {"estate_id": "E1", "building": ["1", "2", "3", "4"], "N_h": [10, 20, 30, 40]}
    )
    w = respondent_weights(resp, rec).set_index("response_id")
    assert w.loc["c", "stratum"] == "E1|2+3" and w.loc["c", "N_h"] == 50
    assert w.loc["d", "stratum"] == w.loc["e", "stratum"] == "E1|4"
    assert w.weight.sum() == pytest.approx(100)


def test_census_estate_and_missing_response_rates():
    rnd, ing, rec = synth(n_estates=1, resp_per=30, households=30, buildings=1)
    ing.response_rates = None
    s = score_round(rnd, ing, rec, overall_item="S05")
    e = s.estates.iloc[0]
    n_ans = ing.answers[ing.answers.item_id == "S05"].satisfied.notna().sum()
    assert np.isnan(e.response_rate)
    if n_ans == 30:
        assert e.rate_low == e.rate_high == e.rate
        assert "普查" in e["flags"]


def test_answer_order_does_not_matter_and_duplicates_are_rejected():
    from wuye_common.errors import WuyeError

    rnd, ing, rec = synth(n_estates=3)
    a = score_round(rnd, ing, rec, overall_item="S05").estates
    ing.answers = ing.answers.sample(frac=1.0, random_state=2)
    b = score_round(rnd, ing, rec, overall_item="S05").estates
    pd.testing.assert_frame_equal(a, b)
    ing.answers = pd.concat([ing.answers, ing.answers.iloc[:1]])
    with pytest.raises(WuyeError, match="不止一次"):
        score_round(rnd, ing, rec, overall_item="S05")


def test_estate_without_respondents_is_not_scored():
    rnd, ing, rec = synth(n_estates=2)
    extra = pd.DataFrame(
        {
            "estate_id": ["E999"],
            "firm": ["F0"],
            "tier": ["一级"],
            "households": [90],
            "threshold": [0.9],
        }
    )
    rnd.register = pd.concat([rnd.register, extra], ignore_index=True)
    e = score_round(rnd, ing, rec, overall_item="S05").estates.set_index("estate_id")
    assert e.loc["E999", "verdict"] == "未评估"
    assert "无有效样本" in e.loc["E999", "flags"]
    assert e.loc["E999", "n"] == 0


def test_more_respondents_than_households_raises_N_and_is_marked():
    resp = pd.DataFrame({"response_id": list("abc"), "estate_id": "E1", "building": "1"})
    rec = pd.DataFrame({"estate_id": ["E1"], "building": ["1"], "N_h": [2]})
    w = respondent_weights(resp, rec)
    assert w.n_exceeds_N.all() and (w.weight == 1).all() and (w.N_h == 3).all()


def test_estate_missing_from_record_uses_register_households():
    resp = pd.DataFrame(
        {
            "response_id": list("abcd"),
            "estate_id": ["E1", "E1", "E2", "E2"],
            "building": ["1", "2", "1", None],
        }
    )
    rec = pd.DataFrame({"estate_id": ["E1", "E1"], "building": ["1", "2"], "N_h": [10, 30]})
    reg = pd.DataFrame({"estate_id": ["E1", "E2"], "households": [40, 90]})
    w = respondent_weights(resp, rec, reg).set_index("response_id")
    assert w.loc["c", "fallback"] and w.loc["c", "stratum"] == "E2|*"
    assert w.loc["c", "weight"] == pytest.approx(45.0)
    # E1's buildings hold one respondent each: collapsed into one stratum (N = 10 + 30)
    assert not w.loc["a", "fallback"] and w.loc["b", "weight"] == pytest.approx(20.0)
    assert w.loc["a", "stratum"] == "E1|1+2" and w.loc[["a", "b"], "collapsed"].all()
    # E2 has no record and no [sampling] design: a non-probability sample without FPC
    assert w.loc["c", "nonprobability"] and np.isinf(w.loc["c", "N_fpc"])
    assert w.loc["a", "N_fpc"] == 40 and not w.loc["a", "nonprobability"]
    named = respondent_weights(resp, rec, reg, design="srs").set_index("response_id")
    assert not named.loc["c", "nonprobability"] and named.loc["c", "N_fpc"] == 90


def test_empty_answers_raise():
    from wuye_common.errors import WuyeError

    rnd, ing, rec = synth(n_estates=1)
    ing.answers = ing.answers.iloc[:0]
    with pytest.raises(WuyeError, match="有效答卷"):
        score_round(rnd, ing, rec)


def test_weights_of_no_respondents_are_an_empty_table() -> None:
    resp = pd.DataFrame({"response_id": pd.Series(dtype=str), "estate_id": pd.Series(dtype=str)})
    w = respondent_weights(resp)
    assert w.empty
    assert list(w.columns) == [
        "response_id",
        "estate_id",
        "stratum",
        "weight",
        "N_h",
        "n_h",
        "N_fpc",
        "N_record",
        "fallback",
        "n_exceeds_N",
        "nonprobability",
        "collapsed",
    ]


@pytest.mark.parametrize("categorical", [False, True])
def test_duplicate_respondent_ids_are_rejected(categorical: bool) -> None:
    from wuye_common.errors import WuyeError

    rnd, ing, rec = synth(n_estates=2)
    ing.respondents = pd.concat([ing.respondents, ing.respondents.iloc[:1]], ignore_index=True)
    if categorical:
        ing.answers["response_id"] = ing.answers["response_id"].astype("category")
    with pytest.raises(WuyeError, match="response_id 有重复"):
        score_round(rnd, ing, rec, overall_item="S05")


def test_one_eligibility_minimum_for_the_flag_and_the_ranking():
    """The round's [rules.eligibility] min_n is the n below which scoring flags 样本量不足
    and ranking leaves the estate out — one number, not two."""
    from evaluation.ranking.lists import rank_round
    from evaluation.ranking.rules import parse_rules

    rnd, ing, rec = synth(n_estates=4, resp_per=40)
    for min_n in (30, 45):
        rnd.rules = parse_rules({"eligibility": {"min_n": min_n, "min_response_rate": 0}})
        rnd.round_id = rnd.period = "2025H1"
        e = score_round(rnd, ing, rec, overall_item="S05").estates
        short = e["n"] < min_n
        assert (e["flags"].str.contains("样本量不足") == short).all()
        ranked = rank_round(rnd, e).estates.set_index("estate_id")
        assert (ranked.loc[e["estate_id"], "eligible"].to_numpy() == ~short.to_numpy()).all()
    assert short.all()  # 40 answers (some skipped the overall item) < 45


@pytest.mark.parametrize("variant", ["beta", "exact", "shuffled", "on_sae"])
def test_estates_only_gives_the_full_estates_table(variant: str) -> None:
    """``estates_only`` (the overall item's moments and the index alone, the quality
    sensitivity's re-score) gives the estates table of the full scoring to the last bit;
    the small-area columns are NaN unless the verdicts use them."""
    from evaluation.scoring.small_area import SAE_COLUMNS

    rnd, ing, rec = synth(n_estates=12, seed=4)
    if variant == "exact":
        rnd.interval_method = "exact"
        rec = rec.assign(design="simple_srs")
    if variant == "shuffled":  # answers not in the respondent × item grid order
        ing.answers = ing.answers.sample(frac=1.0, random_state=3).reset_index(drop=True)
    if variant == "on_sae":
        rnd.scoring = {"small_area": True}
    full = score_round(rnd, ing, rec, overall_item="S05").estates
    only = score_round(rnd, ing, rec, overall_item="S05", estates_only=True)
    assert only.items.empty and only.dimensions.empty and only.district.empty
    if variant == "on_sae":
        pd.testing.assert_frame_equal(only.estates, full, check_exact=True)
    else:
        assert only.estates[list(SAE_COLUMNS)].isna().all().all()
        others = [c for c in full.columns if c not in SAE_COLUMNS]
        assert list(only.estates.columns) == list(full.columns)
        pd.testing.assert_frame_equal(only.estates[others], full[others], check_exact=True)


def test_quality_sensitivity_equals_a_full_rescore_of_the_kept_forms() -> None:
    """The clean columns (estates-only re-score of the kept forms, answers selected by
    their categorical codes) equal a full :func:`score_round` of the kept respondents and
    answers given as plain texts."""
    from evaluation.scoring.sensitivity import CLEAN_SOURCES, with_sensitivity

    rnd, ing, rec = synth(n_estates=10, seed=5)
    resp = ing.respondents.copy()
    rng = np.random.default_rng(6)
    flagged = rng.random(len(resp)) < 0.15
    resp["quality_rules"] = np.where(flagged, "答题过快", "")
    answers = ing.answers.assign(
        response_id=pd.Categorical(ing.answers["response_id"], categories=resp["response_id"])
    )
    ingest = SimpleNamespace(respondents=resp, answers=answers, response_rates=ing.response_rates)
    estates = score_round(rnd, ingest, rec, overall_item="S05").estates
    rnd.questionnaire = "default"
    out = with_sensitivity(estates, rnd, ingest, rec)
    kept = resp[~flagged].reset_index(drop=True)
    ref = score_round(
        rnd,
        SimpleNamespace(
            respondents=kept,
            answers=ing.answers[ing.answers["response_id"].isin(kept["response_id"])],
            response_rates=ing.response_rates,
        ),
        rec,
    ).estates.set_index("estate_id")
    for source, name in CLEAN_SOURCES.items():
        if source in ref.columns and source not in ("n", "verdict"):
            expected = out["estate_id"].map(ref[source])
            pd.testing.assert_series_equal(out[name], expected, check_names=False, check_exact=True)
    assert (out["n_clean"].to_numpy() == out["estate_id"].map(ref["n"]).to_numpy()).all()
    assert (out["verdict_clean"] == out["estate_id"].map(ref["verdict"])).all()
    assert out["flagged_forms"].sum() == flagged.sum()
