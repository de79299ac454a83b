"""matplotlib charts for the notebooks (the PDFs draw their bars natively in Typst).

Fonts come from :func:`evaluation.report.fonts.setup_matplotlib` (Noto Sans SC with DejaVu
Sans for Latin glyphs), so Chinese labels render without tofu.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaluation.report import tables
from evaluation.report.fonts import setup_matplotlib
from evaluation.results import RoundResults

VERDICT_COLORS = {"达标": "#1b7f3b", "临界": "#b7791f", "未达标": "#c53030"}


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """A pyplot-free Figure (no global state, no backend switching, thread-safe)."""
    setup_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot()


def to_png(fig: Any, dpi: int = 110) -> bytes:
    """PNG bytes of a Figure."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show(fig: Any) -> Any:
    """For a notebook cell: the chart as an embedded PNG, or 本轮无数据 when there is none."""
    if fig is None:
        return tables.NoData()
    from IPython.display import Image

    return Image(data=to_png(fig), format="png")


def interval_chart(results: RoundResults, tier: str | None = None, max_estates: int = 60) -> Any:
    """Estates' rates with confidence intervals as error bars, red line at each threshold.

    Returns a matplotlib Figure, or None when there is nothing to draw.
    """
    e = results.estates
    if e.empty or "rate" not in e.columns:
        return None
    if tier is not None:
        e = e[e["tier"] == tier]
    e = e.sort_values("rate").tail(max_estates)
    if e.empty:
        return None
    y = np.arange(len(e))
    rate = e["rate"].to_numpy(float)
    low = e.get("rate_low", e["rate"]).to_numpy(float)
    high = e.get("rate_high", e["rate"]).to_numpy(float)
    fig, ax = _figure(7, 0.28 * len(e) + 1.2)
    colors = [VERDICT_COLORS.get(v, "#1f4e9c") for v in e.get("verdict", pd.Series("", e.index))]
    ax.errorbar(rate, y, xerr=[rate - low, high - rate], fmt="none", ecolor="#555", capsize=2)
    ax.scatter(rate, y, c=colors, zorder=3, s=18)
    thr = e["threshold"].to_numpy(float) if "threshold" in e.columns else None
    if thr is not None:
        ax.scatter(thr, y, marker="|", s=140, c="#d62728", zorder=4, label="达标线")
    ax.set_yticks(y, [str(n).replace("\n", " ")[:16] for n in e.get("estate_name", e["estate_id"])])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("满意率（95% 置信区间）")
    ax.set_title(f"{tier or '全部'}小区满意率")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def dimension_chart(results: RoundResults, estate_id: str) -> Any:
    """One estate's dimension rates as bars with interval whiskers and its threshold line."""
    d = results.dimensions
    if d.empty:
        return None
    d = d[d["estate_id"].astype(str) == str(estate_id)]
    if d.empty:
        return None
    rate = d["rate"].to_numpy(float)
    low = d.get("ci_low", d["rate"]).to_numpy(float)
    high = d.get("ci_high", d["rate"]).to_numpy(float)
    fig, ax = _figure(7, 0.4 * len(d) + 1.2)
    y = np.arange(len(d))
    ax.barh(y, rate, color="#8fb3e0", xerr=[rate - low, high - rate], capsize=3)
    ax.set_yticks(y, d["dimension"].astype(str))
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    e = results.estates
    thr = (
        e.loc[e["estate_id"].astype(str) == str(estate_id), "threshold"]
        if "threshold" in e.columns
        else pd.Series(dtype=float)
    )
    if len(thr):
        ax.axvline(float(thr.iloc[0]), color="#d62728", lw=1.5, label="达标线")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("分项满意率")
    fig.tight_layout()
    return fig


OC_SPAN = 0.15
"""The operating-characteristic chart shows true rates from T − 15 to T + 15 points."""


def oc_curves(results: RoundResults, points: int = 61) -> pd.DataFrame:
    """Per tier the exact operating characteristic of the round's plan at its median estate
    (median planned respondents and households of the tier): ``tier, threshold, N, n,
    shift`` (true rate − T) and ``p_pass, p_fail`` (``evaluation.operating_characteristic``,
    the interval method the plan's estates are judged with)."""
    from evaluation.scoring.exact import operating_characteristic

    plan, e = results.plan, results.estates
    need = {"estate_id", "N", "respondents"}
    if plan.empty or not need <= set(plan.columns) or e.empty or "tier" not in e.columns:
        return pd.DataFrame()
    first = e.drop_duplicates("estate_id")
    tiers = pd.Series(first["tier"].to_numpy(), index=first["estate_id"].astype(str).to_numpy())
    p = plan.assign(tier=plan["estate_id"].astype(str).map(tiers))
    p = p[(p["N"] > 0) & (p["respondents"] > 0) & p["tier"].notna()]
    method = p["interval_method"].mode().iloc[0] if "interval_method" in p and len(p) else "exact"
    frames = []
    shift = np.linspace(-OC_SPAN, OC_SPAN, points)
    for tier, threshold in results.round.thresholds.items():
        rows = p[p["tier"] == tier]
        if rows.empty:
            continue
        N = int(rows["N"].median())
        n = min(int(rows["respondents"].median()), N)
        rate = np.clip(threshold + shift, 0.0, 1.0)
        oc = operating_characteristic(N, n, threshold, rate, method=method)
        frames.append(oc.assign(tier=tier, shift=shift))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def oc_chart(results: RoundResults) -> Any:
    """The plan's operating characteristic: for each tier's median estate, the probability
    of 达标 (solid) and of 未达标 (dashed) against the true rate's distance from the
    threshold (percentage points). None when there is no plan."""
    curves = oc_curves(results)
    if curves.empty:
        return None
    fig, ax = _figure(7, 3.4)
    colors = ["#1f4e9c", "#2f855a", "#b7791f", "#805ad5", "#c53030"]
    for color, (tier, c) in zip(colors * 2, curves.groupby("tier", sort=False), strict=False):
        label = f"{tier}（约 {int(c['n'].iloc[0])}/{int(c['N'].iloc[0])} 户）"
        ax.plot(c["shift"] * 100, c["p_pass"], color=color, lw=1.6, label=label)
        ax.plot(c["shift"] * 100, c["p_fail"], color=color, lw=1.2, ls="--")
    ax.axvline(0, color="#d62728", lw=1)
    ax.axhline(0.8, color="#888", lw=0.6, ls=":")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("真实满意率与达标线之差（百分点）")
    ax.set_ylabel("被判为该结论的概率")
    ax.set_title("判定的操作特征：实线＝判为达标，虚线＝判为未达标")
    ax.legend(loc="center right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def to_svg(fig: Any) -> str:
    """SVG text of a Figure, glyphs as paths (no font needed where it is shown)."""
    import io

    buffer = io.StringIO()
    with _svg_paths():
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _svg_paths():
    from matplotlib import rc_context

    return rc_context({"svg.fonttype": "path", "svg.hashsalt": "wuye-eval"})


LIST_COLORS = {"红榜": "#c53030", "黑榜": "#1a1a1a"}


def caterpillar_chart(results: RoundResults, level: str = "estates", max_rows: int = 80) -> Any:
    """Ranks with their simultaneous 95% intervals (Klein, Wright & Wieczorek 2020), best
    first: each row an estate (or firm) from ``rank_low`` to ``rank_high`` with its point
    rank; listed ones in their list's colour. None when there are no rank intervals."""
    frame = getattr(results, level)
    if frame.empty or not {"rank", "rank_low", "rank_high"} <= set(frame.columns):
        return None
    f = frame.assign(
        _r=pd.to_numeric(frame["rank"], errors="coerce"),
        _lo=pd.to_numeric(frame["rank_low"], errors="coerce"),
        _hi=pd.to_numeric(frame["rank_high"], errors="coerce"),
    ).dropna(subset=["_r", "_lo", "_hi"])
    if f.empty:
        return None
    f = f.sort_values(["_r", "_lo"]).head(max_rows)
    name_col = "estate_name" if level == "estates" else "firm"
    names = f.get(name_col, f.iloc[:, 0]).astype(str).str.slice(0, 12)
    colors = [LIST_COLORS.get(v, "#1f4e9c") for v in f.get("list", pd.Series("", index=f.index))]
    y = np.arange(len(f))[::-1]
    fig, ax = _figure(7, 0.16 * len(f) + 1.3)
    ax.hlines(y, f["_lo"], f["_hi"], colors=colors, lw=1.4)
    ax.scatter(f["_r"], y, c=colors, s=12, zorder=3)
    if len(f) <= 40:
        ax.set_yticks(y, names)
        ax.tick_params(axis="y", labelsize=7)
    else:
        ax.set_yticks([])
    total = int(pd.to_numeric(frame["rank"], errors="coerce").notna().sum())
    ax.set_xlim(0.5, max(total, 1) + 0.5)
    ax.set_xlabel(f"名次（共 {total} 个参与排名；线段为 95% 联合名次区间）")
    ax.set_title("名次及其不确定性（毛虫图）")
    fig.tight_layout()
    return fig


def funnel_chart(results: RoundResults) -> Any:
    """Funnel plot per tier (Spiegelhalter 2005, *Stat. Med.* 24:1185–1202) with the tier's
    threshold as target: each estate's rate against its effective sample size n* (the
    design-based p̂(1−p̂)/se²), with 95% and 99.8% limits ``T ± z·√(T(1−T)/n*)`` around the
    threshold; an estate outside the funnel differs from its threshold by more than chance.
    None when there is nothing to draw."""
    e = results.estates
    need = {"tier", "rate", "rate_se", "threshold"}
    if e.empty or not need <= set(e.columns):
        return None
    e = e.assign(
        rate=pd.to_numeric(e["rate"], errors="coerce"),
        se=pd.to_numeric(e["rate_se"], errors="coerce"),
        threshold=pd.to_numeric(e["threshold"], errors="coerce"),
        n=pd.to_numeric(e.get("n", np.nan), errors="coerce"),
    ).dropna(subset=["rate", "threshold"])
    with np.errstate(invalid="ignore", divide="ignore"):
        neff = np.where(
            (e["se"] > 0) & (e["rate"] > 0) & (e["rate"] < 1),
            e["rate"] * (1 - e["rate"]) / e["se"] ** 2,
            e["n"],
        )
    e = e.assign(neff=neff).dropna(subset=["neff"])
    order = {t: i for i, t in enumerate(results.round.thresholds)}
    tiers = sorted(e["tier"].dropna().unique(), key=lambda t: order.get(t, 99))
    if not tiers:
        return None
    setup_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 2.6 * ((len(tiers) + 2) // 3)), dpi=100)
    for k, tier in enumerate(tiers):
        ax = fig.add_subplot((len(tiers) + 2) // 3, 3, k + 1)
        _funnel_panel(ax, e[e["tier"] == tier], tier)
    _funnel_legend(fig)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _funnel_legend(fig: Any) -> None:
    """Fill = verdict, ring = list, lines = target and limits."""
    from matplotlib.lines import Line2D

    def dot(face: str, edge: str = "none") -> Line2D:
        return Line2D([], [], marker="o", ls="", markerfacecolor=face, markeredgecolor=edge)

    handles = [
        *(dot(c) for c in VERDICT_COLORS.values()),
        *(dot("white", c) for c in LIST_COLORS.values()),
        Line2D([], [], color="#d62728"),
        Line2D([], [], color="#777", ls="--"),
        Line2D([], [], color="#777", ls=":"),
    ]
    labels = [*VERDICT_COLORS, *LIST_COLORS, "达标线", "95% 控制限", "99.8% 控制限"]
    fig.legend(handles, labels, loc="lower center", ncol=8, fontsize=7, frameon=False)


def _funnel_panel(ax: Any, e: pd.DataFrame, tier: str) -> None:
    t = float(e["threshold"].iloc[0])
    top = max(float(e["neff"].max()) * 1.1, 40.0)
    n = np.linspace(5, top, 200)
    for z, style in ((1.96, "--"), (3.09, ":")):
        half = z * np.sqrt(t * (1 - t) / n)
        ax.plot(n, np.clip(t + half, 0, 1), style, color="#777", lw=0.8)
        ax.plot(n, np.clip(t - half, 0, 1), style, color="#777", lw=0.8)
    ax.axhline(t, color="#d62728", lw=1.2)
    colors = [VERDICT_COLORS.get(v, "#1f4e9c") for v in e.get("verdict", pd.Series("", e.index))]
    edge = [LIST_COLORS.get(v, "none") for v in e.get("list", pd.Series("", e.index))]
    ax.scatter(e["neff"], e["rate"], c=colors, s=16, edgecolors=edge, linewidths=1.2, zorder=3)
    ax.set_xlim(0, top)
    ax.set_ylim(max(0.0, t - 0.45), 1.02)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title(f"{tier}（达标线 {t:.0%}）", fontsize=9)
    ax.set_xlabel("有效样本量", fontsize=8)
    ax.tick_params(labelsize=7)
