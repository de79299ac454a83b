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
