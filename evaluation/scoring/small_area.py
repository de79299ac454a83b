"""Small-area estimates of each estate's satisfaction rate: Fay–Herriot on the logit scale.

The direct (design-based) rate of an estate with few respondents is noisy. The Fay–Herriot
area-level model (Fay & Herriot 1979, *JASA* 74:269–277; Rao & Molina 2015, *Small Area
Estimation*, 2nd ed., §6.1–6.2) borrows strength from the other estates of the same tier::

    y_i = x_i'β + v_i + e_i,   v_i ~ N(0, σ²_v),   e_i ~ N(0, ψ_i) with ψ_i known

where ``y_i`` is the direct estimate on the logit scale and ``ψ_i`` its design-based
variance there; ``x_i`` are tier indicators (the model's mean of each tier). The EBLUP is
``θ̂_i = γ_i y_i + (1 − γ_i) x_i'β̂`` with ``γ_i = σ̂²_v / (σ̂²_v + ψ_i)``: an estate with a
precise direct estimate keeps it, one with a noisy estimate is pulled toward its tier's
mean. ``σ²_v`` is estimated by REML with Fisher scoring (Rao & Molina 2015, eq. 6.2.19;
R ``sae::eblupFH(method = "REML")``), truncated at 0; ``β̂`` by GLS. The MSE is the
second-order Prasad–Rao/Datta–Lahiri estimate for REML, ``g1 + g2 + 2·g3`` (Rao & Molina
2015, eq. 6.2.33; R ``sae::mseFH``). The interval is ``θ̂ ± z·√mse`` back-transformed with
the inverse logit.

Logit scale (documented policy): with the Kish effective sample size
``n* = p̂(1 − p̂)/V(p̂)`` (or ``(n − 1)/g + 1`` when ``p̂`` is 0 or 1, as
:mod:`evaluation.scoring.estimation` does) and ``x = p̂·n*``, ``y = log((x + ½)/(n* − x + ½))``
and ``ψ = 1/(x + ½) + 1/(n* − x + ½)`` (the empirical logistic transform, Cox & Snell 1989,
*Analysis of Binary Data*, §2.1.6): finite at 0% and 100%, and ``V/(p̂(1 − p̂))²`` — the
delta method — for large n*. Census estates (V = 0 from every household) keep their direct
rate and are left out of the fit; so are unscored estates.

All arithmetic is O(m·p²) on vectors (V is diagonal), never an m × m matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special, stats

from wuye_common.errors import Problem, WuyeError

SAE_COLUMNS = ("sae_rate", "sae_low", "sae_high")


@dataclass
class FayHerriot:
    """A fitted Fay–Herriot model: per area the EBLUP ``estimate``, its ``mse`` and the
    weight ``gamma`` of the direct estimate; ``sigma2_v``, ``beta`` (GLS), ``iterations``."""

    estimate: np.ndarray
    mse: np.ndarray
    gamma: np.ndarray
    sigma2_v: float
    beta: np.ndarray
    iterations: int


def _gls(y: np.ndarray, X: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``β̂ = (X'V⁻¹X)⁻¹ X'V⁻¹y`` and ``(X'V⁻¹X)⁻¹`` for diagonal ``V = diag(v)``."""
    Xw = X / v[:, None]
    inv = np.linalg.inv(X.T @ Xw)
    return inv @ (Xw.T @ y), inv


def _reml_step(y: np.ndarray, X: np.ndarray, psi: np.ndarray, sigma2: float) -> tuple[float, float]:
    """REML score and Fisher information for σ²_v at ``sigma2`` (Rao & Molina 2015, eq.
    6.2.19): ``s = −½ tr(P) + ½ y'P²y``, ``I = ½ tr(P²)`` with
    ``P = V⁻¹ − V⁻¹X(X'V⁻¹X)⁻¹X'V⁻¹``, computed from p × p matrices only."""
    v = sigma2 + psi
    beta, inv = _gls(y, X, v)
    Py = (y - X @ beta) / v
    X2 = X / (v**2)[:, None]  # V⁻²X
    a2 = inv @ (X.T @ X2)  # (X'V⁻¹X)⁻¹ X'V⁻²X
    trace_p = np.sum(1 / v) - np.trace(a2)
    trace_pp = np.sum(1 / v**2) - 2 * np.trace(inv @ (X.T @ (X2 / v[:, None]))) + np.trace(a2 @ a2)
    score = -0.5 * trace_p + 0.5 * float(Py @ Py)
    return score, 0.5 * trace_pp


def fay_herriot(
    y: ArrayLike,
    psi: ArrayLike,
    X: ArrayLike,
    *,
    tol: float = 1e-12,
    maxiter: int = 500,
) -> FayHerriot:
    """Fit the Fay–Herriot model by REML (module docstring) and predict every area.

    ``y``: direct estimates; ``psi``: their known sampling variances (> 0); ``X``: the
    ``m × p`` covariates (full column rank, p < m). Fisher scoring starts at
    ``median(psi)`` (as R ``sae``) and stops when the relative change of σ²_v is below
    ``tol``."""
    y = np.asarray(y, dtype=float)
    psi = np.asarray(psi, dtype=float)
    X = np.asarray(X, dtype=float)
    m, p = X.shape
    if m <= p or np.linalg.matrix_rank(X) < p or np.any(~(psi > 0)) or np.any(~np.isfinite(y)):
        raise WuyeError(
            Problem(
                "小区域估计无法拟合：小区数不足、协变量共线，或直接估计/方差无效",
                "至少需要比协变量多的已评估小区",
            )
        )
    sigma2 = float(np.median(psi))
    iterations = 0
    for iterations in range(1, maxiter + 1):  # noqa: B007 - the count is reported
        score, info = _reml_step(y, X, psi, sigma2)
        new = max(sigma2 + score / info, 0.0)
        change = abs(new - sigma2) / max(sigma2, 1e-300)
        sigma2 = new
        if sigma2 == 0.0 or change < tol:
            break
    v = sigma2 + psi
    beta, inv = _gls(y, X, v)
    gamma = sigma2 / v
    synthetic = X @ beta
    estimate = gamma * y + (1 - gamma) * synthetic
    g1 = gamma * psi
    g2 = (1 - gamma) ** 2 * np.einsum("ij,jk,ik->i", X, inv, X)
    var_sigma2 = 2.0 / np.sum(1.0 / v**2)  # asymptotic variance of the REML σ̂²_v
    g3 = (psi / v) ** 2 * var_sigma2 / v
    return FayHerriot(
        estimate=estimate,
        mse=g1 + g2 + 2 * g3,
        gamma=gamma,
        sigma2_v=sigma2,
        beta=beta,
        iterations=iterations,
    )


def empirical_logit(
    rate: ArrayLike, var: ArrayLike, n: ArrayLike, fpc: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, ψ)`` on the logit scale from a design-based rate, its variance, respondents and
    mean FPC factor (module docstring)."""
    p = np.asarray(rate, dtype=float)
    v = np.asarray(var, dtype=float)
    n = np.asarray(n, dtype=float)
    g = np.clip(np.nan_to_num(np.asarray(fpc, dtype=float), nan=1.0), 1e-12, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (v > 0) & (p > 0) & (p < 1)
        n_eff = np.where(inner, p * (1 - p) / v, np.maximum(n - 1, 0) / g + 1)
        x = p * n_eff
        y = np.log((x + 0.5) / (n_eff - x + 0.5))
        psi = 1 / (x + 0.5) + 1 / (n_eff - x + 0.5)
    return y, psi


def small_area_estimates(
    estates: pd.DataFrame, *, by: str = "tier", confidence: float = 0.95
) -> pd.DataFrame:
    """``sae_rate, sae_low, sae_high`` (and ``sae_gamma``, the direct estimate's weight) for
    each row of ``estates`` (columns ``rate, rate_se, n, census`` and ``by``; optional
    ``fpc``): the Fay–Herriot EBLUP on the logit scale shrinking toward the mean of the
    estate's ``by`` group (module docstring). Census estates keep their direct rate;
    unscored ones, and all when fewer estates than groups + 1 are fitted, get NaN."""
    out = pd.DataFrame(index=estates.index, columns=[*SAE_COLUMNS, "sae_gamma"], dtype=float)
    rate = estates["rate"].to_numpy(dtype=float)
    var = estates["rate_se"].to_numpy(dtype=float) ** 2
    n = estates["n"].to_numpy(dtype=float)
    census = estates["census"].fillna(False).to_numpy(dtype=bool) if "census" in estates else 0
    fpc = estates["fpc"].to_numpy(dtype=float) if "fpc" in estates else np.ones(len(estates))
    scored = np.isfinite(rate) & np.isfinite(var) & (n > 0)
    fit = scored & ~np.asarray(census, dtype=bool)
    groups = estates[by].astype(str).to_numpy() if by in estates else np.full(len(estates), "")
    codes, labels = pd.factorize(groups[fit])
    direct = scored & ~fit
    out.loc[direct, "sae_rate"] = out.loc[direct, "sae_low"] = rate[direct]
    out.loc[direct, "sae_high"] = rate[direct]
    out.loc[direct, "sae_gamma"] = 1.0
    if fit.sum() <= len(labels):
        return out
    y, psi = empirical_logit(rate[fit], var[fit], n[fit], fpc[fit])
    X = np.zeros((int(fit.sum()), len(labels)))
    X[np.arange(len(codes)), codes] = 1.0
    model = fay_herriot(y, psi, X)
    z = stats.norm.isf((1 - confidence) / 2)
    half = z * np.sqrt(model.mse)
    out.loc[fit, "sae_rate"] = special.expit(model.estimate)
    out.loc[fit, "sae_low"] = special.expit(model.estimate - half)
    out.loc[fit, "sae_high"] = special.expit(model.estimate + half)
    out.loc[fit, "sae_gamma"] = model.gamma
    return out
