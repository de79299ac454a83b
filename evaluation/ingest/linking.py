"""Linking responses to the 台账 (estate names) and to the drawn sample (building, room).

Estate names — normalisation (:func:`estate_key`): Unicode NFKC (full-width letters,
digits and punctuation become half-width), lower case, every space and punctuation mark
removed, ``一期…九期`` written with digits. The *core* name (:func:`estate_core`)
additionally drops, repeatedly, one of the trailing suffixes :data:`ESTATE_SUFFIXES`
(小区, 花园, 家园, 社区, 公寓, 新村, 住宅区, 生活区, 宿舍区) unless fewer than two
characters would remain (so 桂花园 stays 桂花园). 苑/城/府/庭 are *not* stripped: they
are usually part of the name itself.

Matching (:func:`match_estates`), in order; the first rule that decides wins:

1. blank → ``missing``;
2. equal to a normalised 台账 ``estate_id`` → ``id``;
3. equal to exactly one normalised 台账 name, itself or with trailing suffixes removed one
   at a time (``葛店花园小区`` → 葛店花园) → ``exact`` (to several → ``ambiguous``);
   otherwise its core name is compared with the 台账's core names and beginnings: equal
   to exactly one core name → ``exact``; the beginning (≥ 2 characters) of exactly one
   台账 name and at most :data:`PREFIX_MISSING` = 2 characters short of it (``融创`` for
   融创城, ``星光`` for 星光苑, ``金地城`` for 金地城A区) → ``prefix``. If the core
   name equals or begins *several* estates' names (``阳光`` with 阳光家园 and 阳光花园;
   ``葛店`` with 葛店花园 and 葛店还建小区) → ``ambiguous``. With a sample, building and
   room must then also identify a sampled household of that estate;
4. fuzzy: score = max(rapidfuzz ``ratio`` of normalised names, of core names), 0–100.
   Accepted (``fuzzy``) only when the best score ≥ ``cutoff`` (``[ingest] match_cutoff``,
   default 90) **and** it beats the second-best estate by ≥ ``margin`` (default 5 points);
   best ≥ cutoff but not clearly ahead → ``ambiguous``; otherwise ``unknown``. Rows that
   are not accepted are quarantined with up to three ranked suggestions — never guessed.

Buildings (:func:`building_key`): NFKC, lower case, spaces removed, leading 第 and
trailing 号楼/栋/幢/号/楼/座/# dropped, Chinese numerals 一…九十九 written as digits,
leading zeros dropped: ``3栋``, ``3号楼``, ``３``, ``三栋`` and ``03`` all become ``3``.
The response's building is then reported in the *frame's* form (the sample's label with
the same key, e.g. ``3栋`` if the frame says ``3栋``); without a sample, the key itself.

Rooms (:func:`room_parts`): the last group of digits is the room key (leading zeros
dropped), the group before it, if any, the unit: ``1-101``, ``1单元101``, ``101室``,
``3栋1单元101`` → room 101 (unit 1). A response links to the sampled household with the
same estate, building key and room key; a unit that is given must match, and when several
sampled units share that room number a unit must be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from evaluation.ingest.uniques import on_uniques

ESTATE_SUFFIXES: tuple[str, ...] = (
    "住宅小区",
    "小区",
    "花园",
    "家园",
    "社区",
    "公寓",
    "新村",
    "住宅区",
    "生活区",
    "宿舍区",
)
DEFAULT_MARGIN = 5.0
PREFIX_MISSING = 2
ACCEPTED = ("id", "exact", "prefix", "fuzzy")
SUGGEST_FLOOR = 50.0
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_PUNCT = r"[\s\W_]+"
_DIGIT_RUN = re.compile(r"\d+")
_SUFFIX_RE = re.compile("(?:" + "|".join(map(re.escape, ESTATE_SUFFIXES)) + ")$")


def chinese_number(text: str) -> str:
    """``三`` → ``3``, ``十二`` → ``12``, ``二十`` → ``20``, ``九十九`` → ``99``, ``三〇二`` →
    ``302``. Total: anything else (``十十``, ``一百``, ``零十``, letters) comes back
    unchanged — the documented "unparsed" value, compared as the text it is."""
    if not text or any(c not in _CN_DIGITS and c != "十" for c in text):
        return text
    if "十" not in text:
        return "".join(str(_CN_DIGITS[c]) for c in text)
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or ones == "十":
        return text
    ten = _CN_DIGITS[tens] if tens else 1
    one = _CN_DIGITS[ones] if ones else 0
    if ten == 0 or (ones and one == 0):
        return text
    return str(ten * 10 + one)


def estate_key(names: pd.Series) -> pd.Series:
    """Normalised estate name (see module docstring); blank → NA."""
    return on_uniques(names, _estate_key)


def _estate_key(names: pd.Series) -> pd.Series:
    text = names.astype("string").str.normalize("NFKC").str.lower()
    text = text.str.replace(_PUNCT, "", regex=True)
    text = text.str.replace(
        r"([一二三四五六七八九])期", lambda m: f"{_CN_DIGITS[m[1]]}期", regex=True
    )
    return text.where(text != "")


def estate_core(keys: pd.Series) -> pd.Series:
    """Normalised name without trailing suffixes (小区, 花园, …), never shorter than 2."""
    core = keys.astype("string")
    for _ in range(3):
        stripped = core.str.replace(_SUFFIX_RE, "", regex=True)
        core = stripped.where(stripped.str.len() >= 2, core)
    return core


def _strip_chain(key: str) -> list[str]:
    """``key`` and its forms with one, two, … trailing suffixes removed (≥ 2 characters)."""
    out = [key]
    while True:
        shorter = _SUFFIX_RE.sub("", out[-1])
        if shorter == out[-1] or len(shorter) < 2:
            return out
        out.append(shorter)


def match_estates(
    names: pd.Series,
    register: pd.DataFrame,
    *,
    cutoff: float = 90.0,
    margin: float = DEFAULT_MARGIN,
) -> pd.DataFrame:
    """Match raw estate names to the 台账; one row per input row (same index).

    Columns: ``estate_id`` (NA unless accepted), ``match`` (``id``/``exact``/``prefix``/``fuzzy``/
    ``ambiguous``/``unknown``/``missing``), ``score`` (float), ``suggestions`` (str).
    Work is done once per distinct name.
    """
    keys = estate_key(names)
    uniq = pd.Series(keys.dropna().unique(), dtype="string")
    reg = _register_keys(register)
    out = pd.DataFrame(
        {
            "key": uniq,
            "estate_id": pd.Series(pd.NA, index=uniq.index, dtype="string"),
            "match": "unknown",
            "score": np.nan,
            "suggestions": "",
        }
    )
    if len(uniq) and len(register):
        core = estate_core(uniq).to_numpy(dtype=object)
        full = uniq.to_numpy(dtype=object)
        exact = _exact_lookups(reg)
        hits = [_exact_rule(f, c, exact) for f, c in zip(full, core, strict=True)]
        # names an exact rule accepts with score 100 need no fuzzy scores (nor suggestions)
        scored = np.array([h is None or not h[2] for h in hits], dtype=bool)
        found = _fuzzy_matches(full, core, reg, cutoff, margin, scored)
        _apply_exact_rules(found, hits)
        out["estate_id"] = pd.array(found.estate_ids, dtype="string")
        out["match"] = found.match
        out["score"] = found.best
        out["suggestions"] = _suggestions(found, reg)
    looked = keys.to_frame("key").merge(out, on="key", how="left")
    looked.index = names.index
    looked["match"] = looked["match"].where(keys.notna(), "missing").fillna("unknown")
    looked["suggestions"] = looked["suggestions"].fillna("")
    return looked[["estate_id", "match", "score", "suggestions"]]


@dataclass
class _RegisterKeys:
    """The 台账's estates: ids, names, and the keys names are matched on."""

    ids: np.ndarray
    names: np.ndarray
    full: np.ndarray
    """:func:`estate_key` of the name."""
    core: np.ndarray
    """:func:`estate_core` of that key."""
    id_keys: np.ndarray
    """:func:`estate_key` of the id (respondents sometimes write the id)."""


def _register_keys(register: pd.DataFrame) -> _RegisterKeys:
    full = estate_key(register["estate_name"]).fillna("").to_numpy()
    return _RegisterKeys(
        ids=register["estate_id"].astype(str).to_numpy(),
        names=register["estate_name"].astype(str).to_numpy(),
        full=full,
        core=estate_core(pd.Series(full, dtype="string")).fillna("").to_numpy(),
        id_keys=estate_key(register["estate_id"]).fillna("").to_numpy(),
    )


@dataclass
class _Matches:
    """Per distinct name: the accepted estate (``None``), the kind of match, the best
    fuzzy score; for the names scored (``row`` ≥ 0: their row in ``top``), the three
    best-scoring estates (``top``, columns of the 台账) and their scores (``top_scores``)."""

    estate_ids: np.ndarray
    match: np.ndarray
    best: np.ndarray
    top: np.ndarray
    top_scores: np.ndarray
    row: np.ndarray


FUZZY_BLOCK = 1024
"""Names scored at a time: memory of the score matrix bounded by block × estates."""


def _top_scores(
    full: np.ndarray, core: np.ndarray, reg: _RegisterKeys
) -> tuple[np.ndarray, np.ndarray]:
    """Per name, the three best-scoring estates (:func:`top_columns`) and their scores
    (max of the ``fuzz.ratio`` of names and of core names), a block of names at a time."""
    k = min(3, len(reg.full))
    top = np.zeros((len(full), k), dtype=np.intp)
    scores = np.zeros((len(full), k), dtype=np.float32)
    for lo in range(0, len(full), FUZZY_BLOCK):
        part = slice(lo, lo + FUZZY_BLOCK)
        block = np.maximum(  # float32, as rapidfuzz gives it
            cdist(list(full[part]), list(reg.full), scorer=fuzz.ratio, workers=1),
            cdist(list(core[part]), list(reg.core), scorer=fuzz.ratio, workers=1),
        )
        top[part] = top_columns(block, 3)
        scores[part] = np.take_along_axis(block, top[part], axis=1)
    return top, scores


def _fuzzy_matches(
    full: np.ndarray,
    core: np.ndarray,
    reg: _RegisterKeys,
    cutoff: float,
    margin: float,
    scored: np.ndarray,
) -> _Matches:
    """The fuzzy rule: best ``fuzz.ratio`` of name or core name ≥ ``cutoff`` and ahead of
    the second best by ``margin`` (else ambiguous), for the names of ``scored`` (the
    others: ``unknown``, best 0, for an exact rule to decide)."""
    at = np.flatnonzero(scored)
    top, top_scores = _top_scores(full[at], core[at], reg)
    best = np.zeros(len(full))
    second = np.zeros(len(full))
    if top.shape[1]:
        best[at] = top_scores[:, 0].astype(float)
    if top.shape[1] > 1:
        second[at] = top_scores[:, 1].astype(float)
    estate_ids = np.full(len(full), None, dtype=object)
    match = np.full(len(full), "unknown", dtype=object)
    fuzzy_ok = scored & (best >= cutoff) & (best - second >= margin)
    fuzzy_amb = scored & (best >= cutoff) & ~fuzzy_ok
    match[fuzzy_amb] = "ambiguous"
    match[fuzzy_ok] = "fuzzy"
    row = np.full(len(full), -1, dtype=np.intp)
    row[at] = np.arange(len(at))
    estate_ids[fuzzy_ok] = reg.ids[top[row[fuzzy_ok], 0]]
    return _Matches(estate_ids, match, best, top, top_scores, row)


@dataclass
class _Exact:
    """Lookups of the exact rules: id key → id, name key → ids, core key → ids, every
    beginning (≥ 2 characters) of every name and core name → its estates, id → name key."""

    by_id: dict[str, str]
    full_groups: dict[str, list[str]]
    core_groups: dict[str, list[str]]
    starts: dict[str, set[str]]
    lengths: dict[str, str]


def _exact_lookups(reg: _RegisterKeys) -> _Exact:
    starts: dict[str, set[str]] = {}
    for rid, name_key, core_key in zip(reg.ids, reg.full, reg.core, strict=True):
        for key_text in {name_key, core_key}:
            for end in range(2, len(key_text) + 1):
                starts.setdefault(key_text[:end], set()).add(rid)
    return _Exact(
        by_id=dict(zip(reg.id_keys, reg.ids, strict=True)),
        full_groups=pd.Series(reg.ids).groupby(reg.full).agg(list).to_dict(),
        core_groups=pd.Series(reg.ids).groupby(reg.core).agg(list).to_dict(),
        starts=starts,
        lengths=dict(zip(reg.ids, reg.full, strict=True)),
    )


def _apply_exact_rules(found: _Matches, hits: list[tuple[str | None, str, bool] | None]) -> None:
    """Exact rules (:func:`_exact_rule` per distinct name) override fuzzy ones."""
    for i, hit in enumerate(hits):
        if hit is None:
            continue
        found.estate_ids[i], found.match[i] = hit[0], hit[1]
        if hit[2]:
            found.best[i] = 100.0


def _exact_rule(f: str, c: str, ex: _Exact) -> tuple[str | None, str, bool] | None:
    """``(estate id or None, match, score 100)`` of the first exact rule that decides the
    name key ``f`` (core key ``c``); ``None`` when none does."""
    if f in ex.by_id:
        return ex.by_id[f], "id", True
    group = next((ex.full_groups[x] for x in _strip_chain(f) if x in ex.full_groups), None)
    if group:
        return (group[0], "exact", True) if len(group) == 1 else (None, "ambiguous", False)
    # a core or shortened name must not also begin another estate's name
    owners = ex.starts.get(f, set()) | ex.starts.get(c, set()) | set(ex.core_groups.get(c, ()))
    if len(owners) > 1:
        return None, "ambiguous", False
    if len(owners) == 1:
        owner = next(iter(owners))
        if c in ex.core_groups:
            return owner, "exact", True
        if len(ex.lengths[owner]) - len(f) <= PREFIX_MISSING:
            return owner, "prefix", False
    return None


def _suggestions(found: _Matches, reg: _RegisterKeys) -> list[str]:
    """For names not accepted: the closest estates (top three scoring ≥ the floor)."""
    suggestions = []
    for i in range(len(found.match)):
        if found.match[i] in ACCEPTED:
            suggestions.append("")
            continue
        r = found.row[i]  # every name not accepted was scored
        parts = [
            f"{reg.names[j]}（{reg.ids[j]}，{score:.0f}分）"
            for j, score in zip(found.top[r], found.top_scores[r], strict=True)
            if score >= SUGGEST_FLOOR
        ]
        suggestions.append("；".join(parts))
    return suggestions


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` highest scores, highest first, ties in column
    order: the first ``k`` columns of a stable ``argsort(-scores)``, without sorting whole
    rows (a partition finds each row's k-th highest score)."""
    n, m = scores.shape
    k = min(k, m)
    if k == 0 or n == 0:
        return np.zeros((n, k), dtype=np.intp)
    kth = np.partition(scores, m - k, axis=1)[:, m - k]
    greater = scores > kth[:, None]
    need = k - greater.sum(axis=1)  # columns still to take among those equal to the k-th
    equal = scores == kth[:, None]
    rank = np.cumsum(equal, axis=1, dtype=np.int32 if m < 2**31 else np.int64)
    take = greater | (equal & (rank <= need[:, None]))
    cols = np.nonzero(take)[1].reshape(n, k)  # exactly k per row, in column order
    order = np.argsort(-np.take_along_axis(scores, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def building_key(values: pd.Series) -> pd.Series:
    """Normalised building label (see module docstring); blank → NA."""
    return on_uniques(values, _building_key)


def _building_key(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.normalize("NFKC").str.lower()
    text = text.str.replace(r"\s+", "", regex=True).str.replace(r"^第", "", regex=True)
    text = text.str.replace(r"(?:号楼|栋楼|栋|幢|号|楼|座|#)$", "", regex=True)
    text = text.str.replace(
        r"^[零〇一二两三四五六七八九十]+$", lambda m: chinese_number(m[0]), regex=True
    )
    text = text.str.replace(r"^0+(?=\d)", "", regex=True)
    return text.where(text != "")


def room_parts(values: pd.Series) -> pd.DataFrame:
    """``room_key`` (last digit group, no leading zeros) and ``unit_key`` (the group
    before it, if any) of free-text room numbers; NA when there are no digits."""
    return on_uniques(values, _room_parts)


def _room_parts(values: pd.Series) -> pd.DataFrame:
    # the last two runs of digits, found left to right: linear in the text's length (a
    # regex anchored at the end, such as ``(\d+)\D*$``, backtracks on long digit runs)
    text = values.astype("string").str.normalize("NFKC").to_numpy(dtype=object, na_value=None)
    room = np.full(len(text), None, dtype=object)
    unit = np.full(len(text), None, dtype=object)
    for i, t in enumerate(text.tolist()):
        if t is None:
            continue
        runs = _DIGIT_RUN.findall(t)
        if runs:
            room[i] = runs[-1].lstrip("0") or "0"
            if len(runs) > 1:
                unit[i] = runs[-2].lstrip("0") or "0"
    return pd.DataFrame(
        {"room_key": pd.array(room, dtype="string"), "unit_key": pd.array(unit, dtype="string")},
        index=values.index,
    )


def unit_key(values: pd.Series) -> pd.Series:
    """Unit label as its digits (``1单元`` → ``1``), else the normalised text."""
    return on_uniques(values, _unit_key)


def _unit_key(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.normalize("NFKC").str.strip()
    digits = text.str.extract(r"(\d+)", expand=False).str.replace(r"^0+(?=\d)", "", regex=True)
    return digits.fillna(
        text.str.replace(r"单元$", "", regex=True).map(
            lambda s: chinese_number(s) if isinstance(s, str) else s
        )
    ).astype("string")


def frame_building_labels(responses: pd.DataFrame, sample: pd.DataFrame) -> pd.Series:
    """The frame's building label for each response (``estate_id``, ``building_key``),
    NA when the estate has no building with that key in the sample."""
    labels = sample[["estate_id", "building"]].drop_duplicates().copy()
    labels["building_key"] = building_key(labels["building"])
    labels = labels.drop_duplicates(["estate_id", "building_key"])
    merged = responses[["estate_id", "building_key"]].merge(
        labels, on=["estate_id", "building_key"], how="left"
    )
    return pd.Series(merged["building"].to_numpy(), index=responses.index, dtype="string")


def _joint_codes(
    left: pd.DataFrame, right: pd.DataFrame, on: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """One integer per distinct combination of the ``on`` columns, shared by both frames,
    so that a merge on it is a merge on the columns (a missing value is a value, as in
    pandas' merge) at the speed of an integer key."""
    n_left = len(left)
    joint = np.zeros(n_left + len(right), dtype=np.int64)
    for column in on:
        both = pd.concat([left[column], right[column]], ignore_index=True).astype("string")
        codes, uniques = pd.factorize(both, use_na_sentinel=False)
        joint, _ = pd.factorize(joint * (len(uniques) + 1) + codes)
    return joint[:n_left], joint[n_left:]


def link_sample(responses: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """Link responses to sampled households.

    ``responses``: ``estate_id, building_key, room_key, unit_key`` (index kept).
    Returns, on the same index, ``household_id``, ``role`` (NA when not linked) and
    ``link`` — ``linked``, ``no_room`` (no room number), ``ambiguous`` (several units
    share the room number and none given/matching) or ``not_found``; ``sample_row``: the
    position of the linked household in ``sample`` (−1 when not linked).
    """
    s = sample[["estate_id", "building", "unit", "room", "household_id", "role"]].copy()
    s["_s"] = np.arange(len(s))
    s["building_key"] = building_key(s["building"])
    parts = room_parts(s["room"])
    s["room_key"] = parts["room_key"]
    s["s_unit"] = unit_key(s["unit"]) if "unit" in s else pd.NA
    r = responses[["estate_id", "building_key", "room_key", "unit_key"]].copy()
    r["_i"] = np.arange(len(r))
    r["_k"], s["_k"] = _joint_codes(r, s, ["estate_id", "building_key", "room_key"])
    cand = r[["_k", "_i", "unit_key", "room_key"]].merge(
        s[["_k", "s_unit", "household_id", "role", "_s"]], on="_k", how="inner"
    )
    given = cand["unit_key"].notna().to_numpy()
    same_unit = (cand["unit_key"] == cand["s_unit"]).fillna(False).to_numpy(dtype=bool)
    cand = cand[~given | same_unit]  # a unit that is given must match
    n_cand = cand.groupby("_i").size()
    chosen = cand[cand["_i"].map(n_cand).to_numpy() == 1].set_index("_i")
    idx = np.arange(len(r))
    household = pd.Series(chosen["household_id"], dtype="string").reindex(idx)
    role = pd.Series(chosen["role"], dtype="string").reindex(idx)
    sample_row = chosen["_s"].reindex(idx).fillna(-1).to_numpy(dtype=np.int64)
    link = np.where(
        household.notna().to_numpy(),
        "linked",
        np.where(
            r["room_key"].isna().to_numpy(),
            "no_room",
            np.where(pd.Series(idx).map(n_cand).fillna(0).to_numpy() > 1, "ambiguous", "not_found"),
        ),
    )
    return pd.DataFrame(
        {
            "household_id": household.to_numpy(),
            "role": role.to_numpy(),
            "link": link,
            "sample_row": sample_row,
        },
        index=responses.index,
    )
