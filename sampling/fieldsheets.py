"""Print-ready field sheets (入户调查表) for surveyors: one workbook, one sheet per estate."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from sampling.record import RoundSample
from wuye_common.files import atomic_path, temp_path

HEADERS = ("序号", "楼栋", "单元", "房号", "主样本/替补", "访问结果", "备注")
WIDTHS = (6, 12, 8, 10, 12, 22, 26)
SUMMARY_HEADERS = (
    "小区编号",
    "小区名称",
    "可抽户数",
    "主样本",
    "替补",
    "楼栋数",
    "抽样方法",
    "预计误差(±)",
    "预计应答",
    "检验功效",
    "达标把握",
    "建议普查",
)
DESIGN_NAMES = {
    "simple_srs": "简单随机",
    "stratified_srs": "分层随机",
    "systematic": "等距抽样",
    "none": "无住户",
}
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_RESERVED_SHEET_NAMES = {"history"}
INSTRUCTIONS = (
    "1. 每个小区一张工作表，先访问「主样本」住户，结果填在「访问结果」列（完成/拒访/无人/空置等）。",
    "2. 主样本住户拒访或多次上门无人时，用同一楼栋的替补，按 替补1、替补2 … 的顺序依次使用，不得跳号。",
    "3. 不得自行更换住户；替补用完仍不足时，在备注中说明并报告项目负责人。",
    "4. 本表含住户房号，仅供入户调查使用，调查结束后交回，不得外传。",
)


class _Workbook(xlsxwriter.Workbook):
    """xlsxwriter's workbook, checking sheet names for duplicates with a set: its own check
    compares every new name with every existing sheet (quadratic: seconds at 2,000 sheets)."""

    def _check_sheetname(self, sheetname, is_chartsheet=False):
        taken = self.__dict__.setdefault("_taken_names", set())
        sheets, self.worksheets_objs = self.worksheets_objs, []
        try:  # length, characters and apostrophes checked by xlsxwriter
            name = super()._check_sheetname(sheetname, is_chartsheet)
        finally:
            self.worksheets_objs = sheets
        if name.lower() in taken:
            raise xlsxwriter.exceptions.DuplicateWorksheetName(
                f"Sheetname '{name}', with case ignored, is already in use."
            )
        taken.add(name.lower())
        return name


def sheet_names(labels: list[str]) -> list[str]:
    """Excel-safe, unique (case-insensitive) sheet names of at most 31 characters."""
    used: set[str] = {"说明"}
    names = []
    for label in labels:
        base = _BAD_SHEET_CHARS.sub("_", str(label)).strip().strip("'") or "小区"
        base = base[:31]
        name, k = base, 1
        while name.lower() in used or name.lower() in _RESERVED_SHEET_NAMES:
            k += 1
            suffix = f"~{k}"
            name = base[: 31 - len(suffix)] + suffix
        used.add(name.lower())
        names.append(name)
    return names


def write_field_sheets(
    round_sample: RoundSample,
    register: pd.DataFrame,
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Write the field-sheet workbook; returns its path.

    A first sheet 说明 lists the rules and every estate's sizes; then one sheet per estate
    with households (序号, 楼栋, 单元, 房号, 主样本/替补 such as ``主样本`` or ``替补3``,
    blank 访问结果 and 备注), A4, fit to page width, header row repeated on every page,
    page header with the estate name and footer with page numbers, gridlines printed.
    Written to a temporary name, then renamed.
    """
    with atomic_path(path) as tmp:
        _write_workbook(tmp, round_sample, register, title)
    return Path(path)


def _write_workbook(
    tmp: Path, round_sample: RoundSample, register: pd.DataFrame, title: str
) -> None:
    names = (
        register.assign(estate_id=register["estate_id"].astype(str))
        .set_index("estate_id")["estate_name"]
        .astype(str)
        if "estate_name" in register.columns
        else pd.Series(dtype=str)
    )
    plan = round_sample.plan
    sample = round_sample.sample
    groups = sample.groupby("estate_id", sort=False).indices
    estates = [e for e in plan["estate_id"].astype(str) if e in groups]
    labels = [f"{e} {names.get(e, '')}".strip() for e in estates]

    workbook = _Workbook(
        tmp,
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "in_memory": True,
        },
    )
    try:
        fmt = _formats(workbook)
        _summary_sheet(workbook, fmt, plan, names, title, power_sentence(round_sample.meta))
        columns = {c: sample[c].astype(str).to_numpy() for c in ("building", "unit", "room")}
        roles = sample["role"].to_numpy()
        orders = sample["order"].to_numpy()
        seqs = sample["seq"].to_numpy()
        # Fast path: the household rows are written as sheet XML afterwards (xlsxwriter
        # spends ~15 µs per cell: minutes for a city); the per-cell path is the fallback.
        fast = all(hasattr(fmt[k], "_get_xf_index") for k in ("main", "reserve"))
        pending: dict[int, np.ndarray] = {}
        for estate, label, sheet_name in zip(estates, labels, sheet_names(labels), strict=True):
            rows = groups[estate]
            ws = workbook.add_worksheet(sheet_name)
            _page_setup(ws, _escape(f"{label}  {title}".strip()), len(rows), fmt["main"])
            ws.write_row(0, 0, HEADERS, fmt["header"])
            if fast:
                pending[len(workbook.worksheets())] = rows
                continue
            for i, r in enumerate(rows, start=1):
                is_main = roles[r] == "main"
                cell = fmt["main"] if is_main else fmt["reserve"]
                ws.write_number(i, 0, int(seqs[r]), cell)
                ws.write_string(i, 1, columns["building"][r], cell)
                ws.write_string(i, 2, columns["unit"][r], cell)
                ws.write_string(i, 3, columns["room"][r], cell)
                ws.write_string(i, 4, "主样本" if is_main else f"替补{int(orders[r])}", cell)
        styles = (fmt["main"]._get_xf_index(), fmt["reserve"]._get_xf_index()) if fast else ()
    finally:
        workbook.close()
    if pending:
        _fill_rows(
            tmp,
            pending,
            styles,
            seqs=seqs,
            columns=columns,
            label=np.where(roles == "main", "主样本", "替补" + _numbers(orders)).astype(object),
            main=roles == "main",
        )


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ESCAPED_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0B-\x1F])")


def xml_text(text: str) -> str:
    """Cell text as XML, with Excel's ``_xHHHH_`` escapes for control characters (as
    xlsxwriter writes shared strings)."""
    text = _ESCAPED_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    return text.translate(_XML_ESCAPES)


def _numbers(values: np.ndarray) -> np.ndarray:
    """Non-negative integers as text through a lookup table."""
    values = np.asarray(values, dtype=np.int64)
    if not len(values):
        return np.empty(0, dtype=object)
    values = np.maximum(values, 0)
    table = np.array([str(k) for k in range(int(values.max()) + 1)], dtype=object)
    return table[values]


def _fill_rows(
    path: Path,
    pending: dict[int, np.ndarray],
    styles: tuple[int, int],
    *,
    seqs: np.ndarray,
    columns: dict[str, np.ndarray],
    label: np.ndarray,
    main: np.ndarray,
) -> None:
    """Insert the household rows of each estate sheet (``xl/worksheets/sheet<k>.xml`` →
    sample row positions) into the workbook xlsxwriter wrote: shared-string cells (the
    texts appended to ``sharedStrings.xml``, escaped as xlsxwriter does) with the
    main/reserve cell formats; the sheet dimension is extended to the last row. One sheet's
    XML is built at a time, so memory stays bounded at city scale."""
    texts = [
        np.asarray(v, dtype=object)
        for v in (columns["building"], columns["unit"], columns["room"], label)
    ]
    codes, uniques = pd.factorize(np.concatenate(texts))
    n_rows = len(texts[0])
    style = np.where(main, f' s="{styles[0]}"', f' s="{styles[1]}"').astype(object)
    seq = _numbers(seqs)
    names = {f"xl/worksheets/sheet{k}.xml": rows for k, rows in pending.items()}

    source = temp_path(path)
    os.replace(path, source)
    try:
        with (
            zipfile.ZipFile(source) as zin,
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout,
        ):
            sst = zin.read("xl/sharedStrings.xml").decode("utf-8")
            found = re.search(r'count="(\d+)" uniqueCount="(\d+)"', sst)
            assert found is not None, "sharedStrings.xml without counts"
            base = int(found[2])
            ref = _numbers(base + codes).reshape(4, n_rows)  # shared-string index per cell
            added = sum(len(r) for r in pending.values()) * 4
            items = "".join(
                f'<si><t xml:space="preserve">{xml_text(str(u))}</t></si>'
                if str(u) != str(u).strip()
                else f"<si><t>{xml_text(str(u))}</t></si>"
                for u in uniques
            )
            sst = (
                sst[: found.start()]
                + f'count="{int(found[1]) + added}" uniqueCount="{base + len(uniques)}"'
                + sst[found.end() :].replace("</sst>", items + "</sst>", 1)
            )

            def sheet_rows(rows: np.ndarray) -> str:
                b, u, m, e = ref[:, rows]
                return "".join(
                    [
                        f'<row r="{r}" spans="1:7"><c r="A{r}"{s}><v>{q}</v></c>'
                        f'<c r="B{r}"{s} t="s"><v>{bb}</v></c><c r="C{r}"{s} t="s"><v>{uu}</v></c>'
                        f'<c r="D{r}"{s} t="s"><v>{mm}</v></c><c r="E{r}"{s} t="s"><v>{ee}</v></c>'
                        "</row>"
                        for r, s, q, bb, uu, mm, ee in zip(
                            range(2, len(rows) + 2),
                            style[rows],
                            seq[rows],
                            b,
                            u,
                            m,
                            e,
                            strict=False,
                        )
                    ]
                )

            for info in zin.infolist():
                data = zin.read(info.filename)
                rows = names.get(info.filename)
                if info.filename == "xl/sharedStrings.xml":
                    data = sst.encode("utf-8")
                elif rows is not None and len(rows):
                    head, tail = data.decode("utf-8").split("</sheetData>", 1)
                    head = head.replace(
                        '<dimension ref="A1:G1"/>', f'<dimension ref="A1:G{len(rows) + 1}"/>', 1
                    )
                    data = (head + sheet_rows(rows) + "</sheetData>" + tail).encode("utf-8")
                out = zipfile.ZipInfo(info.filename, info.date_time)
                out.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(out, data, compresslevel=1)
    finally:
        source.unlink(missing_ok=True)


def _formats(workbook: xlsxwriter.Workbook) -> dict:
    base = {"border": 1, "valign": "vcenter", "font_size": 11}
    return {
        "header": workbook.add_format(
            {**base, "bold": True, "align": "center", "bg_color": "#D9D9D9"}
        ),
        "main": workbook.add_format(base),
        "reserve": workbook.add_format({**base, "font_color": "#595959", "italic": True}),
        "title": workbook.add_format({"bold": True, "font_size": 14}),
        "text": workbook.add_format({"text_wrap": True, "valign": "top"}),
        "percent": workbook.add_format({**base, "num_format": "0.0%"}),
    }


def _page_setup(ws, header: str, n_rows: int, blank_format) -> None:
    ws.set_paper(9)  # A4
    ws.set_portrait()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.hide_gridlines(0)
    ws.center_horizontally()
    ws.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.75)
    ws.set_header(f"&C&12{header}"[:255])
    ws.set_footer("&C第 &P 页，共 &N 页")
    ws.freeze_panes(1, 0)
    ws.print_area(0, 0, max(n_rows, 1), len(HEADERS) - 1)
    for col, width in enumerate(WIDTHS):
        # The blank 访问结果/备注 columns get their borders from the column format (cheaper
        # than writing hundreds of thousands of blank cells); the print area bounds them.
        ws.set_column(col, col, width, blank_format if col >= 5 else None)


def power_sentence(meta: dict) -> str:
    """One plain sentence on what the plan's power means (from the record's parameters)."""
    params = meta.get("parameters", {}) if isinstance(meta, dict) else {}
    delta = float(params.get("delta", 0.05))
    power = float(params.get("power", 0.8))
    half = (1 - float(params.get("confidence", 0.95))) / 2
    return (
        f"检验功效：满意率比达标线低 {delta * 100:g} 个百分点的小区，按本方案调查后被判为"
        f"「未达标」的概率（目标 {power * 100:g}%）；达标把握：满意率比达标线高 "
        f"{delta * 100:g} 个百分点的小区被判为「达标」的概率；满意率恰在达标线上的小区被误判为"
        f"「未达标」的概率不超过 {half * 100:g}%。「建议普查」的小区抽样达不到目标，应全部入户。"
    )


def _summary_sheet(
    workbook, fmt: dict, plan: pd.DataFrame, names: pd.Series, title: str, note: str
) -> None:
    ws = workbook.add_worksheet("说明")
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.hide_gridlines(0)
    ws.set_footer("&C第 &P 页，共 &N 页")
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 28)
    ws.set_column(2, len(SUMMARY_HEADERS) - 1, 11)
    ws.write_string(0, 0, f"{title} 入户调查抽样表".strip(), fmt["title"])
    for i, line in enumerate((*INSTRUCTIONS, note), start=1):
        ws.write_string(i, 0, line)
    top = len(INSTRUCTIONS) + 3
    ws.write_row(top, 0, SUMMARY_HEADERS, fmt["header"])
    ws.repeat_rows(top)
    for i, row in enumerate(plan.to_dict("records"), start=top + 1):
        ws.write_string(i, 0, str(row["estate_id"]), fmt["main"])
        ws.write_string(i, 1, str(names.get(str(row["estate_id"]), "")), fmt["main"])
        ws.write_number(i, 2, int(row["N"]), fmt["main"])
        ws.write_number(i, 3, int(row["n"]), fmt["main"])
        ws.write_number(i, 4, int(row["reserves"]), fmt["main"])
        ws.write_number(i, 5, int(row["buildings"]), fmt["main"])
        ws.write_string(i, 6, DESIGN_NAMES.get(str(row["design"]), str(row["design"])), fmt["main"])
        for j, key, style in (
            (7, "margin_at_threshold", "percent"),
            (8, "respondents", "main"),
            (9, "power", "percent"),
            (10, "power_pass", "percent"),
        ):
            value = float(row.get(key, np.nan))
            if value == value:
                ws.write_number(i, j, value, fmt[style])
            else:
                ws.write_blank(i, j, None, fmt["main"])
        census = bool(row.get("census_recommended", False))
        ws.write_string(i, 11, "是" if census else "", fmt["main"])


def _escape(text: str) -> str:
    """Escape ``&`` for Excel header/footer codes."""
    return text.replace("&", "&&")
