"""Key drivers of overall dissatisfaction and the importance–performance table.

**Key drivers** (:func:`key_drivers`): a logistic regression (statsmodels ``Logit``,
maximum likelihood, unweighted — a model of association among respondents, not a
design-based estimate) of *overall dissatisfaction* (1 − satisfied on the overall item) on
each dimension's *dissatisfaction* per respondent (1 − share satisfied among the
dimension's answered items, in [0, 1]). A respondent's missing dimension is imputed with
that dimension's mean (documented; the count of imputed cells is reported as
``imputed``). Coefficients are log odds ratios for going from fully satisfied to fully
dissatisfied on the dimension; ``importance`` is each positive coefficient's share of the
sum of positive coefficients (negative or non-significant effects are kept in the table).
If the fit fails (perfect separation, too few respondents: fewer than 10 per predictor or
no dissatisfied respondents) the rows carry NaN and a Chinese ``note``.

**Importance–performance** (:func:`importance_performance`): per dimension,
*performance* = share satisfied (mean over respondents of their dimension score),
*importance* = Pearson correlation between the respondent's dimension satisfaction and
overall satisfaction (derived importance; Martilla & James 1977 IPA with derived
importance). Quadrants split at the mean importance and mean performance over dimensions:
``优势区`` (high importance, high performance — keep), ``改进区`` (high importance, low
performance — fix first), ``维持区`` (low importance, high performance), ``机会区`` (low
importance, low performance).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sampling.errors import Problem, WuyeError

OVERALL_DIMENSION = "总体评价"
QUADRANTS = {(True, True): "优势区", (True, False): "改进区",
             (False, True): "维持区", (False, False): "机会区"}


def _with_by(answers: pd.DataFrame, by: Sequence[str],
             register: pd.DataFrame | None) -> pd.DataFrame:
    """Bring ``by`` columns (e.g. ``firm``) from the 台账 by ``estate_id`` when missing."""
    missing = [c for c in by if c not in answers.columns]
    if not missing:
        return answers
    if register is None or "estate_id" not in answers.columns \
            or any(c not in register.columns for c in missing):
        raise WuyeError(Problem(f"参数 by 无效：answers 中没有列 {'、'.join(missing)}",
                                "传入 register=台账（含该列），或先把该列并入 answers",
                                column="by"))
    reg = register.assign(estate_id=register["estate_id"].astype(str)).drop_duplicates(
        "estate_id")[["estate_id", *missing]]
    return answers.assign(estate_id=answers["estate_id"].astype(str)).merge(
        reg, on="estate_id", how="left")


def _respondent_matrix(answers: pd.DataFrame, items: pd.DataFrame | None,
                       by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    for col in ("response_id", "item_id", "dimension", "satisfied"):
        if col not in answers.columns:
            raise WuyeError(Problem(f"answers 缺少列「{col}」", "传入 ingest 的 answers", column=col))
    overall_ids: set[str] = set()
    if items is not None and "is_overall" in items.columns:
        overall_ids = set(items.loc[items["is_overall"].astype(bool), "item_id"].astype(str))
    a = answers[[*{"response_id", "item_id", "dimension", "satisfied", *by}]].copy()
    a["item_id"] = a["item_id"].astype(str)
    is_overall = a["item_id"].isin(overall_ids) if overall_ids & set(a["item_id"]) else (
        a["dimension"] == OVERALL_DIMENSION)
    a["satisfied"] = pd.to_numeric(a["satisfied"], errors="coerce")
    overall = a[is_overall].groupby("response_id")["satisfied"].mean().rename("_overall")
    dims = a[~is_overall].pivot_table(index="response_id", columns="dimension",
                                      values="satisfied", aggfunc="mean")
    frame = dims.join(overall, how="inner")
    if by:
        keys = a.drop_duplicates("response_id").set_index("response_id")[list(by)]
        frame = frame.join(keys)
    return frame, [str(c) for c in dims.columns]


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    return [] if by is None else [by] if isinstance(by, str) else list(by)


def key_drivers(answers: pd.DataFrame, questionnaire_items: pd.DataFrame | None = None, *,
                by: str | Sequence[str] | None = None,
                register: pd.DataFrame | None = None) -> pd.DataFrame:
    """Logistic regression of overall dissatisfaction on dimension dissatisfaction.

    Returns one row per (``by`` group,) dimension: ``dimension, coef, se, odds_ratio,
    or_low, or_high, p_value, importance, rank, n, imputed, note``. ``by`` columns missing
    from ``answers`` (e.g. ``firm``) are taken from ``register`` by ``estate_id``.
    """
    import statsmodels.api as sm

    by_cols = _by_list(by)
    answers = _with_by(answers, by_cols, register)
    frame, dims = _respondent_matrix(answers, questionnaire_items, by_cols)
    groups = [((), frame)] if not by_cols else list(frame.groupby(by_cols, sort=True))
    rows = []
    for key, g in groups:   # per firm/district: a handful of model fits
        key = key if isinstance(key, tuple) else (key,)
        g = g[g["_overall"].notna()]
        x = 1 - g[dims]
        imputed = x.isna().sum()
        x = x.fillna(x.mean()).fillna(0.0)
        y = (g["_overall"] < 0.5).astype(float)
        note = ""
        res = None
        if len(g) < 10 * (len(dims) + 1):
            note = "样本太少，未拟合"
        elif y.nunique() < 2:
            note = "总体评价全部满意或全部不满意，无法拟合"
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = sm.Logit(y.to_numpy(), sm.add_constant(x.to_numpy(),
                                                                 has_constant="add")
                                   ).fit(disp=0, maxiter=200)
                if not res.mle_retvals.get("converged", True):
                    note, res = "模型未收敛", None
            except Exception as exc:  # statsmodels raises several kinds (separation, singular)
                note, res = f"模型无法拟合（{type(exc).__name__}）", None
        coef = np.full(len(dims), np.nan) if res is None else np.asarray(res.params)[1:]
        se = np.full(len(dims), np.nan) if res is None else np.asarray(res.bse)[1:]
        pv = np.full(len(dims), np.nan) if res is None else np.asarray(res.pvalues)[1:]
        pos = np.clip(coef, 0, None)
        imp = pos / pos.sum() if np.nansum(pos) > 0 else np.full(len(dims), np.nan)
        part = pd.DataFrame({"dimension": dims, "coef": coef, "se": se,
                             "odds_ratio": np.exp(coef), "or_low": np.exp(coef - 1.96 * se),
                             "or_high": np.exp(coef + 1.96 * se), "p_value": pv,
                             "importance": imp, "n": len(g),
                             "imputed": imputed.to_numpy().astype(np.int64), "note": note})
        part["rank"] = part["importance"].rank(ascending=False, method="min")
        for col, value in zip(by_cols, key, strict=True):
            part.insert(0, col, value)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def importance_performance(answers: pd.DataFrame, questionnaire_items: pd.DataFrame | None = None,
                           *, by: str | Sequence[str] | None = None,
                           register: pd.DataFrame | None = None) -> pd.DataFrame:
    """Importance–performance table per (``by`` group,) dimension (see module docstring).

    Columns: ``dimension, performance, importance, quadrant, n``.
    """
    by_cols = _by_list(by)
    answers = _with_by(answers, by_cols, register)
    frame, dims = _respondent_matrix(answers, questionnaire_items, by_cols)
    groups = [((), frame)] if not by_cols else list(frame.groupby(by_cols, sort=True))
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        perf = g[dims].mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            imp = g[dims].corrwith(g["_overall"])
        n = g[dims].notna().sum()
        hi_i = imp >= imp.mean()
        hi_p = perf >= perf.mean()
        quad = [QUADRANTS[(bool(a), bool(b))] if not (np.isnan(i) or np.isnan(p)) else "无法判断"
                for a, b, i, p in zip(hi_i, hi_p, imp, perf, strict=True)]
        part = pd.DataFrame({"dimension": dims, "performance": perf.to_numpy(),
                             "importance": imp.to_numpy(), "quadrant": quad,
                             "n": n.to_numpy().astype(np.int64)})
        for col, value in zip(by_cols, key, strict=True):
            part.insert(0, col, value)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)
