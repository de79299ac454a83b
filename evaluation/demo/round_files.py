"""The demo round on disk: a complete round folder (``round.toml``, 台账, household frame) and
the simulated export written as a 问卷星 workbook."""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
import xlsxwriter

from evaluation.demo.district import DemoDistrict, build_district, period_parts, register_for
from evaluation.demo.fieldwork import simulate_fieldwork
from evaluation.round import REGISTER_LABELS, period_label
from wuye_common.files import atomic_path, temp_path

FRAME_HEADERS: dict[str, str] = {
    "estate_id": "小区编号",
    "building": "楼栋",
    "unit": "单元",
    "floor": "楼层",
    "room": "房号",
    "occupied": "是否入住",
}

CREATED = dt.datetime(2025, 1, 1)
"""Fixed document date of the xlsx files written here, so that they are byte-identical."""


def _relative(target: str | Path, root: Path) -> str:
    """``target`` relative to ``root`` (forward slashes), absolute when that is impossible."""
    try:
        return Path(os.path.relpath(Path(target).resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(target).resolve().as_posix()


def round_seed(seed: int, period: str) -> int:
    """The sampling seed written into a demo round: ``seed`` followed by the period,
    e.g. 2024, 2025H2 → 202420252 (a different sample every round)."""
    year, _, part = period_parts(period)
    return int(seed) * 100000 + year * 10 + part


def write_demo_round(
    workspace: str | Path,
    period: str,
    *,
    seed: int = 2024,
    estates: int = 40,
    output_dir: str | Path | None = None,
    database: str | Path | None = None,
    secrets: str | Path | None = None,
    district: DemoDistrict | None = None,
) -> Path:
    """Write the round folder ``workspace/inputs/<period>/`` and return it.

    It holds ``round.toml``, ``台账.xlsx`` (Chinese headers, complaints of ``period``),
    ``住户清册.csv`` (UTF-8 with BOM) and an empty ``fieldwork/`` folder for
    :func:`write_fieldwork`. ``output_dir``, ``database`` and ``secrets`` are written as
    ``[output]`` paths relative to the round folder when given. ``district`` (from
    :func:`build_district`) saves rebuilding it; otherwise it is built from ``seed`` and
    ``estates``.
    """
    period_parts(period)
    district = district or build_district(seed, estates=estates)
    root = Path(workspace) / "inputs" / period
    (root / "fieldwork").mkdir(parents=True, exist_ok=True)
    register = register_for(district, period)
    _write_register(root / "台账.xlsx", register)
    frame = district.frame[list(FRAME_HEADERS)].rename(columns=FRAME_HEADERS)
    frame = frame.assign(是否入住=np.where(district.frame["occupied"], "是", "否"))
    _atomic(
        root / "住户清册.csv",
        lambda p: frame.to_csv(p, index=False, encoding="utf-8-sig", lineterminator="\n"),
    )
    config: dict[str, Any] = {
        "round": {
            "district": district.name,
            "period": period,
            "id": period,
            "seed": round_seed(district.seed, period),
            "confidence": 0.95,
        },
        "sampling": {
            "sizing": "power",
            "delta": 0.05,
            "power": 0.8,
            "response_rate": 0.75,
            "minimum": 30,
            "method": "simple",
            "reserve_ratio": 0.5,
        },
        "questionnaire": {"path": "default"},
        "report": demo_cover(district.name, period),
        "inputs": {
            "register": "台账.xlsx",
            "frame": "住户清册.csv",
            "responses": ["fieldwork/*.xlsx"],
        },
    }
    output = {
        key: _relative(value, root)
        for key, value in (("dir", output_dir), ("database", database), ("secrets", secrets))
        if value is not None
    }
    if output:
        config["output"] = output
    header = f"# 示例评估轮次（{district.name} {period}），由 wuye-eval demo 生成；数据为虚构。\n"
    _atomic(
        root / "round.toml",
        lambda p: p.write_text(header + tomli_w.dumps(config), encoding="utf-8"),
    )
    return root


def demo_cover(district: str, period: str) -> dict[str, Any]:
    """The demo's ``[report]`` cover fields (fictitious bureau and agency)."""
    return {
        "client": f"{district}住房和城市更新局（示例）",
        "agency": "示例调查咨询有限公司",
        "report_number": f"WY-{period}-001",
        "survey_period": f"{period_label(period)}（示例）",
        "basis": [
            f"《{district}住宅小区物业服务满意度测评工作方案》（示例）",
            f"《{district}物业服务企业考评办法》（示例）",
        ],
    }


def write_fieldwork(
    round_dir: str | Path,
    district: DemoDistrict,
    sample: pd.DataFrame,
    *,
    period: str,
    seed: int,
    questionnaire_path: str | Path = "default",
) -> Path:
    """Simulate the fieldwork of ``sample`` and write it as
    ``round_dir/fieldwork/问卷星导出_<period>.xlsx`` (one sheet, ``Sheet1``; text kept as
    text — the comment starting with ``=`` is not a formula; blank rows are empty)."""
    export = simulate_fieldwork(
        district, sample, period=period, seed=seed, questionnaire_path=questionnaire_path
    )
    path = Path(round_dir) / "fieldwork" / f"问卷星导出_{period}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda p: write_export(export, p))
    return path


def write_export(export: pd.DataFrame, path: str | Path) -> None:
    """Write an export DataFrame as 问卷星 does: header row, numbers as numbers, text as
    text (shared strings, at most 32,767 characters as Excel allows), missing cells empty.

    xlsxwriter writes the workbook with the header row; the data rows are then streamed
    into the sheet as XML in chunks (city scale: 600,000 rows in seconds, not minutes)."""
    fast = len(export) > 0 and all(isinstance(c, str) for c in export.columns)
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "in_memory": True,
        },
    )
    workbook.set_properties({"created": CREATED, "author": "wuye-eval demo"})
    sheet = workbook.add_worksheet("Sheet1")
    sheet.write_row(0, 0, list(export.columns))
    if not fast:
        _write_cells(sheet, export)
    workbook.close()
    if fast and not _append_rows(Path(path), export):
        write_export_cells(export, path)


def write_export_cells(export: pd.DataFrame, path: str | Path) -> None:
    """:func:`write_export` cell by cell through xlsxwriter (the reference; slow at scale)."""
    workbook = xlsxwriter.Workbook(
        str(path),
        {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False},
    )
    workbook.set_properties({"created": CREATED, "author": "wuye-eval demo"})
    sheet = workbook.add_worksheet("Sheet1")
    sheet.write_row(0, 0, list(export.columns))
    _write_cells(sheet, export)
    workbook.close()


def _write_cells(sheet: Any, export: pd.DataFrame) -> None:
    for c, name in enumerate(export.columns):
        values = export[name].to_numpy(dtype=object)
        for r in np.flatnonzero(pd.notna(values)):
            value = values[r]
            if isinstance(value, (int, np.integer)):
                sheet.write_number(r + 1, c, int(value))
            elif isinstance(value, (float, np.floating)):
                sheet.write_number(r + 1, c, float(value))
            else:
                sheet.write_string(r + 1, c, str(value))


_EXPORT_CHUNK = 20_000
_ESCAPE = re.compile(r"[&<>\x00-\x08\x0B-\x1F\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
"""What :func:`sampling.fieldsheets.xml_text` changes in a text (elsewhere it keeps it)."""
_MAX_TEXT = 32_767  # Excel's cell limit; xlsxwriter truncates longer strings the same way


def _number_text(value: Any) -> str:
    return "%.16G" % (int(value) if isinstance(value, (int, np.integer)) else float(value))


@dataclass
class _Cells:
    """The export's cells as sheet XML values: per column the ``<v>`` text of each cell
    (``None``: empty) and whether it is a number (else a shared-string index)."""

    values: list[np.ndarray]
    numeric: list[np.ndarray]
    strings: dict[str, int]
    """The new shared strings, in index order (after the ``base`` already in the table)."""
    refs: int
    """Cells that refer to a shared string."""

    def filled(self, n: int) -> np.ndarray:
        """Rows with at least one non-empty cell."""
        filled = np.zeros(n, dtype=bool)
        for v in self.values:
            filled |= np.not_equal(v, None)
        return filled


def _append_rows(path: Path, export: pd.DataFrame) -> bool:
    """Stream ``export``'s rows into ``xl/worksheets/sheet1.xml`` of the workbook at
    ``path`` (header already there) and their texts into ``xl/sharedStrings.xml``.
    False (nothing changed) for what only the cell-by-cell path handles: non-finite
    numbers (xlsxwriter refuses them)."""
    with zipfile.ZipFile(path) as z:
        sst = z.read("xl/sharedStrings.xml").decode("utf-8")
    found = re.search(r'count="(\d+)" uniqueCount="(\d+)"', sst)
    if found is None:
        return False
    cells = _sheet_cells(export, base=int(found[2]))
    if cells is None:
        return False
    source = temp_path(path)
    os.replace(path, source)
    try:
        with (
            zipfile.ZipFile(source) as zin,
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout,
        ):
            for info in zin.infolist():
                data = zin.read(info.filename)
                out = zipfile.ZipInfo(info.filename, info.date_time)
                out.compress_type = zipfile.ZIP_DEFLATED
                if info.filename == "xl/worksheets/sheet1.xml":
                    with zout.open(out, "w", force_zip64=True) as sink:
                        _write_sheet(sink, data.decode("utf-8"), cells, len(export))
                    continue
                if info.filename == "xl/sharedStrings.xml":
                    data = _shared_strings(sst, found, cells).encode("utf-8")
                zout.writestr(out, data, compresslevel=1)
    finally:
        source.unlink(missing_ok=True)
    return True


def _sheet_cells(export: pd.DataFrame, base: int) -> _Cells | None:
    """:class:`_Cells` of ``export``, new shared strings numbered from ``base``; ``None``
    for a non-finite number."""
    n = len(export)
    strings: dict[str, int] = {}
    cells = _Cells(values=[], numeric=[], strings=strings, refs=0)
    for c in range(export.shape[1]):
        column = export.iloc[:, c]
        values = column.to_numpy(dtype=object)
        present = np.asarray(pd.notna(values), dtype=bool)
        is_number = _numbers(column.dtype, values) & present
        text_at = present & ~is_number
        v = np.full(n, None, dtype=object)
        if text_at.any():
            codes, uniques = pd.factorize(values[text_at])
            index = [strings.setdefault(str(u)[:_MAX_TEXT], len(strings)) for u in uniques]
            v[text_at] = np.array([str(base + i) for i in index], dtype=object)[codes]
        if is_number.any():
            numbers = values[is_number]
            if not np.isfinite(np.asarray(numbers, dtype=float)).all():
                return None
            v[is_number] = [_number_text(x) for x in numbers]
        cells.refs += int(text_at.sum())
        cells.values.append(v)
        cells.numeric.append(is_number)
    return cells


def _numbers(dtype: Any, values: np.ndarray) -> np.ndarray:
    """Which of a column's ``values`` are numbers: none in a text column, all in an
    integer or float one (bool aside), else value by value."""
    if isinstance(dtype, pd.StringDtype):
        return np.zeros(len(values), dtype=bool)
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return np.fromiter(
            (isinstance(v, (int, float, np.integer, np.floating)) for v in values),
            dtype=bool,
            count=len(values),
        )
    return np.ones(len(values), dtype=bool)


def _write_sheet(sink: Any, sheet: str, cells: _Cells, n: int) -> None:
    """The sheet part with the rows of ``cells`` appended, written in chunks."""
    letters = [xlsxwriter.utility.xl_col_to_name(c) for c in range(len(cells.values))]
    filled = cells.filled(n)
    last_row = int(np.flatnonzero(filled)[-1]) + 2 if filled.any() else 1
    head, tail = sheet.split("</sheetData>", 1)
    head = re.sub(
        r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{letters[-1]}{last_row}"/>', head, count=1
    )
    sink.write(head.encode("utf-8"))
    for lo in range(0, n, _EXPORT_CHUNK):
        hi = min(n, lo + _EXPORT_CHUNK)
        sink.write(_rows_xml(cells, letters, filled, lo, hi).encode("utf-8"))
    sink.write(("</sheetData>" + tail).encode("utf-8"))


_KINDS = np.array(['" t="s"><v>', '"><v>'], dtype=object)
"""The end of a cell's ``<c>`` tag: a shared-string index, or a number."""


def _rows_xml(cells: _Cells, letters: list[str], filled: np.ndarray, lo: int, hi: int) -> str:
    """``<row>`` elements of export rows ``lo``..``hi`` (sheet rows from ``lo + 2``),
    joined once from a row × piece table (no string made per cell)."""
    keep = np.flatnonzero(filled[lo:hi]) + lo
    rows = (keep + 2).astype(str).astype(object)
    width = len(letters)
    pieces = np.empty((len(keep), 5 * width + 4), dtype=object)
    pieces[:, 0] = '<row r="'
    pieces[:, 1] = rows
    pieces[:, 2] = '">'
    for c in range(width):
        v = cells.values[c][keep]
        there = np.not_equal(v, None)
        cell = pieces[:, 3 + 5 * c : 8 + 5 * c]
        cell[:, 0] = f'<c r="{letters[c]}'
        cell[:, 1] = rows
        cell[:, 2] = _KINDS[cells.numeric[c][keep].astype(np.intp)]
        cell[:, 3] = v
        cell[:, 4] = "</v></c>"
        cell[~there] = ""
    pieces[:, -1] = "</row>"
    return "".join(pieces.ravel().tolist())


def _shared_strings(sst: str, found: re.Match[str], cells: _Cells) -> str:
    """The shared-string part with the new strings appended and its counts updated."""
    from sampling.fieldsheets import xml_text

    def item(u: str) -> str:
        text = xml_text(u) if _ESCAPE.search(u) else u  # most texts need no escape
        if u != u.strip():
            return f'<si><t xml:space="preserve">{text}</t></si>'
        return f"<si><t>{text}</t></si>"

    items = "".join([item(u) for u in cells.strings])
    base = int(found[2])
    return (
        sst[: found.start()]
        + f'count="{int(found[1]) + cells.refs}" uniqueCount="{base + len(cells.strings)}"'
        + sst[found.end() :].replace("</sst>", items + "</sst>", 1)
    )


def _write_register(path: Path, register: pd.DataFrame) -> None:
    cols = [c for c in REGISTER_LABELS if c in register.columns]
    table = register[cols].copy()
    for col in ("red_property", "professional", "committee"):
        if col in table.columns:
            table[col] = np.where(table[col].to_numpy(dtype=bool), "是", "否")
    table = table.rename(columns=REGISTER_LABELS)
    _atomic(path, lambda p: write_export(table, p))


def _atomic(path: Path, write: Any) -> None:
    """Write ``path`` with ``write(temporary path)`` (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        write(tmp)
