"""The embedded demo district (葛店经开区), deterministic from a seed: the 台账, the household
frame and the hidden truth, and how the truth moves from one period to the next.

Everything is drawn from :class:`numpy.random.Generator` streams seeded with
:class:`numpy.random.SeedSequence` ``[seed, stream, ...]`` — no global RNG — so the same seed
gives the same tables on any machine. Generation is vectorised (2,000 estates × ~800
households take seconds).

* :func:`build_district` — 台账 (register), household frame and the hidden truth.
* :func:`truth_for` / :func:`period_shift` — the truth of a given period (rounds differ).

Conventions: the frame has one row per dwelling unit (``households`` in the 台账 counts all
units, occupied or not; ``occupied`` marks the ~5% vacant ones). Buildings are plain labels
``"1"``..``"N"``; ``unit`` 1–4; ``room`` is ``floor × 100 + position`` as text (``"302"``);
``household_id = "{estate_id}|{building}|{unit}|{room}"``.
"""

from __future__ import annotations

import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from evaluation.demo import names as nm
from evaluation.questionnaire import default_path
from evaluation.round import PERIOD_PATTERN
from wuye_common.errors import Problem, WuyeError
from wuye_common.vocabulary import DEFAULT_THRESHOLDS, OVERALL_DIMENSION, RESETTLEMENT_TIER, TIERS

BASE_PERIOD = "2025H2"
"""The period whose truth is the designed one (:func:`period_shift` is zero there)."""

TIER_SHARES: dict[str, float] = {
    "一级": 0.12,
    "二级": 0.22,
    "三级": 0.26,
    "四级": 0.20,
    "还建社区": 0.20,
}
BAND_SHARES: dict[str, float] = {"pass": 0.5, "near": 0.3, "fail": 0.2}
# Logit offsets of the overall satisfaction level from the tier threshold, per band.
BAND_OFFSETS: dict[str, tuple[float, float]] = {
    "pass": (1.0, 2.0),
    "near": (-0.2, 0.2),
    "fail": (-2.0, -1.0),
    "excellent": (1.5, 2.3),
    "poor": (-2.3, -1.5),
}
# Systematic differences between dimensions (logit), e.g. parking is the usual sore point.
DIMENSION_BIAS: dict[str, float] = {
    "综合服务": 0.2,
    "秩序维护/安全": 0.0,
    "环境卫生": 0.15,
    "绿化养护": 0.1,
    "设施设备维修/电梯": -0.2,
    "停车管理": -0.5,
    "收费与公开": -0.35,
    "投诉处理": -0.15,
}
OVERALL = OVERALL_DIMENSION
VACANT_RATE = 0.05
"""Share of dwelling units that are vacant."""

# Stream numbers of the SeedSequence: one per concern, so that they never share draws.
_REGISTER, _FRAME, _TRUTH, _SHIFT, FIELD_STREAM, _COMPLAINTS = 1, 2, 3, 4, 5, 6


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


def stream_rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, stream)]))


def _allocate(
    shares: dict[str, float], n: int, rng: np.random.Generator, minimum: int = 1
) -> np.ndarray:
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


def questionnaire_spec(path: str | Path = "default") -> dict[str, Any]:
    """The questionnaire TOML as needed here: items with their scales, id and free-text
    questions."""
    if str(path) == "default":
        path = default_path()
    try:
        config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WuyeError(
            Problem(f"无法读取问卷文件：{exc}", "检查 [questionnaire] path", file=str(path))
        ) from exc
    scales = config.get("scales", {})
    items = []
    for item in config.get("items", []):
        scale = scales[item.get("scale", "five")]
        sat = [o for o in scale["options"] if o in scale["satisfied"]]
        non = [o for o in scale["options"] if o not in scale["satisfied"]]
        items.append(
            {
                "number": item["number"],
                "text": item["text"],
                "dimension": item.get("dimension", OVERALL),
                "overall": bool(item.get("overall", False)),
                "satisfied": sat,
                "not_satisfied": non,
            }
        )
    ident = config.get("identification", {})
    free = config.get("free_text", {})
    return {"items": items, "identification": ident, "free_text": free}


def _dimensions(questionnaire: dict[str, Any]) -> tuple[str, ...]:
    dims = [i["dimension"] for i in questionnaire["items"] if not i["overall"]]
    return (*dict.fromkeys(dims), OVERALL)


def _unique_names(
    first: tuple[str, ...],
    places: tuple[str, ...],
    suffixes: tuple[str, ...],
    n: int,
    taken: set[str],
    rng: np.random.Generator,
) -> list[str]:
    """``n`` unique names: the hand-picked ones first, then place × suffix combinations."""
    out = [x for x in first if x not in taken][:n]
    if len(out) < n:
        combos = np.array([p + s for p in places for s in suffixes], dtype=object)
        combos = combos[rng.permutation(len(combos))]
        seen = taken | set(out)
        extra = [c for c in dict.fromkeys(combos) if c not in seen]
        k = 2
        while len(out) + len(extra) < n:  # beyond every combination: 二期, 三期, ...
            extra += [x for x in (f"{c}{k}期" for c in combos) if x not in seen]
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
        raise WuyeError(
            Problem(
                f"示例小区数 estates = {estates!r} 太少",
                f"至少 {len(TIERS)} 个，才能覆盖每个服务等级",
            )
        )
    n = int(estates)
    rng = stream_rng(seed, _REGISTER)  # the steps below draw from it in this order
    dims = _dimensions(questionnaire_spec())
    tier = _allocate(TIER_SHARES, n, rng).astype(str)
    resettle = tier == RESETTLEMENT_TIER
    names = _estate_names(rng, resettle)
    width = max(3, len(str(n)))
    estate_id = np.array([f"GD{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
    community = _communities(rng, resettle)
    firms = _firms(rng, n)
    estate_role = firms.role[firms.of_estate].astype(str)
    households = _households(rng, resettle)
    governance = _governance(rng, resettle, estate_role)

    truth = _design_truth(seed, estate_id, tier, estate_role, dims, firms.of_estate)
    truth.insert(1, "firm", np.asarray(firms.names, dtype=object)[firms.of_estate].astype(str))
    register = pd.DataFrame(
        {
            "estate_id": estate_id.astype(str),
            "estate_name": names.astype(str),
            "community": community.astype(str),
            "firm": truth["firm"].to_numpy(),
            "tier": tier,
            "households": households,
        }
    )
    register["complaints"] = _complaints(seed, register, truth, BASE_PERIOD)
    register["credit_score"] = firms.credit[firms.of_estate]
    for column, values in governance.items():
        register[column] = values
    register["firm_revenue"] = firms.revenue[firms.of_estate]
    frame = _build_frame(seed, register)
    return DemoDistrict(
        seed=int(seed),
        name=nm.DISTRICT,
        register=register,
        frame=frame,
        truth=truth,
        firms=firms.table,
        dimensions=dims,
    )


def _estate_names(rng: np.random.Generator, resettle: np.ndarray) -> np.ndarray:
    """Unique estate names; 还建社区 estates get resettlement names."""
    names = np.empty(len(resettle), dtype=object)
    res_names = _unique_names(
        nm.RESETTLEMENT_NAMES, nm.PLACES, nm.RESETTLEMENT_SUFFIXES, int(resettle.sum()), set(), rng
    )
    names[resettle] = res_names
    names[~resettle] = _unique_names(
        nm.ESTATE_NAMES, nm.PLACES, nm.SUFFIXES, int((~resettle).sum()), set(res_names), rng
    )
    return names


def _communities(rng: np.random.Generator, resettle: np.ndarray) -> np.ndarray:
    """Each estate's 社区: ~1 per 7 estates; half of the 还建社区 estates sit in a 还建
    community."""
    n = len(resettle)
    n_comm = max(len(nm.COMMUNITIES), round(n / 7))
    communities = list(nm.COMMUNITIES)
    numerals = "一二三四五六七八九十"
    for k in range(len(numerals) + 1):
        if len(communities) >= n_comm:
            break
        communities += [
            f"{p}{numerals[k - 1] if k else ''}社区"
            for p in nm.PLACES
            if f"{p}{numerals[k - 1] if k else ''}社区" not in communities
        ]
    k = 11
    while len(communities) < n_comm:  # a province-sized district: numbered communities
        communities += [f"{p}{k}社区" for p in nm.PLACES]
        k += 1
    communities = communities[:n_comm]
    comm_idx = rng.integers(0, n_comm, n)
    res_comm = [i for i, c in enumerate(communities) if "还建" in c]
    to_res = resettle & (rng.random(n) < 0.5)
    comm_idx[to_res] = np.array(res_comm)[rng.integers(0, len(res_comm), int(to_res.sum()))]
    return np.array(communities, dtype=object)[comm_idx]


@dataclass
class _Firms:
    """The district's firms and which estate each manages."""

    table: pd.DataFrame
    """``firm, role, credit_score, firm_revenue, estates`` (:attr:`DemoDistrict.firms`)."""
    of_estate: np.ndarray
    """Each estate's firm (row of ``table``)."""
    names: list[str]
    role: np.ndarray
    credit: np.ndarray
    revenue: np.ndarray


def _firms(rng: np.random.Generator, n: int) -> _Firms:
    """~12 firms per 40 estates; each firm manages at least one estate."""
    firm_names = [
        f"{c}{b}{f}" for c in nm.FIRM_CITIES for f in nm.FIRM_FORMS for b in nm.FIRM_BRANDS
    ]
    n_firms = min(max(3, round(0.3 * n)), len(firm_names))
    firm_idx = rng.permutation(
        np.concatenate([np.arange(n_firms), rng.integers(0, n_firms, n - n_firms)])
    )
    per_firm = np.bincount(firm_idx, minlength=n_firms)
    role = _firm_roles(rng, per_firm)
    credit, revenue = _firm_scores(rng, role)
    table = pd.DataFrame(
        {
            "firm": firm_names[:n_firms],
            "role": role.astype(str),
            "credit_score": credit,
            "firm_revenue": revenue,
            "estates": per_firm,
        }
    )
    return _Firms(
        table=table, of_estate=firm_idx, names=firm_names, role=role, credit=credit, revenue=revenue
    )


def _firm_roles(rng: np.random.Generator, per_firm: np.ndarray) -> np.ndarray:
    """``poor``/``excellent``/``""`` per firm: poor and excellent firms are drawn among the
    firms with two or more estates."""
    n_firms = len(per_firm)
    by_size = np.lexsort((rng.random(n_firms), per_firm < 2))
    n_poor = 1 if n_firms < 8 else 2 if n_firms <= 20 else round(n_firms * 0.08)
    n_excellent = 1 if n_firms <= 20 else round(n_firms * 0.05)
    role = np.full(n_firms, "", dtype=object)
    role[by_size[:n_poor]] = "poor"
    role[by_size[n_poor : n_poor + n_excellent]] = "excellent"
    return role


def _firm_scores(rng: np.random.Generator, role: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Credit score (below 60 for poor firms, 92+ for excellent ones) and annual revenue
    (2–6 big firms, the excellent ones among them)."""
    n_firms = len(role)
    poor, excellent = role == "poor", role == "excellent"
    credit = np.round(62 + 30 * rng.random(n_firms), 1)
    credit[poor] = np.round(45 + 13 * rng.random(int(poor.sum())), 1)
    credit[excellent] = np.round(92 + 6 * rng.random(int(excellent.sum())), 1)
    n_big = min(int(rng.integers(2, 7)), max(2, n_firms // 2))
    others = rng.permutation(np.flatnonzero(role != "excellent"))
    big = np.concatenate([np.flatnonzero(excellent), others])[:n_big]
    revenue = np.round(60 + 890 * rng.random(n_firms), 1)
    revenue[big] = np.round(1000 + 7000 * rng.random(len(big)), 1)
    return credit, revenue


def _households(rng: np.random.Generator, resettle: np.ndarray) -> np.ndarray:
    """Households per estate: log-normal, 80–3,000; the demo shows both a tiny and a huge
    estate."""
    n = len(resettle)
    households = np.where(
        resettle, rng.lognormal(np.log(700), 0.6, n), rng.lognormal(np.log(500), 0.8, n)
    )
    households = np.clip(np.round(households), 80, 3000).astype(np.int64)
    if n >= 10:
        households[np.argmin(households)] = 80 + int(rng.integers(0, 30))
        households[np.argmax(households)] = 2600 + int(rng.integers(0, 401))
    return households


def _governance(
    rng: np.random.Generator, resettle: np.ndarray, estate_role: np.ndarray
) -> dict[str, np.ndarray]:
    """红色物业, 专业物业, 业委会 and its party share, as 台账 columns."""
    n = len(resettle)
    red = rng.random(n) < np.where(estate_role == "excellent", 0.8, 0.25)
    professional = rng.random(n) < np.where(resettle, 0.6, 0.9)
    committee = rng.random(n) < 0.4
    party = np.where(committee, np.round(0.2 + 0.6 * rng.random(n), 2), np.nan)
    return {
        "red_property": red,
        "professional": professional,
        "committee": committee,
        "committee_party_share": party,
    }


def _design_truth(
    seed: int,
    estate_id: np.ndarray,
    tier: np.ndarray,
    firm_role: np.ndarray,
    dims: tuple[str, ...],
    firm_idx: np.ndarray,
) -> pd.DataFrame:
    """The true satisfaction per estate × dimension in :data:`BASE_PERIOD`."""
    rng = stream_rng(seed, _TRUTH)
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
    truth = pd.DataFrame(
        {
            "estate_id": estate_id.astype(str),
            "tier": tier,
            "threshold": threshold,
            "band": band.astype(str),
            "firm_role": firm_role.astype(str),
            "trend": trend,
        }
    )
    for d in dims:
        truth[d] = np.clip(expit(levels[d]), 0.02, 0.995)
    return truth


def _complaints(seed: int, register: pd.DataFrame, truth: pd.DataFrame, period: str) -> np.ndarray:
    """Complaints this period: Poisson, more in bigger and less satisfied estates."""
    rng = stream_rng(seed, _COMPLAINTS, period_tag(period))
    level = truth_for_levels(truth, seed, period)[OVERALL].to_numpy()
    lam = register["households"].to_numpy() / 150 * (0.3 + 3 * (1 - level))
    return rng.poisson(lam).astype(np.int64)


def _build_frame(seed: int, register: pd.DataFrame) -> pd.DataFrame:
    """One row per dwelling unit: buildings × units × floors × rooms, vectorised."""
    rng = stream_rng(seed, _FRAME)
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
    numbers = np.array([str(k) for k in range(int(max(b_no.max(), room.max())) + 1)], dtype=object)
    building = numbers[b_no]
    prefix = estate_ids[b_est] + "|" + building + "|"
    room_text = numbers[room]
    frame = pd.DataFrame(
        {
            "estate_id": pd.Series(estate_ids[est], dtype="str"),
            "building": pd.Series(building[h_b], dtype="str"),
            "unit": unit.astype(np.int64),
            "floor": floor.astype(np.int64),
            "room": pd.Series(room_text, dtype="str"),
            "occupied": rng.random(len(est)) >= VACANT_RATE,
            "household_id": pd.Series(prefix[h_b] + numbers[unit] + "|" + room_text, dtype="str"),
        }
    )
    return frame


def period_parts(period: str) -> tuple[int, str, int]:
    m = PERIOD_PATTERN.match(str(period))
    if not m:
        raise WuyeError(Problem(f"无法识别的评估期 {period!r}", "写成 2025H1 或 2025Q3 这样的格式"))
    return int(m["year"]), m["kind"], int(m["part"])


def period_tag(period: str) -> int:
    return zlib.crc32(str(period).encode("utf-8"))


def period_step(period: str) -> float:
    """Half-years from :data:`BASE_PERIOD` (2025H2 → 0, 2026H1 → 1, 2026Q2 → 1.5)."""
    year, kind, part = period_parts(period)
    base_year, _, base_part = period_parts(BASE_PERIOD)
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
    noise = stream_rng(seed, _SHIFT, period_tag(period)).normal(0, 0.08, len(truth))
    shift = truth["trend"].to_numpy() * step + noise
    poor = (truth["firm_role"] == "poor").to_numpy()
    shift[poor] = np.minimum(shift[poor], 0.0)
    return np.clip(shift, -1.5, 1.5)


def truth_for_levels(truth: pd.DataFrame, seed: int, period: str) -> pd.DataFrame:
    """``truth`` with every dimension level moved by :func:`period_shift`."""
    shift = period_shift(truth, seed, period)
    out = truth.copy()
    for col in truth.columns[truth.columns.get_loc("trend") + 1 :]:
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
