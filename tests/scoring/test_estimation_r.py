"""R ``survey`` parity of the design-based estimators on the public data sets.

Each reference number is quoted with its source; every test also recomputes the value in
closed form with numpy (independent of :mod:`evaluation.scoring.estimation`) to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.scoring.estimation import survey_mean, survey_proportion


def _apistrat(shared_fixtures):
    return pd.read_csv(shared_fixtures / "survey" / "apistrat.csv")


def _closed_form(y, w, strata, N=None, psu=None, domain=None):
    """Stratified ratio-mean variance, written out stratum by stratum (Lumley 2010 §2.2)."""
    y = np.asarray(y, float)
    w = np.asarray(w, float)
    strata = np.asarray(strata)
    d = np.ones(len(y), bool) if domain is None else np.asarray(domain, bool)
    est = (w * y)[d].sum() / w[d].sum()
    z = np.where(d, w * (y - est) / w[d].sum(), 0.0)
    var = 0.0
    for h in np.unique(strata):
        m = strata == h
        units = z[m] if psu is None else pd.Series(z[m]).groupby(np.asarray(psu)[m]).sum().values
        nh = len(units)
        f = 1.0 if N is None else 1 - nh / np.asarray(N)[m][0]
        var += f * nh / (nh - 1) * ((units - units.mean()) ** 2).sum()
    return est, np.sqrt(var)


def test_apistrat_svymean_with_fpc(shared_fixtures):
    """R: svymean(~api00, svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc)) →
    mean 662.29, SE 9.4089 (cran/survey tests/api.Rout.save, ``example(api)``)."""
    a = _apistrat(shared_fixtures)
    r = survey_mean(a, "api00", strata="stype", weights="pw", fpc="fpc").iloc[0]
    assert round(r.estimate, 2) == 662.29
    assert round(r.se, 4) == 9.4089
    est, se = _closed_form(a.api00, a.pw, a.stype, N=a.fpc)
    assert r.estimate == pytest.approx(est, rel=1e-10)
    assert r.se == pytest.approx(se, rel=1e-10)
    assert r.df == 200 - 3  # degf(dstrat): 200 PSUs − 3 strata
    assert r.n == 200


def test_apistrat_svymean_without_fpc_and_deff(shared_fixtures):
    """Without fpc the variance is the with-replacement one; deff as svymean(deff=TRUE):
    V / (svyvar·(Ŵ−n)/(Ŵ n)) and deff="replace": V / (svyvar/n) — formulas from
    cran/survey tests/deff.Rout.save."""
    a = _apistrat(shared_fixtures)
    r = survey_mean(a, "api00", strata="stype", weights="pw").iloc[0]
    est, se = _closed_form(a.api00, a.pw, a.stype)
    assert r.se == pytest.approx(se, rel=1e-10)
    w, y, n = a.pw.to_numpy(), a.api00.to_numpy(), len(a)
    s2 = n / (n - 1) * (w * (y - est) ** 2).sum() / w.sum()
    W = w.sum()
    assert r.deff == pytest.approx(se**2 / (s2 * (W - n) / (W * n)), rel=1e-10)
    assert r.deff_wr == pytest.approx(se**2 / (s2 / n), rel=1e-10)
    with_fpc = survey_mean(a, "api00", strata="stype", weights="pw", fpc="fpc").iloc[0]
    assert with_fpc.se < r.se


def test_fpc_dataset_with_psus(shared_fixtures):
    """R example(fpc): svymean(~x, withoutfpc) → 5.4481, SE 0.7413; with fpc=~Nh →
    5.4481, SE 0.616 (cran/survey tests/fpc.Rout.save)."""
    f = pd.read_csv(shared_fixtures / "survey" / "fpc.csv")
    with_fpc = survey_mean(f, "x", strata="stratid", weights="weight", fpc="Nh", psu="psuid").iloc[
        0
    ]
    without = survey_mean(f, "x", strata="stratid", weights="weight", psu="psuid").iloc[0]
    assert round(with_fpc.estimate, 4) == 5.4481
    assert round(with_fpc.se, 3) == 0.616
    assert round(without.se, 4) == 0.7413
    _, se = _closed_form(f.x, f.weight, f.stratid, N=f.Nh, psu=f.psuid)
    assert with_fpc.se == pytest.approx(se, rel=1e-10)
    # weights implied by fpc when not given (R: svydesign(ids, strata, fpc=~Nh))
    implied = survey_mean(f, "x", strata="stratid", fpc="Nh", psu="psuid").iloc[0]
    assert implied.se == pytest.approx(with_fpc.se, rel=1e-12)
    # fpc given as a sampling fraction (R: fpc=~I(nh/Nh))
    frac = f.assign(frac=f.nh / f.Nh)
    as_fraction = survey_mean(
        frac, "x", strata="stratid", weights="weight", fpc="frac", psu="psuid"
    ).iloc[0]
    assert as_fraction.se == pytest.approx(with_fpc.se, rel=1e-12)


def test_large_sampling_fraction_deff(shared_fixtures):
    """R survey 4.5, quoted in svy's tests/svy/estimation/test_deff_reference.py:
    svymean(~y, svydesign(id=~1, strata=~st, weights=~w), deff=TRUE) → SE 1.8976514768,
    deff 5.027365680015; deff="replace" → 1.005473136003."""
    d = pd.read_csv(shared_fixtures / "survey" / "svy_deff_large_fraction.csv")
    r = survey_mean(d, "y", strata="st", weights="w").iloc[0]
    assert r.se == pytest.approx(1.8976514768, rel=1e-9)
    assert r.deff == pytest.approx(5.027365680015, rel=1e-9)
    assert r.deff_wr == pytest.approx(1.005473136003, rel=1e-9)


def test_one_stage_fpc_domains(shared_fixtures):
    """samplics tests/estimation (one_stage_fpc data, values checked there against R and
    Stata): stratified mean 10.27855, SE 0.7750964 (PSUs, fpc on PSUs) and 0.6131181
    (rows as units); domain means 9.972075 / 10.82 with SE 1.05736 / 0.9217838 (PSUs) and
    0.8437669 / 0.6267699 (rows). Domain df follow R's subset(): units − strata in domain
    (samplics uses the full-design df, so its intervals are not compared)."""
    s = pd.read_csv(shared_fixtures / "survey" / "samplics_one_stage_fpc.csv")
    psu = survey_mean(s, "y", strata="stratid", weights="weight", fpc="Nh", psu="psuid")
    assert psu.estimate[0] == pytest.approx(10.27855, rel=1e-6)
    assert psu.se[0] == pytest.approx(0.7750964, rel=1e-6)
    rows = survey_mean(s, "y", strata="stratid", weights="weight", fpc="Nh")
    assert rows.se[0] == pytest.approx(0.6131181, rel=1e-6)
    dom = survey_mean(
        s, "y", strata="stratid", weights="weight", fpc="Nh", psu="psuid", by="domain"
    )
    assert dom.estimate.tolist() == pytest.approx([9.972075, 10.82], rel=1e-6)
    assert dom.se.tolist() == pytest.approx([1.05736, 0.9217838], rel=1e-6)
    dom_rows = survey_mean(s, "y", strata="stratid", weights="weight", fpc="Nh", by="domain")
    assert dom_rows.se.tolist() == pytest.approx([0.8437669, 0.6267699], rel=1e-6)
    for _, r in dom.iterrows():
        in_d = (s.domain == r.domain).to_numpy()
        _, se = _closed_form(s.y, s.weight, s.stratid, N=s.Nh, psu=s.psuid, domain=in_d)
        assert r.se == pytest.approx(se, rel=1e-10)
        sub = s[in_d]
        units = sub.groupby(["stratid", "psuid"]).ngroups
        assert r.df == units - sub.stratid.nunique()  # R degf(subset(design, domain))


def _svyciprop_reference(p, var, n_rows, df, method, level=0.95):
    """R svyciprop (survey R/svyttest.R) transcribed with scipy, for formula checks."""
    alpha = 1 - level
    se = np.sqrt(var)
    qt = stats.t.ppf(1 - alpha / 2, df)
    if method == "beta":
        neff = (
            p
            * (1 - p)
            / var
            * (stats.t.ppf(alpha / 2, n_rows - 1) / stats.t.ppf(alpha / 2, df)) ** 2
        )
        return (
            stats.beta.ppf(alpha / 2, neff * p, neff * (1 - p) + 1),
            stats.beta.ppf(1 - alpha / 2, neff * p + 1, neff * (1 - p)),
        )
    if method in ("logit", "xlogit"):
        eta, h = np.log(p / (1 - p)), qt * se / (p * (1 - p))
        return 1 / (1 + np.exp(-(eta - h))), 1 / (1 + np.exp(-(eta + h)))
    if method == "asin":
        a, h = np.arcsin(np.sqrt(p)), qt * se / (2 * np.sqrt(p * (1 - p)))
        return np.sin(a - h) ** 2, np.sin(a + h) ** 2
    return p - qt * se, p + qt * se


@pytest.mark.parametrize("method", ["beta", "logit", "xlogit", "asin", "mean"])
def test_svyciprop_methods_by_domain(shared_fixtures, method):
    """Intervals of svyby(~I(api00>700), ~stype, dstrat, svyciprop, method=) by formula,
    with each domain's own df (R's subset() degf) and nrow(subset)."""
    a = _apistrat(shared_fixtures).assign(hi=lambda f: (f.api00 > 700).astype(float))
    out = survey_proportion(
        a, "hi", strata="stype", weights="pw", fpc="fpc", by="stype", method=method
    )
    for _, r in out.iterrows():
        in_d = (a.stype == r.stype).to_numpy()
        p, se = _closed_form(a.hi, a.pw, a.stype, N=a.fpc, domain=in_d)
        assert r.estimate == pytest.approx(p, rel=1e-12)
        assert r.se == pytest.approx(se, rel=1e-10)
        lo, hi = _svyciprop_reference(p, se**2, in_d.sum(), in_d.sum() - 1, method)
        assert r.ci_low == pytest.approx(lo, rel=1e-6)
        assert r.ci_high == pytest.approx(hi, rel=1e-6)


def test_whole_sample_proportion_beta(shared_fixtures):
    """svyciprop(~I(api00>700), dstrat, method="beta"): df = degf = 197, nrow = 200."""
    a = _apistrat(shared_fixtures).assign(hi=lambda f: (f.api00 > 700).astype(float))
    r = survey_proportion(a, "hi", strata="stype", weights="pw", fpc="fpc").iloc[0]
    p, se = _closed_form(a.hi, a.pw, a.stype, N=a.fpc)
    lo, hi = _svyciprop_reference(p, se**2, 200, 197, "beta")
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), rel=1e-6)
    assert r.df == 197
