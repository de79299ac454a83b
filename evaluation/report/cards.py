"""Payloads of the estate cards (``templates/card.typ``), built column-wise for the round.

One card per estate: verdict and rate with its interval, the overall item apart from the
service dimensions, list history (连续上榜, 退出预警), the firm's status, a trend over past
rounds, 整改要求 for 未达标 / 黑榜 estates, rank as ``37/40``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report import fonts, summary, tables
from evaluation.report import format as fmt
from evaluation.results import RoundResults
from wuye_common.vocabulary import OVERALL_DIMENSION


def clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/NA → None, numpy → Python."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (NaN → None, numpy → Python), in one pass."""
    cols = {c: [clean(v) for v in frame[c].tolist()] for c in frame.columns}
    return [dict(zip(cols, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def _grouped(frame: pd.DataFrame, key: str = "estate_id") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in records(frame):
        out.setdefault(str(rec.pop(key)), []).append(rec)
    return out


def sensitivity_note(verdict: pd.Series, delta: pd.Series) -> np.ndarray:
    """The non-response sensitivity beside a decided verdict, in plain words:
    ``；满意与不满意住户应答意愿相差 2.1 倍即可改变判定`` (nothing for 临界 or unknown)."""
    decided = verdict.isin(["达标", "未达标"]).to_numpy() & delta.notna().to_numpy()
    odds = np.exp(np.minimum(np.abs(delta.to_numpy(dtype=float)), 50.0))
    text = np.where(
        np.isinf(delta.to_numpy(dtype=float)),
        "；任何未应答情形都不改变判定",
        "；满意与不满意住户应答意愿相差 "
        + np.char.mod("%.1f", odds).astype(object)
        + " 倍即可改变判定",
    )
    return np.where(decided, text, "")


def plan_column(results: RoundResults, estate_ids: pd.Series, column: str) -> pd.Series:
    """``column`` of the sampling plan for each estate (NaN without a plan)."""
    plan = results.plan
    if plan.empty or column not in plan.columns:
        return pd.Series(np.nan, index=estate_ids.index)
    first = plan.drop_duplicates("estate_id")
    values = pd.Series(first[column].to_numpy(), index=first["estate_id"].astype(str).to_numpy())
    return estate_ids.astype(str).map(values).astype(float)


class _Columns:
    """The estates frame's columns with defaults for absent ones."""

    def __init__(self, e: pd.DataFrame) -> None:
        self.e = e

    def __call__(self, name: str, default: Any = np.nan) -> pd.Series:
        e = self.e
        return e[name] if name in e.columns else pd.Series(default, index=e.index)

    def num(self, name: str) -> pd.Series:
        return pd.to_numeric(self(name), errors="coerce")


def _verdict_notes(col: _Columns) -> np.ndarray:
    verdict = fmt.text_series(col("verdict", ""))
    thr = fmt.pct_series(col("threshold"))
    note = np.select(
        [verdict == "达标", verdict == "未达标", verdict == "临界"],
        [
            "置信区间下限不低于达标线 " + thr,
            "置信区间上限低于达标线 " + thr,
            "置信区间跨越达标线 " + thr + "，差异在抽样误差范围内",
        ],
        "",
    )
    return note + sensitivity_note(verdict, col.num("nr_delta"))


def _small_sample_sae(col: _Columns) -> pd.Series:
    """The small-area estimate with its interval for estates with few answers, else ``""``."""
    sae = col.num("sae_rate")
    text = fmt.interval_series(sae, col("sae_low"), col("sae_high"))
    return text.where((col.num("n") < tables.SMALL_SAMPLE) & sae.notna(), "")


def estate_frame(results: RoundResults, e: pd.DataFrame) -> pd.DataFrame:
    """The card's headline per estate: verdict, rate and index bars, list, flags."""
    col = _Columns(e)
    idx = col.num("index") / 100
    ids = e["estate_id"].astype(str)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": fmt.text_series(col("estate_name", "")),
            "tier": fmt.text_series(col("tier", "")),
            "threshold": col.num("threshold"),
            "threshold_text": fmt.pct_series(col("threshold")),
            "rate": col.num("rate").clip(0, 1),
            "rate_low": col.num("rate_low").clip(0, 1),
            "rate_high": col.num("rate_high").clip(0, 1),
            "rate_pct": fmt.pct_series(col("rate")),
            "rate_text": fmt.interval_series(col("rate"), col("rate_low"), col("rate_high")),
            "index_text": fmt.index_interval_series(
                col("index"), col("index_low"), col("index_high")
            ),
            "index_frac": idx.clip(0, 1),
            "index_low_frac": (col.num("index_low") / 100).clip(0, 1),
            "index_high_frac": (col.num("index_high") / 100).clip(0, 1),
            "verdict": fmt.text_series(col("verdict", "")),
            "verdict_note": _verdict_notes(col),
            "list": fmt.text_series(col("list", "")),
            "reasons": fmt.restyle_series(col("reasons", "")).str.replace(
                r"^(红榜|黑榜)[：:]\s*", "", regex=True
            ),
            "flags": fmt.restyle_series(col("flags", "")),
            "sae_text": _small_sample_sae(col),
            "history": summary._history_text(ids, results),
            "requirement": ids.map(summary.requirements(results))
            .astype(object)
            .fillna("")
            .to_numpy(),
        }
    )
    return frame


def fact_rows(results: RoundResults, e: pd.DataFrame) -> list[list[list[str]]]:
    """The card's key facts per estate, as (label, text) rows; rank as ``37/40``."""
    col = _Columns(e)
    rank = col.num("rank")
    ranked = int(rank.notna().sum())
    facts = pd.DataFrame(
        {
            "所属社区": fmt.text_series(col("community", "")),
            "物业企业": fmt.text_series(col("firm", "")),
            "服务等级": fmt.text_series(col("tier", "")),
            "户数": fmt.integer_series(col("households")),
            "有效样本": fmt.integer_series(col("n")),
            "应答率（RR1）": fmt.pct_series(col("response_rate")),
            "排名": fmt.integer_series(rank).where(
                rank.isna(), fmt.integer_series(rank) + f"/{ranked}"
            ),
            "检验功效": fmt.pct_series(plan_column(results, e["estate_id"], "power"), 0),
        }
    )
    return [
        [[k, v] for k, v in zip(facts.columns, row, strict=True)]
        for row in facts.to_numpy().tolist()
    ]


def dimension_bars(results: RoundResults) -> tuple[dict[str, list], dict[str, dict]]:
    """Per estate: its service dimensions (bars), and its overall item apart."""
    d = results.dimensions
    if d.empty or not {"estate_id", "dimension", "rate"} <= set(d.columns):
        return {}, {}
    low = d["ci_low"] if "ci_low" in d else pd.Series(np.nan, index=d.index)
    high = d["ci_high"] if "ci_high" in d else pd.Series(np.nan, index=d.index)
    dd = pd.DataFrame(
        {
            "estate_id": d["estate_id"].astype(str),
            "name": fmt.text_series(d["dimension"]),
            "rate": pd.to_numeric(d["rate"], errors="coerce").clip(0, 1),
            "low": pd.to_numeric(low, errors="coerce").clip(0, 1),
            "high": pd.to_numeric(high, errors="coerce").clip(0, 1),
            "text": fmt.interval_series(d["rate"], low, high),
        }
    )
    overall = dd["name"] == OVERALL_DIMENSION
    apart = {k: v[0] for k, v in _grouped(dd[overall]).items()}
    return _grouped(dd[~overall]), apart


def change_lines(results: RoundResults) -> dict[str, dict]:
    """Per estate: the previous rate and the change with its interval."""
    c = results.changes
    if c.empty or not {"estate_id", "diff"} <= set(c.columns):
        return {}
    sig = c["significant"] if "significant" in c.columns else pd.Series(None, index=c.index)
    nan = pd.Series(np.nan, index=c.index)
    cc = pd.DataFrame(
        {
            "estate_id": c["estate_id"].astype(str),
            "previous": fmt.pct_series(c.get("previous_rate", nan)),
            "diff": fmt.points_interval_series(
                c["diff"], c.get("diff_low", nan), c.get("diff_high", nan)
            ),
            "significant": sig.astype(object),
        }
    )
    return {str(r.pop("estate_id")): r for r in records(cc)}


def trend_points(results: RoundResults) -> dict[str, list[dict[str, Any]]]:
    """Per estate: its rate with interval in each stored round, oldest first."""
    t = results.trends
    if t.empty or not {"estate_id", "round_id", "rate"} <= set(t.columns):
        return {}
    t = t.sort_values(["estate_id", "round_id"])
    nan = pd.Series(np.nan, index=t.index)
    frame = pd.DataFrame(
        {
            "estate_id": t["estate_id"].astype(str),
            "label": t["round_id"].astype(str),
            "rate": pd.to_numeric(t["rate"], errors="coerce").clip(0, 1),
            "low": pd.to_numeric(t.get("rate_low", nan), errors="coerce").clip(0, 1),
            "high": pd.to_numeric(t.get("rate_high", nan), errors="coerce").clip(0, 1),
            "text": fmt.pct_series(t["rate"]),
            "list": fmt.text_series(t.get("list", pd.Series("", index=t.index))),
        }
    )
    return _grouped(frame)


def firm_status(results: RoundResults) -> dict[str, str]:
    """Per firm: ``满意率 72.6%（71.5%～73.8%），达标；黑榜；连续 2 轮黑榜；退出预警``."""
    f = results.firms
    if f.empty or "firm" not in f.columns:
        return {}
    col = _Columns(f)
    parts = [
        "满意率 " + fmt.interval_series(col("rate"), col("ci_low"), col("ci_high")),
        fmt.text_series(col("verdict", "")),
        fmt.text_series(col("list", "")),
        summary._history_text(f["firm"], results, "firm"),
    ]
    text = parts[0]
    for p in parts[1:]:
        text = text + np.where(p.to_numpy() != "", "；" + p, "")
    return dict(zip(f["firm"].astype(str), text.astype(str), strict=True))


def card_quality(results: RoundResults) -> dict[str, str]:
    """Per estate, the card's line on flagged forms (rules counted)."""
    by_estate = tables.quality_by_estate(results)
    if by_estate.empty:
        return {}
    rules = [c for c in by_estate.columns if c in tables.RULE_LABELS.values()]
    out = {}
    for row in by_estate.to_dict("records"):
        parts = [f"{c} {int(row[c])}" for c in rules if row.get(c)]
        out[str(row["estate_id"])] = f"被标记问卷 {int(row['被标记问卷'])} 份（{'、'.join(parts)}）"
    return out


def card_voices(results: RoundResults, quotes: int = 3) -> dict[str, dict[str, Any]]:
    """Per estate: its top three comment themes and up to ``quotes`` scrubbed comments
    (from the dissatisfied first, the longest first, one per theme)."""
    themes, comments = results.comment_themes, results.comments
    out: dict[str, dict[str, Any]] = {}
    if themes.empty:
        return out
    named = themes[themes["theme"] != "其他"]
    top = named.groupby(named["estate_id"].astype(str)).head(3)
    for estate, group in top.groupby(top["estate_id"].astype(str)):
        out[estate] = {
            "themes": "、".join(
                f"{t}（{int(m)}）" for t, m in zip(group["theme"], group["mentions"], strict=True)
            ),
            "quotes": [],
        }
    if not comments.empty:
        c = comments.assign(
            estate_id=comments["estate_id"].astype(str),
            length=comments["comment"].astype(str).str.len(),
        )
        c = c[(c["theme"] != "其他") & c["length"].between(6, 80)]
        c = c.sort_values(["estate_id", "length"], ascending=[True, False])
        c = c.drop_duplicates(["estate_id", "theme"]).drop_duplicates(["estate_id", "comment"])
        for estate, group in c.groupby("estate_id"):
            out.setdefault(estate, {"themes": "", "quotes": []})["quotes"] = (
                group["comment"].astype(str).head(quotes).tolist()
            )
    return out


def card_method(results: RoundResults) -> str:
    """The card's footnote: what the figures mean."""
    rnd = results.round
    return (
        f"说明：满意率为总体评价题“满意”及以上的加权比例，括号内为 "
        f"{fmt.pct(rnd.confidence, 0)} 置信区间；红线为该等级达标线。"
        "判定：区间下限 ≥ 达标线为“达标”，区间上限 < 达标线为“未达标”，其余为“临界”。"
        f"检验功效：按本轮抽样方案，满意率比达标线低 {rnd.sampling.delta * 100:g} "
        "个百分点的小区被判为“未达标”的概率。排名为全区参与排名小区中的名次。"
    )


def card_payloads(results: RoundResults) -> dict[str, dict[str, Any]]:
    """One payload per estate (keyed by ``estate_id``), built column-wise for the whole round."""
    results = tables.prepare(results)
    e = results.estates
    if e.empty or "estate_id" not in e.columns:
        return {}
    e = e.reset_index(drop=True)
    frame = estate_frame(results, e)
    dims, overall = dimension_bars(results)
    changes, trends = change_lines(results), trend_points(results)
    firms = firm_status(results)
    quality, voices = card_quality(results), card_voices(results)
    firm_of = fmt.text_series(e["firm"] if "firm" in e.columns else pd.Series("", index=e.index))
    common = {
        "title": results.round.label,
        "fonts": fonts.typst_families(results.round.report),
        "method": card_method(results),
    }
    return {
        r["id"]: {
            **common,
            "estate": r,
            "facts": facts,
            "overall": overall.get(r["id"]),
            "dimensions": dims.get(r["id"], []),
            "change": changes.get(r["id"]),
            "trend": trends.get(r["id"], []),
            "firm": firms.get(firm, ""),
            "quality": quality.get(r["id"], ""),
            "voices": voices.get(r["id"], {"themes": "", "quotes": []}),
        }
        for r, facts, firm in zip(
            records(frame), fact_rows(results, e), firm_of.tolist(), strict=True
        )
    }
