"""Row-level fieldwork-quality rules, each a pure function over the accepted forms of a round
(numpy arrays, vectorised over the whole round: no loop over forms or estates).

Every rule returns a :class:`Hit`: a boolean mask over the forms and, for the flagged ones,
a Chinese detail. The rules and their defaults are described in
:mod:`evaluation.ingest.quality.config`; the methods:

- **straight-lining** — every answered rating item has the same option (``straightline``), or
  every answered item is at an end of its scale (``extreme``), with at least ``min_items``
  answered, on a form answered faster than its estate's usual (robust duration z below
  ``max_z``, or no duration). A satisfied resident may well tick 非常满意 throughout (about
  2 % of the demo's honest forms do): straight-lining *and* speed together are the mark of
  satisficing (Krosnick 1991; Zhang & Conrad 2014), either alone is not;
- **one source, many forms** — forms of one estate sharing an IP or device pseudonym beyond
  ``max_ip``/``max_device`` (only forms without a surveyor: an interviewer's own phone sends
  all his forms), or one phone pseudonym beyond ``max_phone`` in the round;
- **bursts** — ``forms`` forms within ``minutes`` from one source (IP, device or surveyor) in
  one estate: every form of such a window is flagged;
- **near-duplicates** — identical answer vectors within an estate beyond chance. The expected
  number of forms with pattern *v* in the cell *c* (estate × answer to the overall item) is
  ``E_v = n_c Π_j p_cj(v_j)``, the answers to the other items being independent given the
  overall answer (local independence given the overall rating, which carries most of the
  halo between items; missing answers are a category), or, when larger, from the pattern's
  frequency among the round's other estates with the same overall answer,
  ``E_v = n_c (K_v − k_v) / (N_o − n_c)`` — which carries what local independence misses:
  items correlate beyond the overall rating (a very satisfied resident answers every item
  非常满意), while a batch or a surveyor's copies crowd one estate. A pattern seen ``k ≥ 2`` times with
  Poisson tail ``P(X ≥ k; E_v) < alpha`` is beyond chance: its copies beyond
  ``max(1, round(E_v))`` are flagged, the earliest submissions kept (the excess, not the
  first). Cf. Kuriakose & Robbins (2016) on duplicated interviews, whose fixed 85 % match
  threshold ignores the answer distribution this null takes into account;
- **timing** — the robust z-score of log duration against the estate's own forms,
  ``z = (log d − median) / (1.4826 · MAD)`` (Iglewicz & Hoaglin 1993), the round's forms
  when the estate has fewer than ``min_forms``; ``z < −robust_z`` is flagged (``fast``);
  submissions outside ``start``–``end`` o'clock are ``odd_hours``;
- **household** — the building and room are not in the household frame (``not_in_frame``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import poisson

from evaluation.ingest.groups import rank_within

#: rule code → Chinese reason (also of the surveyor-level and back-check codes)
REASONS: dict[str, str] = {
    "speeder": "答题用时过短（疑似乱答）",
    "duplicate": "同一户重复提交",
    "straightline": "所有评价题答案相同（直线作答）",
    "extreme": "所有评价题都选量表两端（极端作答）",
    "one_source": "同一来源（IP、设备或电话）提交了多份答卷",
    "burst": "同一来源短时间内集中提交多份答卷",
    "near_duplicate": "与本小区其他答卷的答案完全相同，超出偶然",
    "fast": "用时远短于本小区其他答卷",
    "odd_hours": "提交时间不在正常入户时段",
    "not_in_frame": "楼栋房号不在住户清册中",
    "surveyor_effect": "该调查员的满意率与同小区其他调查员差异显著",
    "fabrication": "该调查员的造假风险分偏高",
    "backcheck_fabricated": "回访证实为虚假问卷（未入户或非本户）",
    "backcheck_differs": "回访时住户所述与问卷答案不符",
}
#: the configuration rule (``[quality.<rule>]``) each code belongs to
RULE_OF: dict[str, str] = {
    "speeder": "speeder",
    "duplicate": "duplicate",
    "straightline": "straightline",
    "extreme": "straightline",
    "one_source": "one_source",
    "burst": "burst",
    "near_duplicate": "near_duplicate",
    "fast": "timing",
    "odd_hours": "hours",
    "not_in_frame": "household",
    "surveyor_effect": "surveyor_effect",
    "fabrication": "fabrication",
}


@dataclass
class Hit:
    """Forms a rule found (``mask``) and a detail per form (``""`` for the others)."""

    mask: np.ndarray
    detail: np.ndarray

    @classmethod
    def none(cls, n: int) -> Hit:
        return cls(np.zeros(n, dtype=bool), np.full(n, "", dtype=object))


def _details(mask: np.ndarray, texts: list[str] | np.ndarray) -> np.ndarray:
    """A detail array with ``texts`` (one per flagged form, in order) at ``mask``."""
    out = np.full(mask.shape[0], "", dtype=object)
    out[mask] = np.asarray(texts, dtype=object) if len(texts) else []
    return out


# --------------------------------------------------------------------------- answers


def straightline(
    codes: np.ndarray,
    scale_sizes: np.ndarray,
    duration_z: np.ndarray,
    *,
    min_items: int,
    max_z: float,
) -> dict[str, Hit]:
    """``straightline`` and ``extreme`` (module doc). ``codes``: forms × items, 0 = no
    answer; ``scale_sizes``: each item's number of answer options; ``duration_z``: robust
    duration z (NaN: unknown)."""
    codes = codes.astype(np.int32, copy=False)
    answered = codes > 0
    n_answered = answered.sum(axis=1)
    big = np.iinfo(np.int32).max
    low = np.where(answered, codes, big).min(axis=1, initial=big)
    high = np.where(answered, codes, -1).max(axis=1, initial=-1)
    quick = ~(duration_z >= max_z)  # NaN (no duration) counts as quick
    enough = (n_answered >= min_items) & quick
    same = enough & (low == high)
    at_end = answered & ((codes == 1) | (codes == scale_sizes[None, :]))
    extreme = enough & (at_end.sum(axis=1) == n_answered) & ~same
    same_text = [
        f"{k} 道评价题都选同一选项（第 {c} 项）"
        for k, c in zip(n_answered[same].tolist(), low[same].tolist(), strict=True)
    ]
    extreme_text = [f"{k} 道评价题都选量表最高或最低一档" for k in n_answered[extreme].tolist()]
    return {
        "straightline": Hit(same, _details(same, same_text)),
        "extreme": Hit(extreme, _details(extreme, extreme_text)),
    }


def _pattern_codes(codes: np.ndarray) -> np.ndarray:
    """One integer per distinct answer vector (row of ``codes``): 0, 1, … in order of first
    appearance. Exact, no hashing: the columns are packed into 62-bit integers a few at a
    time, each pack factorised together with the labels so far."""
    n, k = codes.shape
    labels, n_labels = np.zeros(n, dtype=np.int64), 1
    if n == 0 or k == 0:
        return labels
    low = int(codes.min())
    width = int(codes.max()) - low + 1
    columns = np.ascontiguousarray(codes.T, dtype=np.int64) - low
    j = 0
    while j < k:
        packed, span = labels, n_labels
        while j < k and (span == n_labels or span * width < 2**62):
            packed, span, j = packed * width + columns[j], span * width, j + 1
        labels, uniques = pd.factorize(packed)
        n_labels = len(uniques)
    return labels.astype(np.int64, copy=False)


def near_duplicates(
    codes: np.ndarray,
    estate: np.ndarray,
    overall: int,
    order: np.ndarray,
    *,
    min_items: int,
    alpha: float,
    pattern: np.ndarray | None = None,
) -> Hit:
    """Copies of an answer pattern beyond chance within an estate (module doc).

    ``estate``: each form's estate code; ``overall``: the overall item's column;
    ``order``: submission order, distinct values (earlier forms are kept); ``pattern``:
    :func:`_pattern_codes` of ``codes`` when the caller has it."""
    n, k = codes.shape
    if n == 0 or k == 0:
        return Hit.none(n)
    codes = codes.astype(np.int64, copy=False)
    width = int(codes.max(initial=0)) + 1
    cell = pd.factorize(estate.astype(np.int64) * width + codes[:, overall])[0]
    n_cells = int(cell.max()) + 1
    cell_size = np.bincount(cell, minlength=n_cells).astype(float)
    # log p_cj(v_j) of every form's answers, from the cell × item × option counts
    log_p = np.zeros(n)
    base, columns = cell * width, np.ascontiguousarray(codes.T)
    bin_size = np.repeat(cell_size, width)  # the cell size of each cell × option bin
    for j in range(k):  # one bincount per item column (a dozen), not per form
        if j == overall:
            continue
        at = base + columns[j]
        with np.errstate(divide="ignore"):  # options nobody in the cell chose: never read
            log_share = np.log(np.bincount(at, minlength=n_cells * width) / bin_size)
        log_p += log_share[at]
    if pattern is None:
        pattern = _pattern_codes(codes)
    key = pd.factorize(cell.astype(np.int64) * (int(pattern.max()) + 1) + pattern)[0]
    copies = np.bincount(key)[key]
    expected = np.maximum(
        cell_size[cell] * np.exp(log_p),
        _elsewhere(codes[:, overall], pattern, copies, cell_size[cell]),
    )
    answered = (codes > 0).sum(axis=1) >= min_items
    beyond = answered & (copies >= 2)
    beyond[beyond] = poisson.sf(copies[beyond] - 1, expected[beyond]) < alpha
    keep = np.maximum(1, np.round(expected)).astype(np.int64)
    mask = beyond & (rank_within(key, order) >= keep)
    texts = [
        f"同一答案组合共 {c} 份，按本小区答案分布期望 {e:.2g} 份"
        for c, e in zip(copies[mask].tolist(), expected[mask].tolist(), strict=True)
    ]
    return Hit(mask, _details(mask, texts))


def _elsewhere(
    overall: np.ndarray, pattern: np.ndarray, copies: np.ndarray, cell_size: np.ndarray
) -> np.ndarray:
    """Each form's expected copies in its cell from the pattern's frequency in the other
    estates' forms with the same overall answer: ``n_c · (K_v − k_v) / (N_o − n_c)`` (0
    when there are no such forms)."""
    width = int(pattern.max(initial=0)) + 1
    key = overall.astype(np.int64) * width + pattern
    codes = pd.factorize(key)[0]
    total = np.bincount(codes)[codes]
    by_overall = np.bincount(overall.astype(np.int64))[overall]
    others = by_overall - cell_size
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(others > 0, (total - copies) / others, 0.0)
    return cell_size * rate


# --------------------------------------------------------------------------- sources


def source_codes(keys: pd.Series) -> np.ndarray:
    """One integer per distinct pseudonym of a source (``-1``: none), for :func:`one_source`
    and :func:`bursts` (factorised once for both)."""
    if not keys.notna().any():
        return np.full(len(keys), -1, dtype=np.int64)
    return pd.factorize(keys, use_na_sentinel=True)[0].astype(np.int64)


def one_source(estate: np.ndarray, sources: dict[str, tuple[np.ndarray, int, bool]]) -> Hit:
    """Forms sharing a source beyond its limit. ``sources``: kind (``IP``/``设备``/``电话``)
    → (pseudonym codes of :func:`source_codes`, limit, per estate)."""
    n = len(estate)
    mask = np.zeros(n, dtype=bool)
    detail = np.full(n, "", dtype=object)
    for label, (k, limit, per_estate) in sources.items():
        have = k >= 0
        if not have.any():
            continue
        group = pd.factorize(k * (int(estate.max(initial=0)) + 1) + estate if per_estate else k)[0]
        size = np.zeros(n)
        size[have] = np.bincount(group[have])[group[have]]
        hit = have & (size > limit)
        where = "本小区" if per_estate else "本轮"
        detail[hit & ~mask] = [f"同一{label}在{where}提交 {int(s)} 份" for s in size[hit & ~mask]]
        mask |= hit
    return Hit(mask, detail)


def bursts(
    estate: np.ndarray,
    seconds: np.ndarray,
    sources: dict[str, np.ndarray],
    *,
    forms: int,
    minutes: float,
) -> Hit:
    """Every form of a window of ``forms`` forms within ``minutes`` from one source and
    estate. ``seconds``: submission times in seconds (NaN unknown); ``sources``: label →
    pseudonym codes (:func:`source_codes`)."""
    n = len(estate)
    mask = np.zeros(n, dtype=bool)
    detail = np.full(n, "", dtype=object)
    for label, k in sources.items():
        have = (k >= 0) & ~np.isnan(seconds)
        if have.sum() < forms:
            continue
        group = pd.factorize(estate.astype(np.int64) * (int(k.max(initial=0)) + 2) + k + 1)[0]
        group = np.where(have, group, -1)
        at = np.flatnonzero(have)
        at = at[np.lexsort((seconds[at], group[at]))]
        g, t = group[at], seconds[at]
        last = np.arange(len(at)) + forms - 1
        ok = last < len(at)
        start = np.flatnonzero(ok)
        full = start[(g[last[ok]] == g[start]) & (t[last[ok]] - t[start] <= minutes * 60)]
        if not len(full):
            continue
        cover = np.zeros(len(at) + 1, dtype=np.int64)  # ranges [start, start + forms)
        np.add.at(cover, full, 1)
        np.add.at(cover, full + forms, -1)
        inside = np.cumsum(cover)[:-1] > 0
        hit = np.zeros(n, dtype=bool)
        hit[at[inside]] = True
        count = np.bincount(group[have], weights=hit[have])
        new = hit & ~mask
        detail[new] = [
            f"同一{label}在 {minutes:g} 分钟内集中提交（共 {int(c)} 份）" for c in count[group[new]]
        ]
        mask |= hit
    return Hit(mask, detail)


# --------------------------------------------------------------------------- timing


def robust_duration_z(
    estate: np.ndarray, duration: np.ndarray, min_forms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each form's robust z of log duration against its estate (the round's forms when the
    estate has fewer than ``min_forms`` durations), and the median duration used (seconds).
    NaN without a duration or when the spread is zero."""
    log_d = np.log(np.where(duration > 0, duration, np.nan))
    frame = pd.DataFrame({"e": estate, "x": log_d})
    grouped = frame.groupby("e")["x"]
    median = grouped.transform("median").to_numpy()
    mad = (frame["x"] - grouped.transform("median")).abs().groupby(frame["e"]).transform("median")
    mad = mad.to_numpy()
    count = grouped.transform("count").to_numpy()
    small = count < min_forms
    if small.any():
        all_median = np.nanmedian(log_d) if np.isfinite(log_d).any() else np.nan
        all_mad = np.nanmedian(np.abs(log_d - all_median)) if np.isfinite(log_d).any() else np.nan
        median = np.where(small, all_median, median)
        mad = np.where(small, all_mad, mad)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (log_d - median) / (1.4826 * mad)
    z = np.where(np.isfinite(z), z, np.nan)
    return z, np.exp(median)


def fast(z: np.ndarray, duration: np.ndarray, median: np.ndarray, robust_z: float) -> Hit:
    """Forms with robust duration z below ``-robust_z``."""
    mask = np.nan_to_num(z, nan=0.0) < -robust_z
    texts = [
        f"用时 {d:.0f} 秒，本小区中位数 {m:.0f} 秒（稳健 z = {zz:.1f}）"
        for d, m, zz in zip(
            duration[mask].tolist(), median[mask].tolist(), z[mask].tolist(), strict=True
        )
    ]
    return Hit(mask, _details(mask, texts))


def odd_hours(submitted: pd.Series, start: int, end: int) -> Hit:
    """Forms submitted before ``start`` or from ``end`` o'clock on."""
    hour = submitted.dt.hour.to_numpy(dtype=float, na_value=np.nan)
    mask = ~np.isnan(hour) & ((hour < start) | (hour >= end))
    texts = [f"{int(h):02d} 点提交（正常时段 {start}–{end} 点）" for h in hour[mask].tolist()]
    return Hit(mask, _details(mask, texts))


def not_in_frame(in_frame: np.ndarray | None, n: int) -> Hit:
    """Forms whose building and room are not in the household frame (``in_frame`` False);
    nothing when there is no frame."""
    if in_frame is None:
        return Hit.none(n)
    mask = ~np.asarray(in_frame, dtype=bool)
    return Hit(mask, _details(mask, ["住户清册中没有该楼栋房号"] * int(mask.sum())))
