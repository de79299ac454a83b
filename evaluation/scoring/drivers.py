"""Key drivers of overall dissatisfaction and the importance–performance table.

Both start from ONE respondent × dimension matrix (:func:`respondent_matrix`): per
respondent, each dimension's *satisfaction* = share satisfied among the dimension's answered
items (s_rd = Σ_i∈d satisfied_ri / #answered_rd, NaN when none is answered) and the
*overall* satisfaction = share satisfied on the overall item (``is_overall`` in the
questionnaire items, else the items of dimension 总体评价). It is built with integer codes
and ``numpy.bincount`` (no reshaping of the answers), so a city round's millions of answers
are read once; the respondent's estate (and the ``by`` columns, such as ``firm``, taken from
the 台账 by estate) is carried per respondent, not merged per answer. Respondents are kept
when they answered at least one dimension item and have an overall item row; rows are
ordered by ``response_id``, dimensions by name.

**Key drivers** (:func:`key_drivers`, :func:`matrix_drivers`): a logistic regression
(maximum likelihood by statsmodels' ``Logit`` Newton–Raphson, :func:`logit_newton`;
unweighted — a model of association among respondents, not a design-based estimate) of *overall dissatisfaction* (1 − satisfied on the
overall item) on each dimension's *dissatisfaction* per respondent (1 − share satisfied
among the dimension's answered items, in [0, 1]). A respondent's missing dimension is
imputed with that dimension's mean (documented; the count of imputed cells is reported as
``imputed``). Coefficients are log odds ratios for going from fully satisfied to fully
dissatisfied on the dimension; ``importance`` is each positive coefficient's share of the
sum of positive coefficients (negative or non-significant effects are kept in the table).
If the fit fails (perfect separation, too few respondents: fewer than 10 per predictor or
no dissatisfied respondents) the rows carry NaN and a Chinese ``note``.

**Importance–performance** (:func:`importance_performance`, :func:`matrix_importance`): per
dimension, *performance* = share satisfied (mean over respondents of their dimension score),
*importance* = Pearson correlation between the respondent's dimension satisfaction and
overall satisfaction (derived importance; Martilla & James 1977 IPA with derived
importance). Quadrants split at the mean importance and mean performance over dimensions:
``优势区`` (high importance, high performance — keep), ``改进区`` (high importance, low
performance — fix first), ``维持区`` (low importance, high performance), ``机会区`` (low
importance, low performance).

:func:`round_drivers` gives the three tables a round stores (district drivers, drivers by
firm, importance–performance) from one matrix; the score step calls it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.codes import by_estate, column_codes, factorize, runs, tiled_codes
from wuye_common.errors import Problem, WuyeError
from wuye_common.vocabulary import OVERALL_DIMENSION

OVERALL_COLUMN = "_overall"
QUADRANTS = {
    (True, True): "优势区",
    (True, False): "改进区",
    (False, True): "维持区",
    (False, False): "机会区",
}
#: columns of :func:`key_drivers` (after the ``by`` columns)
DRIVER_COLUMNS: tuple[str, ...] = (
    "dimension",
    "coef",
    "se",
    "odds_ratio",
    "or_low",
    "or_high",
    "p_value",
    "importance",
    "n",
    "imputed",
    "note",
    "rank",
)
#: columns of :func:`importance_performance` (after the ``by`` columns)
IMPORTANCE_COLUMNS: tuple[str, ...] = ("dimension", "performance", "importance", "quadrant", "n")
_REQUIRED = ("response_id", "item_id", "dimension", "satisfied")


@dataclass(frozen=True)
class RespondentMatrix:
    """Respondent × dimension satisfaction (see the module docstring).

    ``frame``: index ``response_id`` (sorted); one float column per dimension (share
    satisfied, NaN = no answered item), ``_overall`` (share satisfied on the overall item,
    NaN = not answered), then ``estate_id`` and any carried ``keys`` columns (the value on
    the respondent's first answer row). ``dimensions``: the dimension columns, sorted.
    """

    frame: pd.DataFrame
    dimensions: list[str]

    def __len__(self) -> int:
        return len(self.frame)


def _codes(
    col: pd.Series, *, starts: np.ndarray | None = None, period: int = 0
) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (−1 = missing) and their labels (each used at least once, except a
    categorical's unused categories), for a str, object or categorical column.

    Categorical: its codes, no hashing. ``starts`` (the runs of the column: a respondent's
    answers are consecutive rows): only each run's first value is hashed. ``period``
    (ingest's respondent × item grid): the first ``period`` values are hashed and tiled
    (:func:`evaluation.codes.tiled_codes`). Otherwise ``pandas.factorize``. The codes are the
    same whichever way; hashing millions of rows would cost a table as large as the column."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return column_codes(col)
    values = col.to_numpy()
    if starts is not None and 2 * len(starts) <= len(values):
        run_codes, uniques = factorize(values[starts])
        return np.repeat(run_codes, np.diff(np.append(starts, len(values)))), uniques
    tiled = tiled_codes(values, period)
    return tiled if tiled is not None else factorize(values)


def _argsort(labels: pd.Index) -> np.ndarray:
    """Positions that sort ``labels`` (Python's order; texts compared as fixed-width numpy
    strings, several times faster than Python objects for 10⁵–10⁶ respondent ids)."""
    if labels.is_monotonic_increasing:  # e.g. the categories of ``astype("category")``
        return np.arange(len(labels))
    if pd.api.types.infer_dtype(labels, skipna=False) == "string":
        return np.argsort(np.asarray(labels, dtype=str), kind="stable")
    return np.asarray(labels.argsort())


def _check_answers(answers: pd.DataFrame) -> None:
    for col in _REQUIRED:
        if col not in answers.columns:
            raise WuyeError(
                Problem(f"answers 缺少列「{col}」", "传入 ingest 的 answers", column=col)
            )


def respondent_matrix(
    answers: pd.DataFrame,
    questionnaire_items: pd.DataFrame | None = None,
    *,
    keys: Sequence[str] = (),
) -> RespondentMatrix:
    """The respondent × dimension satisfaction matrix, built once from the long answers.

    s_rd = Σ satisfied / #answered over respondent r's items of dimension d, by
    ``numpy.bincount`` over (respondent code × #dimensions + dimension code); the overall
    score likewise over the overall item(s). ``answers`` needs ``response_id, item_id,
    dimension, satisfied`` (id columns str, object or categorical); ``estate_id`` and the
    ``keys`` columns are carried per respondent.
    """
    _check_answers(answers)
    carried = list(
        dict.fromkeys([*(["estate_id"] if "estate_id" in answers.columns else []), *keys])
    )
    n_rows = len(answers)
    ids = answers["response_id"]
    categorical = isinstance(ids.dtype, pd.CategoricalDtype)
    starts = runs(ids.cat.codes.to_numpy() if categorical else ids.to_numpy())
    resp, resp_labels = _codes(ids, starts=starts)
    # rows per respondent when every respondent has one run of the same length
    period = (
        int(starts[1])
        if len(starts) > 1
        and n_rows % int(starts[1]) == 0
        and len(starts) == n_rows // int(starts[1])
        else 0
    )
    item, item_labels = _codes(answers["item_id"], period=period)
    dim, dim_labels = _codes(answers["dimension"], period=period)
    satisfied = answers["satisfied"]
    satisfied = (
        satisfied.to_numpy()
        if satisfied.dtype == np.float64
        else pd.to_numeric(satisfied, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    )
    n_resp, n_dim = len(resp_labels), len(dim_labels)

    # the overall item: flagged in the questionnaire and present in the answers, else 总体评价
    overall_ids: set[str] = set()
    if questionnaire_items is not None and "is_overall" in questionnaire_items.columns:
        flagged = questionnaire_items["is_overall"].astype(bool)
        overall_ids = set(questionnaire_items.loc[flagged, "item_id"].astype(str))
    item_overall = np.asarray(item_labels.astype(str).isin(overall_ids), dtype=bool)
    for code in np.flatnonzero(item_overall):  # a categorical's unused categories
        item_overall[code] = bool((item == code).any())
    if item_overall.any():
        row_overall = np.append(item_overall, False)[item]  # code −1 → False
    else:
        dim_overall = np.asarray(dim_labels == OVERALL_DIMENSION, dtype=bool)
        row_overall = np.append(dim_overall, False)[dim]
    grid = _grid_runs(resp, starts, item, dim, period, n_resp)
    del item
    if grid is not None:  # ingest's respondent × item grid: sums over its columns
        sums = _grid_sums(grid, satisfied, row_overall[:period], dim[:period], n_resp, n_dim)
    else:
        sums = _row_sums(resp, dim, satisfied, row_overall, n_resp, n_dim)
    del row_overall
    has_overall, overall_sum, overall_n, total, count = sums

    # dimensions with an answer (sorted by name); respondents with one and an overall row
    dim_order = np.flatnonzero(count.any(axis=0))
    dim_order = dim_order[_argsort(dim_labels[dim_order])]
    dims = [str(d) for d in dim_labels[dim_order]]
    rows = np.flatnonzero(has_overall & count.any(axis=1))
    rows = rows[_argsort(resp_labels[rows])]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (total / count)[np.ix_(rows, dim_order)]  # one gather of the kept cells
        overall = overall_sum[rows] / overall_n[rows]
    del total, count
    index = pd.Index(resp_labels[rows], name="response_id")
    frame = pd.DataFrame(share, index=index, columns=dims)
    frame[OVERALL_COLUMN] = overall
    if carried:  # each respondent's first row: the start of its first run
        first = np.full(n_resp, n_rows, dtype=np.int64)
        head = resp[starts]
        np.minimum.at(first, head[head >= 0], starts[head >= 0])
        for col in carried:
            frame[col] = answers[col].iloc[first[rows]].set_axis(index)
    return RespondentMatrix(frame=frame, dimensions=dims)


def _row_sums(
    resp: np.ndarray,
    dim: np.ndarray,
    satisfied: np.ndarray,
    row_overall: np.ndarray,
    n_resp: int,
    n_dim: int,
) -> tuple[np.ndarray, ...]:
    """Per respondent: whether it has an overall row, the satisfied sum and answered count
    on the overall item(s), and per dimension (``n_resp × n_dim``) the satisfied sum and
    answered count over its other items — one ``bincount`` per sum over the answer rows
    (counts as integers or floats: the same numbers)."""
    valid = resp >= 0
    answered = ~np.isnan(satisfied)
    on = row_overall & valid
    has_overall = np.bincount(resp[on], minlength=n_resp) > 0
    on &= answered
    overall_sum = np.bincount(resp[on], satisfied[on], n_resp)
    overall_n = np.bincount(resp[on], minlength=n_resp)
    del on
    use = ~row_overall & valid & answered & (dim >= 0)
    del answered
    cell = resp[use].astype(np.int64) * n_dim
    cell += dim[use]
    total = np.bincount(cell, satisfied[use], n_resp * n_dim).reshape(n_resp, n_dim)
    count = np.bincount(cell, minlength=n_resp * n_dim).reshape(n_resp, n_dim)
    return has_overall, overall_sum, overall_n, total, count


def _grid_runs(
    resp: np.ndarray,
    starts: np.ndarray,
    item: np.ndarray,
    dim: np.ndarray,
    period: int,
    n_resp: int,
) -> np.ndarray | None:
    """Each run's respondent when the answers are ingest's grid — every respondent one run
    of the same items in the same order (with the same dimensions) — else ``None``."""
    if not period or len(starts) * period != len(resp):
        return None
    run_resp = resp[starts]
    if (run_resp < 0).any() or np.bincount(run_resp, minlength=n_resp).max() > 1:
        return None
    for codes in (item, dim):
        if not bool((codes.reshape(-1, period) == codes[:period]).all()):
            return None
    return run_resp


def _grid_sums(
    run_resp: np.ndarray,
    satisfied: np.ndarray,
    col_overall: np.ndarray,
    col_dim: np.ndarray,
    n_resp: int,
    n_dim: int,
) -> tuple[np.ndarray, ...]:
    """:func:`_row_sums` of ingest's grid (``run_resp``: :func:`_grid_runs`; ``col_*``:
    the first run's columns), by :func:`~evaluation.scoring.round_scores.dimension_sums`
    over its columns: each respondent's items added in their order from zero, as
    ``bincount`` adds its rows — the same numbers."""
    from evaluation.scoring.round_scores import dimension_sums

    grid = satisfied.reshape(len(run_resp), len(col_overall))
    has_overall = np.zeros(n_resp, dtype=bool)
    has_overall[run_resp] = bool(col_overall.any())
    ov_sum, ov_n = dimension_sums(grid, np.where(col_overall, 0, -1), 1)
    dims = np.where(col_overall, -1, col_dim.astype(np.int64))  # overall / no dimension: out
    run_total, run_count = dimension_sums(grid, dims, n_dim)
    if len(run_resp) == n_resp and bool((run_resp == np.arange(n_resp)).all()):
        return has_overall, ov_sum[:, 0], ov_n[:, 0], run_total, run_count  # runs in order
    overall_sum, overall_n = np.zeros(n_resp), np.zeros(n_resp)
    overall_sum[run_resp], overall_n[run_resp] = ov_sum[:, 0], ov_n[:, 0]
    total, count = np.zeros((n_resp, n_dim)), np.zeros((n_resp, n_dim))
    total[run_resp], count[run_resp] = run_total, run_count
    return has_overall, overall_sum, overall_n, total, count


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    return [] if by is None else [by] if isinstance(by, str) else list(by)


def _check_by(columns: pd.Index, by_cols: list[str], register: pd.DataFrame | None) -> None:
    """The ``by`` columns are in ``columns`` (the answers' or the matrix's), or come from
    ``register`` by ``estate_id``."""
    missing = [c for c in by_cols if c not in columns]
    if missing and (
        register is None
        or "estate_id" not in columns
        or any(c not in register.columns for c in missing)
    ):
        raise WuyeError(
            Problem(
                f"参数 by 无效：answers 中没有列 {'、'.join(missing)}",
                "传入 register=台账（含该列），或先把该列并入 answers",
                column="by",
            )
        )


def _groups(
    matrix: RespondentMatrix, by_cols: list[str], register: pd.DataFrame | None
) -> tuple[pd.DataFrame, list[tuple[tuple, np.ndarray]]]:
    """The matrix frame (with the ``by`` columns) and each ``by`` group's key and row
    positions (groups sorted by key, rows in matrix order; a missing key is no group).
    ``by`` columns the matrix lacks (e.g. ``firm``) come from the 台账 by each respondent's
    ``estate_id`` (one lookup per respondent, not per answer). ``by`` is checked
    (:func:`_check_by`) by the caller."""
    frame = matrix.frame
    missing = [c for c in by_cols if c not in frame.columns]
    if missing:
        assert register is not None
        reg = by_estate(register)
        estates = pd.Index(frame["estate_id"].astype(str))
        frame = frame.assign(**{c: reg[c].reindex(estates).set_axis(frame.index) for c in missing})
    if not by_cols:
        return frame, [((), np.arange(len(frame)))]
    grouped = frame.groupby(by_cols, sort=True)
    number = grouped.ngroup().to_numpy(dtype=float, na_value=-1.0).astype(np.int64)
    keys = grouped.size().index
    order = np.argsort(number, kind="stable")
    bounds = np.searchsorted(number[order], np.arange(len(keys) + 1))
    return frame, [
        (key if isinstance(key, tuple) else (key,), order[lo:hi])
        for key, lo, hi in zip(keys, bounds[:-1], bounds[1:], strict=True)
    ]


def _empty(by_cols: list[str], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*reversed(by_cols), *columns])


#: Newton–Raphson settings of statsmodels' ``Logit.fit`` (method ``newton``): step tolerance,
#: the ridge added to the Hessian's diagonal before each step, and our iteration limit
NEWTON_TOL = 1e-8
NEWTON_RIDGE = 1e-10
NEWTON_MAXITER = 200


def _fit_logit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Logit of ``y`` on ``x`` with a constant: (coef, se, p) of ``x``'s columns and a note."""
    k = x.shape[1]
    nan = np.full(k, np.nan)
    if len(y) < 10 * (k + 1):
        return nan, nan, nan, "样本太少，未拟合"
    if np.unique(y).size < 2:
        return nan, nan, nan, "总体评价全部满意或全部不满意，无法拟合"
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            params, se, p, converged = logit_newton(y, x)
    except Exception as exc:  # a singular Hessian (LinAlgError: separation, equal columns)
        return nan, nan, nan, f"模型无法拟合（{type(exc).__name__}）"
    if not converged:
        return nan, nan, nan, "模型未收敛"
    return params[1:], se[1:], p[1:], ""


def logit_newton(
    y: np.ndarray, x: np.ndarray, *, maxiter: int = NEWTON_MAXITER
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Maximum-likelihood logistic regression of ``y`` (0/1) on ``x`` with a constant first:
    ``(params, se, p_values, converged)``.

    Newton–Raphson exactly as statsmodels' ``Logit(y, add_constant(x)).fit(method="newton")``
    does it (statsmodels 0.14/0.15 ``base.optimizer._fit_newton``, ``Logit.score`` and
    ``Logit.hessian``, ``LikelihoodModel.fit``): from zeros, step ``β ← β − H⁻¹g`` with the
    mean score ``g = −X'(y − Λ(Xβ))/n`` and mean Hessian ``H = X' diag(Λ(1 − Λ)) X/n`` plus
    a ridge of 1e-10 on its diagonal, until no parameter moves more than 1e-8 (not
    converged when ``maxiter`` steps are used); ``se = √diag((n·H)⁻¹)`` at the estimate,
    Wald ``p = 2·Φ(−|β/se|)``. The same array operations in the same order give the same
    numbers to the last bit, without the model and results objects (most of the cost of
    hundreds of per-firm fits). A singular Hessian raises ``numpy.linalg.LinAlgError``."""
    from scipy import stats

    X = np.column_stack([np.ones(x.shape[0]), np.asarray(x, dtype=float)])
    nobs = y.shape[0]

    def fitted(params: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(np.dot(X, params) + 0.0)))

    def hess(L: np.ndarray) -> np.ndarray:
        """The mean Hessian at the fitted values ``L``."""
        return np.dot(L * (1 - L) * X.T, X) / nobs  # statsmodels negates twice: exact

    iterations = 0
    old: np.ndarray | float = np.inf
    new = np.asarray([0.0] * X.shape[1])
    while iterations < maxiter and np.any(np.abs(new - old) > NEWTON_TOL):
        L = fitted(new)  # once per step: the Hessian's and the score's (the same numbers)
        H = np.asarray(hess(L))
        H[np.diag_indices(H.shape[0])] += NEWTON_RIDGE
        old = new
        new = old - np.linalg.solve(H, -np.dot(y - L, X) / nobs)
        iterations += 1
    cov = np.linalg.inv(hess(fitted(new))) / nobs
    se = np.sqrt(np.diag(cov * 1.0))
    p = stats.norm.sf(np.abs(new / se)) * 2
    return new, se, p, iterations != maxiter


def matrix_drivers(
    matrix: RespondentMatrix,
    *,
    by: str | Sequence[str] | None = None,
    register: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`key_drivers` from a :func:`respondent_matrix`: one Logit fit per group, the
    design prepared with numpy on the group's rows (no per-group DataFrames)."""
    by_cols = _by_list(by)
    _check_by(matrix.frame.columns, by_cols, register)
    return _drivers(matrix, by_cols, register)


def _drivers(
    matrix: RespondentMatrix, by_cols: list[str], register: pd.DataFrame | None
) -> pd.DataFrame:
    dims = matrix.dimensions
    frame, groups = _groups(matrix, by_cols, register)
    if not groups:
        return _empty(by_cols, DRIVER_COLUMNS)
    dissatisfied = 1 - frame[dims].to_numpy(dtype=float)
    overall = frame[OVERALL_COLUMN].to_numpy(dtype=float)
    fits, ns, imputed = [], [], []
    for _, rows in groups:  # per firm/district: one model fit each
        rows = rows[~np.isnan(overall[rows])]
        x = dissatisfied[rows]
        gap = np.isnan(x)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # a dimension nobody answered
            mean = np.nanmean(x, axis=0)
        x = np.where(gap, np.where(np.isnan(mean), 0.0, mean), x)  # mean imputation, else 0
        # column-major, as a DataFrame's values: the same BLAS path, bit-identical fits
        x = np.asfortranarray(x)
        fits.append(_fit_logit((overall[rows] < 0.5).astype(float), x))
        ns.append(len(rows))
        imputed.append(gap.sum(axis=0))
    n_groups, k = len(groups), len(dims)
    coef, se, pv = (np.vstack([f[i] for f in fits]).reshape(n_groups, k) for i in range(3))
    pos = np.clip(coef, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        imp = np.where(
            (np.nansum(pos, axis=1) > 0)[:, None], pos / pos.sum(axis=1, keepdims=True), np.nan
        )
    # rank (method "min", descending): 1 + how many of the group's importances are larger
    rank = np.where(np.isnan(imp), np.nan, 1.0 + (imp[:, None, :] > imp[:, :, None]).sum(axis=2))
    out = {
        col: pd.Index([key[j] for key, _ in groups]).repeat(k)
        for j, col in reversed(list(enumerate(by_cols)))
    }
    out |= {
        "dimension": np.tile(np.asarray(dims, dtype=object), n_groups),
        "coef": coef.ravel(),
        "se": se.ravel(),
        "odds_ratio": np.exp(coef).ravel(),
        "or_low": np.exp(coef - 1.96 * se).ravel(),
        "or_high": np.exp(coef + 1.96 * se).ravel(),
        "p_value": pv.ravel(),
        "importance": imp.ravel(),
        "n": np.repeat(np.asarray(ns, dtype=np.int64), k),
        "imputed": np.vstack(imputed).reshape(n_groups, k).ravel().astype(np.int64),
        "note": np.repeat(np.asarray([f[3] for f in fits], dtype=object), k),
        "rank": rank.ravel(),
    }
    return pd.DataFrame(out)


def matrix_importance(
    matrix: RespondentMatrix,
    *,
    by: str | Sequence[str] | None = None,
    register: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`importance_performance` from a :func:`respondent_matrix`."""
    by_cols = _by_list(by)
    _check_by(matrix.frame.columns, by_cols, register)
    return _importance(matrix, by_cols, register)


def _importance(
    matrix: RespondentMatrix, by_cols: list[str], register: pd.DataFrame | None
) -> pd.DataFrame:
    dims = matrix.dimensions
    frame, groups = _groups(matrix, by_cols, register)
    rows = []
    for key, positions in groups:
        g = frame.iloc[positions] if by_cols else frame
        perf = g[dims].mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            imp = g[dims].corrwith(g[OVERALL_COLUMN])
        n = g[dims].notna().sum()
        hi_i = imp >= imp.mean()
        hi_p = perf >= perf.mean()
        quad = [
            QUADRANTS[(bool(a), bool(b))] if not (np.isnan(i) or np.isnan(p)) else "无法判断"
            for a, b, i, p in zip(hi_i, hi_p, imp, perf, strict=True)
        ]
        part = pd.DataFrame(
            {
                "dimension": dims,
                "performance": perf.to_numpy(),
                "importance": imp.to_numpy(),
                "quadrant": quad,
                "n": n.to_numpy().astype(np.int64),
            }
        )
        for col, value in zip(by_cols, key, strict=True):
            part.insert(0, col, value)
        rows.append(part)
    return pd.concat(rows, ignore_index=True) if rows else _empty(by_cols, IMPORTANCE_COLUMNS)


def _matrix_for(
    answers: pd.DataFrame | RespondentMatrix,
    items: pd.DataFrame | None,
    by_cols: list[str],
    register: pd.DataFrame | None,
) -> RespondentMatrix:
    """``answers`` itself when a matrix, else its :func:`respondent_matrix`; ``by`` checked
    first (once: before a matrix is built)."""
    if isinstance(answers, RespondentMatrix):
        _check_by(answers.frame.columns, by_cols, register)
        return answers
    _check_by(answers.columns, by_cols, register)
    return respondent_matrix(answers, items, keys=[c for c in by_cols if c in answers.columns])


def key_drivers(
    answers: pd.DataFrame | RespondentMatrix,
    questionnaire_items: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] | None = None,
    register: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Logistic regression of overall dissatisfaction on dimension dissatisfaction.

    Returns one row per (``by`` group,) dimension: ``dimension, coef, se, odds_ratio,
    or_low, or_high, p_value, importance, n, imputed, note, rank``. ``by`` columns missing
    from ``answers`` (e.g. ``firm``) are taken from ``register`` by ``estate_id``.
    ``answers`` may also be a :func:`respondent_matrix` (then ``questionnaire_items`` is
    not used).
    """
    by_cols = _by_list(by)
    matrix = _matrix_for(answers, questionnaire_items, by_cols, register)
    return _drivers(matrix, by_cols, register)


def importance_performance(
    answers: pd.DataFrame | RespondentMatrix,
    questionnaire_items: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] | None = None,
    register: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Importance–performance table per (``by`` group,) dimension (see module docstring).

    Columns: ``dimension, performance, importance, quadrant, n``. ``answers`` may also be a
    :func:`respondent_matrix`.
    """
    by_cols = _by_list(by)
    matrix = _matrix_for(answers, questionnaire_items, by_cols, register)
    return _importance(matrix, by_cols, register)


def round_drivers(
    answers: pd.DataFrame,
    questionnaire_items: pd.DataFrame | None = None,
    register: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """The round's ``drivers`` (district), ``firm_drivers`` (``by="firm"``, firm from the
    台账) and ``importance`` tables, from ONE :func:`respondent_matrix`.

    ``firm_drivers`` is empty when neither the answers nor the 台账 carry ``firm``.
    """
    matrix = respondent_matrix(
        answers, questionnaire_items, keys=["firm"] if "firm" in answers.columns else []
    )
    has_firm = "firm" in matrix.frame.columns or (
        register is not None and "firm" in register.columns and "estate_id" in matrix.frame.columns
    )
    return {
        "drivers": matrix_drivers(matrix),
        "firm_drivers": (
            matrix_drivers(matrix, by="firm", register=register) if has_firm else pd.DataFrame()
        ),
        "importance": matrix_importance(matrix),
    }
