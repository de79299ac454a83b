"""What the estate and firm lists share: the list labels, competition ranks with the rules'
tie-break directions, and the number texts of the reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaluation.ranking.rules import TIE_KEYS, VERDICT_POINTS

RED, BLACK = "红榜", "黑榜"
P_TOP_MIN = 0.5
"""A rank-based red criterion needs the point rank inside the cut and ``p_top`` at least
this: more likely than not in the top (the black ``bottom_k`` keeps the whole rank
interval inside its cut: naming needs certainty)."""


def top_met(rank: pd.Series, k: int, chance: np.ndarray) -> pd.Series:
    """Per unit: rank ≤ k and P(rank ≤ k) ≥ :data:`P_TOP_MIN` (a red cut is met)."""
    likely = pd.Series(np.asarray(chance, dtype=float) >= P_TOP_MIN - 1e-12, index=rank.index)
    return (rank.astype(float) <= k).fillna(False) & likely


def min_rank(
    frame: pd.DataFrame,
    keys: tuple[str, ...] | list[str],
    mask: pd.Series,
    *,
    from_bottom: bool = False,
) -> pd.Series:
    """Competition rank ("1224") over ``keys`` (directions from ``TIE_KEYS``) among ``mask``.

    Rows equal on every key share the smaller rank; NA keys count as worst. With
    ``from_bottom`` rank 1 is the worst row. Returns Int64 with NA outside ``mask``.
    """
    sub = frame.loc[mask, list(keys)].astype(float)
    ascending = [TIE_KEYS[k][0] != from_bottom for k in keys]
    worst = -np.inf if from_bottom else np.inf  # NA fill, on the ascending scale
    filled = pd.DataFrame(
        {
            k: sub[k].fillna(worst if asc else -worst)
            for k, asc in zip(keys, ascending, strict=True)
        },
        index=sub.index,
    )
    ordered = filled.sort_values(list(keys), ascending=ascending, kind="mergesort")
    vals = ordered.to_numpy()
    new = np.ones(len(ordered), dtype=bool)
    if len(ordered) > 1:
        new[1:] = (vals[1:] != vals[:-1]).any(axis=1)
    pos = np.arange(1, len(ordered) + 1, dtype=float)
    ranks = pd.Series(np.where(new, pos, np.nan), index=ordered.index).ffill()
    return ranks.reindex(frame.index).astype("Int64")


def pct(x: pd.Series, digits: int = 1) -> np.ndarray:
    return np.char.mod(f"%.{digits}f%%", np.asarray(x, dtype=float) * 100.0)


def num(x: pd.Series, fmt: str = "%.1f") -> np.ndarray:
    return np.char.mod(fmt, np.asarray(x, dtype=float))


def join_texts(parts: list[Any], index: pd.Index, sep: str = "；") -> pd.Series:
    """Join per-row text parts, skipping empty ones (vectorised)."""
    out = pd.Series("", index=index, dtype=object)
    for part in parts:
        part = pd.Series(np.asarray(part, dtype=object), index=index).fillna("")
        out = out + np.where(part != "", part + sep, "")
    return out.str.removesuffix(sep).astype(str)


def rank_text(frame: pd.DataFrame, n_ranked: int) -> pd.Series:
    """``综合得分 61.2，第 3/40 名（95% 名次区间 1–9 名）`` per row of an estate or firm table
    (its ``composite``, ``rank``, ``rank_low``, ``rank_high``)."""
    return (
        "综合得分 "
        + num(frame["composite"]).astype(object)
        + "，第 "
        + frame["rank"].astype(str)
        + "/"
        + str(n_ranked)
        + " 名（95% 名次区间 "
        + frame["rank_low"].astype(str)
        + "–"
        + frame["rank_high"].astype(str)
        + " 名）"
    )


def verdict_text(frame: pd.DataFrame) -> pd.Series:
    """``满意率 92.1%（下限 88.3%，门槛 90%）达标`` — the bound that decided the verdict."""
    v = frame["verdict"]
    rate, low, high = pct(frame["rate"]), pct(frame["rate_low"]), pct(frame["rate_high"])
    thr = pct(frame["threshold"], 0)
    bound = np.where(
        v == "达标",
        "下限 " + low.astype(object),
        np.where(
            v == "未达标",
            "上限 " + high.astype(object),
            "区间 " + low.astype(object) + "–" + high.astype(object),
        ),
    )
    text = (
        "满意率 " + rate.astype(object) + "（" + bound + "，门槛 " + thr.astype(object) + "）" + v
    )
    return pd.Series(np.where(v.isin(list(VERDICT_POINTS)), text, ""), index=frame.index)
