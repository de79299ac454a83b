"""From a round's answers to estimates: rates, indices and intervals per estate, item,
dimension, tier and district (see ``docs/architecture.md``, Scoring).

Definitions (all design-based with the weights of :mod:`evaluation.scoring.weights`, variance
and intervals of :mod:`evaluation.scoring.estimation`, buildings as strata inside estates):

* estate ``rate``: share satisfied on the overall item (``is_overall``, 总体评价) —
  respondents who skipped it are excluded (domain of non-missing);
* estate ``index`` (0–100): mean over respondents of their mean item points over all
  answered items (the overall item included); interval ``ŷ ± t_df·se``;
* item ``rate``: share satisfied per item;
* dimension ``rate``: mean over respondents of their share satisfied among the
  dimension's answered items (a respondent-level score in [0, 1], so the estate's
  respondents remain the units), ``index`` likewise from points;
* district rows (per tier and ``全区``): the household-weighted mean of the estates'
  rates (and indices) ``Σ N_e p̂_e / Σ N_e`` over the scored estates, with
  ``V = Σ (N_e/ΣN)² V_e`` (estates are independent strata), df = Σ df_e; the interval
  uses the round's method with these. Unscored estates are counted in ``estates`` only.

Everything is computed with ``bincount`` over integer codes (:func:`score_arrays`); the
string → code mapping is the only per-row pandas work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from evaluation.codes import by_estate, factorize, runs, tiled_codes
from evaluation.scoring.estimation import (
    DomainMoments,
    _deffs,
    check_method,
    matrix_moments,
    mean_interval,
    proportion_interval,
)
from evaluation.scoring.nonresponse import robust_thresholds
from evaluation.scoring.pvalues import bh_q_values, threshold_p_values
from evaluation.scoring.verdict import Limits, verdicts
from evaluation.scoring.weights import weights_and_strata
from wuye_common.errors import Problem, WuyeError
from wuye_common.vocabulary import OVERALL_DIMENSION, TIERS

if TYPE_CHECKING:
    from evaluation.round import Round

DISTRICT_LABEL = "全区"
EXACT = "exact"
#: the interval where the exact one does not apply (designs other than an SRS of the
#: estate, dimension rates, district rows): Korn–Graubard
BASE_METHOD = "beta"
#: the sampling record's design of an estate drawn by simple random sampling
EXACT_DESIGN = "simple_srs"
ALL_BUILDINGS = "全部楼栋"
#: the columns of ``respondents`` that scoring reads (:func:`score_round`, the weights, the
#: two-wave counts and :func:`~evaluation.scoring.sensitivity.with_sensitivity`): the score
#: step reads only these back from the store
RESPONDENT_COLUMNS = ("response_id", "estate_id", "building", "wave", "quality_rules")
#: the columns of ``answers`` that :func:`score_round` reads (``estate_id``: the two-wave
#: counts only)
ANSWER_COLUMNS = ("response_id", "estate_id", "item_id", "dimension", "satisfied", "points")


def exact_estates(strata: pd.DataFrame | None) -> set[str]:
    """Estates whose sampling record says they were drawn by simple random sampling of the
    whole estate (every row ``design = simple_srs``): the exact interval's guarantee holds
    for them. A stratified sample (proportional allocation across buildings) does not
    qualify: its pooled count can vary more than an SRS count and the SRS exact interval's
    one-sided error then exceeds α/2 (``tests/scoring/test_exact.py``); systematic samples
    and estates without a record do not either."""
    if strata is None or strata.empty or "design" not in strata.columns:
        return set()
    design = strata["design"].astype(str) == EXACT_DESIGN
    every = design.groupby(strata["estate_id"].astype(str)).all()
    return set(every.index[every.to_numpy()])


def stale_estates(
    respondents: pd.DataFrame, strata: pd.DataFrame | None, estates: set[str]
) -> set[str]:
    """Those of ``estates`` whose record has a building with fewer households than
    respondents giving it (a stale record or duplicates), or fewer households in all than
    respondents: their N is wrong, so they are not analysed as one SRS stratum with the
    exact interval (which would call them a census) but stratified, where the weights
    locate the problem per building and drop the finite-population correction there."""
    if strata is None or not estates:
        return set()
    # respondents counted per estate and per (estate, building) by integer codes
    codes, labels = pd.factorize(respondents["estate_id"].astype(str))
    labels = pd.Index(labels)
    in_set = np.asarray(labels.isin(estates))
    mine = np.append(in_set, False)[codes]  # a missing id (code −1): not one of them
    rec = strata.assign(estate_id=strata["estate_id"].astype(str))
    rec = rec[rec["estate_id"].isin(estates)]
    whole_n = np.bincount(codes[mine], minlength=len(labels))[in_set]
    whole_N = pd.to_numeric(rec["N_h"], errors="coerce").groupby(rec["estate_id"]).sum()
    stale = set(labels[in_set][whole_n > whole_N.reindex(labels[in_set]).to_numpy()])
    if "building" in respondents.columns:
        b_codes, b_labels = pd.factorize(respondents["building"].astype(str).to_numpy()[mine])
        n_b_labels = max(len(b_labels), 1)
        known = b_codes >= 0  # a missing building forms no group (as groupby drops it)
        cell = codes[mine][known].astype(np.int64) * n_b_labels + b_codes[known]
        n_b = np.bincount(cell, minlength=len(labels) * n_b_labels)
        used = np.flatnonzero(n_b)
        keys = pd.MultiIndex.from_arrays(
            [labels[used // n_b_labels], np.asarray(b_labels, dtype=object)[used % n_b_labels]]
        )
        N_b = (
            pd.to_numeric(rec["N_h"], errors="coerce")
            .groupby([rec["estate_id"], rec["building"].astype(str)])
            .sum()
        )
        over = n_b[used] > N_b.reindex(keys).to_numpy()  # not in the record: NaN, not over
        stale |= set(keys.get_level_values(0)[over])
    return stale


def one_stratum(strata: pd.DataFrame | None, estates: set[str]) -> pd.DataFrame | None:
    """The sampling record with each of ``estates`` as one stratum (``building`` =
    全部楼栋, ``N_h`` summed): an SRS of the estate is analysed as one, so its weights are
    equal and its rate is k/n, the statistic of the exact interval."""
    if strata is None or not estates:
        return strata
    ids = strata["estate_id"].astype(str)
    whole = ids.isin(estates)
    merged = (
        strata[whole]
        .assign(estate_id=ids[whole])
        .groupby("estate_id", as_index=False, sort=False)
        .agg({"N_h": "sum"})
        .assign(building=ALL_BUILDINGS, design=EXACT_DESIGN)
    )
    return pd.concat([strata[~whole], merged], ignore_index=True)


@dataclass
class _WaveCounts:
    """Per estate and wave: satisfied (``x``) and answered (``m``) on the overall item."""

    x: pd.DataFrame
    m: pd.DataFrame

    @classmethod
    def of(cls, answers: pd.DataFrame, respondents: pd.DataFrame, overall: str) -> _WaveCounts:
        ov = answers[(answers["item_id"].astype(str) == overall) & answers["satisfied"].notna()]
        wave = (
            respondents.set_index(respondents["response_id"].astype(str))["wave"]
            if "wave" in respondents.columns
            else pd.Series(dtype="int64")
        )
        w = ov["response_id"].astype(str).map(wave).fillna(1).astype(int).to_numpy()
        keys = [ov["estate_id"].astype(str).to_numpy(), w]
        grouped = ov["satisfied"].astype(float).groupby(keys)
        return cls(
            x=grouped.sum().unstack(fill_value=0).reindex(columns=[1, 2], fill_value=0),
            m=grouped.size().unstack(fill_value=0).reindex(columns=[1, 2], fill_value=0),
        )


def _two_wave_verdicts(
    est: pd.DataFrame,
    waves: _WaveCounts,
    plan: pd.DataFrame,
    sampling: Any,
    exact_ids: set[str],
    wts: pd.DataFrame,
    confidence: float,
) -> pd.DataFrame:
    """The group-sequential verdict of the estates drawn by SRS in a two-wave round
    (:func:`evaluation.scoring.exact.two_wave_boundaries`): the first wave judged at the
    error spent by ``t1 = m1/(m1 + planned m2)`` (planned m2 = ⌊n_topup · rr⌋, fixed by the
    plan), and after a top-up both waves at what is left of α/2. Flags say which. ``wts``:
    the weights, or one row of them per stratum."""
    from evaluation.scoring.exact import two_wave_boundaries, two_wave_verdict

    ids = est["estate_id"].astype(str)
    topup = plan.assign(estate_id=plan["estate_id"].astype(str)).set_index("estate_id")["n_topup"]
    rows = ids.isin(exact_ids) & est["threshold"].notna() & ids.isin(waves.m.index)
    rows &= ids.map(waves.m[1]).fillna(0).gt(0)
    if not rows.any():
        return est
    e = ids[rows]
    m1 = e.map(waves.m[1]).to_numpy(dtype=np.int64)
    m2 = e.map(waves.m[2]).fillna(0).to_numpy(dtype=np.int64)
    x1 = e.map(waves.x[1]).to_numpy(dtype=np.int64)
    x2 = e.map(waves.x[2]).fillna(0).to_numpy(dtype=np.int64)
    households = wts.groupby(wts["estate_id"].astype(str))["N_h"].max()
    N = np.maximum(e.map(households).to_numpy(dtype=float), m1 + m2).astype(np.int64)
    rr = float(getattr(sampling, "response_rate", 1.0))
    planned = np.floor(e.map(topup).fillna(0).to_numpy(dtype=float) * rr + 1e-9)
    planned = np.minimum(planned.astype(np.int64), N - m1)
    bounds = two_wave_boundaries(
        N,
        m1,
        np.minimum(m2, N - m1),
        est.loc[rows, "threshold"].to_numpy(dtype=float),
        planned_m2=planned,
        confidence=confidence,
    )
    verdict = two_wave_verdict(x1, x2, bounds, surveyed=m2 > 0)
    out = est.copy()
    out.loc[rows, "verdict"] = verdict
    stage = np.where(m2 > 0, "两轮判定（含补充调查）", "两轮设计·首轮判定")
    flags = out.loc[rows, "flags"].astype(str).to_numpy()
    out.loc[rows, "flags"] = np.where(flags == "", stage, flags + "；" + stage)
    return out


def _with_small_area(est: pd.DataFrame, fpc: np.ndarray, confidence: float) -> pd.DataFrame:
    """``sae_rate, sae_low, sae_high``: the Fay–Herriot estimate on the logit scale shrinking
    each estate toward its tier (:mod:`evaluation.scoring.small_area`); NaN where it cannot
    be fitted."""
    from evaluation.scoring.small_area import SAE_COLUMNS, small_area_estimates

    frame = est.assign(fpc=fpc)
    try:
        sae = small_area_estimates(frame, by="tier", confidence=confidence)
    except WuyeError:  # too few estates, or a degenerate design: no small-area estimates
        sae = pd.DataFrame(np.nan, index=est.index, columns=list(SAE_COLUMNS))
    return est.assign(**{c: sae[c].to_numpy(dtype=float) for c in SAE_COLUMNS})


def _exact_rows(
    table: pd.DataFrame, estates: set[str], wts: pd.DataFrame, confidence: float
) -> pd.DataFrame:
    """Exact intervals (:func:`evaluation.scoring.exact.exact_interval`) for the rows of
    ``estates``: one stratum, equal weights, so ``k = rate·n`` satisfied of ``n`` answers
    out of the estate's ``N`` households (item non-response taken as random). ``wts``: the
    weights, or one row of them per stratum (N = the largest stratum ``N_h``)."""
    from evaluation.scoring.exact import exact_interval

    if not estates:
        return table
    households = wts.groupby(wts["estate_id"].astype(str))["N_h"].max()
    rows = table["estate_id"].astype(str).isin(estates) & table["rate"].notna()
    rows &= table["n"] > 0
    if not rows.any():
        return table
    n = table.loc[rows, "n"].to_numpy(dtype=np.int64)
    k = np.rint(table.loc[rows, "rate"].to_numpy(dtype=float) * n).astype(np.int64)
    N = np.maximum(table.loc[rows, "estate_id"].astype(str).map(households).to_numpy(), n)
    low, high = exact_interval(k, n, N.astype(np.int64), confidence=confidence)
    out = table.copy()
    out.loc[rows, "ci_low"] = low
    out.loc[rows, "ci_high"] = high
    return out


@dataclass
class Scores:
    """Scoring output frames (columns as in ``docs/architecture.md``)."""

    estates: pd.DataFrame
    items: pd.DataFrame
    dimensions: pd.DataFrame
    district: pd.DataFrame
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArrayResults:
    """Raw per-domain moments from :func:`score_arrays` (flat domain codes)."""

    items: DomainMoments  # domain = estate * n_items + item (only_item: estate)
    index: DomainMoments  # domain = estate
    dim_rate: DomainMoments | None  # domain = estate * n_dims + dim (None: only_item)
    dim_index: DomainMoments | None


@dataclass
class AnswerGrids:
    """A round's answers as respondent × item grids (:func:`answer_grids`: rows the
    respondents in their order, columns the items in sorted order, NaN = no answer) with
    the item encoding of :func:`_item_encoding`: the string → code work done once, shared by
    :func:`score_round` and the quality sensitivity's re-score of the kept forms
    (:meth:`kept`, :func:`~evaluation.scoring.sensitivity.with_sensitivity`), which then
    neither copies nor encodes the answers again.

    ``ordered``: the answers were ingest's grid (each respondent's items consecutive, in
    code order), so the grids are views of their columns and ``rows`` (each grid row's
    first answer row in ``answers``) locates any answer; only such grids give :meth:`kept`.
    ``take``: the grid's respondents are these rows of ``satisfied`` and ``points`` (the
    kept forms': the full grids are shared, not copied), else all rows.
    """

    item_uniq: np.ndarray
    dim_of_item: pd.Series
    satisfied: np.ndarray
    points: np.ndarray
    ordered: bool
    answers: pd.DataFrame
    rows: np.ndarray | None = None
    take: np.ndarray | None = None

    @classmethod
    def of(cls, ingest: Responses) -> AnswerGrids:
        """The grids of ``ingest``'s answers, rows in the order of its respondents (errors
        as :func:`score_round` gives them: no answers, a missing column, an answer whose
        respondent is not among the respondents, an item twice)."""
        respondents, answers = _checked_responses(ingest)
        item_codes, item_uniq, dim_of_item = _item_encoding(answers)
        ans_resp = _respondent_positions(
            answers["response_id"], pd.Index(respondents["response_id"])
        )
        _check_orphans(ans_resp)
        return cls.build(answers, len(respondents), ans_resp, item_codes, item_uniq, dim_of_item)

    @classmethod
    def build(
        cls,
        answers: pd.DataFrame,
        n_resp: int,
        ans_resp: np.ndarray,
        item_codes: np.ndarray,
        item_uniq: np.ndarray,
        dim_of_item: pd.Series,
    ) -> AnswerGrids:
        """The grids from the answers' respondent positions and item codes."""
        sat, pts, ordered = answer_grids(
            n_resp,
            len(item_uniq),
            ans_resp,
            item_codes,
            _floats(answers["satisfied"]),
            _floats(answers["points"]),
        )
        rows = np.arange(n_resp, dtype=np.int64) * len(item_uniq) if ordered else None
        return cls(item_uniq, dim_of_item, sat, pts, ordered, answers, rows)

    def kept(self, keep: np.ndarray) -> AnswerGrids:
        """The grids of the respondents ``keep`` selects (at least one), as
        :meth:`of` gives them for those respondents' answers alone (ordered grids only):
        their rows, and each item's dimension from the first kept respondent's answers."""
        assert self.ordered and self.rows is not None and self.take is None
        take = np.flatnonzero(np.asarray(keep, dtype=bool))
        rows = self.rows[take]
        dims = self.answers["dimension"].iloc[rows[0] + np.arange(len(self.item_uniq))]
        return AnswerGrids(
            item_uniq=self.item_uniq,
            dim_of_item=pd.Series(np.asarray(dims.astype(object)), dtype=object),
            satisfied=self.satisfied,
            points=self.points,
            ordered=True,
            answers=self.answers,
            rows=rows,
            take=take,
        )

    def item_answers(self, item: str) -> pd.DataFrame:
        """The answer rows of ``item`` of the grid's respondents, in their order (ordered
        grids; others: all answers)."""
        if self.rows is None:
            return self.answers
        code = int(np.flatnonzero(np.asarray(self.item_uniq) == item)[0])
        return self.answers.iloc[self.rows + code]


def score_arrays(
    *,
    n_estates: int,
    stratum_estate: np.ndarray,
    n_h: np.ndarray,
    f_h: np.ndarray,
    resp_stratum: np.ndarray,
    weight: np.ndarray,
    ans_resp: np.ndarray,
    ans_item: np.ndarray,
    item_dim: np.ndarray,
    satisfied: np.ndarray,
    points: np.ndarray,
    lonely: str = "adjust",
    only_item: int | None = None,
) -> ArrayResults:
    """All moments of a round from integer codes — the vectorised hot path.

    Strata (buildings) nest in estates (``stratum_estate``); respondents index strata;
    answers index respondents and items; items index dimensions (``item_dim``).
    ``only_item`` (an item code): the item moments of that item alone and the index, no
    dimension moments — what the estates table reads. Every domain's moments are sums over
    its own units, column by column, so they are the same numbers as in the full call.
    The answers are laid out as respondent × item grids (:func:`answer_grids`) and
    estimated from those (:func:`grid_moments`).
    """
    sat, pts, _ = answer_grids(
        len(resp_stratum), len(item_dim), ans_resp, ans_item, satisfied, points
    )
    return grid_moments(
        n_estates=n_estates,
        stratum_estate=stratum_estate,
        n_h=n_h,
        f_h=f_h,
        resp_stratum=resp_stratum,
        weight=weight,
        item_dim=item_dim,
        satisfied=sat,
        points=pts,
        lonely=lonely,
        only_item=only_item,
    )


def answer_grids(
    n_resp: int,
    n_items: int,
    ans_resp: np.ndarray,
    ans_item: np.ndarray,
    satisfied: np.ndarray,
    points: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The answers' ``satisfied`` and ``points`` as respondent × item grids (NaN = no
    answer or no row) and whether the answers already were that grid (each respondent's
    items consecutive, in code order: ingest's layout; the grids are then views of the
    two columns, no copy). Others are scattered into new grids; a respondent with the
    same item twice is an error."""
    ans_resp = np.asarray(ans_resp)
    ans_item = np.asarray(ans_item)
    satisfied = np.asarray(satisfied, dtype=float)
    points = np.asarray(points, dtype=float)
    shape = (n_resp, n_items)
    ordered = (
        len(ans_resp) == n_resp * n_items
        and n_items > 0
        and bool(
            (ans_item.reshape(shape) == np.arange(n_items)).all()
            and (ans_resp.reshape(shape) == np.arange(n_resp)[:, None]).all()
        )
    )
    if ordered:
        return satisfied.reshape(shape), points.reshape(shape), True
    key = ans_resp.astype(np.int64) * n_items + ans_item
    if len(key) and np.bincount(key, minlength=n_resp * n_items).max() > 1:
        raise WuyeError(
            Problem(
                "answers 中同一答卷的同一题出现了不止一次",
                "检查导入结果：每份答卷每题只能有一行",
                column="item_id",
            )
        )
    grids = []
    for values in (satisfied, points):
        filled = np.full(n_resp * n_items, np.nan)
        filled[key] = values
        grids.append(filled.reshape(shape))
    return grids[0], grids[1], False


def grid_moments(
    *,
    n_estates: int,
    stratum_estate: np.ndarray,
    n_h: np.ndarray,
    f_h: np.ndarray,
    resp_stratum: np.ndarray,
    weight: np.ndarray,
    item_dim: np.ndarray,
    satisfied: np.ndarray,
    points: np.ndarray,
    lonely: str = "adjust",
    only_item: int | None = None,
    take: np.ndarray | None = None,
) -> ArrayResults:
    """:func:`score_arrays` from the respondent × item grids of :func:`answer_grids`
    (``satisfied``, ``points``: NaN = missing; ``take``: the respondents are these rows of
    the grids, else all)."""
    n_items = len(item_dim)
    n_dims = int(item_dim.max()) + 1 if n_items else 0

    def grid(values: np.ndarray, column: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The grid ``values`` with 0 where missing and its 0/1 validity (only ``column``'s
        when given)."""
        if take is not None:
            values = values[take] if column is None else values[take, column][:, None]
        elif column is not None:
            values = values[:, [column]]
        ok = ~np.isnan(values)
        return np.where(ok, values, 0.0), ok.astype(float)

    common = dict(
        resp_stratum=resp_stratum,
        stratum_group=stratum_estate,
        n_groups=n_estates,
        n_h=n_h,
        f_h=f_h,
        lonely=lonely,
    )
    # dimensions: respondent × dimension sums (:func:`dimension_sums`)
    sat, sat_valid = grid(satisfied, only_item)
    items = matrix_moments(sat, weight, binary=True, valid=sat_valid, **common)
    del sat, sat_valid
    dim_rate = None
    if only_item is None:  # each respondent × dimension matrix estimated as soon as made
        sat_dim, scnt_dim = dimension_sums(satisfied, item_dim, n_dims, take)
        with np.errstate(invalid="ignore", divide="ignore"):
            rd_sat = sat_dim / scnt_dim  # share satisfied per dimension
        del sat_dim, scnt_dim
        dim_rate = matrix_moments(rd_sat, weight, deff=True, **common)
        del rd_sat
    pts_dim, pcnt_dim = dimension_sums(points, item_dim, n_dims, take)
    with np.errstate(invalid="ignore", divide="ignore"):
        # mean points per dimension (not for the estates table alone)
        rd_pts = pts_dim / pcnt_dim if only_item is None else None
        # respondent index: mean of all answered item points (row sums over dimensions)
        r_index = pts_dim.sum(axis=1) / pcnt_dim.sum(axis=1)
    del pts_dim, pcnt_dim
    index = matrix_moments(r_index, weight, **common)
    if dim_rate is None:
        return ArrayResults(items=items, index=index, dim_rate=None, dim_index=None)
    dim_index = matrix_moments(rd_pts, weight, deff=False, **common)
    return ArrayResults(items=items, index=index, dim_rate=dim_rate, dim_index=dim_index)


#: respondents per block of :func:`dimension_sums` (its transposed copies stay ~5 MB)
SUM_BLOCK = 1 << 15


def dimension_sums(
    grid: np.ndarray, item_dim: np.ndarray, n_dims: int, take: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a respondent × item ``grid`` (NaN = missing) and dimension: the sum of
    the answered items' values and their count — ``filled @ D`` and ``valid @ D`` for the
    item → dimension incidence matrix ``D`` (``item_dim``), to the last bit: each
    dimension's items are added in item order from zero, as the matrix product adds them.
    Block by block of rows, one pass per item over the block transposed (its item columns
    contiguous), without the product's filled and 0/1 copies of the whole grid (BLAS is
    also slower on these tall, thin grids). ``take``: of these rows of ``grid`` only; an item
    whose dimension is negative is left out."""
    n = grid.shape[0] if take is None else len(take)
    item_dim = np.asarray(item_dim, dtype=np.int64)
    total, count = np.zeros((n, n_dims)), np.zeros((n, n_dims))
    for lo in range(0, n, SUM_BLOCK):
        block = grid[lo : lo + SUM_BLOCK] if take is None else grid[take[lo : lo + SUM_BLOCK]]
        by_item = block.T.copy()  # item × respondent
        t, c = np.zeros((n_dims, by_item.shape[1])), np.zeros((n_dims, by_item.shape[1]))
        for i, d in enumerate(item_dim):  # per item, not per row
            if d < 0:
                continue
            ok = ~np.isnan(by_item[i])
            t[d] += np.where(ok, by_item[i], 0.0)
            c[d] += ok
        total[lo : lo + SUM_BLOCK], count[lo : lo + SUM_BLOCK] = t.T, c.T
    return total, count


def _overall_item(
    present: set[str], items: pd.DataFrame | None, answers: pd.DataFrame, overall_item: str | None
) -> str:
    if overall_item is not None:
        return overall_item
    if items is not None and "is_overall" in items.columns:
        ids = items.loc[items["is_overall"].astype(bool), "item_id"].astype(str).tolist()
        ids = [i for i in ids if i in present]
        if ids:
            return ids[0]
    ids = answers.loc[answers["dimension"] == OVERALL_DIMENSION, "item_id"].astype(str).unique()
    if len(ids):
        return str(sorted(ids)[0])
    raise WuyeError(
        Problem(
            "问卷中找不到总体评价题（is_overall / 维度「总体评价」）",
            "在问卷中把总体满意度题标为 overall = true，或传入 overall_item",
            column="overall_item",
        )
    )


def _questionnaire_items(rnd: Round) -> pd.DataFrame:
    """The items of the round's loaded questionnaire (a stand-in round without one: the
    shipped questionnaire's)."""
    from evaluation.questionnaire import load_questionnaire

    return load_questionnaire(getattr(rnd, "questionnaire", "default")).items


class Responses(Protocol):
    """What :func:`score_round` reads of an ingest: an :class:`~evaluation.ingest.IngestResult`
    or the pipeline's stored ingest (an optional ``response_rates``, ``dispositions``)."""

    respondents: pd.DataFrame
    answers: pd.DataFrame


def score_round(
    round: Round,
    ingest: Responses,
    strata: pd.DataFrame | None = None,
    *,
    overall_item: str | None = None,
    items: pd.DataFrame | None = None,
    method: str | None = None,
    confidence: float | None = None,
    lonely: str = "adjust",
    min_n: int | None = None,
    min_response_rate: float | None = None,
    plan: pd.DataFrame | None = None,
    estates_only: bool = False,
    grids: AnswerGrids | None = None,
) -> Scores:
    """Estimate every rate and index of a round and judge each estate (see module doc).

    ``round`` gives ``register`` (estate_id, tier, households, threshold, firm),
    ``confidence``, ``interval_method``, its loaded ``questionnaire`` (the items, unless
    ``items`` is given), ``sampling.design`` (the external design of respondents without a
    sampling record) and ``rules.eligibility`` (``min_n``, ``min_response_rate``,
    ``nr_odds_ratio``: the same minimum ranking uses; ``min_n``/``min_response_rate``
    given here override it); ``ingest`` gives ``respondents``, ``answers`` and optionally
    ``response_rates`` (estate_id, response_rate = AAPOR RR1 and the other rates of the
    dispositions; NaN when absent); ``strata`` is the sampling record (``None`` → one
    stratum per estate, N = 台账 户数: a non-probability sample unless the design is named).
    Estates drawn by SRS of the whole estate (:func:`exact_estates`) are analysed as one
    stratum with the exact interval and exact p-values. In a two-wave round
    (``round.sampling.waves == 2``) the sampling ``plan`` (its ``n_topup``) and the
    respondents' ``wave`` give the group-sequential verdicts (:func:`_two_wave_verdicts`).
    ``estates_only``: the estates table alone (items, dimensions and district empty; the
    small-area columns NaN unless the verdicts use them) — the same numbers, from the
    overall item's moments and the index only (the quality sensitivity's re-score).
    ``grids``: ``ingest``'s answers as :class:`AnswerGrids` when already made (the score
    step shares them with the re-score; ``ingest.answers`` may then be ``None``).
    """
    requested = method or getattr(round, "interval_method", EXACT) or EXACT
    method = BASE_METHOD if requested == EXACT else check_method(requested)
    confidence = float(confidence if confidence is not None else getattr(round, "confidence", 0.95))
    register = getattr(round, "register", None)
    limits = eligibility_limits(round, min_n=min_n, min_response_rate=min_response_rate)
    respondents, answers = _checked_responses(ingest, grids)
    if items is None:
        items = _questionnaire_items(round)
    if grids is None:
        item_codes, item_uniq, dim_of_item = _item_encoding(answers)
    else:
        item_codes, item_uniq, dim_of_item = None, grids.item_uniq, grids.dim_of_item
    overall = _overall_item(
        set(item_uniq), items, grids.answers if grids else answers, overall_item
    )

    design = getattr(getattr(round, "sampling", None), "design", None)
    respondents, exact_ids = _whole_estate_strata(respondents, strata, requested)
    wts, s_codes = weights_and_strata(
        respondents, one_stratum(strata, exact_ids), register, design=design
    )
    units = _encode_units(wts, s_codes, register, answers if grids is None else None)
    if grids is None:
        grids = AnswerGrids.build(
            answers, len(wts), units.ans_resp, item_codes, item_uniq, dim_of_item
        )
    dim_codes, dim_uniq = pd.factorize(dim_of_item, sort=True)
    shown = np.arange(len(item_uniq))  # the items whose moments are taken
    if estates_only and overall in set(item_uniq):
        shown = np.flatnonzero(np.asarray(item_uniq) == overall)
    res = grid_moments(
        n_estates=len(units.estate_ids),
        stratum_estate=units.stratum_estate,
        n_h=units.n_h,
        f_h=units.f_h,
        resp_stratum=units.resp_stratum,
        weight=wts["weight"].to_numpy(dtype=float),
        item_dim=dim_codes,
        satisfied=grids.satisfied,
        points=grids.points,
        take=grids.take,
        lonely=lonely,
        only_item=int(shown[0]) if len(shown) < len(item_uniq) else None,
    )

    item_tab = _item_table(
        res, units.estate_ids, item_uniq[shown], dim_of_item.iloc[shown], method, confidence
    )
    item_tab = _exact_rows(item_tab, exact_ids, units.strata_rows, confidence)
    if overall not in set(item_uniq):
        raise WuyeError(
            Problem(f"答案中没有总体评价题 {overall}", "检查问卷与导入结果", column="overall_item")
        )
    est = _estate_table(
        item_tab[item_tab["item_id"] == overall].reset_index(drop=True),
        res,
        units,
        ingest,
        register,
        confidence,
    )
    est["interval_method"] = np.where(est["estate_id"].isin(exact_ids), EXACT, method)
    ov_fpc = res.items.fpc.reshape(len(units.estate_ids), len(shown))[
        :, list(item_uniq[shown]).index(overall)
    ]
    on_sae = bool((getattr(round, "scoring", None) or {}).get("small_area", False))
    est = _judged(est, ov_fpc, confidence, limits, on_sae=on_sae, sae=on_sae or not estates_only)
    sampling = getattr(round, "sampling", None)
    if plan is not None and int(getattr(sampling, "waves", 1)) == 2 and not on_sae:
        waves = _WaveCounts.of(grids.item_answers(overall), respondents, overall)
        est = _two_wave_verdicts(
            est, waves, plan, sampling, exact_ids, units.strata_rows, confidence
        )
    if estates_only:
        return Scores(
            estates=est,
            items=pd.DataFrame(),
            dimensions=pd.DataFrame(),
            district=pd.DataFrame(),
            weights=wts,
        )
    dim_tab = _dimension_table(res, units.estate_ids, dim_uniq, method, confidence)
    district = _district(est, res, ov_fpc, method, confidence)
    return Scores(
        estates=est,
        items=item_tab.drop(columns=["census"]),
        dimensions=dim_tab.drop(columns=["census"]),
        district=district,
        weights=wts,
        meta={
            "overall_item": overall,
            "method": requested,
            "base_method": method,
            "exact_estates": len(exact_ids),
            "small_area_verdicts": on_sae,
            "confidence": confidence,
            "lonely": lonely,
        },
    )


def _whole_estate_strata(
    respondents: pd.DataFrame, strata: pd.DataFrame | None, requested: str
) -> tuple[pd.DataFrame, set[str]]:
    """The estates analysed as one stratum with the exact interval (an SRS of the whole
    estate whose record still matches, :func:`exact_estates` less :func:`stale_estates`),
    and the respondents with those estates' buildings merged into one stratum."""
    exact_ids = exact_estates(strata) if requested == EXACT else set()
    exact_ids -= stale_estates(respondents, strata, exact_ids)
    if exact_ids and "building" in respondents.columns:
        whole = respondents["estate_id"].astype(str).isin(exact_ids).to_numpy()
        building = respondents["building"].astype(object).to_numpy().copy()
        building[whole] = ALL_BUILDINGS
        respondents = respondents.assign(building=building)
    return respondents, exact_ids


def _judged(
    est: pd.DataFrame,
    ov_fpc: np.ndarray,
    confidence: float,
    limits: Any,
    *,
    on_sae: bool,
    sae: bool = True,
) -> pd.DataFrame:
    """Small-area estimates (NaN unless ``sae``), the threshold tests and the verdicts of the
    estates (on the small-area interval when ``[scoring] small_area`` is on)."""
    if sae:
        est = _with_small_area(est, ov_fpc, confidence)
    else:
        from evaluation.scoring.small_area import SAE_COLUMNS

        est = est.assign(**{c: np.nan for c in SAE_COLUMNS})
    est = _tests(est, ov_fpc, confidence, limits)
    return verdicts(
        est,
        limits=limits,
        low="sae_low" if on_sae else "rate_low",
        high="sae_high" if on_sae else "rate_high",
    )


def eligibility_limits(
    rnd: Any, *, min_n: int | None = None, min_response_rate: float | None = None
) -> Limits:
    """The round's ``[rules.eligibility]`` (its parsed ``rules``; a stand-in round's dict,
    or none: the defaults of :mod:`wuye_common.vocabulary`), with explicit overrides."""
    rules = getattr(rnd, "rules", None)
    table = getattr(rules, "eligibility", None)
    if table is None and isinstance(rules, dict):
        table = SimpleNamespace(**rules.get("eligibility", {}))
    base = Limits()
    return Limits(
        min_n=int(min_n if min_n is not None else getattr(table, "min_n", base.min_n)),
        min_response_rate=float(
            min_response_rate
            if min_response_rate is not None
            else getattr(table, "min_response_rate", base.min_response_rate)
        ),
        nr_odds_ratio=float(getattr(table, "nr_odds_ratio", base.nr_odds_ratio)),
    )


def _tests(est: pd.DataFrame, fpc: np.ndarray, confidence: float, limits: Limits) -> pd.DataFrame:
    """One-sided p-values against T allowing for a plausible non-response difference
    (:mod:`evaluation.scoring.pvalues`, :func:`~evaluation.scoring.nonresponse.
    robust_thresholds`: the thresholds tested are ``p_threshold`` / ``p_threshold_red``),
    exact for the estates with the exact interval (N = ``N_record``), and their
    BH q-values over the round's estates."""
    est["fpc"] = fpc
    below_t, above_t = robust_thresholds(
        pd.to_numeric(est["threshold"], errors="coerce").to_numpy(dtype=float),
        est["response_rate"].to_numpy(dtype=float),
        limits.nr_odds_ratio,
    )
    args = (
        est["rate"].to_numpy(dtype=float),
        est["rate_se"].to_numpy(dtype=float) ** 2,
        est["n"].to_numpy(dtype=float),
        est["df"].to_numpy(dtype=float),
        est["census"].to_numpy(dtype=bool),
        fpc,
    )
    exact = {
        "exact": (est["interval_method"] == EXACT).to_numpy(dtype=bool),
        "households": est["N_record"].to_numpy(dtype=float),
    }
    p_below = threshold_p_values(*args, below_t, confidence=confidence, **exact)[0]
    p_above = threshold_p_values(*args, above_t, confidence=confidence, **exact)[1]
    est["p_threshold"], est["p_threshold_red"] = below_t, above_t
    est["p_value"], est["q_value"] = p_below, bh_q_values(p_below)
    est["p_value_red"], est["q_value_red"] = p_above, bh_q_values(p_above)
    return est


def _checked_responses(
    ingest: Responses, grids: AnswerGrids | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ingest's respondents and answers; an error when there are none, or the answers
    lack a column scoring reads. With ``grids`` and no answers: the grids' (checked when
    they were made)."""
    respondents = ingest.respondents
    answers = ingest.answers
    if grids is not None and answers is None:
        if respondents is None or len(respondents) == 0:
            answers = None  # the error below
        else:
            return respondents, grids.answers
    if respondents is None or answers is None or len(respondents) == 0 or len(answers) == 0:
        raise WuyeError(
            Problem(
                "没有可计算的有效答卷（respondents/answers 为空）",
                "先导入问卷数据（wuye-eval ingest），并检查隔离区中的原因",
            )
        )
    for col in ("response_id", "item_id", "dimension", "satisfied", "points"):
        if col not in answers.columns:
            raise WuyeError(
                Problem(f"answers 缺少列「{col}」", "使用 ingest_round 的 answers", column=col)
            )
    return respondents, answers


@dataclass
class _Units:
    """Integer codes of a round's units: estates (the scored ones and the 台账's, sorted),
    strata (buildings) within estates with their sizes, each respondent's stratum and each
    answer's respondent."""

    estate_ids: pd.Index
    resp_stratum: np.ndarray
    stratum_estate: np.ndarray
    n_h: np.ndarray
    f_h: np.ndarray
    ans_resp: np.ndarray | None
    #: one row of the weights per stratum (its first respondent's): what is constant
    #: within a stratum (sizes, flags) is read from these, not from every respondent
    strata_rows: pd.DataFrame


def _encode_units(
    wts: pd.DataFrame,
    s_codes: np.ndarray,
    register: pd.DataFrame | None,
    answers: pd.DataFrame | None,
) -> _Units:
    """The string → code mapping of estates, strata (``s_codes``: each respondent's, as
    ``pd.factorize(wts["stratum"])`` numbers them) and respondents (the only string work);
    an error for answers whose respondent is not among the respondents (no ``answers``:
    no ``ans_resp``)."""
    first = np.unique(s_codes, return_index=True)[1]
    strata_rows = wts.iloc[first]  # = wts.drop_duplicates("stratum")
    ids = strata_rows["estate_id"].unique().astype(str)  # each estate has a stratum
    if register is not None and "estate_id" in register.columns:
        ids = np.concatenate([ids, register["estate_id"].astype(str).unique()])
    estate_ids = pd.Index(np.unique(np.asarray(ids, dtype=object).astype(str)))
    stratum_estate = estate_ids.get_indexer(wts["estate_id"].to_numpy()[first])
    N_h = wts["N_fpc"].to_numpy()[first]  # the FPC's stratum size (∞: none)
    n_h = wts["n_h"].to_numpy()[first]
    f_h = np.clip(1 - n_h / N_h, 0, 1)
    ans_resp = None
    if answers is not None:
        ans_resp = _respondent_positions(answers["response_id"], pd.Index(wts["response_id"]))
        _check_orphans(ans_resp)
    return _Units(
        estate_ids=estate_ids,
        resp_stratum=s_codes,
        stratum_estate=stratum_estate,
        n_h=n_h,
        f_h=f_h,
        ans_resp=ans_resp,
        strata_rows=strata_rows,
    )


def _check_orphans(ans_resp: np.ndarray) -> None:
    """An error for answers whose respondent is not among the respondents (position −1)."""
    orphan = ans_resp < 0
    if orphan.any():
        raise WuyeError(
            Problem(
                f"answers 中有 {int(orphan.sum())} 行的 response_id 不在 respondents 中",
                "用同一次导入的 respondents 与 answers",
                column="response_id",
            )
        )


def _item_table(
    res: ArrayResults,
    estate_ids: pd.Index,
    item_uniq: np.ndarray,
    dim_of_item: pd.Series,
    method: str,
    confidence: float,
) -> pd.DataFrame:
    """One row per estate × item: rate, se, interval, n, df, deff, census."""
    n_items = len(item_uniq)
    item_tab = _prop_table(res.items, method, confidence)
    item_tab.insert(0, "estate_id", np.repeat(estate_ids.to_numpy(), n_items))
    item_tab.insert(1, "item_id", np.tile(np.asarray(item_uniq, dtype=object), len(estate_ids)))
    item_tab.insert(2, "dimension", np.tile(dim_of_item.to_numpy(dtype=object), len(estate_ids)))
    return item_tab.rename(columns={"estimate": "rate"})


def _dimension_table(
    res: ArrayResults, estate_ids: pd.Index, dim_uniq: pd.Index, method: str, confidence: float
) -> pd.DataFrame:
    """One row per estate × dimension: the rate with its interval, and the index (0–100)."""
    n_dims = len(dim_uniq)
    dim_tab = _prop_table(res.dim_rate, method, confidence).rename(columns={"estimate": "rate"})
    dim_tab.insert(0, "estate_id", np.repeat(estate_ids.to_numpy(), n_dims))
    dim_tab.insert(1, "dimension", np.tile(np.asarray(dim_uniq, dtype=object), len(estate_ids)))
    ilo, ihi = mean_interval(
        res.dim_index.estimate, res.dim_index.var, res.dim_index.df, confidence=confidence
    )
    dim_tab["index"] = res.dim_index.estimate
    dim_tab["index_low"], dim_tab["index_high"] = _clip100(ilo, ihi, res.dim_index)
    return dim_tab


def _estate_table(
    ov: pd.DataFrame,
    res: ArrayResults,
    units: _Units,
    ingest: Responses,
    register: pd.DataFrame | None,
    confidence: float,
) -> pd.DataFrame:
    """One row per estate before its verdict: the overall item's rate (``ov``, one row per
    estate), the index, counts, response rate, design effect and the 台账's tier,
    threshold, firm and households."""
    est = pd.DataFrame({"estate_id": units.estate_ids.to_numpy()})
    est["rate"] = ov["rate"].to_numpy()
    est["rate_se"] = ov["se"].to_numpy()
    est["rate_low"] = ov["ci_low"].to_numpy()
    est["rate_high"] = ov["ci_high"].to_numpy()
    lo, hi = mean_interval(res.index.estimate, res.index.var, res.index.df, confidence=confidence)
    est["index"] = res.index.estimate
    est["index_low"], est["index_high"] = _clip100(lo, hi, res.index)
    est["n"] = ov["n"].to_numpy()
    est["respondents"] = np.bincount(
        units.stratum_estate[units.resp_stratum], minlength=len(units.estate_ids)
    )
    for col, values in _response_rates(ingest, units.estate_ids).items():
        est[col] = values
    est["df"] = ov["df"].to_numpy()
    est["deff"] = ov["deff"].to_numpy()
    est["census"] = ov["census"].to_numpy()
    strata_once = units.strata_rows  # stratum-level flags: any over strata = over respondents
    by = strata_once.groupby("estate_id")
    for flag, col in (
        ("fallback", "fallback_strata"),
        ("nonprobability", "nonprobability"),
        ("collapsed", "collapsed_strata"),
    ):
        est[col] = est["estate_id"].map(by[flag].any()).fillna(False).astype(bool)
    est["N_record"] = est["estate_id"].map(
        strata_once.groupby(strata_once["estate_id"].astype(str))["N_record"].sum()
    )
    problems = est["estate_id"].map(_exceeding_strata(strata_once)).astype(object)
    est["record_problem"] = problems.where(problems.notna(), "").astype(str)
    if register is not None and len(register):
        reg = by_estate(register)
        for col in ("tier", "threshold", "firm", "households"):
            if col in reg.columns:
                est[col] = est["estate_id"].map(reg[col])
    if "threshold" not in est.columns:
        est["threshold"] = np.nan
    if "tier" not in est.columns:
        est["tier"] = pd.Series(pd.NA, index=est.index, dtype="str")
    return est


def _floats(values: pd.Series) -> np.ndarray:
    """A numeric column as float64 — the column's own array when it already is one."""
    if values.dtype == np.float64:
        return values.to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _respondent_positions(ids: pd.Series, resp_index: pd.Index) -> np.ndarray:
    """Each answer's row in ``resp_index`` (−1 when absent). A Categorical is mapped
    through its categories (one lookup per respondent); otherwise one lookup per run of
    equal ids (answers come grouped by respondent), not per answer. Duplicate respondent
    ids are an error."""
    categorical = isinstance(ids.dtype, pd.CategoricalDtype)
    if (
        categorical
        and len(ids.cat.categories) == len(resp_index)
        and ids.cat.categories.equals(resp_index)
    ):
        return ids.cat.codes.to_numpy()  # categories: the respondents (unique), in order
    if resp_index.has_duplicates:
        raise WuyeError(
            Problem("respondents 中 response_id 有重复", "检查导入结果", column="response_id")
        )
    if categorical:
        codes = ids.cat.codes.to_numpy()
        cats = ids.cat.categories
        lookup = np.append(resp_index.get_indexer(cats.astype(str)), -1).astype(np.int32)
        return lookup[codes]  # code −1 (missing id) → lookup[−1] = −1
    values = ids.to_numpy(dtype=object)
    starts = runs(values)
    return np.repeat(
        resp_index.get_indexer(values[starts]), np.diff(np.append(starts, len(values)))
    )


def _item_encoding(answers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Item codes per answer as ``pd.factorize(item_id, sort=True)`` would give them,
    the sorted item ids, and each item's dimension (from its first answer).

    A Categorical ``item_id`` is recoded through its used categories; otherwise, when
    every respondent's run repeats the same items in the same order (ingest's respondent
    × item grid), the first run is factorized and tiled — one comparison per answer
    instead of one hash lookup."""
    ids = answers["item_id"]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        raw = ids.cat.codes.to_numpy()
        if (raw < 0).any():
            raise WuyeError(
                Problem(
                    "answers 中有缺少 item_id 的行",
                    "使用 ingest_round 的 answers",
                    column="item_id",
                )
            )
        cats = np.asarray(ids.cat.categories.astype(str), dtype=object)
        used = np.flatnonzero(np.bincount(raw, minlength=len(cats)) > 0)
        order = used[np.argsort(cats[used], kind="stable")]
        recode = np.full(len(cats), -1, dtype=np.int32)
        recode[order] = np.arange(len(order))
        codes, uniques = recode[raw], cats[order]
    else:
        values = ids.astype(str).to_numpy(dtype=object)
        codes, uniques = _grid_codes(values, runs(answers["response_id"].to_numpy(dtype=object)))
    k = len(uniques)
    head = codes[:k]
    if len(head) == k and bool((np.sort(head) == np.arange(k)).all()):
        first = np.empty(k, dtype=np.int64)  # the first respondent answered every item
        first[head] = np.arange(k)
    else:
        firsts = pd.Series(codes).drop_duplicates()
        first = np.empty(k, dtype=np.int64)
        first[firsts.to_numpy()] = firsts.index.to_numpy()
    dims = answers["dimension"]
    dim_of_item = pd.Series(np.asarray(dims.iloc[first].astype(object)), dtype=object)
    return codes, uniques, dim_of_item


def _grid_codes(item_ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(item_ids, sort=True)`` (narrowed codes), tiling the first run (the
    rows up to ``starts[1]``, the second respondent's first) when every run repeats it."""
    k = int(starts[1]) if len(starts) > 1 else len(item_ids)
    tiled = tiled_codes(item_ids, k, sort=True)
    codes, uniques = tiled if tiled is not None else factorize(item_ids, sort=True)
    return codes, np.asarray(uniques, dtype=object)


def _clip100(lo, hi, m: DomainMoments):
    lo = np.where(m.census, m.estimate, np.clip(lo, 0, 100))
    hi = np.where(m.census, m.estimate, np.clip(hi, 0, 100))
    return lo, hi


def _prop_table(m: DomainMoments, method: str, confidence: float) -> pd.DataFrame:
    lo, hi = proportion_interval(
        m.estimate, m.var, m.n, m.df, m.census, m.fpc, method=method, confidence=confidence
    )
    deff, _ = _deffs(m)
    return pd.DataFrame(
        {
            "estimate": m.estimate,
            "se": np.sqrt(m.var),
            "ci_low": lo,
            "ci_high": hi,
            "n": m.n.astype(np.int64),
            "df": m.df.astype(np.int64),
            "deff": deff,
            "census": m.census,
        }
    )


#: the dispositions' per-estate rates carried into the estates table (AAPOR RR1 first)
RATE_COLUMNS = (
    "response_rate",
    "cooperation_rate",
    "refusal_rate",
    "contact_rate",
    "completion_rate",
)


def has_response_rates(rates: object) -> bool:
    """Whether ``rates`` (``response_rates`` or ``dispositions``) gives per-estate response
    rates that scoring reads (:func:`_response_rates`)."""
    return (
        isinstance(rates, pd.DataFrame)
        and not rates.empty
        and {"estate_id", "response_rate"} <= set(rates.columns)
    )


def _response_rates(ingest: Responses, estate_ids: pd.Index) -> dict[str, np.ndarray]:
    """Per-estate rates (:data:`RATE_COLUMNS`) from ``ingest.response_rates`` or, failing
    that, ``ingest.dispositions``; NaN for a rate neither has."""
    out = {c: np.full(len(estate_ids), np.nan) for c in RATE_COLUMNS}
    for name in ("response_rates", "dispositions"):
        rates = getattr(ingest, name, None)
        if has_response_rates(rates):
            table = by_estate(rates)
            for col in RATE_COLUMNS:
                if col in table.columns:
                    values = pd.to_numeric(table[col], errors="coerce")
                    out[col] = pd.Series(estate_ids).map(values).to_numpy(dtype=float)
            return out
    return out


def _exceeding_strata(wts: pd.DataFrame) -> pd.Series:
    """Per estate, where respondents outnumber the record's households (a stale record or
    duplicates): ``3栋：答卷 25 份 > 记录 20 户`` per stratum, ``、``-joined."""
    bad = wts.loc[wts["n_exceeds_N"], ["estate_id", "stratum", "n_h", "N_record"]]
    if bad.empty:
        return pd.Series(dtype=object)
    bad = bad.drop_duplicates("stratum")
    where = bad["stratum"].str.split("|", n=1).str[1]
    text = (
        where
        + "：答卷 "
        + bad["n_h"].astype(str)
        + " 份 > 记录 "
        + bad["N_record"].round().astype("int64").astype(str)
        + " 户"
    )
    return text.groupby(bad["estate_id"].to_numpy()).agg("、".join)


def _district(
    est: pd.DataFrame, res: ArrayResults, ov_fpc: np.ndarray, method: str, confidence: float
) -> pd.DataFrame:
    """Per tier and 全区: ``Σ N_e ŷ_e / Σ N_e`` over the scored estates with
    ``V = Σ (N_e/ΣN)² V_e`` (estates are independent strata); df = Σ df_e, n = Σ n_e;
    N_e = 台账 户数 (Σ weights when the register lacks it)."""
    tiers = est["tier"].astype(object).where(est["tier"].notna(), "未分级").to_numpy()
    order = {t: i for i, t in enumerate(TIERS)}
    labels = sorted(set(tiers), key=lambda t: (order.get(t, 99), str(t)))
    codes = pd.Index(labels).get_indexer(tiers)
    N = (
        est["households"].to_numpy(dtype=float)
        if "households" in est.columns
        else np.full(len(est), np.nan)
    )
    frames = []
    for names, group in ((labels, codes), ([DISTRICT_LABEL], np.zeros(len(est), np.int64))):
        nd = len(names)
        frame = pd.DataFrame({"tier": names})
        for value, m in (("rate", None), ("index", res.index)):
            p = est[value].to_numpy(dtype=float)
            var = est["rate_se"].to_numpy(dtype=float) ** 2 if m is None else m.var
            Ne = np.where(np.isnan(N), (res.index.weight if m is None else m.weight), N)
            ok = ~np.isnan(p) & ~np.isnan(var)
            W = np.bincount(group, np.where(ok, Ne, 0.0), nd)
            with np.errstate(invalid="ignore", divide="ignore"):
                y = np.bincount(group, np.where(ok, Ne * p, 0.0), nd) / W
                v = np.bincount(group, np.where(ok, Ne**2 * var, 0.0), nd) / W**2
            n = np.bincount(group, np.where(ok, est["n"].to_numpy(dtype=float), 0.0), nd)
            df = np.bincount(group, np.where(ok, est["df"].to_numpy(dtype=float), 0.0), nd)
            census = (
                np.bincount(group, (ok & ~est["census"].to_numpy(dtype=bool)).astype(float), nd)
                == 0
            )
            if value == "rate":
                nn = np.where(ok, est["n"].to_numpy(dtype=float), 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    g = np.bincount(group, nn * np.nan_to_num(ov_fpc, nan=1.0), nd) / n
                lo, hi = proportion_interval(
                    y, v, n, df, census & (n > 0), g, method=method, confidence=confidence
                )
                frame["rate"], frame["rate_se"] = y, np.sqrt(v)
                frame["rate_low"], frame["rate_high"] = lo, hi
                frame["n"], frame["df"] = n.astype(np.int64), df.astype(np.int64)
            else:
                lo, hi = mean_interval(y, v, df, confidence=confidence)
                frame["index"] = y
                frame["index_low"], frame["index_high"] = np.clip(lo, 0, 100), np.clip(hi, 0, 100)
        frame["estates"] = np.bincount(group, minlength=nd)
        frame["estates_scored"] = np.bincount(
            group, est["rate"].notna().to_numpy(float), nd
        ).astype(np.int64)
        verdict = est["verdict"].to_numpy()
        for v_, col in (("达标", "pass"), ("临界", "borderline"), ("未达标", "fail")):
            frame[col] = np.bincount(group, (verdict == v_).astype(float), nd).astype(np.int64)
        frame["point_pass"] = np.bincount(group, est["point_pass"].to_numpy(float), nd).astype(
            np.int64
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
