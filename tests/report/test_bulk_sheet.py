"""Whole-column writing (BulkSheet) writes the file xlsxwriter writes cell by cell."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xlsxwriter

from evaluation.demo.synthetic import synthetic_results
from evaluation.report import excel
from evaluation.report.bulk_sheet import BulkSheet, NumberColumn, TextColumn

STRINGS = [
    "甲小区",
    "=SUM(A1)",
    "",
    "a < b & c > d",
    " leading space",
    "控制\x07字符",
    "_x0041_ literal",
    "甲小区",
    "x" * 40_000,  # past Excel's 32,767 characters: truncated as write_string does
    "+86 电话已脱敏",
]
NUMBERS = [0.5, math.nan, 1e-17, 3.0, math.inf, -0.25, 123456789.123, 0.0, -math.inf, 2 / 3]


def _parts(path: Path) -> dict[str, bytes]:
    """The workbook's XML parts but its creation time (and charts, whose cached values a
    block does not hold)."""
    with zipfile.ZipFile(path) as z:
        return {
            n: z.read(n)
            for n in z.namelist()
            if n != "docProps/core.xml" and not n.startswith("xl/charts/")
        }


def _book(path: Path, bulk: bool, rowmax: int | None = None) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    text, quoted = wb.add_format({"bold": True}), wb.add_format({"quote_prefix": True})
    pct = wb.add_format({"num_format": "0.0%"})
    ws = wb.add_worksheet("表", worksheet_class=BulkSheet)
    if rowmax is not None:
        ws.xls_rowmax = rowmax
    ws.write_string(0, 0, "标题", text)
    ws.write_string(0, 1, "数值", text)
    if bulk:
        column = TextColumn(STRINGS, text, quoted, lambda s: s.startswith(("=", "+")))
        ws.add_block(1, 0, [column, NumberColumn(np.array(NUMBERS), pct)])
    else:
        for i, s in enumerate(STRINGS, start=1):
            ws.write_string(i, 0, s, quoted if s.startswith(("=", "+")) else text)
        for i, v in enumerate(NUMBERS, start=1):
            if math.isfinite(v):
                ws.write_number(i, 1, v, pct)
            else:
                ws.write_blank(i, 1, None, pct)
    ws.write_string(len(STRINGS) + 3, 0, "表后文字", text)  # a cell after the block
    wb.close()
    return path


@pytest.mark.parametrize("rowmax", [None, 6])
def test_block_writes_the_cell_by_cell_file(tmp_path: Path, rowmax: int | None) -> None:
    slow = _parts(_book(tmp_path / "slow.xlsx", bulk=False, rowmax=rowmax))
    fast = _parts(_book(tmp_path / "fast.xlsx", bulk=True, rowmax=rowmax))
    assert fast == slow


def test_block_refuses_cells_written_inside_it(tmp_path: Path) -> None:
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))
    ws = wb.add_worksheet("表", worksheet_class=BulkSheet)
    ws.add_block(1, 0, [NumberColumn(np.arange(5.0), None)])
    ws.write_number(3, 0, 9.0)
    with pytest.raises(ValueError, match="inside a BulkSheet block"):
        wb.close()


def test_workbook_same_with_and_without_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every table of the bureau's workbook written whole-column equals the cell-by-cell
    workbook, styles and shared strings included."""
    results = synthetic_results(tmp_path / "round", n_estates=20)
    monkeypatch.setattr(excel, "BULK_ROWS", 10**9)
    slow = _parts(excel.write_workbook(results, tmp_path / "slow.xlsx"))
    monkeypatch.setattr(excel, "BULK_ROWS", 1)
    fast = _parts(excel.write_workbook(results, tmp_path / "fast.xlsx"))
    assert fast.keys() == slow.keys()
    assert [n for n in fast if fast[n] != slow[n]] == []


def test_text_column_takes_strings_only(tmp_path: Path) -> None:
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))
    ws = wb.add_worksheet("表", worksheet_class=BulkSheet)
    with pytest.raises(TypeError, match="strings only"):
        ws.add_block(0, 0, [TextColumn(["a", None, "b"], None)])
    wb.close()
