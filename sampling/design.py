"""Round-level sampling: size every estate, allocate across buildings, draw with reserves.

Design (per estate, all estates processed together as flat arrays):

* **Size** — :func:`sampling.size.sample_size` at the planning proportion (the estate's
  tier threshold, or a fixed number), with FPC, design effect and response-rate inflation.
* ``method = "srs"`` — buildings are strata. When ``n ≥`` the number of buildings, ``n``
  is allocated proportionally (≥ 1 per building, largest-remainder rounding; see
  :func:`sampling.allocation.allocate_arrays`) and each building gets a simple random
  sample without replacement (the ``n_h`` households with the smallest random keys);
  ``pi_h = n_h / N_h``. When ``n <`` the number of buildings, not every building can be
  reached: the estate is drawn by systematic sampling over its frame sorted by building,
  unit, floor and room, which spreads the sample over buildings in proportion to their
  size (implicit stratification); every household then has ``pi = n / N``.
* ``method = "systematic"`` — every estate is drawn that way.
* **Reserves** (替补) — per building ``reserve_h = min(N_h − n_h, max(ceil(ratio·n_h), 1))``
  for buildings with ``n_h ≥ 1`` (none when ``reserve_ratio = 0``), taken in random-key
  order from the households not in the main sample, and used in that order.

Randomness is reproducible and estate-order independent; see :mod:`sampling.selection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sampling.allocation import allocate_arrays
from sampling.record import RoundSample, frame_sha256, package_version
from sampling.selection import (
    canonical_order,
    estate_keys,
    household_keys,
    rank_within,
    splitmix64,
    systematic_mask,
    to_unit,
)
from sampling.size import expected_margin, sample_size
from wuye_common.errors import Problem, WuyeError
from wuye_common.sheets import DEFAULT_MAX_CELLS, DEFAULT_MAX_ROWS, Limits

FRAME_REQUIRED = ("estate_id", "building", "unit", "floor", "room")
STRATIFIED = "stratified_srs"
SYSTEMATIC = "systematic"
SIMPLE = "simple"
SIMPLE_SRS = "simple_srs"
DESIGN_LABELS = {
    SIMPLE_SRS: "全小区简单随机抽样（入户名单按楼栋排列）",
    STRATIFIED: "按楼栋分层简单随机抽样",
    SYSTEMATIC: "按楼栋/单元/楼层/房号排序后等距抽样",
}


def draw_round(
    register: pd.DataFrame,
    frame: pd.DataFrame,
    config: Any,
    *,
    seed: int,
    confidence: float,
    variances: pd.Series | None = None,
    sizes: pd.Series | None = None,
) -> RoundSample:
    """Size, allocate and draw the main sample and reserves of every estate in ``register``.

    ``config`` is a :class:`sampling.config.SamplingConfig`: sizes by power
    (:mod:`sampling.power`, with ``budget`` spread over the estates) or by margin
    (:func:`sampling.sample_size`), then ``method`` (see the module docstring). Vacant households
    (``occupied == False``) are not drawn. Estates in ``register`` without households get a
    plan row with ``N = n = 0``. ``variances`` (indexed by ``(estate_id, building)``, e.g.
    ``p̂(1 − p̂)`` per building from the previous round) switches the stratified estates to
    Neyman allocation; buildings without a value get their estate's mean variance.
    ``sizes`` (households per ``estate_id``; at most N) replaces the sizing, as for a
    top-up (:mod:`sampling.topup`). Returns a :class:`~sampling.record.RoundSample`.
    """
    _check_inputs(register, frame, config, seed)
    frame = _prepared(frame)
    _check_estates(register, frame)
    st = _strata(frame)
    reg = register.assign(estate_id=register["estate_id"].astype(str)).set_index("estate_id")
    p_plan = _planning_p(reg, st.ids, config)
    if sizes is None:
        planned = _sizes(reg, st, p_plan, config, confidence)
    else:
        planned = _given_sizes(sizes, st)
    draw = _draw(st, planned.n, config, seed, variances)
    sample = _sample_table(frame, st, draw)
    strata = _strata_table(st, draw)
    plan = _plan(reg, st, draw, p_plan, config, confidence, planned)
    meta = {
        "seed": int(seed),
        "frame_sha256": st.digest,
        "frame_rows": len(frame),
        "frame_occupied": int(st.total),
        "design": _design_meta(str(config.method)),
        "parameters": {
            "margin": config.margin,
            "planning_p": config.planning_p,
            "deff": config.deff,
            "response_rate": config.response_rate,
            "minimum": config.minimum,
            "maximum": config.maximum,
            "reserve_ratio": config.reserve_ratio,
            "confidence": float(confidence),
            "allocation": "proportional" if variances is None else "neyman",
            "sizing": config.sizing,
            "delta": config.delta,
            "power": config.power,
            "budget": config.budget,
            "waves": config.waves,
            "first_share": config.first_share,
            "interval_method": interval_method(str(config.method)),
        },
        "households_planned": int(plan["n"].sum() + plan["n_topup"].sum()),
        "estates": len(plan),
        "sample_main": int((sample["role"] == "main").sum()),
        "sample_reserve": int((sample["role"] != "main").sum()),
        "package_version": package_version(),
        "numpy_version": np.__version__,
    }
    return RoundSample(sample=sample, strata=strata, plan=plan, meta=meta)


def interval_method(method: str) -> str:
    """The interval scoring uses for estates drawn with sampling ``method``: ``exact`` for a
    simple random sample of the estate, ``beta`` (Korn–Graubard) for the stratified and
    systematic designs, where the exact interval's guarantee does not hold."""
    return "exact" if method == "simple" else "beta"


@dataclass
class _Sizes:
    """Households to approach per estate (first wave), the planned top-up, and the exact
    operating figures of the whole planned sample (:class:`sampling.power.PowerPlan`)."""

    n: np.ndarray
    topup: np.ndarray
    figures: Any


def _sizes(
    reg: pd.DataFrame, st: _Strata, p_plan: np.ndarray, config: Any, confidence: float
) -> _Sizes:
    """Per estate: by power (or a ``budget``) or by margin; the power figures either way."""
    from sampling import power as pw

    big_n = st.big_n
    t = _thresholds(
        reg, st.ids, required=str(config.sizing) == "power" or config.budget is not None
    )
    target = pw.Target(
        delta=config.delta,
        power=config.power,
        confidence=confidence,
        response_rate=config.response_rate,
        deff=config.deff,
        method=interval_method(str(config.method)),
    )
    known = np.isfinite(t)
    figures = pw.PowerPlan(
        n=np.zeros(len(big_n), dtype=np.int64),
        respondents=np.zeros(len(big_n), dtype=np.int64),
        power=np.full(len(big_n), np.nan),
        power_pass=np.full(len(big_n), np.nan),
        census_recommended=np.zeros(len(big_n), dtype=bool),
        detectable_delta=np.full(len(big_n), np.nan),
    )
    if known.any():
        goal = pw.power_sizes(
            big_n[known], t[known], target, minimum=config.minimum, maximum=config.maximum
        )
        _assign(figures, goal, known)
    if config.budget is not None:
        n = pw.allocate_budget(big_n, t, int(config.budget), target, minimum=config.minimum)
    elif str(config.sizing) == "power":
        n = figures.n
    else:
        n = np.atleast_1d(
            sample_size(
                big_n,
                margin=config.margin,
                confidence=confidence,
                p=p_plan,
                deff=config.deff,
                response_rate=config.response_rate,
                minimum=config.minimum,
                maximum=config.maximum,
            )
        )
    n = np.asarray(n, dtype=np.int64)
    if known.any() and not np.array_equal(n[known], figures.n[known]):
        census = figures.census_recommended.copy()
        _assign(figures, pw.design_figures(n[known], big_n[known], t[known], target), known)
        figures.census_recommended = census
    figures.n = n
    first, topup = n, np.zeros(len(n), dtype=np.int64)
    if int(config.waves) == 2:
        first = np.minimum(
            np.maximum(
                np.ceil(float(config.first_share) * n - 1e-9), np.minimum(config.minimum, n)
            ),
            n,
        ).astype(np.int64)
        # the top-up comes from households not approached in the first wave: the main
        # sample and, per expected non-respondent, one reserve are
        approached = first + np.ceil((1 - float(config.response_rate)) * first - 1e-9)
        room = np.maximum(big_n - approached, 0)
        topup = np.minimum(np.ceil(float(config.topup_share) * n - 1e-9), room).astype(np.int64)
    return _Sizes(n=first, topup=topup, figures=figures)


def _given_sizes(sizes: pd.Series, st: _Strata) -> _Sizes:
    """Sizes given per estate (0 where absent, at most N); no power figures."""
    from sampling.power import PowerPlan

    given = pd.to_numeric(sizes, errors="coerce")
    given.index = given.index.astype(str)
    n = np.minimum(given.reindex(st.ids.astype(str)).fillna(0).to_numpy(), st.big_n)
    n = np.maximum(n, 0).astype(np.int64)
    empty = np.full(len(n), np.nan)
    figures = PowerPlan(
        n=n,
        respondents=np.zeros(len(n), dtype=np.int64),
        power=empty,
        power_pass=empty.copy(),
        census_recommended=np.zeros(len(n), dtype=bool),
        detectable_delta=empty.copy(),
    )
    return _Sizes(n=n, topup=np.zeros(len(n), dtype=np.int64), figures=figures)


def _assign(target: Any, source: Any, where: np.ndarray) -> None:
    for name in ("n", "respondents", "power", "power_pass", "census_recommended"):
        getattr(target, name)[where] = getattr(source, name)
    target.detectable_delta[where] = source.detectable_delta


def _thresholds(reg: pd.DataFrame, ids: np.ndarray, *, required: bool) -> np.ndarray:
    """Each estate's tier threshold (NaN where unknown; an error when ``required``)."""
    if "threshold" not in reg.columns:
        t = np.full(len(ids), np.nan)
    else:
        t = pd.to_numeric(reg["threshold"].reindex(ids), errors="coerce").to_numpy(dtype=float)
    if required and not np.all(np.isfinite(t) & (t > 0) & (t <= 1)):
        raise WuyeError(
            Problem(
                "按检验功效（或总预算）确定样本量需要每个小区的达标线，但台账中有小区没有",
                "用 load_round 读取台账（按服务等级补上达标线），或在 [sampling] 中写 "
                'sizing = "margin"',
                column="sampling.sizing",
            )
        )
    return t


def _check_estates(register: pd.DataFrame, frame: pd.DataFrame) -> None:
    estate_ids = register["estate_id"].astype(str).to_numpy()
    in_round = frame["estate_id"].isin(estate_ids)
    if not in_round.all():
        stray = sorted(frame.loc[~in_round, "estate_id"].unique())[:10]
        raise WuyeError(
            Problem(
                f"住户清册中的小区不在台账中：{'、'.join(stray)}",
                "先用 load_frame 检查住户清册，或核对小区编号",
            )
        )


@dataclass
class _Strata:
    """The occupied households in canonical order, grouped into strata = (estate,
    building) runs."""

    digest: str
    """:func:`frame_sha256` of the whole frame."""
    codes: dict[str, np.ndarray]
    """Factor codes of the frame's text columns (:func:`canonical_order`)."""
    labels: dict[str, Any]
    """Their labels."""
    order: np.ndarray
    """Frame rows of the occupied households, in canonical order."""
    est: np.ndarray
    """Per household (in ``order``): estate code."""
    bld: np.ndarray
    """Per household: building code."""
    stratum: np.ndarray
    """Per household: stratum number."""
    position: np.ndarray
    """Per household: its position within its estate."""
    first: np.ndarray
    """Per stratum: its first household."""
    stratum_est: np.ndarray
    """Per stratum: estate code."""
    big_nh: np.ndarray
    """Per stratum: households (N_h)."""
    big_n: np.ndarray
    """Per estate: households (N)."""
    buildings: np.ndarray
    """Per estate: strata (buildings with occupied households)."""
    ids: np.ndarray
    """Per estate: ``estate_id``."""

    @property
    def total(self) -> int:
        return len(self.order)

    @property
    def n_strata(self) -> int:
        return len(self.big_nh)

    def building_labels(self) -> np.ndarray:
        """Per stratum: the building label."""
        return np.asarray(self.labels["building"], dtype=object)[self.bld[self.first]]


def _strata(frame: pd.DataFrame) -> _Strata:
    order, codes, labels = canonical_order(frame)
    digest = frame_sha256(frame, canonical=(order, codes, labels))
    occupied = frame["occupied"].to_numpy(dtype=bool)
    order = order[occupied[order]]
    est = codes["estate_id"][order]
    bld = codes["building"][order]
    total = len(order)
    n_est = len(labels["estate_id"])
    # Strata = (estate, building) runs in the sorted frame of occupied households.
    change = np.ones(total, dtype=bool)
    if total:
        change[1:] = (est[1:] != est[:-1]) | (bld[1:] != bld[:-1])
    stratum = np.cumsum(change) - 1
    n_strata = int(stratum[-1]) + 1 if total else 0
    first = np.flatnonzero(change)
    stratum_est = est[first]
    big_n = np.bincount(est, minlength=n_est)
    est_start = np.concatenate([[0], np.cumsum(big_n)[:-1]]).astype(np.int64)
    return _Strata(
        digest=digest,
        codes=codes,
        labels=labels,
        order=order,
        est=est,
        bld=bld,
        stratum=stratum,
        position=np.arange(total, dtype=np.int64) - est_start[est],
        first=first,
        stratum_est=stratum_est,
        big_nh=np.bincount(stratum, minlength=n_strata),
        big_n=big_n,
        buildings=np.bincount(stratum_est, minlength=n_est),
        ids=np.asarray(labels["estate_id"], dtype=object),
    )


@dataclass
class _Draw:
    """What was drawn: per estate the sample size and design, per stratum ``n_h`` and reserves, per
    household its rank (main sample: rank < ``n_h``, then the reserves in order)."""

    n: np.ndarray
    systematic: np.ndarray
    n_h: np.ndarray
    reserve_h: np.ndarray
    rank: np.ndarray
    simple: np.ndarray


def _draw(st: _Strata, n: np.ndarray, config: Any, seed: int, variances: pd.Series | None) -> _Draw:
    """Main sample (allocation for stratified estates, the smallest random keys of the
    estate for simple random samples, systematic picks for the others) and reserves."""
    method = str(config.method)
    simple = np.full(len(st.ids), method == SIMPLE)
    systematic = ~simple & (np.full(len(st.ids), method == SYSTEMATIC) | (n < st.buildings))
    unallocated = simple | systematic
    keys = estate_keys(st.ids, seed)
    z = household_keys(keys[st.est], st.position + 1)
    weights = None
    if variances is not None:
        weights = st.big_nh * np.sqrt(
            _stratum_variances(
                variances, st.ids[st.stratum_est], st.building_labels(), st.stratum_est
            )
        )
    alloc = allocate_arrays(np.where(unallocated, 0, n), st.stratum_est, st.big_nh, weights=weights)
    start = to_unit(splitmix64(keys))
    est = st.est
    picked = systematic_mask(st.position, n[est], st.big_n[est], start[est]) & systematic[est]
    if simple.any():
        # SRS of the estate: the n households with the smallest random keys
        picked |= simple[est] & (rank_within(est, len(st.ids), z) < n[est])
    realised = np.bincount(st.stratum, weights=picked, minlength=st.n_strata).astype(np.int64)
    n_h = np.where(unallocated[st.stratum_est], realised, alloc)
    flag = (unallocated[est] & ~picked).astype(np.int64)
    rank = rank_within(st.stratum, st.n_strata, flag, z)
    return _Draw(
        n=n,
        systematic=systematic,
        n_h=n_h,
        reserve_h=_reserves(n_h, st.big_nh, float(config.reserve_ratio)),
        rank=rank,
        simple=simple,
    )


def _reserves(n_h: np.ndarray, big_nh: np.ndarray, ratio: float) -> np.ndarray:
    """``reserve_h = min(N_h − n_h, max(ceil(ratio·n_h), 1))`` (none for ratio 0 or
    ``n_h = 0``)."""
    reserve_h = np.ceil(ratio * n_h - 1e-9).astype(np.int64)
    if ratio > 0:
        reserve_h = np.maximum(reserve_h, (n_h > 0).astype(np.int64))
    return np.minimum(reserve_h, big_nh - n_h)


def _sample_table(frame: pd.DataFrame, st: _Strata, draw: _Draw) -> pd.DataFrame:
    """The drawn households in field order: estate, building, main sample in walking
    order, then reserves in order."""
    n_h, stratum, rank = draw.n_h, st.stratum, draw.rank
    main = rank < n_h[stratum]
    reserve = ~main & (rank < (n_h + draw.reserve_h)[stratum])
    chosen = np.flatnonzero(main | reserve)
    is_main = main[chosen]
    role_order = np.where(is_main, 0, rank[chosen] - n_h[stratum[chosen]] + 1)
    field = np.lexsort((st.position[chosen], role_order, ~is_main, stratum[chosen], st.est[chosen]))
    chosen = chosen[field]
    is_main = is_main[field]
    rows = st.order[chosen]
    # Text columns rebuilt from the factor codes: NaN becomes "", no pandas take needed.
    texts = {c: np.asarray(st.labels[c], dtype=object)[st.codes[c][rows]] for c in FRAME_REQUIRED}
    sample = pd.DataFrame({c: pd.array(texts[c], dtype="str") for c in FRAME_REQUIRED})
    if "household_id" in frame.columns:
        sample["household_id"] = pd.array(frame["household_id"].to_numpy()[rows], dtype="str")
    else:
        parts = [texts[c] for c in ("estate_id", "building", "unit", "room")]
        joined = ["|".join(row) for row in zip(*parts, strict=True)]
        sample["household_id"] = pd.array(joined, dtype="str")
    sample["role"] = np.where(is_main, "main", "reserve")
    s = stratum[chosen]
    within = np.arange(len(chosen)) - np.searchsorted(s, s)  # s is sorted
    n_main_before = np.minimum(within, n_h[s])
    sample["order"] = np.where(is_main, within + 1, within - n_main_before + 1).astype(np.int64)
    e = st.est[chosen]
    sample["seq"] = (np.arange(len(chosen)) - np.searchsorted(e, e) + 1).astype(np.int64)
    return sample


def _designs(st: _Strata, draw: _Draw) -> np.ndarray:
    """Per estate: ``none`` (no households), simple, systematic or stratified."""
    design = np.where(draw.systematic, SYSTEMATIC, STRATIFIED)
    return np.where(st.big_n == 0, "none", np.where(draw.simple, SIMPLE_SRS, design))


def _strata_table(st: _Strata, draw: _Draw) -> pd.DataFrame:
    """One row per stratum: ``N_h``, ``n_h``, reserves, inclusion probability, design."""
    n, big_n, big_nh, stratum_est = draw.n, st.big_n, st.big_nh, st.stratum_est
    with np.errstate(divide="ignore", invalid="ignore"):
        pi_est = np.where(big_n > 0, n / np.maximum(big_n, 1), 0.0)
        whole = (draw.systematic | draw.simple)[stratum_est]
        pi_h = np.where(whole, pi_est[stratum_est], draw.n_h / big_nh)
    return pd.DataFrame(
        {
            "estate_id": pd.array(st.ids[stratum_est], dtype="str"),
            "building": pd.array(st.building_labels(), dtype="str"),
            "N_h": big_nh.astype(np.int64),
            "n_h": draw.n_h.astype(np.int64),
            "reserve_h": draw.reserve_h.astype(np.int64),
            "pi_h": pi_h,
            "design": pd.array(_designs(st, draw)[stratum_est], dtype="str"),
        }
    )


def _design_meta(method: str) -> dict[str, str]:
    return {
        "method": method,
        "simple_srs": DESIGN_LABELS[SIMPLE_SRS],
        "stratified_srs": DESIGN_LABELS[STRATIFIED],
        "systematic": DESIGN_LABELS[SYSTEMATIC],
        "fallback": "小区样本量少于楼栋数时，改为按排序后的住户清册等距抽样（隐含按楼栋分层）",
        "reserves": "每栋替补数 = max(ceil(reserve_ratio × n_h), 1)，不超过剩余户数；按顺序使用",
        "rng": "numpy.random.SeedSequence([seed, sha256(estate_id)]) → splitmix64 keys",
    }


def round_limits(round: Any) -> Limits:
    """The row and cell ceilings of the files a round reads (its ``[ingest] max_rows`` and
    ``max_cells``; the defaults for a stand-in round without them)."""
    cfg = getattr(round, "ingest", None)
    return Limits(
        max_rows=int(getattr(cfg, "max_rows", DEFAULT_MAX_ROWS)),
        max_cells=int(getattr(cfg, "max_cells", DEFAULT_MAX_CELLS)),
    )


def run_sampling(round: Any, *, frame_path: str | Path | None = None) -> RoundSample:
    """Load the frame of ``round``, draw, write field sheets and the record.

    Reads ``round.paths["frame"]`` (checked against ``round.register``; in quarterly rounds
    estates of the full 台账, ``round.all_estate_ids``, outside the round are skipped with a
    warning), then writes into ``round.output_dir / "sampling"``: ``抽样入户表_<round_id>.xlsx``
    and the record files. The result has ``written`` (paths) and ``warnings`` (Problems; as Chinese texts in
    ``meta["warnings"]``).
    """
    from sampling.fieldsheets import write_field_sheets
    from sampling.frame import load_frame
    from sampling.record import write_sampling_record

    path = frame_path or (round.paths or {}).get("frame")
    if not path:
        raise WuyeError(
            Problem(
                "round.toml 没有给出住户清册路径 [inputs] frame",
                '在 [inputs] 中加上 frame = "住户清册.xlsx"',
                file="round.toml",
                column="inputs.frame",
            )
        )
    # quarterly rounds cover part of the 台账: its other estates are skipped, not unknown
    known = list(getattr(round, "all_estate_ids", ())) if getattr(round, "kind", "H") == "Q" else []
    frame, warnings = load_frame(
        path, round.register, known_estates=known, limits=round_limits(round)
    )
    result = draw_round(
        round.register, frame, round.sampling, seed=round.seed, confidence=round.confidence
    )
    del frame  # the drawn households keep what they need of it; the writers need memory
    result.meta["round_id"] = round.round_id
    result.meta["frame_file"] = Path(path).name
    result.meta["warnings"] = [str(w) for w in warnings]
    result.warnings = list(warnings)
    out = Path(round.output_dir) / "sampling"
    out.mkdir(parents=True, exist_ok=True)
    sheets = write_field_sheets(
        result,
        round.register,
        out / f"抽样入户表_{round.round_id}.xlsx",
        title=getattr(round, "label", ""),
    )
    result.written = [sheets, *write_sampling_record(result, out)]
    return result


def _check_inputs(register: pd.DataFrame, frame: pd.DataFrame, config: Any, seed: int) -> None:
    missing = [c for c in ("estate_id", "building", "room") if c not in frame.columns]
    if missing:
        raise WuyeError(
            Problem(f"住户清册缺少列：{'、'.join(missing)}", "用 load_frame 读取住户清册")
        )
    if "estate_id" not in register.columns:
        raise WuyeError(Problem("台账缺少小区编号列（estate_id）", "用 load_round 读取台账"))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise WuyeError(
            Problem(
                f"参数 seed 无效：{seed!r} 应为非负整数",
                "在 round.toml 的 [round] 中写 seed = 20240906 这样的整数",
                column="seed",
            )
        )
    if str(config.method) not in (SIMPLE, "srs", SYSTEMATIC):
        raise WuyeError(
            Problem(
                f"参数 method 无效：{config.method!r}",
                '写 "simple"（全小区简单随机）、"srs"（按楼栋分层）或 "systematic"',
                column="sampling.method",
            )
        )
    if not 0 <= float(config.reserve_ratio) <= 10:
        raise WuyeError(
            Problem(
                f"参数 reserve_ratio 无效：{config.reserve_ratio!r}",
                "替补比例应在 0 与 10 之间，例如 0.5",
                column="sampling.reserve_ratio",
            )
        )


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """Frame with all contract columns as text and a boolean ``occupied``."""
    out = frame.copy(deep=False)
    for col in FRAME_REQUIRED:
        if col not in out.columns:
            out[col] = ""
        elif out[col].dtype != "str":
            column = out[col].astype("str")
            out[col] = column.fillna("") if column.hasnans else column
    if "occupied" not in out.columns:
        out["occupied"] = True
    else:
        out["occupied"] = out["occupied"].fillna(True).astype(bool)
    return out


def _stratum_variances(
    variances: pd.Series, estates: np.ndarray, buildings: np.ndarray, stratum_est: np.ndarray
) -> np.ndarray:
    """Per-stratum variances for Neyman allocation; gaps get the estate's mean."""
    if not isinstance(variances, pd.Series) or variances.index.nlevels != 2:
        raise WuyeError(
            Problem(
                "参数 variances 无效：应为以 (estate_id, building) 为索引的 Series",
                "例如上一轮各楼栋的 p(1-p)",
                column="variances",
            )
        )
    index = pd.MultiIndex.from_arrays(
        [
            variances.index.get_level_values(0).astype(str),
            variances.index.get_level_values(1).astype(str),
        ]
    )
    given = pd.Series(pd.to_numeric(variances, errors="coerce").to_numpy(dtype=float), index=index)
    if (given < 0).any() or np.isinf(given).any():
        raise WuyeError(
            Problem(
                "参数 variances 无效：方差应为非负有限数",
                "检查 variances 的取值",
                column="variances",
            )
        )
    var = given.reindex(
        pd.MultiIndex.from_arrays([estates.astype(str), buildings.astype(str)])
    ).to_numpy()
    known = np.isfinite(var)
    sums = np.bincount(stratum_est, weights=np.where(known, var, 0.0))
    counts = np.bincount(stratum_est, weights=known)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)
    return np.where(known, var, mean[stratum_est])


def _planning_p(reg: pd.DataFrame, ids: np.ndarray, config: Any) -> np.ndarray:
    planning = config.planning_p
    if isinstance(planning, str):
        if planning != "threshold":
            try:
                planning = float(planning)
            except ValueError as exc:
                raise WuyeError(
                    Problem(
                        f"参数 planning_p 无效：{planning!r}",
                        '写 "threshold"（按达标线）或 0.5 这样的小数',
                        column="sampling.planning_p",
                    )
                ) from exc
        else:
            if "threshold" not in reg.columns:
                raise WuyeError(
                    Problem(
                        "台账没有达标线（threshold）列，无法按达标线计算样本量",
                        "用 load_round 读取台账，或设 planning_p = 0.5",
                        column="sampling.planning_p",
                    )
                )
            p = reg["threshold"].reindex(ids).to_numpy(dtype=float)
            if np.any(~np.isfinite(p)):
                raise WuyeError(
                    Problem(
                        "部分小区没有达标线，无法计算样本量",
                        "检查台账的服务等级，或设 planning_p = 0.5",
                        column="sampling.planning_p",
                    )
                )
            return p
    return np.full(len(ids), float(planning))


def _plan(
    reg: pd.DataFrame,
    st: _Strata,
    draw: _Draw,
    p_plan: np.ndarray,
    config: Any,
    confidence: float,
    sizes: _Sizes,
) -> pd.DataFrame:
    """One row per 台账 estate, in 台账 order: ``N``, ``n`` (households to approach; first
    wave of a two-wave plan), reserves, buildings, planning proportion, expected margin at
    it, design, the planned top-up ``n_topup``, the interval method scoring will use, and
    the exact operating figures of the planned sample: expected ``respondents``,
    ``power`` (P(未达标) at T − delta), ``power_pass`` (P(达标) at T + delta),
    ``detectable_delta`` and ``census_recommended`` (estates without households:
    ``N = n = 0``)."""
    ids, big_n, n = st.ids, st.big_n, draw.n
    design = _designs(st, draw)
    reserves = np.bincount(st.stratum_est, weights=draw.reserve_h, minlength=len(ids)).astype(
        np.int64
    )
    margin = expected_margin(
        n,
        big_n,
        p=p_plan,
        confidence=confidence,
        deff=config.deff,
        response_rate=config.response_rate,
    )
    fig = sizes.figures
    drawn = pd.DataFrame(
        {
            "estate_id": ids.astype(str),
            "N": big_n.astype(np.int64),
            "n": n.astype(np.int64),
            "reserves": reserves,
            "buildings": st.buildings.astype(np.int64),
            "planning_p": p_plan,
            "margin_at_threshold": margin,
            "design": design.astype(str),
            "n_topup": sizes.topup.astype(np.int64),
            "interval_method": np.where(design == SIMPLE_SRS, "exact", "beta"),
            "respondents": fig.respondents.astype(np.int64),
            "power": fig.power,
            "power_pass": fig.power_pass,
            "detectable_delta": fig.detectable_delta,
            "census_recommended": fig.census_recommended.astype(bool),
        }
    )
    present = set(ids.tolist())
    absent = [e for e in reg.index if e not in present]
    if absent:
        threshold = (
            reg["threshold"].reindex(absent).to_numpy(dtype=float)
            if "threshold" in reg.columns
            else np.nan
        )
        empty = pd.DataFrame(
            {
                "estate_id": absent,
                "N": 0,
                "n": 0,
                "reserves": 0,
                "buildings": 0,
                "planning_p": threshold,
                "margin_at_threshold": np.nan,
                "design": "none",
                "n_topup": 0,
                "interval_method": "beta",
                "respondents": 0,
                "power": np.nan,
                "power_pass": np.nan,
                "detectable_delta": np.nan,
                "census_recommended": False,
            }
        )
        drawn = pd.concat([drawn, empty], ignore_index=True)
    # Register order, so the plan reads like the 台账.
    position = pd.Series(np.arange(len(reg)), index=reg.index)
    drawn = drawn.iloc[np.argsort(position.reindex(drawn["estate_id"]).to_numpy(), kind="stable")]
    for col in ("estate_id", "design", "interval_method"):
        drawn[col] = drawn[col].astype("str")
    drawn["census_recommended"] = drawn["census_recommended"].astype(bool)
    return drawn.reset_index(drop=True)
