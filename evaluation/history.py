"""Reading the store for analysts: history of estates, firms and lists; trends; streaks.

Rounds form series by period kind: half-year rounds (``2025H1 < 2025H2 < 2026H1``) and
quarterly rounds (``2025Q1 < … < 2025Q4``, 还建社区 only) are separate series and are never
mixed in trends or streaks.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.round import PERIOD_PATTERN
from wuye_common.errors import Problem, WuyeError

if TYPE_CHECKING:
    from evaluation.store import Store

BLACK, RED = "黑榜", "红榜"
LIST_COLUMNS = (
    "round_id",
    "period",
    "level",
    "key",
    "label",
    "firm",
    "list",
    "eligible",
    "reasons",
)


def period_key(period: str) -> tuple[str, int, int]:
    """``2025H2`` → ``("H", 2025, 2)``: series, then order within the series."""
    m = PERIOD_PATTERN.match(str(period))
    if not m:
        raise WuyeError(Problem(f"无法识别的评估期 {period!r}", "写成 2025H1 或 2025Q3 这样的格式"))
    return m["kind"], int(m["year"]), int(m["part"])


def _periods(frame: pd.DataFrame, column: str = "period") -> pd.DataFrame:
    """Add ``series``, ``_year``, ``_part`` parsed from ``period`` (vectorised).

    A round stored without a period (series ``""``) sorts after the others and never joins
    a series' streaks or trends.
    """
    parts = frame[column].astype("string").str.extract(PERIOD_PATTERN)
    bad = frame[column].notna() & parts["year"].isna()
    if bad.any():
        shown = frame.loc[bad, column].astype(str).unique()
        raise WuyeError(
            Problem(f"无法识别的评估期 {'、'.join(shown[:5])}", "写成 2025H1 或 2025Q3 这样的格式")
        )
    return frame.assign(
        series=parts["kind"].fillna("").astype(str),
        _year=pd.to_numeric(parts["year"]).fillna(9999).astype(int),
        _part=pd.to_numeric(parts["part"]).fillna(0).astype(int),
    )


def _open(db: Any) -> AbstractContextManager[Store]:
    """``with _open(db) as store``: an open ``Store`` as it is (left open), or the database
    at a path, opened and closed around the ``with``."""
    from evaluation.store import Store

    if isinstance(db, Store):
        return nullcontext(db)
    path = Path(db)
    if not path.exists():
        raise WuyeError(
            Problem(
                "找不到历史数据库",
                "先运行一个轮次（会创建 wuye.sqlite），或检查路径",
                file=str(path),
            )
        )
    return Store(path)


def history(
    db: Any, *, kind: str = "estates", estate_id: str | None = None, firm: str | None = None
) -> pd.DataFrame:
    """Results of every stored round as one DataFrame, in series and period order.

    - ``kind="estates"``: one row per round × estate — ``round_id, period, series`` plus the
      台账 columns (``estate_name, firm, tier, households``), the scoring columns and the
      ranking columns (``composite, rank, eligible, list, reasons``).
    - ``kind="firms"``: one row per round × firm from the firm roll-up.
    - ``kind="lists"``: one row per round × ranked estate and firm — ``round_id, period,
      level`` (estate/firm), ``key, label, firm, list`` (红榜/黑榜/""), ``eligible, reasons``.

    ``estate_id`` / ``firm`` filter the rows. ``db`` is a path or an open ``Store``.
    """
    if kind not in ("estates", "firms", "lists"):
        raise WuyeError(Problem(f"未知的历史类型 kind={kind!r}", "只能是 estates、firms 或 lists"))
    with _open(db) as store:
        rounds = store.read("rounds")[["round_id", "period"]]
        if kind == "estates":
            out = _estates(store)
        elif kind == "firms":
            out = store.read("rank_firms")
        else:
            out = _lists(store)
    out = out.drop(columns=[c for c in ("period",) if c in out.columns])
    out = out.merge(rounds, on="round_id", how="left")
    if estate_id is not None:
        if "estate_id" in out.columns:
            out = out[out["estate_id"].astype(str) == str(estate_id)]
        elif "level" in out.columns:
            out = out[(out["level"] == "estate") & (out["key"] == str(estate_id))]
    if firm is not None and "firm" in out.columns:
        out = out[out["firm"].astype(str) == str(firm)]
    out = _periods(out)
    key = {"estates": ["estate_id"], "firms": ["firm"], "lists": ["level", "key"]}[kind]
    key = [k for k in key if k in out.columns]
    out = out.sort_values(["series", "_year", "_part", "round_id", *key], kind="mergesort")
    cols = [
        "round_id",
        "period",
        "series",
        *[c for c in out.columns if c not in ("round_id", "period", "series", "_year", "_part")],
    ]
    return out[cols].reset_index(drop=True)


def _estates(store: Store) -> pd.DataFrame:
    score = store.read("score_estates")
    if score.empty:
        return pd.DataFrame(columns=["round_id", "estate_id"])
    reg = store.read("round_register")
    keep = [
        c
        for c in ("estate_name", "community", "firm", "households")
        if c in reg.columns and c not in score.columns
    ]  # no firm_x/firm_y
    if len(reg.columns) > 1 and "estate_id" in reg.columns:
        score = score.merge(
            reg[["round_id", "estate_id", *keep]], on=["round_id", "estate_id"], how="left"
        )
    rank = store.read("rank_estates")
    if "estate_id" in rank.columns:
        extra = [
            c for c in rank.columns if c not in score.columns or c in ("round_id", "estate_id")
        ]
        score = score.merge(rank[extra], on=["round_id", "estate_id"], how="left")
    return score


def _lists(store: Store) -> pd.DataFrame:
    est = store.read("rank_estates")
    firms = store.read("rank_firms")
    frames = []
    if "estate_id" in est.columns:
        reg = store.read("round_register")
        names = [c for c in ("estate_name", "firm") if c in reg.columns and c not in est]
        if names and "estate_id" in reg.columns:
            est = est.merge(
                reg[["round_id", "estate_id", *names]], on=["round_id", "estate_id"], how="left"
            )
        if "estate_name" not in est.columns:
            est = est.assign(estate_name=est["estate_id"])
        frames.append(
            pd.DataFrame(
                {
                    "round_id": est["round_id"],
                    "level": "estate",
                    "key": est["estate_id"].astype(str),
                    "label": est["estate_name"].fillna(est["estate_id"]).astype(str),
                    "firm": est["firm"].fillna("").astype(str) if "firm" in est else "",
                    "list": est["list"].fillna("").astype(str),
                    "eligible": est["eligible"],
                    "reasons": est["reasons"].fillna("").astype(str),
                }
            )
        )
    if "firm" in firms.columns:
        frames.append(
            pd.DataFrame(
                {
                    "round_id": firms["round_id"],
                    "level": "firm",
                    "key": firms["firm"].astype(str),
                    "label": firms["firm"].astype(str),
                    "firm": firms["firm"].astype(str),
                    "list": firms["list"].fillna("").astype(str),
                    "eligible": firms["eligible"],
                    "reasons": firms["reasons"].fillna("").astype(str),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=[c for c in LIST_COLUMNS if c != "period"])
    return pd.concat(frames, ignore_index=True)


def consecutive_listings(data: Any, round_id: str) -> pd.DataFrame:
    """Streaks and totals of 黑榜/红榜 per estate and firm up to and including ``round_id``.

    ``data`` is a lists frame (``history(db, kind="lists")`` shape: ``round_id, period,
    level, key, list``), a ``Store`` or a database path. The sequence is the rounds of the
    same series as ``round_id`` with an earlier period, in period order, then ``round_id``
    itself (other rounds of the same period are alternatives and are left out). Being absent
    from a round, or not listed in it, breaks a streak. Returns ``level, key,
    black_consecutive, red_consecutive, black_total, red_total`` for every key seen.
    """
    lists = data if isinstance(data, pd.DataFrame) else history(data, kind="lists")
    empty = pd.DataFrame(
        columns=["level", "key", "black_consecutive", "red_consecutive", "black_total", "red_total"]
    )
    if lists.empty:
        return empty
    rounds = _periods(lists[["round_id", "period"]].drop_duplicates("round_id"))
    this = rounds[rounds["round_id"].astype(str) == str(round_id)]
    if this.empty:
        raise WuyeError(Problem(f"历史记录中没有轮次 {round_id}", "先对该轮次排名并写入数据库"))
    s, y, p = this[["series", "_year", "_part"]].iloc[0]
    order = rounds[
        (rounds["series"] == s) & ((rounds["_year"] * 10 + rounds["_part"]) < (y * 10 + p))
    ]
    order = order.sort_values(["_year", "_part", "round_id"], kind="mergesort")
    sequence = [*order["round_id"].astype(str), str(round_id)]
    sub = lists[lists["round_id"].astype(str).isin(sequence)]
    sub = sub.assign(
        _black=sub["list"] == BLACK, _red=sub["list"] == RED, round_id=sub["round_id"].astype(str)
    )
    out = []
    for col in ("_black", "_red"):
        mat = sub.pivot_table(
            index=["level", "key"], columns="round_id", values=col, aggfunc="max", fill_value=False
        )
        mat = mat.reindex(columns=sequence, fill_value=False).astype(bool)
        arr = mat.to_numpy()
        streak = np.cumprod(arr[:, ::-1], axis=1).sum(axis=1)
        out.append(
            pd.DataFrame(
                {f"{col[1:]}_consecutive": streak, f"{col[1:]}_total": arr.sum(axis=1)},
                index=mat.index,
            )
        )
    result = out[0].join(out[1]).reset_index()
    return result[
        ["level", "key", "black_consecutive", "red_consecutive", "black_total", "red_total"]
    ].astype(
        {
            "black_consecutive": "int64",
            "red_consecutive": "int64",
            "black_total": "int64",
            "red_total": "int64",
        }
    )


def change_test(
    rate: pd.Series,
    se: pd.Series,
    prev_rate: pd.Series,
    prev_se: pd.Series,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Change between two rounds' independent estimates: Wald test.

    ``Δ = p̂₂ − p̂₁``, ``se(Δ) = √(se₁² + se₂²)`` — the variance of a difference of estimates
    from independent samples (each round draws afresh; Kish 1965, *Survey Sampling*, on
    comparisons between independent samples), ``z = Δ / se``, two-sided
    ``p = 2(1 − Φ(|z|))``, interval
    ``Δ ± z_{α/2} se``. When both se are 0 the change is exact: p = 0 if Δ ≠ 0 else 1.
    """
    from scipy import stats  # here: importing evaluation (every command, every worker) skips it

    delta = rate - prev_rate
    dse = np.sqrt(se.astype(float) ** 2 + prev_se.astype(float) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = delta / dse
    z = z.where(dse > 0, np.where(delta.abs() > 0, np.sign(delta) * np.inf, 0.0))
    z = z.where(delta.notna())
    p = pd.Series(2 * stats.norm.sf(np.abs(z.to_numpy(dtype=float))), index=rate.index)
    crit = stats.norm.ppf(1 - (1 - confidence) / 2)
    return pd.DataFrame(
        {
            "change": delta,
            "change_se": dse,
            "change_low": delta - crit * dse,
            "change_high": delta + crit * dse,
            "z": z,
            "p_value": p.where(delta.notna()),
            "significant": (p < 1 - confidence) & delta.notna(),
        },
        index=rate.index,
    )


def trend_table(
    db: Any,
    *,
    level: str = "estate",
    estate_id: str | None = None,
    firm: str | None = None,
    confidence: float = 0.95,
    kind: str | None = None,
) -> pd.DataFrame:
    """Per estate (``level="estate"``) or firm (``"firm"``) across rounds, with change tests.

    One row per key × round in series and period order: the round's ``rate, rate_se,
    rate_low, rate_high, verdict, composite, rank, list`` and the change from the previous
    round *of the same series* in which the key was scored (:func:`change_test`).
    ``kind="estates"``/``"firms"`` is accepted for ``level``.
    """
    level = {"estates": "estate", "firms": "firm"}.get(kind or level, kind or level)
    if level not in ("estate", "firm"):
        raise WuyeError(Problem(f"未知的层级 level={level!r}", "只能是 estate 或 firm"))
    frame = history(
        db, kind="estates" if level == "estate" else "firms", estate_id=estate_id, firm=firm
    )
    key = "estate_id" if level == "estate" else "firm"
    if frame.empty:
        return frame
    keep = [
        c
        for c in (
            "round_id",
            "period",
            "series",
            key,
            "estate_name",
            "firm",
            "rate",
            "rate_se",
            "rate_low",
            "rate_high",
            "threshold",
            "verdict",
            "index",
            "composite",
            "rank",
            "list",
        )
        if c in frame.columns
    ]
    frame = frame[list(dict.fromkeys(keep))].reset_index(drop=True)
    for col in ("rate", "rate_se"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    scored = frame["rate"].notna()
    grp = frame[scored].groupby([key, "series"], sort=False)
    frame["prev_round"] = grp["round_id"].shift().reindex(frame.index)
    frame["prev_rate"] = grp["rate"].shift().reindex(frame.index)
    prev_se = grp["rate_se"].shift().reindex(frame.index)
    tests = change_test(
        frame["rate"], frame["rate_se"], frame["prev_rate"], prev_se, confidence=confidence
    )
    return pd.concat([frame, tests], axis=1)
