"""Small-area estimates (Fay–Herriot, REML) against an independent implementation.

Reference: samplics 0.6.0 ``EblupAreaModel(method=FitMethod.reml)``, fitted with
``tol=1e-14, maxiter=1000`` and ``intercept=True`` on the ``milk`` data of R ``sae`` (Arora &
Lahiri 1997: expenditure on milk in 43 small areas, 4 major areas; the example of
``sae::eblupFH(yi ~ as.factor(MajorArea), SD^2, method = "REML")``), X = intercept + major-area
dummies. The values below were printed by that run (12 significant digits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.scoring.small_area import empirical_logit, fay_herriot, small_area_estimates

# (major area, direct estimate, standard error) per small area, in the data's order
MILK = [
    (1, 1.099, 0.163),
    (1, 1.075, 0.08),
    (1, 1.105, 0.083),
    (1, 0.628, 0.109),
    (1, 0.753, 0.119),
    (1, 0.981, 0.141),
    (1, 1.257, 0.202),
    (2, 1.095, 0.127),
    (2, 1.405, 0.168),
    (2, 1.356, 0.178),
    (2, 0.615, 0.1),
    (2, 1.46, 0.201),
    (2, 1.338, 0.148),
    (2, 0.854, 0.143),
    (3, 1.176, 0.149),
    (3, 1.111, 0.145),
    (3, 1.257, 0.135),
    (3, 1.43, 0.172),
    (3, 1.278, 0.137),
    (3, 1.292, 0.163),
    (3, 1.002, 0.125),
    (3, 1.183, 0.247),
    (3, 1.044, 0.14),
    (3, 1.267, 0.171),
    (3, 1.193, 0.106),
    (4, 0.791, 0.121),
    (4, 0.795, 0.121),
    (4, 0.759, 0.259),
    (4, 0.796, 0.106),
    (4, 0.565, 0.089),
    (4, 0.886, 0.225),
    (4, 0.952, 0.205),
    (4, 0.807, 0.119),
    (4, 0.582, 0.067),
    (4, 0.684, 0.106),
    (4, 0.787, 0.126),
    (4, 0.44, 0.092),
    (4, 0.759, 0.132),
    (4, 0.77, 0.1),
    (4, 0.8, 0.113),
    (4, 0.756, 0.083),
    (4, 0.865, 0.121),
    (4, 0.64, 0.129),
]
SIGMA2_V = 0.018550334762766612
BETA = [0.9681889869749644, 0.13278030545673875, 0.22694622452059401, -0.24130103994462937]
EBLUP = [
    1.021970544151,
    1.047601951442,
    1.067951426304,
    0.760816565089,
    0.846157043779,
    0.974372706113,
    1.058452671948,
    1.097776256185,
    1.221545489446,
    1.195146014837,
    0.785214919184,
    1.213946205377,
    1.209659720793,
    0.9834964412,
    1.186424709593,
    1.155698113921,
    1.226341250657,
    1.285648988661,
    1.236324840855,
    1.234960139388,
    1.090301627491,
    1.192305722834,
    1.121646766765,
    1.223029721892,
    1.193805444394,
    0.762719589639,
    0.764955153215,
    0.733844388083,
    0.769929554161,
    0.61344162336,
    0.769556072273,
    0.795825311687,
    0.772318847723,
    0.610230068312,
    0.700178189652,
    0.759278810407,
    0.529886336458,
    0.743446678038,
    0.754899633112,
    0.770191965716,
    0.748116423846,
    0.804077515804,
    0.681086885061,
]
MSE = [
    0.01346025646,
    0.005372879733,
    0.005701994717,
    0.008541752019,
    0.009579609714,
    0.011670657818,
    0.015926190443,
    0.010586535919,
    0.014184079511,
    0.014901513343,
    0.00769427,
    0.016336520457,
    0.01256275326,
    0.012117403161,
    0.012031258605,
    0.011709174202,
    0.010859802955,
    0.013690899748,
    0.011034697953,
    0.013079721999,
    0.009948654394,
    0.017244045293,
    0.011292350664,
    0.013625336476,
    0.008065798491,
    0.009205151259,
    0.009205151259,
    0.01647698444,
    0.007800638828,
    0.006098675379,
    0.015441626645,
    0.014657921709,
    0.009024716461,
    0.003870788609,
    0.007800638828,
    0.009646159544,
    0.006404343452,
    0.010155668261,
    0.007209948012,
    0.008470292522,
    0.005484865134,
    0.009205151259,
    0.009903647797,
]


def test_fay_herriot_reml_matches_samplics_on_the_milk_data():
    major, y, se = (np.array(c) for c in zip(*MILK, strict=True))
    X = np.column_stack([np.ones(len(y)), *(major == k for k in (2, 3, 4))]).astype(float)
    fit = fay_herriot(y, se**2, X)
    assert fit.sigma2_v == pytest.approx(SIGMA2_V, abs=1e-9)
    np.testing.assert_allclose(fit.beta, BETA, atol=1e-9)
    np.testing.assert_allclose(fit.estimate, EBLUP, atol=1e-6)
    np.testing.assert_allclose(fit.mse, MSE, atol=1e-6)
    # group indicators instead of intercept + dummies: the same model
    groups = np.column_stack([major == k for k in (1, 2, 3, 4)]).astype(float)
    np.testing.assert_allclose(fay_herriot(y, se**2, groups).estimate, EBLUP, atol=1e-6)


def test_no_area_variance_means_the_synthetic_estimate():
    rng = np.random.default_rng(1)
    X = np.ones((30, 1))
    y = 0.5 + rng.normal(0, 0.1, 30)  # all the spread is sampling error (ψ = 0.04)
    fit = fay_herriot(y, np.full(30, 0.04), X)
    assert fit.sigma2_v == 0.0
    np.testing.assert_allclose(fit.estimate, y.mean())


def test_empirical_logit():
    y, psi = empirical_logit([0.5, 0.9, 1.0], [0.25 / 100, 0.09 / 100, 0.0], [100, 100, 40], 1.0)
    assert y[0] == pytest.approx(0.0)
    assert psi[1] == pytest.approx(1 / 90.5 + 1 / 10.5)
    assert np.isfinite(y[2]) and y[2] > 4  # 40 of 40 satisfied: finite, large


def test_small_area_estimates_shrink_small_samples_toward_the_tier():
    rng = np.random.default_rng(7)
    n = np.r_[np.full(20, 200), np.full(5, 12)]
    rate = np.clip(rng.normal(0.8, 0.04, 25), 0.05, 0.99)
    rate[-1] = 1.0  # a small estate where everyone answered 满意
    estates = pd.DataFrame(
        {
            "rate": rate,
            "rate_se": np.sqrt(rate * (1 - rate) / n),
            "n": n,
            "census": False,
            "tier": "二级",
        }
    )
    estates.loc[0, "census"] = True
    estates.loc[0, "rate_se"] = 0.0
    sae = small_area_estimates(estates)
    assert sae.loc[0, "sae_rate"] == estates.loc[0, "rate"]  # a census keeps its rate
    small = sae.iloc[20:]
    assert (small["sae_gamma"] < sae.iloc[1:20]["sae_gamma"].min()).all()
    centre = np.average(rate[1:20])
    assert (abs(small["sae_rate"] - centre) < abs(rate[20:] - centre) + 1e-12).all()
    assert ((sae["sae_low"] <= sae["sae_rate"]) & (sae["sae_rate"] <= sae["sae_high"])).all()
    assert sae.loc[24, "sae_high"] < 1.0
