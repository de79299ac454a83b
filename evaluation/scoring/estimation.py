"""Design-based estimation of rates and means with intervals, vectorised over domains.

The design is stratified (optionally with PSUs inside strata), sampled without replacement
with a finite population correction, as R ``survey``'s
``svydesign(ids=~psu or ~1, strata=~s, weights=~w, fpc=~N_h)``. Estimates are the ratio
(Hájek) mean ``ŷ_d = Σ w y / Σ w`` per domain; its variance is the linearised (Taylor)
variance of ``svymean`` (Lumley 2010, *Complex Surveys*, §2–3; R ``survey:::svyrecvar``)::

    z_i   = w_i (y_i − ŷ_d) / Σ_d w           (0 outside domain d)
    V(ŷ_d) = Σ_h (1 − n_h/N_h) · n_h/(n_h − 1) · Σ_{j ∈ h} (t_j − t̄_h)²

with ``t_j`` the PSU totals of ``z`` (the rows themselves without PSUs) and ``n_h`` the
number of PSUs of stratum h in the *whole* design — so a domain is estimated as R's
``svyby``/``subset()`` do (units outside the domain count as zeros). Degrees of freedom per
domain are R's ``degf(subset(design, domain))``: PSUs in the domain minus strata in the
domain. Missing ``y`` (NaN) is excluded as R's ``na.rm=TRUE`` does (a domain of the
non-missing): the design's ``n_h`` still counts every unit.

Design effects follow ``svymean(..., deff=TRUE)``: ``deff`` uses the without-replacement
SRS reference ``s²·(Ŵ − n)/(Ŵ n)`` and ``deff_wr`` the with-replacement one ``s²/n``, with
``s² = n/(n−1) Σ w (y−ŷ)² / Σ w`` (R ``svyvar``) and ``Ŵ = Σ w`` of the domain.

Interval methods for proportions are those of R ``svyciprop`` (survey 4.x source,
``R/svyttest.R``): ``beta`` (Korn & Graubard 1998, effective n = p̂(1−p̂)/V scaled by
``(t_{α/2, n−1}/t_{α/2, df})²``), ``logit``/``xlogit`` (Wald interval on the logit scale
by the delta method with t quantiles; for an intercept-only model they coincide),
``asin`` (arcsine-square-root scale), ``mean`` (p̂ ± t·se, clipped to [0, 1]) and
``wilson`` (Wilson score interval on the Kish effective n = p̂(1−p̂)/V with a t quantile;
an extension not in older R versions).

Edge cases (documented policy):

* **Census** (every stratum touching the domain has n_h = N_h): the variance is 0 and the
  interval is ``[p̂, p̂]``.
* **p̂ = 0 or 1 from a sample** (variance 0 but not a census): every method returns the
  Korn–Graubard/Clopper–Pearson bound with effective n = (n_d − 1)/g_d + 1, where g_d is
  the mean FPC factor 1 − n_h/N_h over the domain's units (1 without fpc) — the
  SRS-without-replacement n_eff (n−1)/(1−f) of the non-degenerate case, plus one so that
  a single respondent still gives a one-sided bound; without fpc this is Clopper–Pearson
  with n_d: ``[0, 1 − (α/2)^(1/n_eff)]`` at p̂ = 0 and
  ``[(α/2)^(1/n_eff), 1]`` at p̂ = 1 — one-sided, never zero width.
* **df < 1** (one PSU in the domain): quantiles use df = 1.
* **Lonely strata** (a stratum with one PSU in the whole design), like R's
  ``options(survey.lonely.psu=)``: ``"adjust"`` (default) centres the lonely PSU at the
  grand mean of the scores (0 for a mean), contributing ``(1 − 1/N_h)·t²``;
  ``"certainty"`` and ``"remove"`` contribute 0; ``"fail"`` raises :class:`WuyeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from wuye_common.errors import Problem, WuyeError

METHODS: tuple[str, ...] = ("beta", "logit", "xlogit", "asin", "wilson", "mean")
LONELY: tuple[str, ...] = ("adjust", "certainty", "remove", "fail")
RESULT_COLUMNS: tuple[str, ...] = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "deff",
    "deff_wr",
    "n",
)


def _bad(name: str, message: str, fix: str = "") -> WuyeError:
    return WuyeError(Problem(f"参数 {name} 无效：{message}", fix, column=name))


def check_confidence(confidence: float) -> float:
    """Validate a confidence level in (0, 1)."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float, np.floating))
        or not 0 < float(confidence) < 1
    ):
        raise _bad("confidence", f"置信水平 {confidence!r} 应在 0 与 1 之间", "通常写 0.95")
    return float(confidence)


def check_method(method: str) -> str:
    """Validate an interval method name."""
    if method not in METHODS:
        raise _bad("method", f"未知的区间方法 {method!r}", f"可选：{'、'.join(METHODS)}")
    return method


@dataclass
class DomainMoments:
    """Per-domain design quantities from :func:`domain_moments` (arrays of length D)."""

    estimate: np.ndarray
    var: np.ndarray
    n: np.ndarray  # units (rows) with a valid y in the domain
    weight: np.ndarray  # Σ w over the domain
    df: np.ndarray  # PSUs in domain − strata in domain (R degf of subset)
    census: np.ndarray  # every stratum touching the domain is fully enumerated
    s2: np.ndarray  # R svyvar: n/(n−1) Σ w (y−ŷ)² / Σ w
    fpc: np.ndarray  # mean over the domain's units of 1 − n_h/N_h (1 without fpc)


def domain_moments(
    y: np.ndarray,
    w: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    stratum: np.ndarray,
    n_h: np.ndarray,
    f_h: np.ndarray,
    *,
    cell: np.ndarray | None = None,
    cell_domain: np.ndarray | None = None,
    cell_stratum: np.ndarray | None = None,
    psu: np.ndarray | None = None,
    lonely: str = "adjust",
    binary: bool = False,
) -> DomainMoments:
    """Linearised stratified variance of domain means, by ``bincount`` over cells.

    ``y`` may hold NaN (excluded); ``domain`` codes are in ``[0, n_domains)`` (−1 = in no
    domain); ``stratum`` codes index ``n_h`` (design PSU count per stratum) and ``f_h``
    (``1 − n_h/N_h``, 1 without fpc). ``cell`` optionally gives precomputed compact codes
    of the (domain, stratum) pairs with ``cell_domain``/``cell_stratum`` per cell (used by
    scoring where strata nest in estates). ``psu`` codes (unique across strata) make the
    units PSUs. See the module docstring for formulas.
    """
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    ok = ~np.isnan(y) & (domain >= 0)
    if not ok.all():
        y, w, domain, stratum = y[ok], w[ok], domain[ok], stratum[ok]
        psu = psu[ok] if psu is not None else None
        cell = cell[ok] if cell is not None else None
    n_strata = len(n_h)
    if psu is not None:
        return _psu_moments(y, w, domain, n_domains, stratum, n_h, f_h, psu, lonely)
    if cell is None:
        key = domain.astype(np.int64) * n_strata + stratum
        if n_domains * n_strata <= 2 * len(y) + 1024:
            cell, n_cells = key, n_domains * n_strata
            cell_domain = np.repeat(np.arange(n_domains), n_strata)
            cell_stratum = np.tile(np.arange(n_strata), n_domains)
        else:
            codes, uniques = pd.factorize(key)
            cell, n_cells = codes, len(uniques)
            cell_domain = (uniques // n_strata).astype(np.int64)
            cell_stratum = (uniques % n_strata).astype(np.int64)
    else:
        n_cells = len(cell_domain)
    assert cell_domain is not None and cell_stratum is not None
    shift = 0.0 if binary or len(y) == 0 else float(np.dot(w, y) / w.sum())
    yc = y - shift if shift else y
    wy = w * yc
    sw = np.bincount(cell, w, n_cells)
    swy = np.bincount(cell, wy, n_cells)
    cnt = np.bincount(cell, minlength=n_cells).astype(float)
    w2 = w * w
    sw2 = np.bincount(cell, w2, n_cells)
    sw2y = np.bincount(cell, w2 * yc, n_cells)
    if binary:  # y² = y
        sw2y2, swy2 = sw2y, swy
    else:
        sw2y2 = np.bincount(cell, w2 * yc * yc, n_cells)
        swy2 = np.bincount(cell, wy * yc, n_cells)
    return _finish(
        sw,
        swy,
        cnt,
        sw2,
        sw2y,
        sw2y2,
        swy2,
        cell_domain,
        cell_stratum,
        n_domains,
        n_h,
        f_h,
        shift,
        lonely,
        cnt,
    )


def _stratum_sums(
    rows: np.ndarray, w: np.ndarray, n_strata: int
) -> tuple[Callable[..., tuple[np.ndarray, np.ndarray]], Any, np.ndarray | None]:
    """Per-(stratum, column) weighted sums as sparse–dense products.

    Returns ``sums(X, second=True) -> (Σ w·X, Σ w²·X)`` (raveled stratum × column), the
    stratum-by-unit incidence matrix ``M`` and, when the weights are constant within
    strata (N_h/n_h designs: Σ w^a y = w_h^a Σ y, one product per moment), the stratum
    weights ``wh`` (else ``None``)."""
    from scipy import sparse

    R = len(rows)
    M = sparse.csr_matrix((np.ones(R), (rows, np.arange(R))), shape=(n_strata, R))
    n_r = np.bincount(rows, minlength=n_strata).astype(float)
    w1 = np.bincount(rows, w, n_strata)
    w2 = np.bincount(rows, w * w, n_strata)
    with np.errstate(invalid="ignore", divide="ignore"):
        wh = np.where(n_r > 0, w1 / n_r, 0.0)
    if np.allclose(w2, wh * w1, rtol=1e-12, atol=0.0):

        def constant_sums(X: np.ndarray, second: bool = True) -> tuple[np.ndarray, np.ndarray]:
            base = M @ X
            return (base * wh[:, None]).ravel(), (base * (wh * wh)[:, None]).ravel()

        return constant_sums, M, wh
    Mw = M.copy()
    Mw.data = w[M.indices]
    Mw2 = Mw.copy()
    Mw2.data = Mw.data * Mw.data

    def weighted_sums(X: np.ndarray, second: bool = True) -> tuple[np.ndarray, np.ndarray]:
        return (Mw @ X).ravel(), ((Mw2 @ X).ravel() if second else np.zeros(0))

    return weighted_sums, M, None


def matrix_moments(
    Y: np.ndarray,
    w: np.ndarray,
    resp_stratum: np.ndarray,
    stratum_group: np.ndarray,
    n_groups: int,
    n_h: np.ndarray,
    f_h: np.ndarray,
    *,
    lonely: str = "adjust",
    binary: bool = False,
    deff: bool = True,
    valid: np.ndarray | None = None,
) -> DomainMoments:
    """Domain moments for K variables at once, with strata nested in groups (estates).

    ``Y`` is an ``(R, K)`` matrix of unit values (NaN = missing), ``w`` the unit weights,
    ``resp_stratum`` the unit's stratum and ``stratum_group`` each stratum's group. The
    domains are group × column (code ``group * K + k``) — e.g. estate × item. The
    per-(stratum, column) sums are sparse–dense products ``M @ X`` with ``M`` the
    stratum-by-unit incidence matrix (weights in its data), one pass over ``Y`` per moment
    and no per-answer index arrays. Same formulas as :func:`domain_moments`. With
    ``valid`` (float 0/1 mask, same shape) ``Y`` must already hold 0 where invalid.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    R, K = Y.shape
    n_strata = len(n_h)
    rows = np.asarray(resp_stratum, dtype=np.int64)
    sums, M, wh = _stratum_sums(rows, np.asarray(w, dtype=float), n_strata)
    constant = wh is not None

    if valid is None:
        mask = ~np.isnan(Y)
        vf = mask.astype(float)
        y0 = np.where(mask, Y, 0.0)  # a new array: centred in place below
    else:
        vf = np.asarray(valid, dtype=float).reshape(R, K)
        mask = None if binary else vf > 0
        y0 = Y
    base_v = M @ vf
    cnt = base_v.ravel()
    if constant:
        sw = (base_v * wh[:, None]).ravel()
        sw2 = (base_v * (wh * wh)[:, None]).ravel()
    else:
        sw, sw2 = sums(vf)
    shift = 0.0
    if not binary:
        den = sw.sum()
        shift = float(sums(y0, False)[0].sum() / den) if den > 0 else 0.0
        if valid is not None:
            y0 = y0.copy()  # never centre the caller's array
        y0 -= shift
        y0[~mask] = 0.0
    swy, sw2y = sums(y0)
    if binary:
        sw2y2, swy2 = sw2y, swy
    else:
        np.multiply(y0, y0, out=y0)  # y² in place: y0 is not needed any more
        swy2, sw2y2 = sums(y0)
        if not deff:
            swy2 = np.zeros_like(sw)
    cells = np.arange(n_strata * K)
    cell_stratum = cells // K
    cell_domain = np.asarray(stratum_group, dtype=np.int64)[cell_stratum] * K + cells % K
    m = _finish(
        sw,
        swy,
        cnt,
        sw2,
        sw2y,
        sw2y2,
        swy2,
        cell_domain,
        cell_stratum,
        n_groups * K,
        n_h,
        f_h,
        shift,
        lonely,
        cnt,
    )
    if not deff and not binary:
        m.s2 = np.full_like(m.estimate, np.nan)
    return m


def _psu_moments(y, w, domain, n_domains, stratum, n_h, f_h, psu, lonely) -> DomainMoments:
    """PSU version: scores are summed to PSU totals within the domain first."""
    n_strata = len(n_h)
    shift = float(np.dot(w, y) / w.sum()) if len(y) else 0.0
    yc = y - shift
    unit_key = domain.astype(np.int64) * (int(psu.max()) + 1 if len(psu) else 1) + psu
    ucodes, uniq = pd.factorize(unit_key)
    n_units = len(uniq)
    u_domain = np.zeros(n_units, dtype=np.int64)
    u_domain[ucodes] = domain
    u_stratum = np.zeros(n_units, dtype=np.int64)
    u_stratum[ucodes] = stratum
    uw = np.bincount(ucodes, w, n_units)
    uwy = np.bincount(ucodes, w * yc, n_units)
    uwy2 = np.bincount(ucodes, w * yc * yc, n_units)
    ckey = u_domain * n_strata + u_stratum
    ccodes, cuniq = pd.factorize(ckey)
    n_cells = len(cuniq)
    cell_domain = (cuniq // n_strata).astype(np.int64)
    cell_stratum = (cuniq % n_strata).astype(np.int64)
    # PSU totals t_j = (uwy_j − ŷ' uw_j)/W: the cell sums of t and t² need uw, uwy, uw²,
    # uw·uwy, uwy² — the same algebra as rows with "w" = PSU weight sums.
    sw = np.bincount(ccodes, uw, n_cells)
    swy = np.bincount(ccodes, uwy, n_cells)
    sw2 = np.bincount(ccodes, uw * uw, n_cells)
    sw2y = np.bincount(ccodes, uw * uwy, n_cells)
    sw2y2 = np.bincount(ccodes, uwy * uwy, n_cells)
    swy2 = np.bincount(ccodes, uwy2, n_cells)
    units = np.bincount(ccodes, minlength=n_cells).astype(float)
    rows = np.bincount(u_domain, np.bincount(ucodes, minlength=n_units), n_domains)
    m = _finish(
        sw,
        swy,
        units,
        sw2,
        sw2y,
        sw2y2,
        swy2,
        cell_domain,
        cell_stratum,
        n_domains,
        n_h,
        f_h,
        shift,
        lonely,
        units,
    )
    m.n = rows.astype(float)
    m.s2 = _svyvar(swy2, swy, sw, cell_domain, n_domains, m.n, m.weight, m.estimate - shift)
    return m


def _svyvar(swy2, swy, sw, cell_domain, n_domains, n, weight, est_c):
    dswy2 = np.bincount(cell_domain, swy2, n_domains)
    dswy = np.bincount(cell_domain, swy, n_domains)
    ss = dswy2 - 2 * est_c * dswy + est_c**2 * weight
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, n / (n - 1) * ss / weight, np.nan)


def _finish(
    sw,
    swy,
    cnt,
    sw2,
    sw2y,
    sw2y2,
    swy2,
    cell_domain,
    cell_stratum,
    n_domains,
    n_h,
    f_h,
    shift,
    lonely,
    units,
) -> DomainMoments:
    weight = np.bincount(cell_domain, sw, n_domains)
    total = np.bincount(cell_domain, swy, n_domains)
    with np.errstate(invalid="ignore", divide="ignore"):
        est_c = total / weight  # centred estimate ŷ − shift
        e = est_c[cell_domain]
        wd = weight[cell_domain]
        s1 = (swy - e * sw) / wd  # Σ_cell z
        s2 = (sw2y2 - 2 * e * sw2y + e * e * sw2) / (wd * wd)  # Σ_cell z²
    nh = n_h[cell_stratum].astype(float)
    fh = f_h[cell_stratum]
    present = cnt > 0
    s1 = np.where(present, s1, 0.0)
    s2 = np.where(present, s2, 0.0)
    multi = nh > 1
    with np.errstate(invalid="ignore", divide="ignore"):
        contrib = np.where(multi, fh * nh / (nh - 1) * (s2 - s1 * s1 / nh), 0.0)
    lone = present & ~multi
    if lone.any():
        if lonely == "fail":
            raise WuyeError(
                Problem(
                    "有分层只有 1 个样本单位，无法估计方差（lonely stratum）",
                    '把该楼栋与相邻楼栋合并，或改用 lonely="adjust"/"certainty"/"remove"',
                    column="lonely",
                )
            )
        if lonely == "adjust":
            contrib = np.where(lone, fh * s1 * s1, contrib)
    contrib = np.maximum(contrib, 0.0)
    var = np.bincount(cell_domain, contrib, n_domains)
    n = np.bincount(cell_domain, cnt, n_domains)
    strata_in = np.bincount(cell_domain, present.astype(float), n_domains)
    df = np.bincount(cell_domain, units, n_domains) - strata_in
    not_census = np.bincount(cell_domain, (present & (fh > 0)).astype(float), n_domains)
    census = (not_census == 0) & (n > 0)
    s2v = _svyvar(swy2, swy, sw, cell_domain, n_domains, n, weight, est_c)
    units_d = np.bincount(cell_domain, units, n_domains)
    with np.errstate(invalid="ignore", divide="ignore"):
        fpc = np.bincount(cell_domain, units * fh, n_domains) / units_d
    var = np.where(n > 0, var, np.nan)
    return DomainMoments(
        estimate=est_c + shift, var=var, n=n, weight=weight, df=df, census=census, s2=s2v, fpc=fpc
    )


def _deffs(m: DomainMoments) -> tuple[np.ndarray, np.ndarray]:
    """R ``svymean(deff=TRUE)`` (wor) and ``deff="replace"`` (wr) design effects."""
    with np.errstate(invalid="ignore", divide="ignore"):
        v_wr = m.s2 / m.n
        v_wor = m.s2 * (m.weight - m.n) / (m.weight * m.n)
        deff = np.where(v_wor > 0, m.var / v_wor, np.nan)
        deff_wr = np.where(v_wr > 0, m.var / v_wr, np.nan)
    return deff, deff_wr


def _tq(alpha_half: float, df: np.ndarray) -> np.ndarray:
    """Upper t quantile ``t_{1−α/2, df}`` with df floored at 1 (normal when df = inf).

    Computed once per distinct df (domains share few df values)."""
    df = np.maximum(np.asarray(df, dtype=float), 1.0)
    flat = np.where(np.isnan(df), 1.0, df).ravel()
    uniq, inv = np.unique(flat, return_inverse=True)
    q = np.where(
        np.isinf(uniq),
        special.ndtri(1 - alpha_half),
        special.stdtrit(np.where(np.isinf(uniq), 1.0, uniq), 1 - alpha_half),
    )
    out = q[inv].reshape(df.shape)
    return np.where(np.isnan(df), np.nan, out)


def proportion_interval(
    p: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    census: np.ndarray,
    fpc: np.ndarray,
    *,
    method: str = "beta",
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for proportions as R ``svyciprop`` (see module docstring for edge cases)."""
    check_method(method)
    alpha = 1 - check_confidence(confidence)
    p = np.asarray(p, dtype=float)
    var = np.asarray(var, dtype=float)
    n = np.asarray(n, dtype=float)
    df = np.asarray(df, dtype=float)
    se = np.sqrt(var)
    q = _tq(alpha / 2, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = (var > 0) & (p > 0) & (p < 1)
        if method == "beta":
            ratio = (_tq(alpha / 2, n - 1) / q) ** 2
            neff = p * (1 - p) / var * ratio
            lo = special.betaincinv(neff * p, neff * (1 - p) + 1, alpha / 2)
            hi = special.betaincinv(neff * p + 1, neff * (1 - p), 1 - alpha / 2)
        elif method in ("logit", "xlogit"):
            eta = np.log(p / (1 - p))
            h = q * se / (p * (1 - p))
            lo, hi = special.expit(eta - h), special.expit(eta + h)
        elif method == "asin":
            a = np.arcsin(np.sqrt(p))
            h = q * se / (2 * np.sqrt(p * (1 - p)))
            lo = np.sin(np.clip(a - h, 0, np.pi / 2)) ** 2
            hi = np.sin(np.clip(a + h, 0, np.pi / 2)) ** 2
        elif method == "wilson":
            neff = p * (1 - p) / var
            z2 = q * q
            centre = (p + z2 / (2 * neff)) / (1 + z2 / neff)
            half = q / (1 + z2 / neff) * np.sqrt(p * (1 - p) / neff + z2 / (4 * neff**2))
            lo, hi = centre - half, centre + half
        else:  # mean
            lo, hi = np.clip(p - q * se, 0, 1), np.clip(p + q * se, 0, 1)
        # degenerate: p̂ ∈ {0, 1} or zero variance from a sample → one-sided KG bound
        g = np.where(np.isfinite(fpc), np.clip(fpc, 1e-12, 1.0), 1.0)
        neff0 = np.maximum(n - 1, 0) / g + 1
        edge_lo = np.where(
            p <= 0, 0.0, special.betaincinv(neff0 * p, neff0 * (1 - p) + 1, alpha / 2)
        )
        edge_hi = np.where(
            p >= 1, 1.0, special.betaincinv(neff0 * p + 1, neff0 * (1 - p), 1 - alpha / 2)
        )
    lo = np.where(inner, lo, edge_lo)
    hi = np.where(inner, hi, edge_hi)
    lo = np.where(census, p, lo)
    hi = np.where(census, p, hi)
    missing = np.isnan(p) | (n <= 0)
    lo = np.where(missing, np.nan, np.clip(lo, 0, 1))
    hi = np.where(missing, np.nan, np.clip(hi, 0, 1))
    return lo, hi


def mean_interval(
    est: np.ndarray, var: np.ndarray, df: np.ndarray, *, confidence: float = 0.95, t: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``ŷ ± t_{df}·se`` (R ``confint(svymean(...), df=degf(design))``); normal if ``t=False``."""
    alpha = 1 - check_confidence(confidence)
    q = _tq(alpha / 2, df) if t else stats.norm.isf(alpha / 2)
    se = np.sqrt(var)
    return est - q * se, est + q * se


# ---------------------------------------------------------------------------
# DataFrame API
# ---------------------------------------------------------------------------


@dataclass
class Design:
    """Encoded design of a data frame: codes per row and per-stratum constants."""

    w: np.ndarray
    stratum: np.ndarray
    n_h: np.ndarray
    f_h: np.ndarray
    psu: np.ndarray | None


def _columns(data: pd.DataFrame, names: dict[str, str | Sequence[str] | None]) -> None:
    for arg, cols in names.items():
        if cols is None:
            continue
        for col in [cols] if isinstance(cols, str) else list(cols):
            if col not in data.columns:
                raise WuyeError(
                    Problem(
                        f"参数 {arg} 无效：数据中没有列「{col}」",
                        f"现有列：{'、'.join(map(str, data.columns[:20]))}",
                        column=str(col),
                    )
                )


def encode_design(
    data: pd.DataFrame,
    *,
    strata: str | None = None,
    weights: str | None = None,
    fpc: str | None = None,
    psu: str | None = None,
) -> Design:
    """Validate and encode a stratified design as R ``svydesign(ids, strata, weights, fpc)``.

    ``fpc`` is the stratum population size N_h (number of PSUs when ``psu`` is given); if
    every value is ≤ 1 it is read as the sampling fraction, as R does. Without ``weights``
    the weights are N_h/n_h (or 1 without ``fpc``).
    """
    _columns(data, {"strata": strata, "weights": weights, "fpc": fpc, "psu": psu})
    n = len(data)
    if strata is None:
        scode = np.zeros(n, dtype=np.int64)
        n_strata = 1
    else:
        if data[strata].isna().any():
            raise _bad("strata", f"分层列「{strata}」有空值", "为每一行填写所属分层")
        scode, uniq = pd.factorize(data[strata], sort=True)
        n_strata = len(uniq)
    if psu is None:
        units = np.bincount(scode, minlength=n_strata)
        pcode = None
    else:
        if data[psu].isna().any():
            raise _bad("psu", f"PSU 列「{psu}」有空值", "为每一行填写所属 PSU")
        pk = pd.factorize(data[psu])[0].astype(np.int64) * n_strata + scode
        pcode, puniq = pd.factorize(pk)
        units = np.bincount(puniq % n_strata, minlength=n_strata)
    n_h = units.astype(np.int64)
    if fpc is None:
        f_h = np.ones(n_strata)
        N_h = np.full(n_strata, np.inf)
    else:
        vals = pd.to_numeric(data[fpc], errors="coerce").to_numpy(dtype=float)
        if np.isnan(vals).any() or (vals <= 0).any():
            raise _bad("fpc", f"列「{fpc}」应为正数（各层总体单位数）", "填写每层的总户数 N_h")
        span = pd.Series(vals).groupby(scode).agg(["min", "max"])
        lo = span["min"].reindex(range(n_strata)).to_numpy(dtype=float)
        hi = span["max"].reindex(range(n_strata)).to_numpy(dtype=float)
        if (hi - lo > 1e-9 * np.maximum(hi, 1)).any():
            raise _bad("fpc", f"列「{fpc}」在同一分层内取值不同", "同一分层各行的 N_h 应相同")
        N_h = n_h / lo if (vals <= 1).all() else lo
        if (N_h < n_h - 1e-9).any():
            bad = int(np.argmax(N_h < n_h - 1e-9))
            raise _bad(
                "fpc",
                f"有分层的总体数 N_h={N_h[bad]:g} 小于样本数 n_h={n_h[bad]}",
                "检查 fpc 列：应为该层总体单位数，不小于该层样本数",
            )
        f_h = np.clip(1 - n_h / N_h, 0.0, 1.0)
    if weights is None:
        w = (N_h / n_h)[scode] if fpc is not None else np.ones(n)
    else:
        w = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
        if np.isnan(w).any() or (w <= 0).any() or not np.isfinite(w).all():
            raise _bad("weights", f"权数列「{weights}」有空值、零或负数", "权数必须为正数")
    return Design(w=np.asarray(w, dtype=float), stratum=scode, n_h=n_h, f_h=f_h, psu=pcode)


def _domains(
    data: pd.DataFrame, by: str | Sequence[str] | None
) -> tuple[np.ndarray, int, pd.DataFrame]:
    if by is None:
        return np.zeros(len(data), dtype=np.int64), 1, pd.DataFrame(index=range(1))
    cols = [by] if isinstance(by, str) else list(by)
    grouped = data.groupby(cols, sort=True, dropna=True, observed=True)
    codes = grouped.ngroup().to_numpy()
    codes = np.where(np.isnan(codes.astype(float)), -1, codes).astype(np.int64)
    keys = grouped.size().reset_index()[cols]
    return codes, len(keys), keys


def _estimate(data, y, *, strata, weights, fpc, psu, by, lonely, binary):
    if lonely not in LONELY:
        raise _bad("lonely", f"未知的单样本分层处理方式 {lonely!r}", f"可选：{'、'.join(LONELY)}")
    if not isinstance(data, pd.DataFrame):
        raise _bad("data", "应为 pandas DataFrame")
    _columns(data, {"y": y, "by": by})
    design = encode_design(data, strata=strata, weights=weights, fpc=fpc, psu=psu)
    values = data[y]
    if values.dtype == bool:
        values = values.astype(float)
    yv = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = values.notna().to_numpy() & np.isnan(yv)
    if bad.any():
        raise _bad("y", f"列「{y}」有非数值内容", "只保留数值（缺失留空）")
    if binary and not np.isin(yv[~np.isnan(yv)], (0.0, 1.0)).all():
        raise _bad("y", f"列「{y}」应只含 0/1（满意=1，不满意=0，缺失留空）", "先把答案转成 0/1")
    domain, n_domains, keys = _domains(data, by)
    m = domain_moments(
        yv,
        design.w,
        domain,
        n_domains,
        design.stratum,
        design.n_h,
        design.f_h,
        psu=design.psu,
        lonely=lonely,
        binary=binary,
    )
    return m, keys


def _table(keys: pd.DataFrame, m: DomainMoments, lo, hi) -> pd.DataFrame:
    deff, deff_wr = _deffs(m)
    out = keys.reset_index(drop=True).copy()
    out["estimate"] = m.estimate
    out["se"] = np.sqrt(m.var)
    out["ci_low"] = lo
    out["ci_high"] = hi
    out["df"] = m.df.astype(np.int64)
    out["deff"] = deff
    out["deff_wr"] = deff_wr
    out["n"] = m.n.astype(np.int64)
    return out


def survey_proportion(
    data: pd.DataFrame,
    y: str,
    *,
    strata: str | None = None,
    weights: str | None = None,
    fpc: str | None = None,
    psu: str | None = None,
    by: str | Sequence[str] | None = None,
    method: str = "beta",
    confidence: float = 0.95,
    lonely: str = "adjust",
) -> pd.DataFrame:
    """Design-based proportion of a 0/1 column ``y`` per domain, with its interval.

    R equivalent: ``svyby(~y, ~by, svydesign(ids=~psu, strata=~strata, weights=~weights,
    fpc=~fpc), svyciprop, method=method, level=confidence, vartype="ci")`` with
    ``deff=TRUE``. Returns ``by`` columns, ``estimate, se, ci_low, ci_high, df, deff
    (without-replacement reference), deff_wr (with-replacement reference), n`` — one row per
    domain, sorted by ``by``. Missing ``y`` is excluded. See the module docstring.
    """
    check_method(method)
    check_confidence(confidence)
    m, keys = _estimate(
        data, y, strata=strata, weights=weights, fpc=fpc, psu=psu, by=by, lonely=lonely, binary=True
    )
    lo, hi = proportion_interval(
        m.estimate, m.var, m.n, m.df, m.census, m.fpc, method=method, confidence=confidence
    )
    return _table(keys, m, lo, hi)


def survey_mean(
    data: pd.DataFrame,
    y: str,
    *,
    strata: str | None = None,
    weights: str | None = None,
    fpc: str | None = None,
    psu: str | None = None,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    lonely: str = "adjust",
    t: bool = True,
) -> pd.DataFrame:
    """Design-based mean of ``y`` per domain: R ``svyby(~y, ~by, design, svymean,
    deff=TRUE)`` with ``confint(..., df=degf)`` (t quantile on the domain's df; the normal
    quantile with ``t=False``). Same columns as :func:`survey_proportion`.
    """
    check_confidence(confidence)
    m, keys = _estimate(
        data,
        y,
        strata=strata,
        weights=weights,
        fpc=fpc,
        psu=psu,
        by=by,
        lonely=lonely,
        binary=False,
    )
    lo, hi = mean_interval(m.estimate, m.var, m.df, confidence=confidence, t=t)
    lo = np.where(m.census, m.estimate, lo)
    hi = np.where(m.census, m.estimate, hi)
    return _table(keys, m, lo, hi)
