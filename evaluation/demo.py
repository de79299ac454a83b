"""The embedded demo district (葛店经开区) and simulated fieldwork, deterministic from a seed.

Everything is drawn from :class:`numpy.random.Generator` streams seeded with
:class:`numpy.random.SeedSequence` ``[seed, stream, ...]`` — no global RNG — so the same seed
gives the same tables on any machine. Generation is vectorised (2,000 estates × ~800
households take seconds).

* :func:`build_district` — 台账 (register), household frame and the hidden truth.
* :func:`truth_for` / :func:`period_shift` — the truth of a given period (rounds differ).
* :func:`simulate_fieldwork` — a 问卷星 按选项文本 export of the visits to a drawn sample,
  with non-response, substitutes and real-world mess (see :data:`MESS_RATES`).
* :func:`write_demo_round` / :func:`write_fieldwork` — a complete round folder on disk.

Conventions: the frame has one row per dwelling unit (``households`` in the 台账 counts all
units, occupied or not; ``occupied`` marks the ~5% vacant ones). Buildings are plain labels
``"1"``..``"N"``; ``unit`` 1–4; ``room`` is ``floor × 100 + position`` as text (``"302"``);
``household_id = "{estate_id}|{building}|{unit}|{room}"``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
import xlsxwriter
from scipy.special import expit, logit, ndtr

from evaluation import demo_names as nm
from evaluation.round import DEFAULT_THRESHOLDS, PERIOD_PATTERN, RESETTLEMENT_TIER, TIERS
from sampling.errors import Problem, WuyeError

BASE_PERIOD = "2025H2"
"""The period whose truth is the designed one (:func:`period_shift` is zero there)."""

TIER_SHARES: dict[str, float] = {"一级": 0.12, "二级": 0.22, "三级": 0.26, "四级": 0.20,
                                 "还建社区": 0.20}
BAND_SHARES: dict[str, float] = {"pass": 0.5, "near": 0.3, "fail": 0.2}
# Logit offsets of the overall satisfaction level from the tier threshold, per band.
BAND_OFFSETS: dict[str, tuple[float, float]] = {
    "pass": (1.0, 2.0), "near": (-0.2, 0.2), "fail": (-2.0, -1.0),
    "excellent": (1.5, 2.3), "poor": (-2.3, -1.5),
}
# Systematic differences between dimensions (logit), e.g. parking is the usual sore point.
DIMENSION_BIAS: dict[str, float] = {
    "综合服务": 0.2, "秩序维护/安全": 0.0, "环境卫生": 0.15, "绿化养护": 0.1,
    "设施设备维修/电梯": -0.2, "停车管理": -0.5, "收费与公开": -0.35, "投诉处理": -0.15,
}
OVERALL = "总体评价"

RESPONSE_RATE = (0.65, 0.85)
"""Per-estate response probability of a contacted occupied household (uniform range)."""
REFUSAL_SHARE = 0.4
"""Share of occupied non-responders who refuse (the rest are not reached)."""
VACANT_RATE = 0.05

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

REGISTER_HEADERS: dict[str, str] = {
    "estate_id": "小区编号", "estate_name": "小区名称", "community": "所属社区",
    "firm": "物业企业", "tier": "服务等级", "households": "户数", "complaints": "投诉件数",
    "credit_score": "信用积分", "red_property": "红色物业", "professional": "专业物业",
    "committee": "业委会", "committee_party_share": "业委会党员比例",
    "firm_revenue": "企业年营收(万元)",
}
FRAME_HEADERS: dict[str, str] = {"estate_id": "小区编号", "building": "楼栋", "unit": "单元",
                                 "floor": "楼层", "room": "房号", "occupied": "是否入住"}
SAMPLE_COLUMNS = ("estate_id", "building", "unit", "room", "household_id", "role", "order")

# Stream numbers of the SeedSequence: one per concern, so that they never share draws.
_REGISTER, _FRAME, _TRUTH, _SHIFT, _FIELD, _COMPLAINTS = 1, 2, 3, 4, 5, 6


@dataclass
class DemoDistrict:
    """The demo district: what the bureau knows (register, frame) and the hidden truth.

    ``truth``: one row per estate — ``estate_id, firm, tier, threshold, band``
    (``pass``/``near``/``fail``: the designed position of the overall level against the
    tier threshold in :data:`BASE_PERIOD`), ``firm_role`` (``excellent``/``poor``/``""``),
    ``trend`` (logit change per half-year), then one column per questionnaire dimension
    (``总体评价`` is the overall item) holding the true share satisfied.
    ``firms``: ``firm, role, credit_score, firm_revenue, estates``.
    """

    seed: int
    name: str
    register: pd.DataFrame
    frame: pd.DataFrame
    truth: pd.DataFrame
    firms: pd.DataFrame
    dimensions: tuple[str, ...] = field(default_factory=tuple)


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


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, stream)]))


def _allocate(shares: dict[str, float], n: int, rng: np.random.Generator,
              minimum: int = 1) -> np.ndarray:
    """``n`` labels in the given shares (largest remainder, each ≥ ``minimum`` when n allows),
    shuffled."""
    labels = list(shares)
    p = np.array([shares[k] for k in labels]) / sum(shares.values())
    counts = np.floor(p * n).astype(int)
    counts[np.argsort(-(p * n - counts), kind="stable")[: n - counts.sum()]] += 1
    if n >= minimum * len(labels):
        while (counts < minimum).any():
            counts[np.argmax(counts)] -= 1
            counts[np.argmin(counts)] += 1
    return rng.permutation(np.repeat(np.array(labels, dtype=object), counts))


def _questionnaire(path: str | Path = "default") -> dict[str, Any]:
    """The questionnaire TOML as needed here: items with their scales, id and free-text
    questions."""
    if str(path) == "default":
        path = Path(__file__).parent / "questionnaires" / "default.toml"
    try:
        config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WuyeError(Problem(f"无法读取问卷文件：{exc}", "检查 [questionnaire] path",
                                file=str(path))) from exc
    scales = config.get("scales", {})
    items = []
    for item in config.get("items", []):
        scale = scales[item.get("scale", "five")]
        sat = [o for o in scale["options"] if o in scale["satisfied"]]
        non = [o for o in scale["options"] if o not in scale["satisfied"]]
        items.append({"number": item["number"], "text": item["text"],
                      "dimension": item.get("dimension", OVERALL),
                      "overall": bool(item.get("overall", False)), "satisfied": sat,
                      "not_satisfied": non})
    ident = config.get("identification", {})
    free = config.get("free_text", {})
    return {"items": items, "identification": ident, "free_text": free}


def _dimensions(questionnaire: dict[str, Any]) -> tuple[str, ...]:
    dims = [i["dimension"] for i in questionnaire["items"] if not i["overall"]]
    return (*dict.fromkeys(dims), OVERALL)


def _unique_names(first: tuple[str, ...], places: tuple[str, ...], suffixes: tuple[str, ...],
                  n: int, taken: set[str], rng: np.random.Generator) -> list[str]:
    """``n`` unique names: the hand-picked ones first, then place × suffix combinations."""
    out = [x for x in first if x not in taken][:n]
    if len(out) < n:
        combos = np.array([p + s for p in places for s in suffixes], dtype=object)
        combos = combos[rng.permutation(len(combos))]
        seen = taken | set(out)
        extra = [c for c in dict.fromkeys(combos) if c not in seen]
        k = 2
        while len(out) + len(extra) < n:  # beyond every combination: 二期, 三期, ...
            extra += [f"{c}{k}期" for c in combos]
            k += 1
        out += extra[: n - len(out)]
    return out


def build_district(seed: int = 2024, *, estates: int = 40) -> DemoDistrict:
    """Build the demo district: 台账, household frame and hidden truth (see module doc).

    About 6 社区 and 12 firms per 40 estates (0.3 firms per estate, at most 400), every
    tier present (还建社区 ≈ 20%), households 80–3,000, one or two consistently poor firms
    (credit score below 60, every estate failing) and one consistently excellent firm
    (more of both at city scale).
    """
    if not isinstance(estates, (int, np.integer)) or estates < len(TIERS):
        raise WuyeError(Problem(f"示例小区数 estates = {estates!r} 太少",
                                f"至少 {len(TIERS)} 个，才能覆盖每个服务等级"))
    n = int(estates)
    rng = _rng(seed, _REGISTER)
    questionnaire = _questionnaire()
    dims = _dimensions(questionnaire)

    tier = _allocate(TIER_SHARES, n, rng).astype(str)
    resettle = tier == RESETTLEMENT_TIER
    names = np.empty(n, dtype=object)
    res_names = _unique_names(nm.RESETTLEMENT_NAMES, nm.PLACES, nm.RESETTLEMENT_SUFFIXES,
                              int(resettle.sum()), set(), rng)
    names[resettle] = res_names
    names[~resettle] = _unique_names(nm.ESTATE_NAMES, nm.PLACES, nm.SUFFIXES,
                                     int((~resettle).sum()), set(res_names), rng)
    width = max(3, len(str(n)))
    estate_id = np.array([f"GD{i:0{width}d}" for i in range(1, n + 1)], dtype=object)

    # 社区: ~1 per 7 estates; half of the 还建社区 estates sit in a 还建 community.
    n_comm = max(len(nm.COMMUNITIES), round(n / 7))
    communities = list(nm.COMMUNITIES)
    numerals = "一二三四五六七八九十"
    for k in range(len(numerals) + 1):
        if len(communities) >= n_comm:
            break
        communities += [f"{p}{numerals[k - 1] if k else ''}社区" for p in nm.PLACES
                        if f"{p}{numerals[k - 1] if k else ''}社区" not in communities]
    communities = communities[:n_comm]
    comm_idx = rng.integers(0, n_comm, n)
    res_comm = [i for i, c in enumerate(communities) if "还建" in c]
    to_res = resettle & (rng.random(n) < 0.5)
    comm_idx[to_res] = np.array(res_comm)[rng.integers(0, len(res_comm), int(to_res.sum()))]
    community = np.array(communities, dtype=object)[comm_idx]

    # Firms: ~12 per 40 estates; each firm manages at least one estate.
    firm_names = [f"{c}{b}{f}" for c in nm.FIRM_CITIES for f in nm.FIRM_FORMS
                  for b in nm.FIRM_BRANDS]
    n_firms = min(max(3, round(0.3 * n)), len(firm_names))
    firm_idx = rng.permutation(np.concatenate(
        [np.arange(n_firms), rng.integers(0, n_firms, n - n_firms)]))
    per_firm = np.bincount(firm_idx, minlength=n_firms)
    # poor and excellent firms: drawn among firms with two or more estates
    by_size = np.lexsort((rng.random(n_firms), per_firm < 2))
    n_poor = 1 if n_firms < 8 else 2 if n_firms <= 20 else round(n_firms * 0.08)
    n_excellent = 1 if n_firms <= 20 else round(n_firms * 0.05)
    role = np.full(n_firms, "", dtype=object)
    role[by_size[:n_poor]] = "poor"
    role[by_size[n_poor:n_poor + n_excellent]] = "excellent"
    credit = np.round(62 + 30 * rng.random(n_firms), 1)
    credit[role == "poor"] = np.round(45 + 13 * rng.random(n_poor), 1)
    credit[role == "excellent"] = np.round(92 + 6 * rng.random(n_excellent), 1)
    n_big = min(int(rng.integers(2, 7)), max(2, n_firms // 2))
    others = rng.permutation(np.flatnonzero(role != "excellent"))
    big = np.concatenate([np.flatnonzero(role == "excellent"), others])[:n_big]
    revenue = np.round(60 + 890 * rng.random(n_firms), 1)
    revenue[big] = np.round(1000 + 7000 * rng.random(len(big)), 1)
    firms = pd.DataFrame({"firm": firm_names[:n_firms], "role": role.astype(str),
                          "credit_score": credit, "firm_revenue": revenue,
                          "estates": per_firm})
    estate_role = role[firm_idx].astype(str)

    # Households: log-normal, 80–3,000; the demo shows both a tiny and a huge estate.
    households = np.where(resettle, rng.lognormal(np.log(700), 0.6, n),
                          rng.lognormal(np.log(500), 0.8, n))
    households = np.clip(np.round(households), 80, 3000).astype(np.int64)
    if n >= 10:
        households[np.argmin(households)] = 80 + int(rng.integers(0, 30))
        households[np.argmax(households)] = 2600 + int(rng.integers(0, 401))

    red = rng.random(n) < np.where(estate_role == "excellent", 0.8, 0.25)
    professional = rng.random(n) < np.where(resettle, 0.6, 0.9)
    committee = rng.random(n) < 0.4
    party = np.where(committee, np.round(0.2 + 0.6 * rng.random(n), 2), np.nan)

    truth = _design_truth(seed, estate_id, tier, estate_role, dims, firm_idx)
    truth.insert(1, "firm", np.asarray(firm_names, dtype=object)[firm_idx].astype(str))
    register = pd.DataFrame({
        "estate_id": estate_id.astype(str), "estate_name": names.astype(str),
        "community": community.astype(str), "firm": truth["firm"].to_numpy(),
        "tier": tier, "households": households,
    })
    register["complaints"] = _complaints(seed, register, truth, BASE_PERIOD)
    register["credit_score"] = credit[firm_idx]
    register["red_property"] = red
    register["professional"] = professional
    register["committee"] = committee
    register["committee_party_share"] = party
    register["firm_revenue"] = revenue[firm_idx]
    frame = _build_frame(seed, register)
    return DemoDistrict(seed=int(seed), name=nm.DISTRICT, register=register, frame=frame,
                        truth=truth, firms=firms, dimensions=dims)


def _design_truth(seed: int, estate_id: np.ndarray, tier: np.ndarray, firm_role: np.ndarray,
                  dims: tuple[str, ...], firm_idx: np.ndarray) -> pd.DataFrame:
    """The true satisfaction per estate × dimension in :data:`BASE_PERIOD`."""
    rng = _rng(seed, _TRUTH)
    n = len(estate_id)
    threshold = np.array([DEFAULT_THRESHOLDS[t] for t in tier])
    band = np.empty(n, dtype=object)
    band[firm_role == "poor"] = "fail"
    band[firm_role == "excellent"] = "pass"
    free = firm_role == ""
    band[free] = _allocate(BAND_SHARES, int(free.sum()), rng)
    key = np.where(free, band, np.where(firm_role == "poor", "poor", "excellent"))
    low = np.array([BAND_OFFSETS[k][0] for k in key])
    high = np.array([BAND_OFFSETS[k][1] for k in key])
    offset = low + (high - low) * rng.random(n)
    base = logit(threshold) + offset
    levels = {}
    for d in dims:  # a handful of dimensions, not estates
        if d == OVERALL:
            levels[d] = base
        else:
            levels[d] = base + DIMENSION_BIAS.get(d, 0.0) + rng.normal(0, 0.35, n)
    trend = np.zeros(n)
    improver = free & (band != "pass") & (rng.random(n) < 0.6)
    trend[improver] = 0.3 + 0.3 * rng.random(int(improver.sum()))
    decliner = free & (band != "fail") & ~improver & (rng.random(n) < 0.15)
    trend[decliner] = -(0.15 + 0.15 * rng.random(int(decliner.sum())))
    poor = firm_role == "poor"
    trend[poor] = -0.1 * rng.random(int(poor.sum()))
    truth = pd.DataFrame({"estate_id": estate_id.astype(str), "tier": tier,
                          "threshold": threshold, "band": band.astype(str),
                          "firm_role": firm_role.astype(str), "trend": trend})
    for d in dims:
        truth[d] = np.clip(expit(levels[d]), 0.02, 0.995)
    return truth


def _complaints(seed: int, register: pd.DataFrame, truth: pd.DataFrame, period: str
                ) -> np.ndarray:
    """Complaints this period: Poisson, more in bigger and less satisfied estates."""
    rng = _rng(seed, _COMPLAINTS, _period_tag(period))
    level = truth_for_levels(truth, seed, period)[OVERALL].to_numpy()
    lam = register["households"].to_numpy() / 150 * (0.3 + 3 * (1 - level))
    return rng.poisson(lam).astype(np.int64)


def _build_frame(seed: int, register: pd.DataFrame) -> pd.DataFrame:
    """One row per dwelling unit: buildings × units × floors × rooms, vectorised."""
    rng = _rng(seed, _FRAME)
    n = len(register)
    hh = register["households"].to_numpy()
    high = rng.random(n) < 0.5
    units = np.where(high, rng.integers(1, 3, n), rng.integers(2, 5, n))
    per_floor = np.where(high, rng.integers(2, 5, n), 2)
    floors = np.where(high, rng.integers(18, 34, n), rng.integers(5, 8, n))
    n_build = -(-hh // (units * per_floor * floors))
    # buildings: the households spread evenly, the first ones take the remainder
    b_est = np.repeat(np.arange(n), n_build)
    b_start = np.cumsum(n_build) - n_build
    b_no = np.arange(len(b_est)) - b_start[b_est] + 1
    b_hh = hh[b_est] // n_build[b_est] + (b_no - 1 < hh[b_est] % n_build[b_est])
    h_b = np.repeat(np.arange(len(b_est)), b_hh)
    h_start = np.cumsum(b_hh) - b_hh
    i = np.arange(len(h_b)) - h_start[h_b]
    est = b_est[h_b]
    pf = (units * per_floor)[est]
    floor = i // pf + 1
    within = i % pf
    unit = within // per_floor[est] + 1
    room = floor * 100 + within % per_floor[est] + 1
    # Text columns through small lookup tables: no per-household str() calls.
    estate_ids = register["estate_id"].to_numpy(dtype=object)
    numbers = np.array([str(k) for k in range(int(max(b_no.max(), room.max())) + 1)],
                       dtype=object)
    building = numbers[b_no]
    prefix = estate_ids[b_est] + "|" + building + "|"
    room_text = numbers[room]
    frame = pd.DataFrame({
        "estate_id": pd.Series(estate_ids[est], dtype="str"),
        "building": pd.Series(building[h_b], dtype="str"),
        "unit": unit.astype(np.int64),
        "floor": floor.astype(np.int64),
        "room": pd.Series(room_text, dtype="str"),
        "occupied": rng.random(len(est)) >= VACANT_RATE,
        "household_id": pd.Series(prefix[h_b] + numbers[unit] + "|" + room_text, dtype="str"),
    })
    return frame


def _period_parts(period: str) -> tuple[int, str, int]:
    m = PERIOD_PATTERN.match(str(period))
    if not m:
        raise WuyeError(Problem(f"无法识别的评估期 {period!r}", "写成 2025H1 或 2025Q3 这样的格式"))
    return int(m["year"]), m["kind"], int(m["part"])


def _period_tag(period: str) -> int:
    return zlib.crc32(str(period).encode("utf-8"))


def period_step(period: str) -> float:
    """Half-years from :data:`BASE_PERIOD` (2025H2 → 0, 2026H1 → 1, 2026Q2 → 1.5)."""
    year, kind, part = _period_parts(period)
    base_year, _, base_part = _period_parts(BASE_PERIOD)
    half = year * 2 + (part - 1 if kind == "H" else (part - 1) / 2)
    return half - (base_year * 2 + base_part - 1)


def period_shift(truth: pd.DataFrame, seed: int, period: str) -> np.ndarray:
    """Logit shift of every estate's levels in ``period``: its trend × half-years since
    :data:`BASE_PERIOD` plus a little period noise (N(0, 0.08)); zero in the base period.

    Improvers (~60% of near/failing estates) rise by 0.3–0.6 per half-year, a few decline;
    the poor firms' estates never improve, so they are black-listed round after round.
    """
    step = period_step(period)
    if step == 0:
        return np.zeros(len(truth))
    noise = _rng(seed, _SHIFT, _period_tag(period)).normal(0, 0.08, len(truth))
    shift = truth["trend"].to_numpy() * step + noise
    poor = (truth["firm_role"] == "poor").to_numpy()
    shift[poor] = np.minimum(shift[poor], 0.0)
    return np.clip(shift, -1.5, 1.5)


def truth_for_levels(truth: pd.DataFrame, seed: int, period: str) -> pd.DataFrame:
    """``truth`` with every dimension level moved by :func:`period_shift`."""
    shift = period_shift(truth, seed, period)
    out = truth.copy()
    for col in truth.columns[truth.columns.get_loc("trend") + 1:]:
        out[col] = np.clip(expit(logit(truth[col].to_numpy()) + shift), 0.02, 0.995)
    return out


def truth_for(district: DemoDistrict, period: str) -> pd.DataFrame:
    """The district's true levels in ``period`` (layout of :attr:`DemoDistrict.truth`)."""
    return truth_for_levels(district.truth, district.seed, period)


def register_for(district: DemoDistrict, period: str) -> pd.DataFrame:
    """The 台账 as the bureau hands it over for ``period`` (complaints of that period)."""
    register = district.register.copy()
    register["complaints"] = _complaints(district.seed, register, district.truth, period)
    return register


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
    year, kind, part = _period_parts(period)
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
    q = _questionnaire(questionnaire_path)
    truth = truth_for(district, period)
    rng = _rng(seed, _FIELD, _period_tag(period), district.seed)
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


CREATED = dt.datetime(2025, 1, 1)
"""Fixed document date of the xlsx files written here, so that they are byte-identical."""


def _relative(target: str | Path, root: Path) -> str:
    """``target`` relative to ``root`` (forward slashes), absolute when that is impossible."""
    try:
        return Path(os.path.relpath(Path(target).resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(target).resolve().as_posix()


def round_seed(seed: int, period: str) -> int:
    """The sampling seed written into a demo round: ``seed`` followed by the period,
    e.g. 2024, 2025H2 → 202420252 (a different sample every round)."""
    year, _, part = _period_parts(period)
    return int(seed) * 100000 + year * 10 + part


def write_demo_round(workspace: str | Path, period: str, *, seed: int = 2024, estates: int = 40,
                     output_dir: str | Path | None = None, database: str | Path | None = None,
                     secrets: str | Path | None = None,
                     district: DemoDistrict | None = None) -> Path:
    """Write the round folder ``workspace/inputs/<period>/`` and return it.

    It holds ``round.toml``, ``台账.xlsx`` (Chinese headers, complaints of ``period``),
    ``住户清册.csv`` (UTF-8 with BOM) and an empty ``fieldwork/`` folder for
    :func:`write_fieldwork`. ``output_dir``, ``database`` and ``secrets`` are written as
    ``[output]`` paths relative to the round folder when given. ``district`` (from
    :func:`build_district`) saves rebuilding it; otherwise it is built from ``seed`` and
    ``estates``.
    """
    _period_parts(period)
    district = district or build_district(seed, estates=estates)
    root = Path(workspace) / "inputs" / period
    (root / "fieldwork").mkdir(parents=True, exist_ok=True)
    register = register_for(district, period)
    _write_register(root / "台账.xlsx", register)
    frame = district.frame[list(FRAME_HEADERS)].rename(columns=FRAME_HEADERS)
    frame = frame.assign(是否入住=np.where(district.frame["occupied"], "是", "否"))
    _atomic(root / "住户清册.csv",
            lambda p: frame.to_csv(p, index=False, encoding="utf-8-sig", lineterminator="\n"))
    config: dict[str, Any] = {
        "round": {"district": district.name, "period": period, "id": period,
                  "seed": round_seed(district.seed, period), "confidence": 0.95},
        "sampling": {"margin": 0.08, "planning_p": "threshold", "deff": 1.0,
                     "response_rate": 0.75, "minimum": 30, "method": "srs",
                     "reserve_ratio": 0.5},
        "questionnaire": {"path": "default"},
        "inputs": {"register": "台账.xlsx", "frame": "住户清册.csv",
                   "responses": ["fieldwork/*.xlsx"]},
    }
    output = {key: _relative(value, root) for key, value in
              (("dir", output_dir), ("database", database), ("secrets", secrets))
              if value is not None}
    if output:
        config["output"] = output
    header = (f"# 示例评估轮次（{district.name} {period}），由 wuye-eval demo 生成；"
              "数据为虚构。\n")
    _atomic(root / "round.toml",
            lambda p: p.write_text(header + tomli_w.dumps(config), encoding="utf-8"))
    return root


def write_fieldwork(round_dir: str | Path, district: DemoDistrict, sample: pd.DataFrame, *,
                    period: str, seed: int, questionnaire_path: str | Path = "default") -> Path:
    """Simulate the fieldwork of ``sample`` and write it as
    ``round_dir/fieldwork/问卷星导出_<period>.xlsx`` (one sheet, ``Sheet1``; text kept as
    text — the comment starting with ``=`` is not a formula; blank rows are empty)."""
    export = simulate_fieldwork(district, sample, period=period, seed=seed,
                                questionnaire_path=questionnaire_path)
    path = Path(round_dir) / "fieldwork" / f"问卷星导出_{period}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda p: write_export(export, p))
    return path


def write_export(export: pd.DataFrame, path: str | Path) -> None:
    """Write an export DataFrame as 问卷星 does: header row, numbers as numbers, text as
    text (shared strings, at most 32,767 characters as Excel allows), missing cells empty.

    xlsxwriter writes the workbook with the header row; the data rows are then streamed
    into the sheet as XML in chunks (city scale: 600,000 rows in seconds, not minutes)."""
    fast = len(export) > 0 and all(isinstance(c, str) for c in export.columns)
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False,
                                               "strings_to_numbers": False,
                                               "strings_to_urls": False, "in_memory": True})
    workbook.set_properties({"created": CREATED, "author": "wuye-eval demo"})
    sheet = workbook.add_worksheet("Sheet1")
    sheet.write_row(0, 0, list(export.columns))
    if not fast:
        _write_cells(sheet, export)
    workbook.close()
    if fast and not _append_rows(Path(path), export):
        write_export_cells(export, path)


def write_export_cells(export: pd.DataFrame, path: str | Path) -> None:
    """:func:`write_export` cell by cell through xlsxwriter (the reference; slow at scale)."""
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False,
                                               "strings_to_numbers": False,
                                               "strings_to_urls": False})
    workbook.set_properties({"created": CREATED, "author": "wuye-eval demo"})
    sheet = workbook.add_worksheet("Sheet1")
    sheet.write_row(0, 0, list(export.columns))
    _write_cells(sheet, export)
    workbook.close()


def _write_cells(sheet: Any, export: pd.DataFrame) -> None:
    for c, name in enumerate(export.columns):
        values = export[name].to_numpy(dtype=object)
        for r in np.flatnonzero(pd.notna(values)):
            value = values[r]
            if isinstance(value, (int, np.integer)):
                sheet.write_number(r + 1, c, int(value))
            elif isinstance(value, (float, np.floating)):
                sheet.write_number(r + 1, c, float(value))
            else:
                sheet.write_string(r + 1, c, str(value))


_EXPORT_CHUNK = 20_000
_MAX_TEXT = 32_767  # Excel's cell limit; xlsxwriter truncates longer strings the same way


def _number_text(value: Any) -> str:
    return "%.16G" % (int(value) if isinstance(value, (int, np.integer)) else float(value))


def _append_rows(path: Path, export: pd.DataFrame) -> bool:
    """Stream ``export``'s rows into ``xl/worksheets/sheet1.xml`` of the workbook at
    ``path`` (header already there) and their texts into ``xl/sharedStrings.xml``.
    False (nothing changed) for what only the cell-by-cell path handles: non-finite
    numbers (xlsxwriter refuses them)."""
    from sampling.fieldsheets import xml_text

    with zipfile.ZipFile(path) as z:
        sst = z.read("xl/sharedStrings.xml").decode("utf-8")
    found = re.search(r'count="(\d+)" uniqueCount="(\d+)"', sst)
    if found is None:
        return False
    base = int(found[2])
    n, k = export.shape
    letters = [xlsxwriter.utility.xl_col_to_name(c) for c in range(k)]
    strings: dict[str, int] = {}
    cells: list[np.ndarray] = []  # per column: the cell's <v> text, or None when empty
    numeric: list[np.ndarray] = []
    refs = 0
    for name in export.columns:
        values = export[name].to_numpy(dtype=object)
        present = np.asarray(pd.notna(values), dtype=bool)
        is_number = np.fromiter((isinstance(v, (int, float, np.integer, np.floating))
                                 for v in values), dtype=bool, count=n) & present
        text_at = present & ~is_number
        v = np.full(n, None, dtype=object)
        if text_at.any():
            codes, uniques = pd.factorize(values[text_at])
            index = np.array([strings.setdefault(str(u)[:_MAX_TEXT], len(strings))
                              for u in uniques], dtype=np.int64)
            v[text_at] = numbers_text(base + index[codes])
        if is_number.any():
            numbers = values[is_number]
            if not np.isfinite(np.asarray(numbers, dtype=float)).all():
                return False
            v[is_number] = [_number_text(x) for x in numbers]
        refs += int(text_at.sum())
        cells.append(v)
        numeric.append(is_number)
    filled = np.zeros(n, dtype=bool)
    for v in cells:
        filled |= np.not_equal(v, None)
    last_row = int(np.flatnonzero(filled)[-1]) + 2 if filled.any() else 1

    def chunk(lo: int, hi: int) -> str:
        rows = np.arange(lo + 2, hi + 2).astype(str).astype(object)
        parts = []
        for c in range(k):
            v = cells[c][lo:hi]
            kind = np.where(numeric[c][lo:hi], '"><v>', '" t="s"><v>').astype(object)
            there = np.not_equal(v, None)
            frag = '<c r="' + letters[c] + rows + kind + np.where(there, v, "") + "</v></c>"
            parts.append(np.where(there, frag, ""))
        return "".join([f'<row r="{r}">{"".join(p)}</row>'
                        for r, f, p in zip(rows, filled[lo:hi], zip(*parts, strict=True),
                                           strict=True) if f])

    source = path.with_name(path.name + ".src")
    os.replace(path, source)
    try:
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(
                path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
            for info in zin.infolist():
                data = zin.read(info.filename)
                out = zipfile.ZipInfo(info.filename, info.date_time)
                out.compress_type = zipfile.ZIP_DEFLATED
                if info.filename == "xl/worksheets/sheet1.xml":
                    head, tail = data.decode("utf-8").split("</sheetData>", 1)
                    head = re.sub(r'<dimension ref="[^"]*"/>',
                                  f'<dimension ref="A1:{letters[-1]}{last_row}"/>', head, count=1)
                    with zout.open(out, "w", force_zip64=True) as sink:
                        sink.write(head.encode("utf-8"))
                        for lo in range(0, n, _EXPORT_CHUNK):
                            sink.write(chunk(lo, min(n, lo + _EXPORT_CHUNK)).encode("utf-8"))
                        sink.write(("</sheetData>" + tail).encode("utf-8"))
                    continue
                if info.filename == "xl/sharedStrings.xml":
                    items = "".join(
                        f'<si><t xml:space="preserve">{xml_text(u)}</t></si>'
                        if u != u.strip() else f"<si><t>{xml_text(u)}</t></si>"
                        for u in strings)
                    sst = (sst[:found.start()]
                           + f'count="{int(found[1]) + refs}" uniqueCount="{base + len(strings)}"'
                           + sst[found.end():].replace("</sst>", items + "</sst>", 1))
                    data = sst.encode("utf-8")
                zout.writestr(out, data, compresslevel=1)
    finally:
        source.unlink(missing_ok=True)
    return True


def _write_register(path: Path, register: pd.DataFrame) -> None:
    cols = [c for c in REGISTER_HEADERS if c in register.columns]
    table = register[cols].copy()
    for col in ("red_property", "professional", "committee"):
        if col in table.columns:
            table[col] = np.where(table[col].to_numpy(dtype=bool), "是", "否")
    table = table.rename(columns=REGISTER_HEADERS)
    _atomic(path, lambda p: write_export(table, p))


def _atomic(path: Path, write: Any) -> None:
    """Write through a temporary name in the same folder, then rename."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)
