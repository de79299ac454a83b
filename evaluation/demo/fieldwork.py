"""Simulated fieldwork on the demo district: visits to a drawn sample with non-response and
substitutes, answers drawn from the hidden truth, and a 问卷星 按选项文本 export with
real-world mess (see :data:`MESS_RATES`).

* :func:`simulate_fieldwork` — the export and the hidden key a test can check ingest against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from evaluation.demo import fraud
from evaluation.demo import names as nm
from evaluation.demo.district import (
    FIELD_STREAM,
    OVERALL,
    DemoDistrict,
    period_parts,
    period_tag,
    questionnaire_spec,
    stream_rng,
    truth_for,
)
from evaluation.demo.records import Responses, Submissions, full_of, pair_codes
from wuye_common.errors import Problem, WuyeError

RESPONSE_RATE = (0.65, 0.85)
"""Per-estate response probability of a contacted occupied household (uniform range)."""
REFUSAL_SHARE = 0.4
"""Share of occupied non-responders who refuse (the rest are not reached)."""

MESS_RATES: dict[str, float] = {
    "name_fullwidth": 0.02,  # ASCII letters/digits (and building, room) in full width
    "name_spaces": 0.03,  # stray spaces around and inside the estate name
    "name_suffix_dropped": 0.02,  # "葛店花园" → "葛店"
    "name_typo": 0.015,  # one character replaced by a similar one
    "name_xiaoqu": 0.03,  # "小区" appended
    "duplicates": 0.02,  # same household submits twice, 2–30 minutes apart
    "speeders": 0.03,  # 所用时间 < 60 s, straight-lined answers
    "blank_rows": 0.005,  # fully blank rows (at least one)
    "unsampled": 0.01,  # respondents not in the sample (at least two)
    "unknown_estate": 0.001,  # estate name not in the register (one or two)
    "dont_know": 0.02,  # 不清楚 on an ordinary item (0.5% on the overall item)
    "skipped": 0.01,  # (跳过) on an ordinary item (never on the overall item)
    "phone_given": 0.35,  # the optional phone question answered
    "comment_given": 0.30,  # a free-text comment given
}
BUILDING_FORMATS: dict[str, float] = {"{b}栋": 0.45, "{b}": 0.25, "{b}号楼": 0.30}
"""How respondents write building 3: ``3栋`` / ``3`` / ``3号楼`` (``３栋`` when full width)."""
ROOM_FORMATS: dict[str, float] = {"{u}-{r}": 0.8, "{u}单元{r}": 0.17, "{r}": 0.03}
"""How respondents write unit 1 room 302: ``1-302`` / ``1单元302`` / ``302`` (unit unknown)."""
EMPTY = "(空)"
"""What 问卷星 writes for an unanswered fill-in question."""
SKIPPED = "(跳过)"
DONT_KNOW = "不清楚"
SOURCES = (("手机提交", "直接访问", 0.6), ("微信", "N/A", 0.3), ("链接", "直接访问", 0.1))
IP_PREFIXES = (
    ("58.19", "湖北-鄂州", 0.75),
    ("27.17", "湖北-武汉", 0.15),
    ("117.136", "湖北-黄石", 0.10),
)
META_COLUMNS = ("序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP")
FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})

DRAW_ROWS = 100_000
"""Respondents whose answers are drawn at a time (the numbers do not depend on it)."""
SAMPLE_COLUMNS = ("estate_id", "building", "unit", "room", "household_id", "role", "order")
VISIT_STATUS = np.array(["completed", "refused", "not_reached", "unused"], dtype=object)


@dataclass
class Fieldwork:
    """Simulated fieldwork: the export plus the hidden key a test can check ingest against.

    ``key``: one row per export row — ``row`` (0-based), ``序号``, ``household_id``,
    ``estate_id`` (NA for blank rows and unknown estates), ``role``
    (``main``/``reserve``/``unsampled``/``unknown``/``blank``), ``mess`` (``,``-joined kinds).
    ``dispositions``: one row per sampled household — ``estate_id, household_id, role,
    order, status`` (``completed``/``refused``/``not_reached``/``unused``: a reserve never
    contacted), ``replaced`` (a main non-responder whose place a reserve took).
    ``mess``: counts per kind (keys of :data:`MESS_RATES` and more), also in
    ``export.attrs["mess"]``.
    """

    export: pd.DataFrame
    key: pd.DataFrame
    dispositions: pd.DataFrame
    mess: dict[str, int]


def _name_variants(names: np.ndarray, known: set[str]) -> dict[str, np.ndarray]:
    """How respondents misspell each estate name, one array per kind (O(estates) work)."""

    def drop_suffix(name: str) -> str:
        for suffix in nm.DROPPABLE_SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                return name[: -len(suffix)]
        return name[:-1] if len(name) >= 3 else name + "小区"

    def typo(name: str) -> str:
        for k in range(len(name) - 1, -1, -1):
            swapped = name[:k] + nm.TYPOS.get(name[k], name[k]) + name[k + 1 :]
            if swapped != name and swapped not in known:
                return swapped
        return name + "园"

    def spaces(name: str) -> str:
        half = max(1, len(name) // 2)
        return f" {name[:half]} {name[half:]}  "

    return {
        "name_fullwidth": np.array([x.translate(FULLWIDTH) for x in names], dtype=object),
        "name_spaces": np.array([spaces(x) for x in names], dtype=object),
        "name_suffix_dropped": np.array([drop_suffix(x) for x in names], dtype=object),
        "name_typo": np.array([typo(x) for x in names], dtype=object),
        "name_xiaoqu": np.array(
            [x + "小区" if not x.endswith("小区") else spaces(x) for x in names], dtype=object
        ),
    }


def _choose(rng: np.random.Generator, options: dict[str, float] | tuple, n: int) -> np.ndarray:
    """Index of one of ``options`` (weights as values) per row."""
    weights = np.array(list(options.values()) if isinstance(options, dict) else options, float)
    return np.minimum(
        np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n), side="right"),
        len(weights) - 1,
    )


def _window_start(period: str) -> np.datetime64:
    """First day of the fieldwork window: June/December for half-years, the quarter's last
    month for quarters."""
    year, kind, part = period_parts(period)
    month = (6 if part == 1 else 12) if kind == "H" else 3 * part
    return np.datetime64(f"{year:04d}-{month:02d}-01T00:00:00", "s")


def _format_times(times: np.ndarray) -> np.ndarray:
    """``2025/6/12 14:03:27`` as 问卷星 writes it, via lookup tables (vectorised); each
    distinct time formatted once (:func:`_distinct_texts`)."""
    seconds = np.asarray(times, dtype="datetime64[s]").view(np.int64)
    return _distinct_texts(seconds, _format_distinct_times)


def _format_distinct_times(seconds: np.ndarray) -> np.ndarray:
    idx = pd.DatetimeIndex(seconds.astype("datetime64[s]"))
    numbers = np.array([str(k) for k in range(10000)], dtype=object)
    two = np.array([f"{k:02d}" for k in range(60)], dtype=object)
    return (
        numbers[idx.year]
        + "/"
        + numbers[idx.month]
        + "/"
        + numbers[idx.day]
        + " "
        + two[idx.hour]
        + ":"
        + two[idx.minute]
        + ":"
        + two[idx.second]
    )


def simulate_fieldwork(
    district: DemoDistrict,
    sample: pd.DataFrame,
    *,
    period: str,
    seed: int,
    questionnaire_path: str | Path = "default",
) -> pd.DataFrame:
    """The 问卷星 按选项文本 export of the visits to ``sample`` in ``period``.

    Columns: :data:`META_COLUMNS`, then ``N、<text>`` for the identification questions,
    every item and the phone and comment questions, in question order. The mess
    counts (see :data:`MESS_RATES`) are in ``export.attrs["mess"]``; use
    :func:`simulate_visits` for the hidden key and dispositions as well.
    """
    export, _ = _simulate(district, sample, period, seed, questionnaire_path, hidden=False)
    return export


def simulate_visits(
    district: DemoDistrict,
    sample: pd.DataFrame,
    *,
    period: str,
    seed: int,
    questionnaire_path: str | Path = "default",
) -> Fieldwork:
    """Simulate the fieldwork of one round (see :class:`Fieldwork`).

    Visits: an occupied household answers with its estate's response probability
    (:data:`RESPONSE_RATE`), vacant ones are never reached; within each building, reserves
    are visited in ``order`` until every main non-responder is replaced or the reserves run
    out. Answers follow an ordinal latent-variable model: a Gaussian copula (respondent
    factor, loading 0.6) gives each respondent × item a uniform ``u``; the answer is
    satisfied iff ``u`` < the estate's true level for the item's dimension, so the expected
    share satisfied is exactly the truth (:func:`truth_for`); satisfied answers split into
    非常满意/满意 and the rest into 基本满意/不满意/非常不满意 (weights 4:2:1).

    The steps below draw from one random stream in this order; a new kind of fieldwork
    (another kind of mess, a dishonest surveyor, visit records) is one more step that reads
    and changes :class:`Responses` and records what it did with :meth:`Responses.mark`.
    Add it where it belongs in the order (after the steps whose draws it must not shift).
    """
    export, hidden = _simulate(district, sample, period, seed, questionnaire_path, hidden=True)
    assert hidden is not None
    return Fieldwork(
        export=export,
        key=_key(export, hidden),
        dispositions=_dispositions(hidden.households, hidden.visits),
        mess=hidden.resp.mess,
    )


def _simulate(
    district: DemoDistrict,
    sample: pd.DataFrame,
    period: str,
    seed: int,
    questionnaire_path: str | Path,
    *,
    hidden: bool,
) -> tuple[pd.DataFrame, _Hidden | None]:
    """The export and, with ``hidden``, what the key and the dispositions are made of (the
    steps of :func:`simulate_visits`). Without, the visits are let go before the export
    is made: a city's export is built within what its fieldwork took."""
    _check_sample(sample)
    q = questionnaire_spec(questionnaire_path)
    truth = truth_for(district, period)
    rng = stream_rng(seed, FIELD_STREAM, period_tag(period), district.seed)
    households = _canonical_sample(sample, district, truth)
    visits = _visit(rng, households, len(truth))
    resp = _respondents(rng, district, truth, households, visits)
    _answer_from_truth(rng, resp, q["items"], truth)
    _speeders(rng, resp, q["items"])
    fullwidth = _write_estate_names(
        rng, resp, district.register["estate_name"].to_numpy(dtype=object)
    )
    _write_addresses(rng, resp, fullwidth)
    _phones_and_comments(rng, resp)
    _submission_metadata(rng, resp, period)
    # the quality steps (module fraud) draw from their own stream: the draws above and
    # below are what they were before these steps existed
    quality = stream_rng(seed, fraud.QUALITY_STREAM, period_tag(period), district.seed)
    fraud.assign_surveyors(quality, resp, len(truth))
    fraud.dishonest_surveyor(quality, resp, q["items"], _window_start(period))
    fraud.personal_comments(quality, resp)
    submissions = _with_duplicates(rng, resp)
    target = fraud.forged_target(
        resp, households, visits, _estate_sizes(district, truth), q["items"]
    )
    names = district.register["estate_name"].to_numpy(dtype=object)
    submissions = fraud.forged_batch(
        quality,
        resp,
        submissions,
        households,
        visits,
        target,
        str(names[target.estate]) if target.estate >= 0 else "",
        _window_start(period),
    )
    position, total = _blank_rows(rng, resp, len(submissions.take))
    made = _Hidden(resp, submissions, households, visits, position) if hidden else None
    del households, visits
    export = _export_frame(_export_columns(q, resp, submissions), position, total, resp)
    return export, made


def _estate_sizes(district: DemoDistrict, truth: pd.DataFrame) -> pd.DataFrame:
    """Per truth row: the estate's ``threshold`` and ``households`` (its frame's size)."""
    sizes = district.frame.groupby("estate_id").size().reindex(truth["estate_id"]).fillna(0)
    return pd.DataFrame(
        {
            "threshold": truth["threshold"].to_numpy(dtype=float),
            "households": sizes.to_numpy(dtype=np.int64),
        }
    )


# --------------------------------------------------------------------------- the visits


@dataclass
class _Households:
    """The sample in a canonical order, so that the visits do not depend on how the
    caller sorted it."""

    table: pd.DataFrame
    """``estate_id, building, unit, room, role`` (text), ``order`` (number), ``household_id``."""
    perm: np.ndarray
    """The caller's row of each row of ``table``."""
    estate: np.ndarray
    """Each household's estate: its row in the truth table."""
    frame_row: np.ndarray
    """Each household's row in ``district.frame`` (-1: not in the frame)."""
    occupied: np.ndarray
    """Vacant households are never reached (households not in the frame count as occupied)."""


@dataclass
class _Visits:
    """What happened at each door of :class:`_Households` (same rows)."""

    main: np.ndarray
    """A household of the main sample (else a reserve)."""
    status: np.ndarray
    """``completed``/``refused``/``not_reached``/``unused`` (a reserve never contacted)."""
    replaced: np.ndarray
    """A main non-responder whose place a reserve took."""

    @property
    def completed(self) -> np.ndarray:
        return self.status == "completed"


def _check_sample(sample: pd.DataFrame) -> None:
    missing = [c for c in SAMPLE_COLUMNS if c not in sample.columns and c != "household_id"]
    if missing:
        raise WuyeError(
            Problem(f"样本缺少列：{'、'.join(missing)}", "传入 sampling 抽样结果的 sample 表")
        )


def _canonical_sample(
    sample: pd.DataFrame, district: DemoDistrict, truth: pd.DataFrame
) -> _Households:
    """The sample's households sorted canonically, with their estate and frame rows."""
    texts = {c: sample[c].astype(str).to_numpy() for c in ("estate_id", "building", "unit", "room")}
    role = sample["role"].astype(str).to_numpy()
    order = pd.to_numeric(sample["order"], errors="coerce").fillna(0).to_numpy()
    household_id = (
        sample["household_id"].astype(str).to_numpy()
        if "household_id" in sample.columns
        else texts["estate_id"]
        + "|"
        + texts["building"]
        + "|"
        + texts["unit"]
        + "|"
        + texts["room"]
    )
    perm = _canonical_order(texts["estate_id"], texts["building"], role, order, household_id)
    s = pd.DataFrame(
        {
            **{c: values[perm] for c, values in texts.items()},
            "role": role[perm],
            "order": order[perm],
            "household_id": household_id[perm],
        },
        copy=False,
    )
    e = pd.Index(truth["estate_id"]).get_indexer(s["estate_id"])
    if (e < 0).any():
        unknown = "、".join(pd.unique(s["estate_id"][e < 0])[:5])
        raise WuyeError(
            Problem(f"样本中有示例区没有的小区：{unknown}", "用同一个 build_district 结果抽样")
        )
    frame = district.frame
    at = pd.Index(frame["household_id"]).get_indexer(s["household_id"])
    occupied = np.where(at >= 0, frame["occupied"].to_numpy()[np.maximum(at, 0)], True)
    return _Households(table=s, perm=perm, estate=e, frame_row=at, occupied=occupied)


def _canonical_order(*keys: np.ndarray) -> np.ndarray:
    """The rows sorted by ``keys`` (most significant first; the last, household ids, only
    where the others tie: sorting millions of distinct texts is slow); texts compare as
    their codes in sorted order (not as Python objects: slow)."""

    def codes(key: np.ndarray) -> np.ndarray:
        return key if key.dtype.kind in "iuf" else pd.factorize(key, sort=True)[0]

    first = [codes(k) for k in keys[:-1]]
    perm = np.lexsort(first[::-1])
    tied = np.ones(max(len(perm) - 1, 0), dtype=bool)
    for key in first:
        ordered = key[perm]
        tied &= ordered[1:] == ordered[:-1]
    if tied.any():
        perm = np.lexsort([codes(keys[-1]), *first[::-1]])
    return perm


def _visit(rng: np.random.Generator, households: _Households, n_estates: int) -> _Visits:
    """Response, refusal, and substitutes taken in order within the building."""
    s = households.table
    rate = rng.uniform(*RESPONSE_RATE, n_estates)
    responds = households.occupied & (rng.random(len(s)) < rate[households.estate])
    refused = households.occupied & (rng.random(len(s)) < REFUSAL_SHARE)
    main = (s["role"] == "main").to_numpy()
    group = pair_codes(s["estate_id"], s["building"])
    n_groups = int(group.max()) + 1 if len(group) else 0
    by_order = np.lexsort((s["order"].to_numpy(), group))
    contacted = _reserves_contacted(group, n_groups, main, responds, by_order)
    outcome = np.where(responds, 0, np.where(refused, 1, 2))
    status = VISIT_STATUS[np.where(contacted, outcome, 3)]
    replaced = _replaced(group, n_groups, main, status == "completed", by_order)
    return _Visits(main=main, status=status, replaced=replaced)


def _reserves_contacted(
    group: np.ndarray, n_groups: int, main: np.ndarray, responds: np.ndarray, by_order: np.ndarray
) -> np.ndarray:
    """Every main household is contacted; a building's reserves in ``order`` until as
    many responded as the building's main households did not."""
    deficit = np.bincount(group[main & ~responds], minlength=n_groups)
    reserve_rows = by_order[~main[by_order]]
    got = responds[reserve_rows].astype(np.int64)
    before = pd.Series(got).groupby(group[reserve_rows]).cumsum().to_numpy() - got
    contacted = np.ones(len(main), dtype=bool)
    contacted[reserve_rows] = before < deficit[group[reserve_rows]]
    return contacted


def _replaced(
    group: np.ndarray, n_groups: int, main: np.ndarray, completed: np.ndarray, by_order: np.ndarray
) -> np.ndarray:
    """The main non-responders (lowest ``order`` first) whose place a completed reserve of
    their building took."""
    filled = np.bincount(group[completed & ~main], minlength=n_groups)
    main_rows = by_order[main[by_order]]
    missed = ~completed[main_rows]
    rank = pd.Series(missed.astype(np.int64)).groupby(group[main_rows]).cumsum().to_numpy()
    replaced = np.zeros(len(main), dtype=bool)
    replaced[main_rows] = missed & (rank <= filled[group[main_rows]])
    return replaced


def _dispositions(households: _Households, visits: _Visits) -> pd.DataFrame:
    """One row per sampled household, in the caller's row order."""
    s = households.table
    return pd.DataFrame(
        {
            "estate_id": s["estate_id"].to_numpy(),
            "household_id": s["household_id"].to_numpy(),
            "role": s["role"].to_numpy(),
            "order": s["order"].to_numpy(),
            "status": pd.array(visits.status, dtype="str"),
            "replaced": visits.replaced,
        },
        index=households.perm,
    ).sort_index()


# --------------------------------------------------------------------------- the responses


def _respondents(
    rng: np.random.Generator,
    district: DemoDistrict,
    truth: pd.DataFrame,
    households: _Households,
    visits: _Visits,
) -> Responses:
    """Who answers: completed visits, a few unsampled households, unknown estates."""
    completed, main = visits.completed, visits.main
    resp = households.table.loc[
        completed, ["estate_id", "building", "unit", "room", "household_id", "role"]
    ]
    rows = resp.assign(e=households.estate[completed]).reset_index(drop=True)
    n_resp = len(rows)
    extra = _unsampled(
        rng, district, truth, households, max(2, round(MESS_RATES["unsampled"] * n_resp))
    )
    names = district.register["estate_name"].to_numpy(dtype=object)
    candidates = [x for x in nm.UNKNOWN_ESTATES if x not in set(names)]
    unknown_names = candidates[: min(len(candidates), 1 if n_resp < 1000 else 2)]
    unknown = _unknown_estate_rows(rng, len(unknown_names))
    rows = pd.concat([rows, extra, unknown], ignore_index=True)
    mess: dict[str, int] = {
        "main_completed": int((completed & main).sum()),
        "reserve_completed": int((completed & ~main).sum()),
        "refused": int((visits.status == "refused").sum()),
        "not_reached": int((visits.status == "not_reached").sum()),
        "unsampled": len(extra),
        "unknown_estate": len(unknown_names),
    }
    kinds = full_of(len(rows), "")
    kinds[(rows["role"] == "unsampled").to_numpy()] = "unsampled"
    kinds[rows["e"].to_numpy(dtype=np.int64) < 0] = "unknown_estate"
    return Responses(rows=rows, sampled=n_resp, unknown_names=unknown_names, mess=mess, kinds=kinds)


def _unsampled(
    rng: np.random.Generator,
    district: DemoDistrict,
    truth: pd.DataFrame,
    households: _Households,
    k: int,
) -> pd.DataFrame:
    """Up to ``k`` occupied households of the sampled estates that are not in the sample
    (candidates: random frame rows)."""
    frame = district.frame
    at = households.frame_row
    sampled = np.zeros(len(frame), dtype=bool)
    sampled[at[at >= 0]] = True
    estates_in = np.zeros(len(truth), dtype=bool)
    estates_in[households.estate] = True
    frame_estate = np.repeat(np.arange(len(truth)), district.register["households"].to_numpy())
    pool = rng.permutation(len(frame))[: 50 * k]
    pool = pool[
        estates_in[frame_estate[pool]] & frame["occupied"].to_numpy()[pool] & ~sampled[pool]
    ]
    pick = np.sort(pool[:k])
    extra = frame.iloc[pick][["estate_id", "building", "unit", "room", "household_id"]]
    return extra.assign(
        unit=extra["unit"].astype(str),
        role="unsampled",
        e=pd.Index(truth["estate_id"]).get_indexer(extra["estate_id"]),
    )


def _unknown_estate_rows(rng: np.random.Generator, k: int) -> pd.DataFrame:
    """``k`` respondents living in an estate that is not in the register."""
    return pd.DataFrame(
        {
            "estate_id": pd.NA,
            "building": rng.integers(1, 15, k).astype(str),
            "unit": rng.integers(1, 3, k).astype(str),
            "room": (rng.integers(1, 19, k) * 100 + rng.integers(1, 3, k)).astype(str),
            "household_id": pd.NA,
            "role": "unknown",
            "e": -1,
        }
    )


# --------------------------------------------------------------------------- the answers


def _answer_from_truth(
    rng: np.random.Generator, resp: Responses, items: list[dict[str, Any]], truth: pd.DataFrame
) -> None:
    """Answers through a Gaussian copula (see :func:`simulate_visits`), with 不清楚 and
    skipped items.

    The respondent × item draws are made :data:`DRAW_ROWS` rows at a time (the same
    numbers as in one draw) and kept as option numbers, not as floats: a city's
    respondents × items would take gigabytes."""
    n, k = resp.n, len(items)
    factor = 0.6 * rng.standard_normal((n, 1))[:, 0]
    levels = np.column_stack([_true_levels(item, truth) for item in items])
    e_row, known = resp.estate, resp.known
    option = np.empty((n, k), dtype=np.int8)
    for lo in range(0, n, DRAW_ROWS):
        rows = slice(lo, min(n, lo + DRAW_ROWS))
        u = ndtr(factor[rows, None] + 0.8 * rng.standard_normal((rows.stop - lo, k)))
        p = np.where(known[rows, None], levels[np.maximum(e_row[rows], 0)], 0.7)
        for j, item in enumerate(items):
            option[rows, j] = _item_options(item, p[:, j], u[:, j])
    for lo in range(0, n, DRAW_ROWS):
        rows = slice(lo, min(n, lo + DRAW_ROWS))
        gaps = rng.random((rows.stop - lo, k))
        for j, item in enumerate(items):
            dont_know = 0.005 if item["overall"] else MESS_RATES["dont_know"]
            skipped = 0.0 if item["overall"] else MESS_RATES["skipped"]
            gap, chosen = gaps[:, j], option[rows, j]
            chosen[gap < dont_know] = _n_options(item)
            chosen[(gap >= dont_know) & (gap < dont_know + skipped)] = _n_options(item) + 1
    resp.options = [
        np.array([*item["satisfied"], *item["not_satisfied"], DONT_KNOW, SKIPPED], dtype=object)
        for item in items
    ]
    resp.answers = [option[:, j].copy() for j in range(k)]


def _true_levels(item: dict[str, Any], truth: pd.DataFrame) -> np.ndarray:
    """Per truth row: the estate's true satisfaction on the item's dimension."""
    col = item["dimension"] if item["dimension"] in truth.columns else OVERALL
    col = OVERALL if item["overall"] else col
    return truth[col].to_numpy(dtype=float)


def _n_options(item: dict[str, Any]) -> int:
    return len(item["satisfied"]) + len(item["not_satisfied"])


def _item_options(item: dict[str, Any], p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One item's answers as option numbers (satisfied options first): satisfied iff
    ``u < p`` (``p``: the respondent's true level, 0.7 for an estate not in the
    register); the satisfied and the other options split by cuts within each part."""
    n = len(p)
    sat, non = item["satisfied"], item["not_satisfied"]
    if len(sat) == 2:
        top = np.clip(0.35 + 0.5 * (p - 0.5), 0.15, 0.7)
        sat_cum = np.column_stack([top, np.ones(n)])
    else:
        sat_cum = np.tile(np.arange(1, len(sat) + 1) / len(sat), (n, 1))
    w = 0.5 ** np.arange(len(non))
    non_cum = np.cumsum(w / w.sum())
    cuts = np.column_stack([p[:, None] * sat_cum, p[:, None] + (1 - p)[:, None] * non_cum[None, :]])
    return np.minimum((u[:, None] > cuts[:, :-1]).sum(axis=1), len(sat) + len(non) - 1)


def _speeders(rng: np.random.Generator, resp: Responses, items: list[dict[str, Any]]) -> None:
    """Durations (log-normal, 62–1800 s); speeders answer in under 60 s, straight-lined."""
    n = resp.n
    duration = np.clip(np.round(rng.lognormal(np.log(240), 0.45, n)), 62, 1800).astype(np.int64)
    speeder = np.zeros(n, dtype=bool)
    speeder[rng.choice(n, round(MESS_RATES["speeders"] * n), replace=False)] = True
    duration[speeder] = rng.integers(12, 60, int(speeder.sum()))
    straight_labels = ("满意", "非常满意", "基本满意")
    straight = rng.integers(0, 3, int(speeder.sum()))
    for j in range(len(items)):
        code = np.array([resp.option(j, x) for x in straight_labels])[straight]
        ok = code >= 0  # the label is one of the item's options
        resp.answers[j][np.flatnonzero(speeder)[ok]] = code[ok]
    resp.duration, resp.speeder = duration, speeder
    resp.mark(speeder, "speeder", counted_as="speeders")


# --------------------------------------------------------------------------- identification


def _write_estate_names(rng: np.random.Generator, resp: Responses, names: np.ndarray) -> np.ndarray:
    """The estate name as respondents write it (the kinds ``name_*`` of
    :data:`MESS_RATES`); returns the rows written in full width."""
    known, e_row = resp.known, resp.estate
    estate_text = np.where(known, names[np.maximum(e_row, 0)], None).astype(object)
    estate_text[~known] = np.array(resp.unknown_names, dtype=object)
    variants = _name_variants(names, set(names))
    kind_names = [
        "name_fullwidth",
        "name_spaces",
        "name_suffix_dropped",
        "name_typo",
        "name_xiaoqu",
    ]
    rates = [MESS_RATES[k] for k in kind_names]
    pick_kind = _choose(rng, (*rates, 1 - sum(rates)), resp.n)
    pick_kind[~known] = len(kind_names)
    for k, kind in enumerate(kind_names):
        hit = pick_kind == k
        estate_text[hit] = variants[kind][e_row[hit]]
        resp.mark(hit, kind)
    resp.texts["estate"] = estate_text
    return pick_kind == 0


def _write_addresses(rng: np.random.Generator, resp: Responses, fullwidth: np.ndarray) -> None:
    """Building and room as respondents write them (:data:`BUILDING_FORMATS`,
    :data:`ROOM_FORMATS`), in full width where the estate name is."""
    n = resp.n
    suffixes = np.array(["栋", "", "号楼"], dtype=object)
    b_fmt = _choose(rng, BUILDING_FORMATS, n)
    building = pd.factorize(resp.rows["building"].to_numpy(dtype=object))
    building_text = _distinct_texts(
        building[0] * 3 + b_fmt, lambda k: building[1][k // 3] + suffixes[k % 3]
    )
    r_fmt = _choose(rng, ROOM_FORMATS, n)
    room_text = _room_texts(resp.rows, r_fmt)
    fw = np.flatnonzero(fullwidth)
    building_text[fw] = _distinct_texts(building_text[fw], _to_fullwidth)
    room_text[fw] = _distinct_texts(room_text[fw], _to_fullwidth)
    resp.texts["building"], resp.texts["room"] = building_text, room_text
    resp.mess["building_plain"] = int((b_fmt == 1).sum())
    resp.mess["building_haolou"] = int((b_fmt == 2).sum())
    resp.mess["room_without_unit"] = int((r_fmt == 2).sum())


def _room_texts(rows: pd.DataFrame, r_fmt: np.ndarray) -> np.ndarray:
    """The room as written in format ``r_fmt`` of :data:`ROOM_FORMATS` (each distinct
    text made once)."""
    unit = pd.factorize(rows["unit"].to_numpy(dtype=object))
    room = pd.factorize(rows["room"].to_numpy(dtype=object))
    k_room = max(len(room[1]), 1)
    key = (unit[0].astype(np.int64) * k_room + room[0]) * 3 + r_fmt

    def texts(k: np.ndarray) -> np.ndarray:
        fmt, pair = k % 3, k // 3
        u, r = unit[1][pair // k_room].astype(object), room[1][pair % k_room].astype(object)
        return np.where(fmt == 2, r, u + np.where(fmt == 0, "-", "单元").astype(object) + r)

    return _distinct_texts(key, texts)


def _to_fullwidth(texts: np.ndarray) -> np.ndarray:
    return np.array([x.translate(FULLWIDTH) for x in texts], dtype=object)


def _phones_and_comments(rng: np.random.Generator, resp: Responses) -> None:
    """The optional phone and comment questions; one comment looks like a formula."""
    n = resp.n
    phone = full_of(n, EMPTY)
    given = rng.random(n) < MESS_RATES["phone_given"]
    digits = pd.Series(rng.integers(0, 10**9, int(given.sum()))).astype(str).str.zfill(9)
    phone[given] = np.array(["13", "15", "18"], dtype=object)[
        rng.integers(0, 3, len(digits))
    ] + digits.to_numpy(dtype=object)
    comment = full_of(n, EMPTY)
    said = rng.random(n) < MESS_RATES["comment_given"]
    comment[said] = np.array(nm.COMMENTS, dtype=object)[
        rng.integers(0, len(nm.COMMENTS), int(said.sum()))
    ]
    formula_row = int(rng.integers(0, n))
    comment[formula_row] = nm.FORMULA_COMMENT
    resp.texts["phone"], resp.texts["comment"] = phone, comment
    resp.mess["phones_given"] = int(given.sum())
    resp.mess["comments_given"] = int((comment != EMPTY).sum())
    resp.mark(np.arange(n) == formula_row, "formula_comment")


# --------------------------------------------------------------------------- the export


def _submission_metadata(rng: np.random.Generator, resp: Responses, period: str) -> None:
    """Time (20 days from :func:`_window_start`, 8:00–21:00), source and IP address."""
    n = resp.n
    start = _window_start(period)
    resp.times = (
        start
        + rng.integers(0, 20, n).astype("timedelta64[D]")
        + rng.integers(8 * 3600, 21 * 3600, n).astype("timedelta64[s]")
    )
    source = _choose(rng, tuple(x[2] for x in SOURCES), n)
    ip_kind = _choose(rng, tuple(x[2] for x in IP_PREFIXES), n)
    octets = rng.integers(1, 255, (n, 2))
    numbers = np.array([str(k) for k in range(256)], dtype=object)
    prefixes = np.array([x[0] for x in IP_PREFIXES], dtype=object)
    places = np.array([x[1] for x in IP_PREFIXES], dtype=object)

    def texts(k: np.ndarray) -> np.ndarray:
        kind = k >> 16
        a, b = numbers[(k >> 8) & 255], numbers[k & 255]
        return prefixes[kind] + "." + a + "." + b + "(" + places[kind] + ")"

    ip = _distinct_texts((ip_kind << 16) | (octets[:, 0] << 8) | octets[:, 1], texts)
    resp.metadata = {
        "来源": np.array([x[0] for x in SOURCES], dtype=object)[source],
        "来源详情": np.array([x[1] for x in SOURCES], dtype=object)[source],
        "来自IP": ip,
    }


def _with_duplicates(rng: np.random.Generator, resp: Responses) -> Submissions:
    """Every response once, and some households again, 2–30 minutes later; time order."""
    n, known = resp.n, resp.known
    k_dup = round(MESS_RATES["duplicates"] * resp.sampled)
    dup = np.sort(rng.choice(np.flatnonzero(known), min(k_dup, int(known.sum())), replace=False))
    take = np.concatenate([np.arange(n), dup])
    times = np.concatenate(
        [resp.times, resp.times[dup] + rng.integers(120, 1800, len(dup)).astype("timedelta64[s]")]
    )
    again = np.clip(np.round(rng.lognormal(np.log(240), 0.45, len(dup))), 62, 1800)
    again = np.where(resp.speeder[dup], rng.integers(12, 60, len(dup)), again).astype(np.int64)
    duration = np.concatenate([resp.duration, again])
    kinds = np.concatenate([resp.kinds, resp.kinds[dup] + ",duplicate"])
    resp.mess["duplicates"] = len(dup)
    order = np.argsort(times, kind="stable")
    return Submissions(
        take=take[order], times=times[order], duration=duration[order], kinds=kinds[order]
    )


def _export_columns(
    q: dict[str, Any], resp: Responses, subs: Submissions
) -> Iterator[tuple[str, np.ndarray]]:
    """The export's columns, one value per submission: :data:`META_COLUMNS`, then the
    questions in question order; made one at a time, each taking its values out of
    ``resp`` (its answers, metadata and texts but the surveyor's, which the key reads),
    so that a city's export is not held twice."""
    take = subs.take
    yield "序号", np.arange(1, len(take) + 1)
    yield "提交答卷时间", _format_times(subs.times)
    yield "所用时间", numbers_text(subs.duration, "秒")
    for name in list(resp.metadata):
        yield name, resp.metadata.pop(name)[take]
    ident, free = q["identification"], q["free_text"]
    by_number: dict[int, tuple[str, np.ndarray, np.ndarray | None]] = {}
    for key in ("estate", "building", "room", "phone", "surveyor"):
        if key in ident:
            values = resp.texts[key] if key == "surveyor" else resp.texts.pop(key)
            by_number[ident[key]["number"]] = (ident[key]["text"], values, None)
    for j, item in enumerate(q["items"]):  # option numbers, labelled column by column
        by_number[item["number"]] = (item["text"], resp.answers[j], resp.options[j])
    resp.answers = []
    if "comment" in free:
        comment = resp.texts.pop("comment")
        by_number[free["comment"]["number"]] = (free["comment"]["text"], comment, None)
    for number in sorted(by_number):
        text, values, labels = by_number.pop(number)
        column = values[take] if labels is None else labels[values[take]]
        del values
        yield f"{number}、{text}", column


def _spread(values: np.ndarray, position: np.ndarray, total: int, fill: Any = None) -> np.ndarray:
    """``values`` at ``position`` of ``total`` rows, ``fill`` elsewhere."""
    full = full_of(total, fill)
    full[position] = values
    return full


def _blank_rows(rng: np.random.Generator, resp: Responses, m: int) -> tuple[np.ndarray, int]:
    """Fully blank rows somewhere in the sheet: the row of each of the ``m`` submissions
    and the sheet's number of rows."""
    k_blank = max(1, round(MESS_RATES["blank_rows"] * m))
    at = np.sort(rng.choice(m + 1, k_blank, replace=True))
    position = np.arange(m) + np.searchsorted(at, np.arange(m), side="right")
    resp.mess["blank_rows"] = k_blank
    return position, m + k_blank


def _export_frame(
    columns: Iterable[tuple[str, np.ndarray]], position: np.ndarray, total: int, resp: Responses
) -> pd.DataFrame:
    """The export: ``columns`` (one value per submission) at ``position`` of ``total`` rows,
    blank elsewhere; text columns of ``str`` dtype, ``序号`` ``Int64``."""
    data: dict[str, Any] = {}
    for name, values in columns:
        full = _spread(values, position, total)
        data[name] = (
            pd.array(full, dtype="Int64") if name == "序号" else pd.Series(full, dtype="str")
        )
        del values, full  # one column's copies at a time
    export = pd.DataFrame(data, copy=False)
    del data
    resp.mess["rows"] = total
    resp.mess["responses"] = len(position)
    export.attrs["mess"] = dict(resp.mess)
    return export


@dataclass
class _Hidden:
    """What the key and the dispositions of :func:`simulate_visits` are made of."""

    resp: Responses
    subs: Submissions
    households: _Households
    visits: _Visits
    position: np.ndarray
    """Each submission's row in the export."""


def _key(export: pd.DataFrame, hidden: _Hidden) -> pd.DataFrame:
    """The hidden key (see :class:`Fieldwork`): one row per export row."""
    resp, subs, position, total = hidden.resp, hidden.subs, hidden.position, len(export)
    blank = np.ones(total, dtype=bool)
    blank[position] = False
    key = pd.DataFrame({"row": np.arange(total), "序号": export["序号"]})
    for name in ("household_id", "estate_id", "role"):
        values = resp.rows[name].to_numpy(dtype=object)[subs.take]
        key[name] = pd.Series(_spread(values, position, total), dtype="str")
    if "surveyor" in resp.texts:
        values = resp.texts["surveyor"][subs.take]
        key["surveyor"] = pd.Series(_spread(values, position, total), dtype="str")
    key.loc[blank, "role"] = "blank"
    key["mess"] = pd.Series(
        _spread([k.strip(",") for k in subs.kinds], position, total, "blank"), dtype="str"
    )
    return key


def numbers_text(values: np.ndarray, suffix: str = "") -> np.ndarray:
    """Non-negative integers as text (followed by ``suffix``) through a lookup table
    (vectorised ``str``; equal values share one string object)."""
    values = np.asarray(values, dtype=np.int64)
    table = np.array([f"{k}{suffix}" for k in range(int(values.max(initial=0)) + 1)], dtype=object)
    return table[values]


def _distinct_texts(keys: np.ndarray, texts: Any) -> np.ndarray:
    """``texts(unique keys)`` spread back over ``keys``: each distinct text made once and
    shared by the rows that have it (a city's export holds millions of rows but far fewer
    distinct times, addresses or IP addresses; one string object per row would cost
    gigabytes)."""
    codes, uniques = pd.factorize(keys, use_na_sentinel=False)
    return np.asarray(texts(np.asarray(uniques)), dtype=object)[codes]
