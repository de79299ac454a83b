"""Scoring with the default interval method ``exact``: estates drawn by simple random sampling
of the estate get the exact hypergeometric interval on k of n out of N; other designs keep
the Korn–Graubard (beta) interval."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.scoring import exact
from evaluation.scoring.round_scores import exact_estates, score_round
from tests.scoring.test_round_scores import synth


def _scored(designs: dict[str, str]):
    rnd, ing, rec = synth(n_estates=4, resp_per=60, households=150)
    rec = rec.assign(design=[designs.get(e, "stratified_srs") for e in rec["estate_id"]])
    rnd = SimpleNamespace(**{**vars(rnd), "interval_method": "exact"})
    return rnd, ing, rec, score_round(rnd, ing, rec, overall_item="S05")


def test_simple_estates_get_the_exact_interval_on_k_of_n():
    _, ing, rec, s = _scored({"E000": "simple_srs", "E001": "simple_srs"})
    e = s.estates.set_index("estate_id")
    assert e.loc[["E000", "E001"], "interval_method"].eq("exact").all()
    assert e.loc[["E002", "E003"], "interval_method"].eq("beta").all()
    ov = ing.answers[(ing.answers["item_id"] == "S05") & ing.answers["satisfied"].notna()]
    for estate in ("E000", "E001"):
        answers = ov[ov["estate_id"] == estate]["satisfied"]
        k, n = int(answers.sum()), len(answers)
        N = int(rec.loc[rec["estate_id"] == estate, "N_h"].sum())
        assert e.loc[estate, "rate"] == pytest.approx(k / n, abs=1e-12)  # equal weights
        low, high = exact.exact_interval(k, n, N)
        assert e.loc[estate, "rate_low"] == pytest.approx(low, abs=1e-12)
        assert e.loc[estate, "rate_high"] == pytest.approx(high, abs=1e-12)
        t = e.loc[estate, "threshold"]
        fail = exact.exact_p_value(k, n, N, t) <= 0.025
        passed = exact.exact_p_value(k, n, N, t, alternative="greater") <= 0.025
        want = "未达标" if fail else "达标" if passed else "临界"
        assert e.loc[estate, "verdict"] == want
    # items of those estates are exact too; dimensions (not 0/1) keep beta
    items = s.items[s.items["estate_id"] == "E000"]
    assert ((items["ci_low"] <= items["rate"]) & (items["rate"] <= items["ci_high"])).all()
    assert s.meta["method"] == "exact" and s.meta["exact_estates"] == 2


def test_stratified_and_unrecorded_estates_keep_beta():
    rnd, ing, rec, beta = _scored({})
    assert exact_estates(rec) == set()
    assert beta.estates["interval_method"].eq("beta").all()
    plain = score_round(SimpleNamespace(**{**vars(rnd), "interval_method": "beta"}), ing, rec)
    np.testing.assert_allclose(beta.estates["rate_low"], plain.estates["rate_low"])
    none = score_round(rnd, ing, None)
    assert none.estates["interval_method"].eq("beta").all()


def test_an_estate_half_simple_is_not_simple():
    rec = synth(n_estates=1)[2].assign(design=["simple_srs", "simple_srs", "systematic"])
    assert exact_estates(rec) == set()


def test_small_area_columns_and_the_small_area_switch():
    rnd, ing, rec = synth(n_estates=12, resp_per=25)  # 5 tiers, 12 estates
    direct = score_round(rnd, ing, rec, overall_item="S05")
    e = direct.estates
    assert {"sae_rate", "sae_low", "sae_high"} <= set(e.columns)
    assert e["sae_rate"].notna().all()
    assert ((e["sae_low"] <= e["sae_rate"]) & (e["sae_rate"] <= e["sae_high"])).all()
    switched = score_round(
        SimpleNamespace(**{**vars(rnd), "scoring": {"small_area": True}}),
        ing,
        rec,
        overall_item="S05",
    )
    s = switched.estates
    want = np.where(
        s["sae_low"] >= s["threshold"],
        "达标",
        np.where(s["sae_high"] < s["threshold"], "未达标", "临界"),
    )
    assert (s["verdict"] == want).all() and switched.meta["small_area_verdicts"]
