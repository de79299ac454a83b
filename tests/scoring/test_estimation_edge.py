"""Edge cases and bad input of the estimators: census, p̂ = 0/1, tiny n, lonely strata,
missing answers, validation errors naming the argument."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.scoring.estimation import METHODS, survey_mean, survey_proportion
from wuye_common.errors import WuyeError


def _srs(k: int, n: int, N: int) -> pd.DataFrame:
    return pd.DataFrame({"y": [1.0] * k + [0.0] * (n - k), "N": N, "w": N / n})


@pytest.mark.parametrize("method", METHODS)
def test_census_gives_zero_width_interval(method):
    df = _srs(45, 60, 60)
    r = survey_proportion(df, "y", fpc="N", method=method).iloc[0]
    assert r.estimate == pytest.approx(0.75)
    assert r.se == 0
    assert r.ci_low == r.ci_high == pytest.approx(0.75)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [0, 40])
def test_all_or_none_satisfied_gives_one_sided_bound(method, k):
    n, N = 40, 200
    r = survey_proportion(_srs(k, n, N), "y", fpc="N", method=method).iloc[0]
    neff = (n - 1) / (1 - n / N) + 1
    if k == 0:
        assert r.ci_low == 0
        assert r.ci_high == pytest.approx(1 - 0.025 ** (1 / neff), rel=1e-10)
    else:
        assert r.ci_high == 1
        assert r.ci_low == pytest.approx(0.025 ** (1 / neff), rel=1e-10)
    assert r.ci_high > r.ci_low


def test_srs_beta_is_korn_graubard_with_fpc_effective_n():
    """SRS: V = (1−f) p̂(1−p̂)/(n−1) so n_eff = (n−1)/(1−f); df = n − 1."""
    n, N, k = 50, 300, 41
    r = survey_proportion(_srs(k, n, N), "y", fpc="N").iloc[0]
    p = k / n
    assert r.se**2 == pytest.approx((1 - n / N) * p * (1 - p) / (n - 1), rel=1e-12)
    neff = (n - 1) / (1 - n / N)
    assert r.ci_low == pytest.approx(stats.beta.ppf(0.025, neff * p, neff * (1 - p) + 1))
    assert r.ci_high == pytest.approx(stats.beta.ppf(0.975, neff * p + 1, neff * (1 - p)))


def test_single_respondent():
    r = survey_proportion(_srs(1, 1, 80), "y", fpc="N").iloc[0]
    assert r.n == 1 and r.estimate == 1
    assert 0 < r.ci_low < 1 and r.ci_high == 1


def test_lonely_stratum_policies():
    df = pd.DataFrame({"s": ["a", "a", "a", "b"], "y": [1.0, 0, 1, 0], "N": [10, 10, 10, 5]})
    adjust = survey_proportion(df, "y", strata="s", fpc="N").iloc[0]
    remove = survey_proportion(df, "y", strata="s", fpc="N", lonely="remove").iloc[0]
    certainty = survey_proportion(df, "y", strata="s", fpc="N", lonely="certainty").iloc[0]
    assert remove.se == certainty.se < adjust.se
    # adjust: lonely PSU centred at the grand mean (0): contributes (1 − 1/N_h)·z²
    w = np.array([10 / 3] * 3 + [5.0])
    y = df.y.to_numpy()
    p = (w * y).sum() / w.sum()
    z = w * (y - p) / w.sum()
    extra = (1 - 1 / 5) * z[3] ** 2
    assert adjust.se**2 == pytest.approx(remove.se**2 + extra, rel=1e-12)
    with pytest.raises(WuyeError, match="lonely"):
        survey_proportion(df, "y", strata="s", fpc="N", lonely="fail")


def test_missing_answers_are_a_domain_of_non_missing():
    df = pd.DataFrame(
        {"s": ["a"] * 5 + ["b"] * 5, "N": 20, "y": [1, 0, np.nan, 1, 1, 0, 1, 1, np.nan, 1.0]}
    )
    r = survey_proportion(df, "y", strata="s", fpc="N").iloc[0]
    assert r.n == 8
    assert r.estimate == pytest.approx(6 / 8)
    # equals the explicit domain estimate (n_h counts every unit of the design)
    df["answered"] = df.y.notna()
    dom = survey_proportion(df.fillna({"y": 0.0}), "y", strata="s", fpc="N", by="answered")
    assert dom.set_index("answered").loc[True, "se"] == pytest.approx(r.se, rel=1e-12)


def test_domains_are_vectorised_and_sorted():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "d": rng.choice(["z", "a", "m"], 300),
            "s": rng.integers(0, 4, 300),
            "y": rng.integers(0, 2, 300).astype(float),
            "N": 500,
        }
    )
    out = survey_proportion(df, "y", strata="s", fpc="N", by="d")
    assert out.d.tolist() == ["a", "m", "z"]
    for _, r in out.iterrows():
        sub = df[df.d == r.d]
        assert r.df == len(sub) - sub.s.nunique()


def test_mean_index_interval_uses_t():
    df = pd.DataFrame({"y": [50.0, 75, 100, 25, 75, 50], "N": 40})
    r = survey_mean(df, "y", fpc="N").iloc[0]
    q = stats.t.ppf(0.975, 5)
    assert r.ci_high - r.estimate == pytest.approx(q * r.se)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"method": "wald"}, "method"),
        ({"confidence": 1.2}, "confidence"),
        ({"confidence": 0}, "confidence"),
        ({"lonely": "average"}, "lonely"),
        ({"weights": "bad_w"}, "weights"),
        ({"fpc": "small_N"}, "fpc"),
        ({"strata": "nope"}, "strata"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    df = pd.DataFrame({"y": [1.0, 0, 1], "bad_w": [1.0, 0.0, 2.0], "small_N": 2})
    with pytest.raises(WuyeError) as exc:
        survey_proportion(df, "y", **kwargs)
    assert name in str(exc.value)


def test_non_binary_y_rejected_for_proportion():
    with pytest.raises(WuyeError, match="0/1"):
        survey_proportion(pd.DataFrame({"y": [0.0, 2.0]}), "y")


def test_missing_y_column():
    with pytest.raises(WuyeError, match="y"):
        survey_mean(pd.DataFrame({"x": [1.0]}), "y")


@pytest.mark.parametrize("constant_weights", [True, False])
def test_matrix_kernel_matches_row_kernel(constant_weights):
    """matrix_moments (scoring's kernel) equals domain_moments on the same long data."""
    from evaluation.scoring.estimation import domain_moments, matrix_moments

    rng = np.random.default_rng(5)
    R, K, n_strata, n_groups = 400, 3, 24, 6
    stratum = rng.integers(0, n_strata, R)
    group = np.arange(n_strata) % n_groups
    n_h = np.bincount(stratum, minlength=n_strata)
    N_h = n_h + rng.integers(0, 30, n_strata)
    f_h = 1 - n_h / N_h
    w = (N_h / n_h)[stratum] * (1.0 if constant_weights else rng.uniform(0.5, 1.5, R))
    Y = rng.normal(60, 20, (R, K))
    Y[rng.random((R, K)) < 0.1] = np.nan
    m = matrix_moments(Y, w, stratum, group, n_groups, n_h, f_h)
    long_y = Y.ravel()
    dom = np.repeat(group[stratum], K) * K + np.tile(np.arange(K), R)
    ref = domain_moments(
        long_y, np.repeat(w, K), dom, n_groups * K, np.repeat(stratum, K), n_h, f_h
    )
    np.testing.assert_allclose(m.estimate, ref.estimate, rtol=1e-12)
    np.testing.assert_allclose(m.var, ref.var, rtol=1e-9)
    np.testing.assert_allclose(m.s2, ref.s2, rtol=1e-9)
    np.testing.assert_array_equal(m.df, ref.df)


def test_all_satisfied_without_fpc_is_clopper_pearson():
    """No fpc (with-replacement design): the one-sided bound is Clopper–Pearson with n,
    whatever the weights' scale — never zero width."""
    df = pd.DataFrame({"y": [1.0] * 12, "w": 7.5})
    for weights in (None, "w"):
        r = survey_proportion(df, "y", weights=weights).iloc[0]
        assert r.ci_high == 1
        assert r.ci_low == pytest.approx(0.025 ** (1 / 12), rel=1e-10)
