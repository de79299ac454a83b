"""The bureau's Excel workbook (xlsxwriter): one table per sheet.

Every sheet holds one table from its first row (Chinese headers only: a column without a
Chinese label is left out, and so is a second column with the same label), with an
autofilter over the whole table, a frozen header, each column's own width and print set-up
(A4, landscape where wide, fit to width, the header row repeated, a page header with the
district and round). Conditional formats are placed by the column's name, never its position.
Percentages are numbers with a ``0.0%`` format, never text. Every string from outside
(estate names, reasons, comments) is written with ``write_string``; the workbook is opened
with ``strings_to_formulas``/``strings_to_urls``/``strings_to_numbers`` off, and text
starting with ``= + - @`` gets a ``quote_prefix`` format so Excel never turns it into a
formula, even after the cell is edited.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report import format as fmt
from evaluation.report import tables
from evaluation.report.bulk_sheet import BulkSheet, NumberColumn, TextColumn
from evaluation.report.pdf import method_rows
from evaluation.results import RoundResults
from wuye_common.files import atomic_path

SHEETS = (  # the order of SHEET_BUILDERS
    "汇总",
    "分等级结果",
    "社区结果",
    "小区结果",
    "分项结果",
    "分题结果",
    "红黑榜",
    "企业汇总",
    "历史趋势",
    "与上一轮相比",
    "行动方案指标",
    "数据录入",
    "隔离原因",
    "抽样方案",
    "质量敏感小区",
    "问卷标记",
    "调查员",
    "被标记问卷",
    "意见主题",
    "企业意见主题",
    "居民意见",
    "方法说明",
)
CODE_NAMES = {
    "simple_srs": "简单随机",
    "stratified_srs": "分层随机",
    "systematic": "等距抽样",
    "none": "无住户",
    "exact": "精确区间（超几何）",
    "beta": "Korn–Graubard",
    "logit": "Logit",
    "xlogit": "Logit",
    "wilson": "Wilson",
    "mean": "正态近似",
}
"""Codes of other stages shown in Chinese (sampling designs, interval methods)."""
ACTION_NAMES = {"flag": "标记", "quarantine": "隔离", "off": "不检查"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
FORMULA_START = ("=", "+", "-", "@")
VERDICT_FILL = {"达标": "#C6EFCE", "临界": "#FFEB9C", "未达标": "#FFC7CE"}
VERDICT_FONT = {"达标": "#006100", "临界": "#9C5700", "未达标": "#9C0006"}
LIST_FILL = {"红榜": "#F8CBAD", "黑榜": "#BFBFBF"}
MAX_WIDTH = 60
BULK_ROWS = 1000
"""Tables of at least this many rows are written a column at a time (:mod:`.bulk_sheet`)."""
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
        self.headers: dict[Any, list[str]] = {}
        self.bulk_rows = BULK_ROWS

    def column(self, ws: Any, label: str) -> int | None:
        """Position of the column headed ``label`` in the sheet's table (None: absent)."""
        heads = self.headers.get(ws, [])
        return heads.index(label) if label in heads else None

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

    def _numbers(self, ws: Any, row: int, col: int, values: np.ndarray, f: Any) -> None:
        for i, (v, ok) in enumerate(
            zip(values.tolist(), np.isfinite(values).tolist(), strict=True)
        ):
            if ok:
                ws.write_number(row + i, col, v, f)
            else:
                ws.write_blank(row + i, col, None, f)

    def _strings(self, ws: Any, row: int, col: int, values: list[str]) -> None:
        text_f, quoted_f = self.f["text"], self.f["quoted"]
        for i, s in enumerate(values):
            ws.write_string(row + i, col, s, quoted_f if _formula_like(s) else text_f)

    def _track_all(self, ws: Any, col: int, texts: pd.Series) -> None:
        """:meth:`_track` over a whole column, measuring only the strings that could be the
        widest: a string is at most as wide as its UTF-8 bytes and at least its length, and
        any width past :data:`MAX_WIDTH` fits the same."""
        values = pd.unique(texts.to_numpy(dtype=object))
        if not len(values):
            return
        upper = np.fromiter((len(s.encode()) for s in values), dtype=np.int64, count=len(values))
        w = self.widths.setdefault(ws, {})
        best = w.get(col, 0)
        for k in np.argsort(-upper, kind="stable").tolist():
            if upper[k] <= best or best + 2 >= MAX_WIDTH:
                break
            self._track(ws, col, values[k])
            best = w[col]

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
        frame = shown_columns(frame, labels)
        cols = list(frame.columns)
        self.headers[ws] = [labels.get(c, str(c)) for c in cols]
        for j, c in enumerate(cols):
            head = labels.get(c, str(c))
            ws.write_string(row, j, head, self.f["head"])
            self._track(ws, j, head)
        bulk = isinstance(ws, BulkSheet) and len(frame) >= self.bulk_rows
        block = []
        for j, c in enumerate(cols):
            kind = kinds.get(c)
            series = frame[c]
            if (
                kind
                and pd.api.types.is_numeric_dtype(series)
                and not pd.api.types.is_bool_dtype(series)
            ):
                values = pd.to_numeric(series, errors="coerce").astype(float).to_numpy()
                if bulk:
                    block.append(NumberColumn(values, self.f[kind]))
                else:
                    self._numbers(ws, row + 1, j, values, self.f[kind])
                self._track(ws, j, "100.0%")
            else:
                texts = _texts(series, c)
                if bulk:
                    block.append(
                        TextColumn(
                            texts.to_numpy(), self.f["text"], self.f["quoted"], _formula_like
                        )
                    )
                else:
                    self._strings(ws, row + 1, j, texts.tolist())
                self._track_all(ws, j, texts)
        if block:
            ws.add_block(row + 1, 0, block)
        last = row + len(frame)
        if autofilter:
            ws.autofilter(row, 0, last, len(cols) - 1)
            ws.freeze_panes(row + 1, 0)
        return last + 2

    def fit(self, ws: Any, minimum: int = 6) -> None:
        """Column widths from content, wide (Chinese) characters counting two."""
        for col, width in self.widths.get(ws, {}).items():
            ws.set_column(col, col, min(MAX_WIDTH, max(minimum, width + 2)))


def _formula_like(text: str) -> bool:
    """Text Excel would take for a formula (written with a quote prefix)."""
    return text.startswith(FORMULA_START)


def _texts(series: pd.Series, column: str) -> pd.Series:
    """A text column as shown: booleans 是/否, levels and codes in Chinese, restyled."""
    if pd.api.types.is_bool_dtype(series):
        return series.map({True: "是", False: "否"}).fillna("").astype(str)
    if column == "level":
        return fmt.text_series(series.map(lambda v: tables.LEVELS.get(v, v)))
    if column == "action":
        return fmt.text_series(series.map(lambda v: ACTION_NAMES.get(v, v)))
    if column in ("design", "interval_method"):
        return fmt.text_series(series.map(lambda v: CODE_NAMES.get(v, v)))
    if column in ("reasons", "flags", "note"):
        return fmt.restyle_series(series)
    return fmt.text_series(series)


def shown_columns(frame: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """The columns a bureau reads: those with a Chinese label, each label once."""
    keep, seen = [], set()
    for c in frame.columns:
        if c in tables.HIDDEN_COLUMNS:
            continue
        head = labels.get(c, str(c))
        if not _CJK.search(head) or head in seen:
            continue
        seen.add(head)
        keep.append(c)
    return frame[keep]


def print_setup(ws: Any, results: RoundResults, columns: int) -> None:
    """A4, landscape when wider than 8 columns, fit to one page wide, the header row
    repeated on every page, district and round in the page header."""
    ws.set_paper(9)
    if columns > 8:
        ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.set_header(f"&L{_header_text(results.round.label)}&R&A")
    ws.set_footer("&C第 &P 页，共 &N 页")


def _header_text(text: str) -> str:
    return str(text).replace("&", "&&")[:200]


def _cell_rule(writer: _Writer, ws: Any, label: str, colours: dict, rows: int, bold: bool) -> None:
    """A fill for each value in ``colours`` on the column headed ``label``."""
    j = writer.column(ws, label)
    if j is None or rows == 0:
        return
    for v, fill in colours.items():
        spec = {"bg_color": fill, "bold": True} if bold else {"bg_color": fill}
        if not bold:
            spec["font_color"] = VERDICT_FONT[v]
        ws.conditional_format(
            1,
            j,
            rows,
            j,
            {
                "type": "cell",
                "criteria": "==",
                "value": f'"{v}"',
                "format": writer.wb.add_format(spec),
            },
        )


def _rate_bar(writer: _Writer, ws: Any, rows: int, label: str = "满意率") -> None:
    j = writer.column(ws, label)
    if j is None or rows == 0:
        return
    ws.conditional_format(
        1,
        j,
        rows,
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


def _marks(writer: _Writer, ws: Any, rows: int) -> None:
    """Verdict and list colours and the rate bar, each on its named column."""
    _cell_rule(writer, ws, "结论", VERDICT_FILL, rows, bold=False)
    _cell_rule(writer, ws, "榜单", LIST_FILL, rows, bold=True)
    _rate_bar(writer, ws, rows)


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
        for name, build in SHEET_BUILDERS.items():
            ws = wb.add_worksheet(name, worksheet_class=BulkSheet)
            build(w, ws, results)
            w.fit(ws)
            print_setup(ws, results, len(w.headers.get(ws, [])))
        wb.close()
    return target


def _table(w: _Writer, ws: Any, frame: pd.DataFrame, **kwargs: Any) -> int:
    """``frame`` as the sheet's one table from the first row; returns its data rows."""
    w.table(ws, frame, 0, {**_kinds(frame.columns), **kwargs.pop("kinds", {})}, **kwargs)
    return 0 if frame is None else len(frame)


def overview_frame(results: RoundResults) -> pd.DataFrame:
    """The 汇总 as (item, value, unit) with numbers kept numbers."""
    e, rnd = results.estates, results.round
    rows: list[tuple[str, Any, str]] = [
        ("评估区域", rnd.district, ""),
        ("评估期", tables.period_label(rnd.period), ""),
        ("置信水平", rnd.confidence, "pct"),
    ]
    if not e.empty:

        def col(c: str) -> pd.Series:
            return pd.to_numeric(e[c], errors="coerce") if c in e else pd.Series(dtype=float)

        counts = e["verdict"].value_counts() if "verdict" in e else pd.Series(dtype=int)
        lists = e["list"].value_counts() if "list" in e else pd.Series(dtype=int)
        rows += [
            ("参评小区（个）", len(e), "int"),
            ("总户数", col("households").sum(), "int"),
            ("有效样本（份）", col("n").sum(), "int"),
            ("平均应答率（RR1）", col("response_rate").mean(), "pct"),
            *((f"{v}小区（个）", int(counts.get(v, 0)), "int") for v in tables.VERDICTS),
            ("红榜小区（个）", int(lists.get("红榜", 0)), "int"),
            ("黑榜小区（个）", int(lists.get("黑榜", 0)), "int"),
        ]
    d = results.district
    if not d.empty and {"tier", "rate"} <= set(d.columns):
        overall = d[~d["tier"].isin(list(rnd.thresholds))]
        if len(overall):
            r = overall.iloc[-1]
            rows += [
                ("全区满意率", r["rate"], "pct"),
                ("全区满意率区间下限", r.get("ci_low"), "pct"),
                ("全区满意率区间上限", r.get("ci_high"), "pct"),
            ]
    return pd.DataFrame(rows, columns=["item", "value", "kind"])


def _summary(w: _Writer, ws: Any, results: RoundResults) -> None:
    ov = overview_frame(results)
    labels = {"item": "项目", "value": "数值"}
    w.headers[ws] = ["项目", "数值"]
    for j, head in enumerate(labels.values()):
        ws.write_string(0, j, head, w.f["head"])
        w._track(ws, j, head)
    for i, (item, value, kind) in enumerate(ov.itertuples(index=False), start=1):
        w.text(ws, i, 0, item, "bold")
        if kind and value is not None and not pd.isna(value):
            ws.write_number(i, 1, float(value), w.f[kind])
            w._track(ws, 1, "100.0%")
        else:
            w.text(ws, i, 1, value)
    ws.freeze_panes(1, 0)


def _tiers(w: _Writer, ws: Any, results: RoundResults) -> None:
    e = results.estates
    if e.empty or "tier" not in e.columns:
        _table(w, ws, pd.DataFrame())
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
    rows = _table(
        w,
        ws,
        frame,
        kinds={v: "int" for v in tables.VERDICTS},
        labels={**tables.LABELS, **{v: v for v in tables.VERDICTS}},
    )
    chart = w.wb.add_chart({"type": "column", "subtype": "stacked"})
    for v in tables.VERDICTS:
        j = list(frame.columns).index(v)
        chart.add_series(
            {
                "name": v,
                "categories": [ws.name, 1, 0, rows, 0],
                "values": [ws.name, 1, j, rows, j],
                "fill": {"color": VERDICT_FONT[v]},
            }
        )
    chart.set_title({"name": "各等级小区测评结论"})
    chart.set_y_axis({"name": "小区数"})
    chart.set_legend({"position": "bottom"})
    ws.insert_chart(rows + 2, 0, chart, {"x_scale": 1.3, "y_scale": 1.1})


def _communities(w: _Writer, ws: Any, results: RoundResults) -> None:
    from evaluation.report.summary import community_frame

    frame = community_frame(results)
    rows = _table(
        w,
        ws,
        frame,
        kinds={
            c: "int"
            for c in (
                "estates",
                "households",
                "n",
                *tables.VERDICTS,
                "red_estates",
                "black_estates",
            )
        },
        labels={**tables.LABELS, **{v: v for v in tables.VERDICTS}, "rate": "满意率（户数加权）"},
    )
    _rate_bar(w, ws, rows, "满意率（户数加权）")


def _estates(w: _Writer, ws: Any, results: RoundResults) -> None:
    e = results.estates
    if not e.empty:
        e = e.sort_values([c for c in ("rank", "estate_id") if c in e.columns])
    frame = _select(e, ESTATE_COLUMNS)
    rows = _table(w, ws, frame)
    ws.freeze_panes(1, 3 if "estate_name" in frame.columns else 1)
    _marks(w, ws, rows)


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
    rows = _table(
        w,
        ws,
        _select(
            d, ("estate_id", "estate_name", "dimension", "rate", "ci_low", "ci_high", "index", "n")
        ),
    )
    if rows:
        j = w.column(ws, "满意率")
        if j is not None:
            ws.conditional_format(1, j, rows, j, {"type": "3_color_scale"})


def _items(w: _Writer, ws: Any, results: RoundResults) -> None:
    items = _with_names(results.items, results)
    q = getattr(results.round, "questionnaire", None)
    if not items.empty and q is not None and "item_id" in items.columns:
        texts = q.items.drop_duplicates("item_id").set_index("item_id")["text"]
        items = items.assign(question=items["item_id"].astype(str).map(texts).fillna(""))
    cols = (
        "estate_id",
        "estate_name",
        "item_id",
        "question",
        "dimension",
        "rate",
        "ci_low",
        "ci_high",
        "n",
    )
    rows = _table(w, ws, _select(items, cols), labels={**tables.LABELS, "question": "题目"})
    _rate_bar(w, ws, rows)


def _lists(w: _Writer, ws: Any, results: RoundResults) -> None:
    e = results.estates
    frame = pd.DataFrame()
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
    rows = _table(w, ws, frame)
    _marks(w, ws, rows)


def _firms(w: _Writer, ws: Any, results: RoundResults) -> None:
    f = results.firms
    rows = _table(
        w,
        ws,
        f.rename(columns={"rate_low": "ci_low", "rate_high": "ci_high"}).loc[
            :, lambda x: ~x.columns.duplicated()
        ]
        if not f.empty
        else f,
    )
    ws.freeze_panes(1, 1)
    _marks(w, ws, rows)


def _trends(w: _Writer, ws: Any, results: RoundResults) -> None:
    t = results.trends
    rows = _table(w, ws, t)
    if rows > 1 and "rate" in t.columns and "estate_id" not in t.columns:
        j = w.column(ws, "满意率")
        chart = w.wb.add_chart({"type": "line"})
        chart.add_series(
            {
                "name": "满意率",
                "categories": [ws.name, 1, 0, rows, 0],
                "values": [ws.name, 1, j, rows, j],
                "marker": {"type": "circle"},
            }
        )
        chart.set_y_axis({"num_format": "0%", "min": 0, "max": 1})
        chart.set_legend({"none": True})
        chart.set_title({"name": "满意率走势"})
        ws.insert_chart(1, len(w.headers[ws]) + 1, chart)
    _marks(w, ws, rows)


def _changes(w: _Writer, ws: Any, results: RoundResults) -> None:
    c = _with_names(results.changes, results)
    if "diff" in c.columns:
        c = c.sort_values("diff", ascending=False)
    _table(w, ws, c)


def _indicators(w: _Writer, ws: Any, results: RoundResults) -> None:
    ind = results.indicators
    kinds = {}
    if {"value", "target"} <= set(ind.columns):
        share = ind["unit"].eq("比例") if "unit" in ind else pd.Series(True, index=ind.index)
        if share.all():
            kinds.update(value="pct", target="pct")
    frame = _select(
        ind, ("label", "year", "value", "target", "met", "numerator", "denominator", "note")
    )
    if "label" in frame.columns:
        frame = frame.rename(columns={"label": "indicator"})
    _table(w, ws, frame, kinds={**kinds, "numerator": "num2", "denominator": "int"})


def _ingest(w: _Writer, ws: Any, results: RoundResults) -> None:
    _table(w, ws, results.ingest_counts)


def _quarantine(w: _Writer, ws: Any, results: RoundResults) -> None:
    _table(w, ws, results.quarantine_summary)


def _plan(w: _Writer, ws: Any, results: RoundResults) -> None:
    _table(w, ws, _with_names(results.plan, results))


_NUMBER = re.compile(r"^[−+-]?\d[\d,]*(\.\d+)?$")
_PERCENT = re.compile(r"^[−+-]?\d+(\.\d+)?%$")


def typed(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """A display frame (text) with its number and percentage columns as numbers again,
    and their kinds (``—`` and blanks are missing)."""
    out, kinds = frame.copy(), {}
    for c in frame.columns:
        text = frame[c].astype(str).str.strip()
        value = text[~text.isin(["", fmt.MISSING, "nan", "None"])]
        if value.empty:
            continue
        plain = value.str.replace(fmt.MINUS, "-", regex=False)
        if plain.str.match(_PERCENT).all():
            out[c] = pd.to_numeric(plain.str.rstrip("%"), errors="coerce").reindex(text.index) / 100
            kinds[c] = "pct"
        elif plain.str.match(_NUMBER).all():
            out[c] = pd.to_numeric(plain.str.replace(",", ""), errors="coerce").reindex(text.index)
            whole = (out[c].dropna() == out[c].dropna().round()).all()
            kinds[c] = "int" if whole else "num2"
    return out, kinds


def _sensitive(w: _Writer, ws: Any, results: RoundResults) -> None:
    """质量敏感小区: the verdict or list changes without the flagged forms."""
    frame, kinds = typed(tables.quality_estates_table(results))
    labels = {**tables.LABELS, **{c: c for c in frame.columns}}
    rows = _table(w, ws, frame, kinds=kinds, labels=labels)
    _marks(w, ws, rows)


def _flag_counts(w: _Writer, ws: Any, results: RoundResults) -> None:
    """Flagged forms per estate, counted by rule."""
    frame = tables.quality_by_estate(results)
    kinds = {c: "int" for c in frame.columns if c not in ("estate_id", "estate_name")}
    _table(w, ws, frame, kinds=kinds, labels={**tables.LABELS, **{c: c for c in frame.columns}})


def _surveyors(w: _Writer, ws: Any, results: RoundResults) -> None:
    """Surveyors by pseudonym (the key to the names stays in the secrets folder)."""
    _table(w, ws, tables.surveyors_table(results))


def _flagged(w: _Writer, ws: Any, results: RoundResults) -> None:
    """Every flagged form (a flag is evidence, not a verdict: the form still counts)."""
    _table(w, ws, results.quality_flags)


def _themes(w: _Writer, ws: Any, results: RoundResults) -> None:
    """Comment themes per estate."""
    _table(w, ws, tables.themes_by_estate(results))


def _firm_themes(w: _Writer, ws: Any, results: RoundResults) -> None:
    """Comment themes per firm (its estates together)."""
    _table(w, ws, tables.themes_by_firm(results))


def _comments(w: _Writer, ws: Any, results: RoundResults) -> None:
    """The residents' comments, scrubbed, with their themes."""
    _table(w, ws, _with_names(results.comments, results))


def _method(w: _Writer, ws: Any, results: RoundResults) -> None:
    rows = method_rows(results)
    for j, head in enumerate(("项目", "说明")):
        ws.write_string(0, j, head, w.f["head"])
    w.headers[ws] = ["项目", "说明"]
    for i, (k, v) in enumerate(rows, start=1):
        w.text(ws, i, 0, k, "bold")
        ws.write_string(i, 1, v, w.f["wrap"])
    row = len(rows) + 2
    power = tables.plan_power_table(results)
    if not power.empty:
        w.text(ws, row, 0, "抽样方案的检验功效（分等级）", "bold")
        counts = ("小区数", "计划入户", "预计应答", "建议普查")
        power = power.assign(**{c: pd.to_numeric(power[c]) for c in counts if c in power})
        row = w.table(ws, power, row + 1, dict.fromkeys(counts, "int"), labels={}, autofilter=False)
    curves = _oc_rows(results)
    if not curves.empty:
        w.text(ws, row, 0, "判定的操作特征（各等级中位数小区）", "bold")
        ws.write_string(row + 1, 0, tables.OC_SENTENCE, w.f["wrap"])
        kinds = {c: "pct" for c in ("真实满意率", "判为达标", "判为临界", "判为未达标")}
        kinds.update({c: "int" for c in ("户数", "应答户数", "与达标线之差(百分点)")})
        w.table(ws, curves, row + 2, kinds, autofilter=False)
    w.headers[ws] = ["项目", "说明"]
    ws.freeze_panes(1, 0)
    ws.set_column(0, 0, 12)
    ws.set_column(1, 1, 90)
    ws.set_column(2, 8, 12)
    w.widths.pop(ws, None)


SHEET_BUILDERS = {
    "汇总": _summary,
    "分等级结果": _tiers,
    "社区结果": _communities,
    "小区结果": _estates,
    "分项结果": _dimensions,
    "分题结果": _items,
    "红黑榜": _lists,
    "企业汇总": _firms,
    "历史趋势": _trends,
    "与上一轮相比": _changes,
    "行动方案指标": _indicators,
    "数据录入": _ingest,
    "隔离原因": _quarantine,
    "抽样方案": _plan,
    "质量敏感小区": _sensitive,
    "问卷标记": _flag_counts,
    "调查员": _surveyors,
    "被标记问卷": _flagged,
    "意见主题": _themes,
    "企业意见主题": _firm_themes,
    "居民意见": _comments,
    "方法说明": _method,
}


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
