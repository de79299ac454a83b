"""Simulated fieldwork on the demo district: visits to a drawn sample with non-response and
substitutes, answers drawn from the hidden truth, and a 问卷星 按选项文本 export with
real-world mess (see :data:`MESS_RATES`).

* :func:`simulate_fieldwork` — the export and the hidden key a test can check ingest against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

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
from wuye_common.errors import Problem, WuyeError

RESPONSE_RATE = (0.65, 0.85)
"""Per-estate response probability of a contacted occupied household (uniform range)."""
REFUSAL_SHARE = 0.4
"""Share of occupied non-responders who refuse (the rest are not reached)."""

MESS_RATES: dict[str, float] = {
    "name_fullwidth": 0.02,      # ASCII letters/digits (and building, room) in full width
    "name_spaces": 0.03,         # stray spaces around and inside the estate name
    "name_suffix_dropped": 0.02,  # "葛店花园" → "葛店"
    "name_typo": 0.015,          # one character replaced by a similar one
    "name_xiaoqu": 0.03,         # "小区" appended
    "duplicates": 0.02,          # same household submits twice, 2–30 minutes apart
    "speeders": 0.03,            # 所用时间 < 60 s, straight-lined answers
    "blank_rows": 0.005,         # fully blank rows (at least one)
    "unsampled": 0.01,           # respondents not in the sample (at least two)
    "unknown_estate": 0.001,     # estate name not in the register (one or two)
    "dont_know": 0.02,           # 不清楚 on an ordinary item (0.5% on the overall item)
    "skipped": 0.01,             # (跳过) on an ordinary item (never on the overall item)
    "phone_given": 0.35,         # the optional phone question answered
    "comment_given": 0.30,       # a free-text comment given
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
IP_PREFIXES = (("58.19", "湖北-鄂州", 0.75), ("27.17", "湖北-武汉", 0.15),
               ("117.136", "湖北-黄石", 0.10))
META_COLUMNS = ("序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP")
FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})

SAMPLE_COLUMNS = ("estate_id", "building", "unit", "room", "household_id", "role", "order")

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
            swapped = name[:k] + nm.TYPOS.get(name[k], name[k]) + name[k + 1:]
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
        "name_xiaoqu": np.array([x + "小区" if not x.endswith("小区") else spaces(x)
                                 for x in names], dtype=object),
    }


def _choose(rng: np.random.Generator, options: dict[str, float] | tuple, n: int) -> np.ndarray:
    """Index of one of ``options`` (weights as values) per row."""
    weights = np.array(list(options.values()) if isinstance(options, dict) else options, float)
    return np.minimum(np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n),
                                      side="right"), len(weights) - 1)


def _window_start(period: str) -> np.datetime64:
    """First day of the fieldwork window: June/December for half-years, the quarter's last
    month for quarters."""
    year, kind, part = period_parts(period)
    month = (6 if part == 1 else 12) if kind == "H" else 3 * part
    return np.datetime64(f"{year:04d}-{month:02d}-01T00:00:00", "s")


def _format_times(times: np.ndarray) -> np.ndarray:
    """``2025/6/12 14:03:27`` as 问卷星 writes it, via lookup tables (vectorised)."""
    idx = pd.DatetimeIndex(times)
    numbers = np.array([str(k) for k in range(10000)], dtype=object)
    two = np.array([f"{k:02d}" for k in range(60)], dtype=object)
    return (numbers[idx.year] + "/" + numbers[idx.month] + "/" + numbers[idx.day] + " "
            + two[idx.hour] + ":" + two[idx.minute] + ":" + two[idx.second])


def simulate_fieldwork(district: DemoDistrict, sample: pd.DataFrame, *, period: str, seed: int,
                       questionnaire_path: str | Path = "default") -> pd.DataFrame:
    """The 问卷星 按选项文本 export of the visits to ``sample`` in ``period``.

    Columns: :data:`META_COLUMNS`, then ``N、<text>`` for the identification questions,
    every item and the phone and comment questions, in question order. The mess
    counts (see :data:`MESS_RATES`) are in ``export.attrs["mess"]``; use
    :func:`simulate_visits` for the hidden key and dispositions as well.
    """
    return simulate_visits(district, sample, period=period, seed=seed,
                           questionnaire_path=questionnaire_path).export


def simulate_visits(district: DemoDistrict, sample: pd.DataFrame, *, period: str, seed: int,
                    questionnaire_path: str | Path = "default") -> Fieldwork:
    """Simulate the fieldwork of one round (see :class:`Fieldwork`).

    Visits: an occupied household answers with its estate's response probability
    (:data:`RESPONSE_RATE`), vacant ones are never reached; within each building, reserves
    are visited in ``order`` until every main non-responder is replaced or the reserves run
    out. Answers follow an ordinal latent-variable model: a Gaussian copula (respondent
    factor, loading 0.6) gives each respondent × item a uniform ``u``; the answer is
    satisfied iff ``u`` < the estate's true level for the item's dimension, so the expected
    share satisfied is exactly the truth (:func:`truth_for`); satisfied answers split into
    非常满意/满意 and the rest into 基本满意/不满意/非常不满意 (weights 4:2:1).
    """
    missing = [c for c in SAMPLE_COLUMNS if c not in sample.columns and c != "household_id"]
    if missing:
        raise WuyeError(Problem(f"样本缺少列：{'、'.join(missing)}",
                                "传入 sampling 抽样结果的 sample 表"))
    q = questionnaire_spec(questionnaire_path)
    truth = truth_for(district, period)
    rng = stream_rng(seed, FIELD_STREAM, period_tag(period), district.seed)
    s = pd.DataFrame({c: sample[c].astype(str).to_numpy()
                      for c in ("estate_id", "building", "unit", "room", "role")})
    s["order"] = pd.to_numeric(sample["order"], errors="coerce").fillna(0).to_numpy()
    s["household_id"] = (sample["household_id"].astype(str).to_numpy()
                         if "household_id" in sample.columns else
                         s["estate_id"] + "|" + s["building"] + "|" + s["unit"] + "|" + s["room"])
    # a canonical order, so that the visits do not depend on how the sample is sorted
    perm = np.lexsort([s[c].to_numpy() for c in ("household_id", "order", "role", "building",
                                                  "estate_id")])
    s = s.iloc[perm].reset_index(drop=True)
    estate_index = pd.Index(truth["estate_id"])
    e = estate_index.get_indexer(s["estate_id"])
    if (e < 0).any():
        unknown = "、".join(pd.unique(s["estate_id"][e < 0])[:5])
        raise WuyeError(Problem(f"样本中有示例区没有的小区：{unknown}",
                                "用同一个 build_district 结果抽样"))
    frame = district.frame
    at = pd.Index(frame["household_id"]).get_indexer(s["household_id"])
    occ = np.where(at >= 0, frame["occupied"].to_numpy()[np.maximum(at, 0)], True)

    # --- visits: response, refusal, substitutes in order within the building
    rate = rng.uniform(*RESPONSE_RATE, len(truth))
    responds = occ & (rng.random(len(s)) < rate[e])
    refused = occ & (rng.random(len(s)) < REFUSAL_SHARE)
    main = (s["role"] == "main").to_numpy()
    group = pd.factorize(s["estate_id"] + "|" + s["building"])[0]
    n_groups = int(group.max()) + 1 if len(group) else 0
    deficit = np.bincount(group[main & ~responds], minlength=n_groups)
    by_order = np.lexsort((s["order"].to_numpy(), group))
    reserve_rows = by_order[~main[by_order]]
    got = responds[reserve_rows].astype(np.int64)
    before = pd.Series(got).groupby(group[reserve_rows]).cumsum().to_numpy() - got
    contacted = np.ones(len(s), dtype=bool)
    contacted[reserve_rows] = before < deficit[group[reserve_rows]]
    status = np.where(responds, "completed", np.where(refused, "refused", "not_reached"))
    status = np.where(contacted, status, "unused").astype(object)
    completed = status == "completed"
    filled = np.bincount(group[completed & ~main], minlength=n_groups)
    main_rows = by_order[main[by_order]]
    missed = ~completed[main_rows]
    rank = pd.Series(missed.astype(np.int64)).groupby(group[main_rows]).cumsum().to_numpy()
    replaced = np.zeros(len(s), dtype=bool)
    replaced[main_rows] = missed & (rank <= filled[group[main_rows]])
    dispositions = pd.DataFrame({
        "estate_id": s["estate_id"].to_numpy(), "household_id": s["household_id"].to_numpy(),
        "role": s["role"].to_numpy(), "order": s["order"].to_numpy(),
        "status": pd.array(status, dtype="str"), "replaced": replaced},
        index=perm).sort_index()  # back in the caller's row order

    # --- who answers: completed visits, a few unsampled households, unknown estates
    resp = s.loc[completed, ["estate_id", "building", "unit", "room", "household_id", "role"]]
    rows = resp.assign(e=e[completed]).reset_index(drop=True)
    n_resp = len(rows)
    k_un = max(2, round(MESS_RATES["unsampled"] * n_resp))
    # candidates: random frame rows of sampled estates, occupied, not in the sample
    sampled = np.zeros(len(frame), dtype=bool)
    sampled[at[at >= 0]] = True
    estates_in = np.zeros(len(truth), dtype=bool)
    estates_in[e] = True
    frame_estate = np.repeat(np.arange(len(truth)), district.register["households"].to_numpy())
    pool = rng.permutation(len(frame))[: 50 * k_un]
    pool = pool[estates_in[frame_estate[pool]] & frame["occupied"].to_numpy()[pool]
                & ~sampled[pool]]
    pick = np.sort(pool[:k_un])
    extra = frame.iloc[pick][["estate_id", "building", "unit", "room", "household_id"]]
    extra = extra.assign(unit=extra["unit"].astype(str), role="unsampled",
                         e=estate_index.get_indexer(extra["estate_id"]))
    names = district.register["estate_name"].to_numpy(dtype=object)
    candidates = [x for x in nm.UNKNOWN_ESTATES if x not in set(names)]
    k_unknown = min(len(candidates), 1 if n_resp < 1000 else 2)
    unknown = pd.DataFrame({
        "estate_id": pd.NA, "building": rng.integers(1, 15, k_unknown).astype(str),
        "unit": rng.integers(1, 3, k_unknown).astype(str),
        "room": (rng.integers(1, 19, k_unknown) * 100 + rng.integers(1, 3, k_unknown)
                 ).astype(str), "household_id": pd.NA, "role": "unknown", "e": -1})
    rows = pd.concat([rows, extra, unknown], ignore_index=True)
    n = len(rows)
    e_row = rows["e"].to_numpy(dtype=np.int64)
    known = e_row >= 0
    mess: dict[str, int] = {"main_completed": int((completed & main).sum()),
                            "reserve_completed": int((completed & ~main).sum()),
                            "refused": int((status == "refused").sum()),
                            "not_reached": int((status == "not_reached").sum()),
                            "unsampled": len(extra), "unknown_estate": k_unknown}
    kinds = np.full(n, "", dtype=object)
    kinds[(rows["role"] == "unsampled").to_numpy()] = "unsampled"
    kinds[~known] = "unknown_estate"

    # --- answers: ordinal latent-variable model through a Gaussian copula
    items = q["items"]
    levels = np.full((n, len(items)), 0.7)
    for j, item in enumerate(items):  # a dozen items, not respondents
        col = item["dimension"] if item["dimension"] in truth.columns else OVERALL
        col = OVERALL if item["overall"] else col
        levels[known, j] = truth[col].to_numpy()[e_row[known]]
    u = ndtr(0.6 * rng.standard_normal((n, 1)) + 0.8 * rng.standard_normal((n, len(items))))
    gaps = rng.random((n, len(items)))
    answers = np.empty((n, len(items)), dtype=object)
    for j, item in enumerate(items):
        p = levels[:, j]
        sat, non = item["satisfied"], item["not_satisfied"]
        if len(sat) == 2:
            top = np.clip(0.35 + 0.5 * (p - 0.5), 0.15, 0.7)
            sat_cum = np.column_stack([top, np.ones(n)])
        else:
            sat_cum = np.tile(np.arange(1, len(sat) + 1) / len(sat), (n, 1))
        w = 0.5 ** np.arange(len(non))
        non_cum = np.cumsum(w / w.sum())
        cuts = np.column_stack([p[:, None] * sat_cum,
                                p[:, None] + (1 - p)[:, None] * non_cum[None, :]])
        idx = np.minimum((u[:, j, None] > cuts[:, :-1]).sum(axis=1), len(sat) + len(non) - 1)
        label = np.array(sat + non, dtype=object)[idx]
        dont_know = 0.005 if item["overall"] else MESS_RATES["dont_know"]
        skipped = 0.0 if item["overall"] else MESS_RATES["skipped"]
        label[gaps[:, j] < dont_know] = DONT_KNOW
        label[(gaps[:, j] >= dont_know) & (gaps[:, j] < dont_know + skipped)] = SKIPPED
        answers[:, j] = label
    duration = np.clip(np.round(rng.lognormal(np.log(240), 0.45, n)), 62, 1800).astype(np.int64)
    speeder = np.zeros(n, dtype=bool)
    speeder[rng.choice(n, round(MESS_RATES["speeders"] * n), replace=False)] = True
    duration[speeder] = rng.integers(12, 60, int(speeder.sum()))
    straight = np.array(["满意", "非常满意", "基本满意"], dtype=object)[
        rng.integers(0, 3, int(speeder.sum()))]
    for j, item in enumerate(items):
        ok = np.isin(straight, item["satisfied"] + item["not_satisfied"])
        answers[np.flatnonzero(speeder)[ok], j] = straight[ok]
    kinds[speeder] = kinds[speeder] + ",speeder"
    mess["speeders"] = int(speeder.sum())

    # --- identification answers, written the way respondents write them
    estate_text = np.where(known, names[np.maximum(e_row, 0)], None).astype(object)
    estate_text[~known] = np.array(candidates[:k_unknown], dtype=object)
    variants = _name_variants(names, set(names))
    kind_names = ["name_fullwidth", "name_spaces", "name_suffix_dropped", "name_typo",
                  "name_xiaoqu"]
    rates = [MESS_RATES[k] for k in kind_names]
    pick_kind = _choose(rng, (*rates, 1 - sum(rates)), n)
    pick_kind[~known] = len(kind_names)
    for k, kind in enumerate(kind_names):
        hit = pick_kind == k
        estate_text[hit] = variants[kind][e_row[hit]]
        kinds[hit] = kinds[hit] + "," + kind
        mess[kind] = int(hit.sum())
    fullwidth = pick_kind == 0
    building = rows["building"].to_numpy(dtype=object)
    b_suffix = np.array(["栋", "", "号楼"], dtype=object)[_choose(rng, BUILDING_FORMATS, n)]
    building_text = building + b_suffix
    unit = rows["unit"].to_numpy(dtype=object)
    room = rows["room"].to_numpy(dtype=object)
    r_fmt = _choose(rng, ROOM_FORMATS, n)
    room_text = np.where(r_fmt == 2, room,
                         unit + np.where(r_fmt == 0, "-", "单元").astype(object) + room)
    building_text[fullwidth] = [x.translate(FULLWIDTH) for x in building_text[fullwidth]]
    room_text[fullwidth] = [x.translate(FULLWIDTH) for x in room_text[fullwidth]]
    mess["building_plain"] = int((b_suffix == "").sum())
    mess["building_haolou"] = int((b_suffix == "号楼").sum())
    mess["room_without_unit"] = int((r_fmt == 2).sum())

    phone = np.full(n, EMPTY, dtype=object)
    given = rng.random(n) < MESS_RATES["phone_given"]
    digits = pd.Series(rng.integers(0, 10**9, int(given.sum()))).astype(str).str.zfill(9)
    phone[given] = (np.array(["13", "15", "18"], dtype=object)[rng.integers(0, 3, len(digits))]
                    + digits.to_numpy(dtype=object))
    comment = np.full(n, EMPTY, dtype=object)
    said = rng.random(n) < MESS_RATES["comment_given"]
    comment[said] = np.array(nm.COMMENTS, dtype=object)[rng.integers(0, len(nm.COMMENTS),
                                                                     int(said.sum()))]
    formula_row = int(rng.integers(0, n))
    comment[formula_row] = nm.FORMULA_COMMENT
    kinds[formula_row] = kinds[formula_row] + ",formula_comment"
    mess["phones_given"] = int(given.sum())
    mess["comments_given"] = int((comment != EMPTY).sum())
    mess["formula_comment"] = 1

    # --- submission metadata
    start = _window_start(period)
    times = (start + rng.integers(0, 20, n).astype("timedelta64[D]")
             + rng.integers(8 * 3600, 21 * 3600, n).astype("timedelta64[s]"))
    source = _choose(rng, tuple(x[2] for x in SOURCES), n)
    ip_kind = _choose(rng, tuple(x[2] for x in IP_PREFIXES), n)
    octets = rng.integers(1, 255, (n, 2))
    numbers = np.array([str(k) for k in range(256)], dtype=object)
    ip = (np.array([x[0] for x in IP_PREFIXES], dtype=object)[ip_kind] + "." + numbers[octets[:, 0]]
          + "." + numbers[octets[:, 1]] + "("
          + np.array([x[1] for x in IP_PREFIXES], dtype=object)[ip_kind] + ")")

    # --- duplicate submissions: the same household again, 2–30 minutes later
    k_dup = round(MESS_RATES["duplicates"] * n_resp)
    dup = np.sort(rng.choice(np.flatnonzero(known), min(k_dup, int(known.sum())), replace=False))
    take = np.concatenate([np.arange(n), dup])
    times = np.concatenate([times, times[dup] + rng.integers(120, 1800, len(dup)).astype(
        "timedelta64[s]")])
    again = np.clip(np.round(rng.lognormal(np.log(240), 0.45, len(dup))), 62, 1800)
    again = np.where(speeder[dup], rng.integers(12, 60, len(dup)), again).astype(np.int64)
    duration = np.concatenate([duration, again])
    kinds = np.concatenate([kinds, kinds[dup] + ",duplicate"])
    mess["duplicates"] = len(dup)
    order = np.argsort(times, kind="stable")
    take, times, duration, kinds = take[order], times[order], duration[order], kinds[order]
    m = len(take)

    columns: dict[str, np.ndarray] = {
        "序号": np.arange(1, m + 1),
        "提交答卷时间": _format_times(times),
        "所用时间": numbers_text(duration) + "秒",
        "来源": np.array([x[0] for x in SOURCES], dtype=object)[source[take]],
        "来源详情": np.array([x[1] for x in SOURCES], dtype=object)[source[take]],
        "来自IP": ip[take],
    }
    ident, free = q["identification"], q["free_text"]
    by_number: dict[int, tuple[str, np.ndarray]] = {}
    for key, values in (("estate", estate_text), ("building", building_text),
                        ("room", room_text), ("phone", phone)):
        if key in ident:
            by_number[ident[key]["number"]] = (ident[key]["text"], values[take])
    for j, item in enumerate(items):
        by_number[item["number"]] = (item["text"], answers[take, j])
    if "comment" in free:
        by_number[free["comment"]["number"]] = (free["comment"]["text"], comment[take])
    for number in sorted(by_number):
        text, values = by_number[number]
        columns[f"{number}、{text}"] = values

    # --- fully blank rows somewhere in the sheet
    k_blank = max(1, round(MESS_RATES["blank_rows"] * m))
    at = np.sort(rng.choice(m + 1, k_blank, replace=True))
    position = np.arange(m) + np.searchsorted(at, np.arange(m), side="right")
    total = m + k_blank
    blank = np.ones(total, dtype=bool)
    blank[position] = False
    mess["blank_rows"] = k_blank
    data: dict[str, Any] = {}
    for name, values in columns.items():
        full = np.full(total, None, dtype=object)
        full[position] = values
        data[name] = (pd.array(full, dtype="Int64") if name == "序号"
                      else pd.Series(full, dtype="str"))
    export = pd.DataFrame(data)
    key_cols = {"household_id": rows["household_id"].to_numpy(dtype=object),
                "estate_id": rows["estate_id"].to_numpy(dtype=object),
                "role": rows["role"].to_numpy(dtype=object)}
    key = pd.DataFrame({"row": np.arange(total), "序号": export["序号"]})
    for name, values in key_cols.items():
        full = np.full(total, None, dtype=object)
        full[position] = values[take]
        key[name] = pd.Series(full, dtype="str")
    key.loc[blank, "role"] = "blank"
    full = np.full(total, "blank", dtype=object)
    full[position] = [k.strip(",") for k in kinds]
    key["mess"] = pd.Series(full, dtype="str")
    mess["rows"] = total
    mess["responses"] = m
    export.attrs["mess"] = dict(mess)
    return Fieldwork(export=export, key=key, dispositions=dispositions, mess=mess)


def numbers_text(values: np.ndarray) -> np.ndarray:
    """Non-negative integers as text through a lookup table (vectorised ``str``)."""
    values = np.asarray(values, dtype=np.int64)
    table = np.array([str(k) for k in range(int(values.max(initial=0)) + 1)], dtype=object)
    return table[values]
