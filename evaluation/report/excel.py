"""The bureau's Excel workbook (xlsxwriter).

Percentages are numbers with a ``0.0%`` format, never text. Every string from outside
(estate names, reasons, comments) is written with ``write_string``; the workbook is opened
with ``strings_to_formulas``/``strings_to_urls``/``strings_to_numbers`` off, and text
starting with ``= + - @`` gets a ``quote_prefix`` format so Excel never turns it into a
formula, even after the cell is edited.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report import format as fmt
from evaluation.report import tables
from evaluation.report.pdf import method_rows
from evaluation.results import RoundResults
from wuye_common.files import atomic_path

SHEETS = (
    "汇总",
    "小区结果",
    "分项结果",
    "红黑榜",
    "企业汇总",
    "历史趋势",
    "数据质量",
    "居民意见",
    "方法说明",
)
FORMULA_START = ("=", "+", "-", "@")
VERDICT_FILL = {"达标": "#C6EFCE", "临界": "#FFEB9C", "未达标": "#FFC7CE"}
VERDICT_FONT = {"达标": "#006100", "临界": "#9C5700", "未达标": "#9C0006"}
LIST_FILL = {"红榜": "#F8CBAD", "黑榜": "#BFBFBF"}
MAX_WIDTH = 60
INTEGER_COLUMNS = {
    "n",
    "households",
    "estates",
    "rank",
    "count",
    "read",
    "accepted",
    "quarantined",
    "N",
    "sample",
    "buildings",
    "complaints",
    "respondents",
    "df",
    "reserves",
    "estates_scored",
    "estates_eligible",
    "red_estates",
    "black_estates",
    "black_consecutive",
    "red_consecutive",
    "black_total",
    "red_total",
    "numerator",
    "denominator",
    "year",
    "imputed",
    "pass",
    "borderline",
    "fail",
    "point_pass",
    "N_h",
    "n_h",
    "reserve_h",
    "n_topup",
}


class _Writer:
    """Typed, injection-safe table writing with width tracking."""

    def __init__(self, workbook: Any) -> None:
        self.wb = workbook
        base = {"font_name": "Microsoft YaHei", "font_size": 10, "valign": "vcenter"}
        self.base = base
        self.f = {
            "text": workbook.add_format(base),
            "quoted": workbook.add_format({**base, "quote_prefix": True}),
            "pct": workbook.add_format({**base, "num_format": "0.0%"}),
            "num1": workbook.add_format({**base, "num_format": "0.0"}),
            "num2": workbook.add_format({**base, "num_format": "0.00"}),
            "int": workbook.add_format({**base, "num_format": "0"}),
            "pp": workbook.add_format({**base, "num_format": "+0.0%;-0.0%;0.0%"}),
            "head": workbook.add_format(
                {
                    **base,
                    "bold": True,
                    "bg_color": "#DDEBF7",
                    "border": 1,
                    "text_wrap": True,
                    "align": "center",
                }
            ),
            "title": workbook.add_format({**base, "bold": True, "font_size": 14}),
            "bold": workbook.add_format({**base, "bold": True}),
            "wrap": workbook.add_format({**base, "text_wrap": True, "valign": "top"}),
            "nodata": workbook.add_format({**base, "italic": True, "font_color": "#808080"}),
        }
        self.widths: dict[Any, dict[int, int]] = {}

    def _track(self, ws: Any, col: int, text: str) -> None:
        w = self.widths.setdefault(ws, {})
        longest = max((fmt.display_width(line) for line in str(text).split("\n")), default=0)
        w[col] = max(w.get(col, 0), longest)

    def text(self, ws: Any, row: int, col: int, value: Any, style: str = "text") -> None:
        """A string cell; user text starting with = + - @ gets a quote prefix."""
        s = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
        if style == "text" and s.startswith(FORMULA_START):
            style = "quoted"
        ws.write_string(row, col, s, self.f[style])
        self._track(ws, col, s)

    def table(
        self,
        ws: Any,
        frame: pd.DataFrame,
        row: int,
        kinds: dict[str, str],
        labels: dict[str, str] | None = None,
        autofilter: bool = True,
    ) -> int:
        """Write ``frame`` at ``row`` (header + data); returns the next free row.

        ``kinds`` maps a column to ``pct``/``num1``/``num2``/``int``/``pp``; others are text.
        """
        labels = labels or tables.LABELS
        if frame is None or frame.empty:
            ws.write_string(row, 0, tables.NO_DATA, self.f["nodata"])
            return row + 2
        frame = frame[[c for c in frame.columns if c not in tables.HIDDEN_COLUMNS]]
        cols = list(frame.columns)
        for j, c in enumerate(cols):
            head = labels.get(c, str(c))
            ws.write_string(row, j, head, self.f["head"])
            self._track(ws, j, head)
        for j, c in enumerate(cols):
            kind = kinds.get(c)
            series = frame[c]
            if (
                kind
                and pd.api.types.is_numeric_dtype(series)
                and not pd.api.types.is_bool_dtype(series)
            ):
                values = pd.to_numeric(series, errors="coerce").astype(float).to_numpy()
                finite = np.isfinite(values)
                for i, (v, ok) in enumerate(zip(values.tolist(), finite.tolist(), strict=True)):
                    if ok:
                        ws.write_number(row + 1 + i, j, v, self.f[kind])
                    else:
                        ws.write_blank(row + 1 + i, j, None, self.f[kind])
                self._track(ws, j, "100.0%")
            else:
                if pd.api.types.is_bool_dtype(series):
                    texts = series.map({True: "是", False: "否"}).fillna("").astype(str)
                elif c == "level":
                    texts = fmt.text_series(series.map(lambda v: tables.LEVELS.get(v, v)))
                else:
                    texts = fmt.text_series(series)
                values = texts.tolist()
                text_f, quoted_f = self.f["text"], self.f["quoted"]
                for i, s in enumerate(values):  # as self.text, widths once per distinct value
                    ws.write_string(
                        row + 1 + i, j, s, quoted_f if s.startswith(FORMULA_START) else text_f
                    )
                for s in set(values):
                    self._track(ws, j, s)
        last = row + len(frame)
        if autofilter:
            ws.autofilter(row, 0, last, len(cols) - 1)
        return last + 2

    def fit(self, ws: Any, minimum: int = 6) -> None:
        """Column widths from content, wide (Chinese) characters counting two."""
        for col, width in self.widths.get(ws, {}).items():
            ws.set_column(col, col, min(MAX_WIDTH, max(minimum, width + 2)))


def _verdict_formats(writer: _Writer, ws: Any, first: int, last: int, col: int) -> None:
    for v, fill in VERDICT_FILL.items():
        f = writer.wb.add_format({"bg_color": fill, "font_color": VERDICT_FONT[v]})
        ws.conditional_format(
            first,
            col,
            last,
            col,
            {"type": "cell", "criteria": "==", "value": f'"{v}"', "format": f},
        )


def _list_formats(writer: _Writer, ws: Any, first: int, last: int, col: int) -> None:
    for v, fill in LIST_FILL.items():
        f = writer.wb.add_format({"bg_color": fill, "bold": True})
        ws.conditional_format(
            first,
            col,
            last,
            col,
            {"type": "cell", "criteria": "==", "value": f'"{v}"', "format": f},
        )


def _kinds(columns: Sequence[str]) -> dict[str, str]:
    out = {}
    for c in columns:
        if c in tables.PERCENT_COLUMNS:
            out[c] = "pct"
        elif c in tables.POINT_COLUMNS:
            out[c] = "pp"
        elif c in tables.NUMBER_COLUMNS:
            out[c] = "num1"
        elif c in INTEGER_COLUMNS:
            out[c] = "int"
        else:
            out[c] = "num2"
    return out


def _select(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


ESTATE_COLUMNS = (
    "rank",
    "estate_id",
    "estate_name",
    "community",
    "firm",
    "tier",
    "households",
    "threshold",
    "rate",
    "rate_low",
    "rate_high",
    "index",
    "index_low",
    "index_high",
    "n",
    "response_rate",
    "cooperation_rate",
    "refusal_rate",
    "contact_rate",
    "completion_rate",
    "verdict",
    "point_pass",
    "p_value",
    "q_value",
    "p_value_red",
    "q_value_red",
    "nr_delta",
    "interval_method",
    "sae_rate",
    "sae_low",
    "sae_high",
    "composite",
    "rank_low",
    "rank_high",
    "p_top",
    "p_bottom",
    "complaints",
    "credit_grade",
    "list",
    "reasons",
    "flags",
    "flagged_forms",
    "rate_clean",
    "verdict_clean",
    "list_clean",
)


def write_workbook(results: RoundResults, target: Path) -> Path:
    """Write the bureau's workbook to ``target`` atomically; returns ``target``."""
    import xlsxwriter

    results = tables.prepare(results)
    target = Path(target)
    with atomic_path(target) as tmp:
        wb = xlsxwriter.Workbook(
            str(tmp),
            {
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "nan_inf_to_errors": True,
            },
        )
        w = _Writer(wb)
        sheets = {name: wb.add_worksheet(name) for name in SHEETS}
        _summary(w, sheets["汇总"], results)
        _estates(w, sheets["小区结果"], results)
        _dimensions(w, sheets["分项结果"], results)
        _lists(w, sheets["红黑榜"], results)
        _firms(w, sheets["企业汇总"], results)
        _trends(w, sheets["历史趋势"], results)
        _quality(w, sheets["数据质量"], results)
        _comments(w, sheets["居民意见"], results)
        _method(w, sheets["方法说明"], results)
        for ws in sheets.values():
            w.fit(ws)
        wb.close()
    return target


def _summary(w: _Writer, ws: Any, results: RoundResults) -> None:
    w.text(ws, 0, 0, f"{results.round.label} 物业服务满意度测评结果汇总", "title")
    ov = tables.overview(results)
    row = w.table(
        ws,
        ov.rename(columns={"项目": "item", "内容": "content"}),
        2,
        {},
        labels={"item": "项目", "content": "内容"},
        autofilter=False,
    )
    e = results.estates
    if e.empty or "tier" not in e.columns:
        w.text(ws, row, 0, tables.NO_DATA, "nodata")
        return
    counts = (
        pd.crosstab(e["tier"], e["verdict"])
        if "verdict" in e.columns
        else pd.DataFrame(index=e["tier"].unique())
    )
    order = [t for t in results.round.thresholds if t in counts.index]
    frame = pd.DataFrame({"tier": order, "threshold": [results.round.thresholds[t] for t in order]})
    frame["estates"] = e["tier"].value_counts().reindex(order).fillna(0).astype(int).to_numpy()
    for v in tables.VERDICTS:
        frame[v] = (
            counts[v].reindex(order).fillna(0).astype(int).to_numpy() if v in counts.columns else 0
        )
    d = results.district
    if not d.empty and {"tier", "rate"} <= set(d.columns):
        frame = frame.merge(
            _select(d, ("tier", "rate", "ci_low", "ci_high")), on="tier", how="left"
        )
    w.text(ws, row, 0, "分等级结果", "bold")
    start = row + 1
    kinds = {**_kinds(frame.columns), **{v: "int" for v in tables.VERDICTS}}
    nxt = w.table(
        ws,
        frame,
        start,
        kinds,
        labels={**tables.LABELS, **{v: v for v in tables.VERDICTS}},
        autofilter=False,
    )
    ind = results.indicators
    w.text(ws, nxt, 0, "行动方案指标", "bold")
    kinds = _kinds(ind.columns)
    if {"value", "target"} <= set(ind.columns):
        vals = pd.to_numeric(ind["value"], errors="coerce")
        tgt = pd.to_numeric(ind["target"], errors="coerce")
        if vals.dropna().between(0, 1).all() and tgt.dropna().between(0, 1).all():
            kinds.update(value="pct", target="pct")
    chart_row = w.table(ws, ind, nxt + 1, kinds, autofilter=False)
    chart = w.wb.add_chart({"type": "column", "subtype": "stacked"})
    for v in tables.VERDICTS:
        j = list(frame.columns).index(v)
        chart.add_series(
            {
                "name": v,
                "categories": ["汇总", start + 1, 0, start + len(frame), 0],
                "values": ["汇总", start + 1, j, start + len(frame), j],
                "fill": {"color": VERDICT_FONT[v]},
            }
        )
    chart.set_title({"name": "各等级小区测评结论"})
    chart.set_y_axis({"name": "小区数"})
    chart.set_legend({"position": "bottom"})
    ws.insert_chart(chart_row, 0, chart, {"x_scale": 1.3, "y_scale": 1.1})


def _estates(w: _Writer, ws: Any, results: RoundResults) -> None:
    e = results.estates
    if e.empty:
        w.table(ws, e, 0, {})
        return
    e = e.sort_values([c for c in ("rank", "estate_id") if c in e.columns])
    frame = _select(e, ESTATE_COLUMNS)
    w.table(ws, frame, 0, _kinds(frame.columns))
    ws.freeze_panes(1, 3 if "estate_name" in frame.columns else 1)
    cols = list(frame.columns)
    if "verdict" in cols:
        _verdict_formats(w, ws, 1, len(frame), cols.index("verdict"))
    if "list" in cols:
        _list_formats(w, ws, 1, len(frame), cols.index("list"))
    if "rate" in cols:
        j = cols.index("rate")
        ws.conditional_format(
            1,
            j,
            len(frame),
            j,
            {
                "type": "data_bar",
                "bar_color": "#8FB3E0",
                "min_type": "num",
                "min_value": 0,
                "max_type": "num",
                "max_value": 1,
            },
        )


def _with_names(frame: pd.DataFrame, results: RoundResults) -> pd.DataFrame:
    names = tables.estate_label_map(results)
    if (
        frame.empty
        or "estate_id" not in frame.columns
        or names.empty
        or "estate_name" in frame.columns
    ):
        return frame
    frame = frame.assign(estate_id=frame["estate_id"].astype(str))
    names = names.assign(estate_id=names["estate_id"].astype(str))
    out = frame.merge(names[["estate_id", "estate_name"]], on="estate_id", how="left")
    cols = ["estate_id", "estate_name", *[c for c in frame.columns if c != "estate_id"]]
    return out[cols]


def _dimensions(w: _Writer, ws: Any, results: RoundResults) -> None:
    d = _with_names(results.dimensions, results)
    w.text(ws, 0, 0, "分项（维度）满意率", "bold")
    row = w.table(ws, d, 1, _kinds(d.columns))
    ws.freeze_panes(2, 0)
    if "rate" in d.columns and not d.empty:
        j = list(d.columns).index("rate")
        ws.conditional_format(2, j, 1 + len(d), j, {"type": "3_color_scale"})
    items = _with_names(results.items, results)
    w.text(ws, row, 0, "分题满意率", "bold")
    w.table(ws, items, row + 1, _kinds(items.columns), autofilter=False)


def _lists(w: _Writer, ws: Any, results: RoundResults) -> None:
    e = results.estates
    w.text(ws, 0, 0, "小区红黑榜", "bold")
    if not e.empty and "list" in e.columns:
        listed = e[e["list"].isin(["红榜", "黑榜"])].sort_values(
            ["list", "rate"] if "rate" in e else ["list"]
        )
        frame = _select(
            listed,
            (
                "list",
                "estate_id",
                "estate_name",
                "firm",
                "tier",
                "threshold",
                "rate",
                "rate_low",
                "rate_high",
                "verdict",
                "reasons",
            ),
        )
    else:
        frame = pd.DataFrame()
    row = w.table(ws, frame, 1, _kinds(frame.columns))
    if not frame.empty:
        _list_formats(w, ws, 2, 1 + len(frame), 0)
        if "verdict" in frame.columns:
            _verdict_formats(w, ws, 2, 1 + len(frame), list(frame.columns).index("verdict"))
    ws.freeze_panes(2, 0)
    f = results.firms
    w.text(ws, row, 0, "企业红黑榜", "bold")
    firms = (
        _select(
            f[f["list"].isin(["红榜", "黑榜"])],
            ("list", "firm", "estates", "rate", "ci_low", "ci_high", "reasons"),
        )
        if not f.empty and "list" in f.columns
        else pd.DataFrame()
    )
    w.table(ws, firms, row + 1, _kinds(firms.columns), autofilter=False)


def _firms(w: _Writer, ws: Any, results: RoundResults) -> None:
    f = results.firms
    w.table(ws, f, 0, _kinds(f.columns))
    ws.freeze_panes(1, 1)
    if not f.empty and "list" in f.columns:
        _list_formats(w, ws, 1, len(f), list(f.columns).index("list"))


def _trends(w: _Writer, ws: Any, results: RoundResults) -> None:
    t = results.trends
    w.text(ws, 0, 0, "历史趋势", "bold")
    row = w.table(ws, t, 1, _kinds(t.columns))
    ws.freeze_panes(2, 0)
    if not t.empty and "rate" in t.columns and len(t) > 1 and "estate_id" not in t.columns:
        cols = list(t.columns)
        chart = w.wb.add_chart({"type": "line"})
        chart.add_series(
            {
                "name": "满意率",
                "categories": ["历史趋势", 2, 0, 1 + len(t), 0],
                "values": ["历史趋势", 2, cols.index("rate"), 1 + len(t), cols.index("rate")],
                "marker": {"type": "circle"},
            }
        )
        chart.set_y_axis({"num_format": "0%", "min": 0, "max": 1})
        chart.set_legend({"none": True})
        chart.set_title({"name": "满意率走势"})
        ws.insert_chart(1, len(cols) + 1, chart)
    c = _with_names(results.changes, results)
    w.text(ws, row, 0, "与上一轮相比", "bold")
    w.table(ws, c, row + 1, _kinds(c.columns), autofilter=False)


def _quality(w: _Writer, ws: Any, results: RoundResults) -> None:
    w.text(ws, 0, 0, "数据录入", "bold")
    ic = results.ingest_counts
    row = w.table(ws, ic, 1, _kinds(ic.columns))
    w.text(ws, row, 0, "隔离数据（按原因）", "bold")
    qs = results.quarantine_summary
    row = w.table(ws, qs, row + 1, _kinds(qs.columns), autofilter=False)
    row = _quality_checks(w, ws, results, row)
    plan = _with_names(results.plan, results)
    w.text(ws, row, 0, "抽样方案", "bold")
    w.table(ws, plan, row + 1, _kinds(plan.columns), autofilter=False)


def _quality_checks(w: _Writer, ws: Any, results: RoundResults, row: int) -> int:
    """The fieldwork-quality pieces of the 数据质量 sheet: sensitive estates, rule counts per
    estate, surveyors, and every flagged form; returns the next free row."""
    w.text(ws, row, 0, "质量敏感小区（剔除被标记问卷后结论或榜单改变）", "bold")
    sensitive = tables.quality_estates_table(results)
    row = w.table(
        ws, sensitive, row + 1, {}, labels={c: c for c in sensitive.columns}, autofilter=False
    )
    w.text(ws, row, 0, "各小区被标记问卷（按规则计数）", "bold")
    by_estate = tables.quality_by_estate(results)
    kinds = {c: "int" for c in by_estate.columns if c not in ("estate_id", "estate_name")}
    row = w.table(ws, by_estate, row + 1, kinds, autofilter=False)
    w.text(ws, row, 0, "调查员（假名；对照表在密钥文件夹）", "bold")
    people = tables.surveyors_table(results)
    row = w.table(ws, people, row + 1, _kinds(people.columns), autofilter=False)
    w.text(ws, row, 0, "被标记的问卷（标记不等于判定：仍计入结果，另算剔除后的结论）", "bold")
    flags = results.quality_flags
    return w.table(ws, flags, row + 1, _kinds(flags.columns), autofilter=False)


def _comments(w: _Writer, ws: Any, results: RoundResults) -> None:
    """居民意见: theme counts per estate and per firm, then the scrubbed comments with their
    themes."""
    w.text(ws, 0, 0, "居民意见主题（按小区；占比 = 提及该主题的不满意者 ÷ 不满意者）", "bold")
    themes = tables.themes_by_estate(results)
    row = w.table(ws, themes, 1, _kinds(themes.columns))
    firms = tables.themes_by_firm(results)
    if not firms.empty:
        w.text(ws, row, 0, "居民意见主题（按物业企业，合计其各小区）", "bold")
        row = w.table(ws, firms, row + 1, _kinds(firms.columns), autofilter=False)
    w.text(ws, row, 0, "居民意见原文（电话、门牌、姓名等已替换为〔…〕）", "bold")
    comments = _with_names(results.comments, results)
    w.table(ws, comments, row + 1, _kinds(comments.columns), autofilter=False)


def _method(w: _Writer, ws: Any, results: RoundResults) -> None:
    w.text(ws, 0, 0, "测评方法说明", "title")
    rows = method_rows(results)
    for i, (k, v) in enumerate(rows, start=2):
        w.text(ws, i, 0, k, "bold")
        ws.write_string(i, 1, v, w.f["wrap"])
    row = len(rows) + 3
    power = tables.plan_power_table(results)
    if not power.empty:
        w.text(ws, row, 0, "抽样方案的检验功效（分等级）", "bold")
        row = w.table(ws, power, row + 1, {}, labels={}, autofilter=False)
    curves = _oc_rows(results)
    if not curves.empty:
        w.text(ws, row, 0, "判定的操作特征（各等级中位数小区）", "bold")
        ws.write_string(row + 1, 0, tables.OC_SENTENCE, w.f["wrap"])
        kinds = {c: "pct" for c in ("真实满意率", "判为达标", "判为临界", "判为未达标")}
        kinds.update({c: "int" for c in ("户数", "应答户数", "与达标线之差(百分点)")})
        w.table(ws, curves, row + 2, kinds, autofilter=False)
    ws.set_column(0, 0, 12)
    ws.set_column(1, 1, 90)
    ws.set_column(2, 8, 12)
    w.widths.pop(ws, None)


def _oc_rows(results: RoundResults) -> pd.DataFrame:
    """The operating characteristic at T − 10, −5, 0, +5, +10 points, per tier."""
    from evaluation.report.charts import oc_curves

    curves = oc_curves(results, points=5)
    if curves.empty:
        return curves
    out = curves.assign(shift=(curves["shift"] * 100).round().astype(int))
    out = out[["tier", "N", "n", "shift", "rate", "p_pass", "p_borderline", "p_fail"]]
    return out.rename(
        columns={
            "tier": "服务等级",
            "N": "户数",
            "n": "应答户数",
            "shift": "与达标线之差(百分点)",
            "rate": "真实满意率",
            "p_pass": "判为达标",
            "p_borderline": "判为临界",
            "p_fail": "判为未达标",
        }
    )
