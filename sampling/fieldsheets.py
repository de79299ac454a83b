"""Print-ready field sheets (入户调查表) for surveyors: one workbook, one sheet per estate."""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from sampling.record import RoundSample
from wuye_common.files import atomic_path, temp_path

HEADERS = (
    "序号",
    "楼栋",
    "单元",
    "房号",
    "主样本/替补",
    "访问日期",
    "上门次数",
    "调查员",
    "问卷编号",
    "访问结果",
    "备注",
)
WIDTHS = (6, 10, 6, 8, 11, 11, 8, 10, 11, 10, 18)
VISIT_COLUMN = HEADERS.index("访问日期")  # the columns the surveyor fills start here
OUTCOMES = ("完成", "拒访", "无人", "空置", "非本户")
"""The 访问结果 drop-down; read back by ``evaluation.ingest.visits``."""
MAX_VISITS = 3
ESTATE_LABEL = "小区编号"  # below the table: the cell right of it holds the estate id
SIGNATURES = ("调查员签名：", "日期：", "督导审核签名：", "日期：")
_LAST = chr(ord("A") + len(HEADERS) - 1)
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
    "1. 每个小区一张工作表，先访问“主样本”住户；每次上门填写访问日期、上门次数（1–3）、调查员，"
    "完成的问卷填问卷编号，“访问结果”从下拉列表选择（完成/拒访/无人/空置/非本户）。",
    "2. 主样本住户拒访或上门 3 次无人时，用同一楼栋的替补，按 替补1、替补2 … 的顺序依次使用，不得跳号；"
    "表下方为各楼栋应完成的户数（配额）。",
    "3. 不得自行更换住户；替补用完仍不足时，在备注中说明并报告项目负责人。",
    "4. 本表含住户房号，仅供入户调查使用，调查结束后由调查员和督导签名交回，不得外传；"
    "交回的表格（访问结果）用于计算应答率。",
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
    tmp: Path,
    round_sample: RoundSample,
    register: pd.DataFrame,
    title: str,
    *,
    fast: bool | None = None,
) -> None:
    """Write the workbook to ``tmp``. ``fast`` (default: when xlsxwriter's internals allow
    it) lets xlsxwriter write only each estate sheet's frame (page set-up, checks, column
    formats) and then inserts all cells of the estate sheets as sheet XML, built over the
    whole round at once (xlsxwriter spends ~15 µs per cell: minutes for a city); the same
    cells, formats and shared strings as the per-cell path (``fast=False``)."""
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
    sheets = list(zip(estates, labels, sheet_names(labels), strict=True))

    workbook = _Workbook(
        tmp,
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "in_memory": True,
        },
    )
    cells = None
    try:
        fmt = _formats(workbook)
        if fast is None:
            fast = _internals_known(workbook, fmt)
        if fast:
            _style_order(fmt, plan, bool(estates))
        _summary_sheet(workbook, fmt, plan, names, title, power_sentence(round_sample.meta))
        if fast:
            cells = _sheet_frames(workbook, fmt, sheets, groups, round_sample.strata, title)
        else:
            _sheets_by_cell(workbook, fmt, sheets, groups, sample, round_sample.strata, title)
    finally:
        workbook.close()
    if cells is not None:
        _fill_sheets(tmp, cells, [groups[e] for e, _, _ in sheets], sample, fmt)


def _internals_known(workbook: xlsxwriter.Workbook, fmt: dict) -> bool:
    """Whether this xlsxwriter has the format indexes and shared-string table the fast
    path uses."""
    table = getattr(workbook, "str_table", None)
    return hasattr(table, "_get_shared_string_index") and all(
        hasattr(f, "_get_xf_index") for f in fmt.values()
    )


def _style_order(fmt: dict, plan: pd.DataFrame, sheets: bool) -> None:
    """Number the cell formats in the order the per-cell path first uses them (the
    summary sheet's, then the estate sheets' column and cell formats), so that both paths
    write the same ``styles.xml``."""
    order = ["main", "reserve", "title", "header"]
    shares = [plan[c] for c in ("margin_at_threshold", "power", "power_pass") if c in plan]
    if any(
        np.isfinite(pd.to_numeric(c, errors="coerce").to_numpy(dtype=float)).any() for c in shares
    ):
        order.append("percent")
    if sheets:
        order += ["date", "bold"]
    for key in order:
        fmt[key]._get_xf_index()


def _sheets_by_cell(
    workbook, fmt: dict, sheets: list, groups: dict, sample: pd.DataFrame, strata, title: str
) -> None:
    """The estate sheets written cell by cell through xlsxwriter (the fallback path)."""
    columns = {c: sample[c].astype(str).to_numpy() for c in ("building", "unit", "room")}
    roles = sample["role"].to_numpy()
    orders = sample["order"].to_numpy()
    seqs = sample["seq"].to_numpy()
    quotas = _quotas(strata)
    for estate, label, sheet_name in sheets:
        rows = groups[estate]
        ws = workbook.add_worksheet(sheet_name)
        last = _visit_block(ws, fmt, len(rows), estate, quotas.get(estate))
        _page_setup(ws, _escape(f"{label}  {title}".strip()), last, fmt)
        ws.write_row(0, 0, HEADERS, fmt["header"])
        for i, r in enumerate(rows, start=1):
            is_main = roles[r] == "main"
            cell = fmt["main"] if is_main else fmt["reserve"]
            ws.write_number(i, 0, int(seqs[r]), cell)
            ws.write_string(i, 1, columns["building"][r], cell)
            ws.write_string(i, 2, columns["unit"][r], cell)
            ws.write_string(i, 3, columns["room"][r], cell)
            ws.write_string(i, 4, "主样本" if is_main else f"替补{int(orders[r])}", cell)


_STRING, _NUMBER, _BLANK = 0, 1, 2
_COLUMNS = np.array([chr(ord("A") + k) for k in range(len(HEADERS))], dtype=object)
# The cells around each estate's table, as the per-cell path writes them (_visit_block,
# then the header row): (anchor row, column, kind, format, text). Anchors: the header row,
# the estate-id row below the table, the quota header and the signature row.
_FIXED = (
    *[("top", c, _STRING, "header", h) for c, h in enumerate(HEADERS)],
    ("label", 0, _STRING, "bold", ESTATE_LABEL),
    ("label", 2, _STRING, "bold", None),  # the estate id
    ("quota", 0, _STRING, "header", "楼栋配额"),
    ("quota", 1, _BLANK, "header", ""),
    ("quota", 2, _STRING, "header", "应完成"),
    ("quota", 3, _STRING, "header", "替补"),
    *[("sign", j, _STRING, "bold", t) for j, t in zip((0, 3, 5, 8), SIGNATURES, strict=True)],
)


@dataclass
class _Cells:
    """The cells of every estate sheet except its household rows, sorted by sheet, row and
    column, as sheet XML pieces (one row of ``pieces`` per cell), with per sheet the first
    cell, the first cell below the header row, and the households and last row."""

    pieces: np.ndarray
    start: np.ndarray
    below: np.ndarray
    households: np.ndarray
    last: np.ndarray
    headers: list[str] | None = None
    """Each sheet's page header when the sheets after the first are written from it."""


def _sheet_frames(workbook, fmt: dict, sheets: list, groups: dict, strata, title: str) -> _Cells:
    """Add the estate sheets with their frames only (set-up, checks, column formats);
    register their cells' texts in the shared-string table in the per-cell path's order;
    return the cells as XML pieces."""
    estates = np.array([e for e, _, _ in sheets], dtype=object)
    households = np.array([len(groups[e]) for e in estates], dtype=np.int64)
    quota = _quota_rows(strata, estates)
    counts = np.bincount(quota["sheet"], minlength=len(estates)).astype(np.int64)
    last = households + counts + 5
    # The estate sheets differ only in their cells, the checks' extent and the page header:
    # xlsxwriter writes the first one in full, the others from it (see _from_template),
    # unless a sheet has no household rows (no checks) or the first has no page header.
    template = bool(len(sheets)) and bool((households > 0).all())
    headers = []
    for k, ((_, label, sheet_name), n_rows, row) in enumerate(
        zip(sheets, households, last, strict=True)
    ):
        ws = workbook.add_worksheet(sheet_name)
        header = _escape(f"{label}  {title}".strip())
        if k and template:
            ws.set_header(f"&C&12{header}"[:255])  # xlsxwriter's checks decide what is kept
            ws.repeat_rows(0)  # print titles and area: the workbook's defined names
            ws.print_area(0, 0, max(int(row), 1), len(HEADERS) - 1)
        else:
            _validations(ws, int(n_rows))
            _page_setup(ws, header, int(row), fmt)
            template = template and bool(getattr(ws, "header", ""))
        headers.append(str(getattr(ws, "header", "")))
    cells = _cell_table(estates, households, counts, quota)
    # shared strings in the order the per-cell path writes them: below the table first,
    # the header row last
    texts = cells[cells["kind"] == _STRING]
    texts = texts.sort_values(["sheet", "late", "row", "col"], kind="stable")
    table = workbook.str_table
    index = [table._get_shared_string_index(t) for t in texts["text"].tolist()]
    value = cells["value"].to_numpy(dtype=object, copy=True)
    value[texts.index.to_numpy()] = _numbers(np.asarray(index, dtype=np.int64))
    styles = {k: f' s="{fmt[k]._get_xf_index()}"' for k in ("header", "bold", "main")}
    pieces = _cell_pieces(cells.assign(value=value), styles, households, last)
    pieces.headers = headers if template else None
    return pieces


def _quota_rows(strata: pd.DataFrame | None, estates: np.ndarray) -> pd.DataFrame:
    """The quota rows (building, ``n_h``, ``reserve_h``) of each sheet's estate, in sheet
    order and the strata's order within it."""
    empty = pd.DataFrame({"sheet": np.empty(0, np.int64), "building": [], "n_h": [], "r_h": []})
    if strata is None or strata.empty or not {"estate_id", "building", "n_h"} <= set(strata):
        return empty
    sheet = pd.Series(np.arange(len(estates)), index=pd.Index(estates.astype(str)))
    at = sheet.reindex(strata["estate_id"].astype(str)).to_numpy()
    keep = np.flatnonzero(~np.isnan(at))
    keep = keep[np.argsort(at[keep], kind="stable")]
    reserves = strata["reserve_h"] if "reserve_h" in strata else pd.Series(0, index=strata.index)
    return pd.DataFrame(
        {
            "sheet": at[keep].astype(np.int64),
            "building": strata["building"].astype(str).to_numpy(dtype=object)[keep],
            "n_h": strata["n_h"].to_numpy()[keep].astype(np.int64),
            "r_h": reserves.to_numpy()[keep].astype(np.int64),
        }
    )


def _cell_table(
    estates: np.ndarray, households: np.ndarray, counts: np.ndarray, quota: pd.DataFrame
) -> pd.DataFrame:
    """Every cell around the estates' tables: sheet, row, col (0-based), kind, format,
    text (strings), value (numbers as text) and ``late`` (the header row: its texts are
    written last)."""
    k, f = len(estates), len(_FIXED)
    anchors = {
        "top": np.zeros(k, dtype=np.int64),
        "label": households + 2,
        "quota": households + 3,
        "sign": households + counts + 5,
    }
    tpl = np.tile(np.arange(f), k)
    sheet = np.repeat(np.arange(k), f)
    row = np.empty(k * f, dtype=np.int64)
    for j, (anchor, *_rest) in enumerate(_FIXED):
        row[j::f] = anchors[anchor]
    text = np.array([t for *_rest, t in _FIXED], dtype=object)[tpl]
    estate_cell = np.array([t is None for *_rest, t in _FIXED])[tpl]
    text[estate_cell] = estates
    fixed = pd.DataFrame(
        {
            "sheet": sheet,
            "row": row,
            "col": np.array([c for _, c, *_rest in _FIXED], dtype=np.int64)[tpl],
            "kind": np.array([kd for _, _, kd, *_rest in _FIXED], dtype=np.int64)[tpl],
            "style": np.array([s for *_rest, s, _ in _FIXED], dtype=object)[tpl],
            "text": text,
            "value": None,
        }
    )
    q = len(quota)
    qs = quota["sheet"].to_numpy()
    within = np.arange(q) - np.searchsorted(qs, qs)
    number_text = np.empty((q, 4), dtype=object)
    number_text[:, 2] = _numbers(quota["n_h"].to_numpy())
    number_text[:, 3] = _numbers(quota["r_h"].to_numpy())
    texts = np.empty((q, 4), dtype=object)
    texts[:, 0] = quota["building"].to_numpy(dtype=object)
    rows = pd.DataFrame(
        {
            "sheet": np.repeat(qs, 4),
            "row": np.repeat(households[qs] + 4 + within, 4),
            "col": np.tile(np.arange(4), q),
            "kind": np.tile([_STRING, _BLANK, _NUMBER, _NUMBER], q),
            "style": "main",
            "text": texts.ravel(),
            "value": number_text.ravel(),
        }
    )
    cells = pd.concat([fixed, rows], ignore_index=True)
    cells["late"] = cells["row"] == 0
    return cells.sort_values(["sheet", "row", "col"], kind="stable", ignore_index=True)


def _cell_pieces(
    cells: pd.DataFrame, styles: dict, households: np.ndarray, last: np.ndarray
) -> _Cells:
    """Sheet XML of the cells as xlsxwriter writes it: ``<row r= spans=>`` (the columns
    used in the row's block of 16 rows), ``<c r= s= t="s"><v>k</v></c>`` for shared
    strings, ``<c r= s=><v>x</v></c>`` for numbers, ``<c r= s=/>`` for blanks."""
    sheet = cells["sheet"].to_numpy()
    row = cells["row"].to_numpy()
    col = cells["col"].to_numpy()
    kind = cells["kind"].to_numpy()
    block = cells.groupby([sheet, row // 16])["col"]
    span = (
        _numbers(block.transform("min").to_numpy() + 1)
        + ":"
        + _numbers(block.transform("max").to_numpy() + 1)
    )
    new_row = np.ones(len(cells), dtype=bool)
    new_row[1:] = (sheet[1:] != sheet[:-1]) | (row[1:] != row[:-1])
    end_row = np.ones(len(cells), dtype=bool)
    end_row[:-1] = new_row[1:]
    r = _numbers(row + 1)
    style = cells["style"].map(styles).to_numpy(dtype=object)
    tail = np.where(kind == _STRING, ' t="s"><v>', np.where(kind == _NUMBER, "><v>", "/>"))
    pieces = np.empty((len(cells), 12), dtype=object)
    pieces[:, 0] = np.where(new_row, '<row r="', "")
    pieces[:, 1] = np.where(new_row, r, "")
    pieces[:, 2] = np.where(new_row, '" spans="', "")
    pieces[:, 3] = np.where(new_row, span, "")
    pieces[:, 4] = np.where(new_row, '">', "")
    pieces[:, 5] = '<c r="'
    pieces[:, 6] = _COLUMNS[col]
    pieces[:, 7] = r
    pieces[:, 8] = '"' + style + tail.astype(object)
    pieces[:, 9] = np.where(kind == _BLANK, "", cells["value"].to_numpy(dtype=object))
    pieces[:, 10] = np.where(kind == _BLANK, "", "</v></c>")
    pieces[:, 11] = np.where(end_row, "</row>", "")
    starts = np.searchsorted(sheet, np.arange(len(households) + 1))
    below = starts[:-1] + np.bincount(sheet[row == 0], minlength=len(households))
    return _Cells(pieces=pieces, start=starts, below=below, households=households, last=last)


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ESCAPED_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0B-\x1F])")
_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')


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


def _shared_strings(sst: str, texts: list[np.ndarray]) -> tuple[str, np.ndarray]:
    """``sharedStrings.xml`` with the distinct household texts appended (escaped as
    xlsxwriter does), and each text's shared-string index as text (one row per column)."""
    codes, uniques = pd.factorize(np.concatenate(texts))
    found = re.search(r'count="(\d+)" uniqueCount="(\d+)"', sst)
    assert found is not None, "sharedStrings.xml without counts"
    base = int(found[2])
    items = "".join(
        f'<si><t xml:space="preserve">{xml_text(str(u))}</t></si>'
        if str(u) != str(u).strip()
        else f"<si><t>{xml_text(str(u))}</t></si>"
        for u in uniques
    )
    sst = (
        sst[: found.start()]
        + f'count="{int(found[1]) + len(codes)}" uniqueCount="{base + len(uniques)}"'
        + sst[found.end() :].replace("</sst>", items + "</sst>", 1)
    )
    return sst, _numbers(base + codes).reshape(len(texts), -1)


def _household_pieces(n_max: int) -> np.ndarray:
    """A ``(n_max, 24)`` table of a household row's XML pieces, the constant ones filled
    (the row number, format, 序号 and texts are set per sheet; see :func:`_fill_sheets`)."""
    pieces = np.empty((n_max, 24), dtype=object)
    for j, text in (
        (0, '<row r="'),
        (2, f'" spans="1:{len(HEADERS)}"><c r="A'),
        (5, "><v>"),
        (7, '</v></c><c r="B'),
        (11, '</v></c><c r="C'),
        (15, '</v></c><c r="D'),
        (19, '</v></c><c r="E'),
        (23, "</v></c></row>"),
    ):
        pieces[:, j] = text
    return pieces


def _fill_sheets(
    path: Path, cells: _Cells, groups: list[np.ndarray], sample: pd.DataFrame, fmt: dict
) -> None:
    """Insert every estate sheet's cells (``xl/worksheets/sheet<k + 2>.xml`` for the k-th
    estate sheet) into the workbook xlsxwriter wrote: the header row, the households
    (shared-string cells, their texts appended to ``sharedStrings.xml``, in the
    main/reserve formats), the quota and signature rows; the sheet dimension set to the
    last row. One sheet's XML is built at a time, so memory stays bounded at city scale."""
    main = sample["role"].to_numpy() == "main"
    texts = [sample[c].astype(str).to_numpy(dtype=object) for c in ("building", "unit", "room")]
    # texts through lookup tables: one object per distinct text, not per household
    order = np.maximum(sample["order"].to_numpy(dtype=np.int64), 0)
    roles = np.array(["主样本", *("替补" + _numbers(np.arange(order.max(initial=0) + 1)))])
    texts.append(roles.astype(object)[np.where(main, 0, order + 1)])
    ids = (fmt["main"]._get_xf_index(), fmt["reserve"]._get_xf_index())
    reserve = (~main).astype(np.int64)
    # each piece closes the cell reference before it
    style = np.array([f'" s="{ids[0]}"', f'" s="{ids[1]}"'], dtype=object)[reserve]
    shared = np.array([f'" s="{i}" t="s"><v>' for i in ids], dtype=object)[reserve]
    seq = _numbers(sample["seq"].to_numpy())
    n_max = int(cells.households.max(initial=0))
    number = _numbers(np.arange(int(cells.last.max(initial=0)) + 2))
    rows_xml = _household_pieces(n_max)
    names = {f"xl/worksheets/sheet{k + 2}.xml": k for k in range(len(groups))}

    def sheet_data(k: int, ref: np.ndarray) -> str:
        rows, n = groups[k], len(groups[k])
        block = rows_xml[:n]
        r = number[2 : n + 2]
        for j in (1, 3, 8, 12, 16, 20):
            block[:, j] = r
        block[:, 4] = style[rows]
        block[:, 6] = seq[rows]
        s = shared[rows]
        for j, col in ((9, 0), (13, 1), (17, 2), (21, 3)):
            block[:, j] = s
            block[:, j + 1] = ref[col][rows]
        p, a, b, c = cells.pieces, cells.start[k], cells.below[k], cells.start[k + 1]
        return "".join(
            [
                "<sheetData>",
                "".join(p[a:b].ravel().tolist()),
                "".join(block.ravel().tolist()),
                "".join(p[b:c].ravel().tolist()),
                "</sheetData>",
            ]
        )

    source = temp_path(path)
    os.replace(path, source)
    try:
        with (
            zipfile.ZipFile(source) as zin,
            zipfile.ZipFile(
                path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
            ) as zip_out,
            _Background(zip_out) as zout,
        ):
            sst, ref = _shared_strings(zin.read("xl/sharedStrings.xml").decode("utf-8"), texts)
            del texts
            template = None
            if cells.headers:
                template = zin.read("xl/worksheets/sheet2.xml").decode("utf-8")
            for info in zin.infolist():
                data = zin.read(info.filename)
                k = names.get(info.filename)
                if info.filename == "xl/sharedStrings.xml":
                    data = sst.encode("utf-8")
                elif k is not None:
                    if k and template is not None:
                        text = _from_template(template, cells, k)
                    else:
                        text = data.decode("utf-8")
                    last = f"{_COLUMNS[-1]}{int(cells.last[k]) + 1}"
                    text = _DIMENSION.sub(f'<dimension ref="A1:{last}"/>', text, count=1)
                    head, found, rest = text.partition("<sheetData/>")
                    assert found, "an estate sheet without its empty <sheetData/>"
                    data = (head + sheet_data(k, ref) + rest).encode("utf-8")
                out = zipfile.ZipInfo(info.filename, info.date_time)
                out.compress_type = zipfile.ZIP_DEFLATED
                zout.write(out, data)
    finally:
        source.unlink(missing_ok=True)


def _from_template(template: str, cells: _Cells, k: int) -> str:
    """The XML xlsxwriter writes for the k-th estate sheet's frame, from the first sheet's:
    the checks cover its household rows and the page header is its own."""
    assert cells.headers is not None
    start = template.index("<dataValidations")
    end = template.index("</dataValidations>")
    checks = template[start:end]
    first, rows = int(cells.households[0]) + 1, int(cells.households[k]) + 1
    for col in ("J", "G", "F"):
        old = f'sqref="{col}2:{col}{first}"'
        assert old in checks, "the first estate sheet's checks are not where expected"
        checks = checks.replace(old, f'sqref="{col}2:{col}{rows}"', 1)
    old = f"<oddHeader>{cells.headers[0].translate(_XML_ESCAPES)}</oddHeader>"
    header = cells.headers[k]
    new = f"<oddHeader>{header.translate(_XML_ESCAPES)}</oddHeader>" if header else ""
    at = template.index(old, end)
    return template[:start] + checks + template[end:at] + new + template[at + len(old) :]


class _Background:
    """Writes zip entries (``writestr`` at level 1) in order on one worker thread while the
    caller builds the next sheet (zlib and crc32 release the GIL); at most ``ahead``
    entries wait. Leaving the block waits for them and re-raises the worker's error."""

    def __init__(self, zout: zipfile.ZipFile, ahead: int = 4) -> None:
        self.zout, self.ahead = zout, ahead
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: deque = deque()

    def write(self, info: zipfile.ZipInfo, data: bytes) -> None:
        self.pending.append(self.pool.submit(self.zout.writestr, info, data, compresslevel=1))
        while len(self.pending) > self.ahead:
            self.pending.popleft().result()

    def __enter__(self) -> _Background:
        return self

    def __exit__(self, failed: type | None, *exc: object) -> None:
        try:
            while self.pending and failed is None:
                self.pending.popleft().result()
        finally:  # after a failure the caller's error is the one raised
            self.pool.shutdown(wait=True, cancel_futures=True)


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
        "date": workbook.add_format({**base, "num_format": "yyyy-mm-dd"}),
        "bold": workbook.add_format({"bold": True, "font_size": 11}),
    }


def _page_setup(ws, header: str, last_row: int, fmt: dict) -> None:
    ws.set_paper(9)  # A4
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.hide_gridlines(0)
    ws.center_horizontally()
    ws.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.75)
    ws.set_header(f"&C&12{header}"[:255])
    ws.set_footer("&C第 &P 页，共 &N 页")
    ws.freeze_panes(1, 0)
    ws.print_area(0, 0, max(last_row, 1), len(HEADERS) - 1)
    for col, width in enumerate(WIDTHS):
        # The blank visit columns get their borders from the column format (cheaper than
        # writing hundreds of thousands of blank cells); the print area bounds them.
        blank = fmt["date"] if col == VISIT_COLUMN else fmt["main"]
        ws.set_column(col, col, width, blank if col >= VISIT_COLUMN else None)


def _quotas(strata: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per estate: its buildings' main sample (应完成) and reserves."""
    if strata is None or strata.empty or not {"estate_id", "building", "n_h"} <= set(strata):
        return {}
    s = strata.assign(estate_id=strata["estate_id"].astype(str))
    return {k: g for k, g in s.groupby("estate_id", sort=False)}


def _validations(ws, n_rows: int) -> None:
    """The drop-down of 访问结果 and the checks of 上门次数 and 访问日期 on the household rows."""
    if not n_rows:
        return
    outcome = HEADERS.index("访问结果")
    ws.data_validation(
        1, outcome, n_rows, outcome,
        {"validate": "list", "source": list(OUTCOMES),
         "error_message": "请从下拉列表选择：" + "/".join(OUTCOMES)},
    )  # fmt: skip
    visits = HEADERS.index("上门次数")
    ws.data_validation(
        1, visits, n_rows, visits,
        {"validate": "integer", "criteria": "between", "minimum": 1,
         "maximum": MAX_VISITS, "error_message": f"上门次数为 1–{MAX_VISITS}"},
    )  # fmt: skip
    ws.data_validation(
        1, VISIT_COLUMN, n_rows, VISIT_COLUMN,
        {"validate": "date", "criteria": ">", "value": dt.date(2000, 1, 1),
         "error_message": "请填写日期，如 2026-03-15"},
    )  # fmt: skip


def _visit_block(ws, fmt: dict, n_rows: int, estate: str, quota: pd.DataFrame | None) -> int:
    """The checks on the visit columns (:func:`_validations`), then below the table the
    estate id, the per-building quota and the signature block; returns the last row used."""
    _validations(ws, n_rows)
    row = n_rows + 2
    ws.write_string(row, 0, ESTATE_LABEL, fmt["bold"])
    ws.write_string(row, 2, str(estate), fmt["bold"])
    row += 1
    ws.write_row(row, 0, ("楼栋配额", "", "应完成", "替补"), fmt["header"])
    if quota is not None:
        reserves = quota["reserve_h"] if "reserve_h" in quota else pd.Series(0, index=quota.index)
        for building, n_h, r_h in zip(quota["building"], quota["n_h"], reserves, strict=True):
            row += 1
            ws.write_string(row, 0, str(building), fmt["main"])
            ws.write_blank(row, 1, None, fmt["main"])
            ws.write_number(row, 2, int(n_h), fmt["main"])
            ws.write_number(row, 3, int(r_h), fmt["main"])
    row += 2
    for j, text in zip((0, 3, 5, 8), SIGNATURES, strict=True):
        ws.write_string(row, j, text, fmt["bold"])
    return row


def power_sentence(meta: dict) -> str:
    """One plain sentence on what the plan's power means (from the record's parameters)."""
    params = meta.get("parameters", {}) if isinstance(meta, dict) else {}
    delta = float(params.get("delta", 0.05))
    power = float(params.get("power", 0.8))
    half = (1 - float(params.get("confidence", 0.95))) / 2
    return (
        f"检验功效：满意率比达标线低 {delta * 100:g} 个百分点的小区，按本方案调查后被判为"
        f"“未达标”的概率（目标 {power * 100:g}%）；达标把握：满意率比达标线高 "
        f"{delta * 100:g} 个百分点的小区被判为“达标”的概率；满意率恰在达标线上的小区被误判为"
        f"“未达标”的概率不超过 {half * 100:g}%。“建议普查”的小区抽样达不到目标，应全部入户。"
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
