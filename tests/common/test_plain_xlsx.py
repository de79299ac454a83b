"""The fast plain-table writer: read back by openpyxl and calamine as xlsxwriter's cell-by-cell
writing of the same table reads back."""

from __future__ import annotations

import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from wuye_common import plain_xlsx
from wuye_common.plain_xlsx import Table, column_letters, write_tables


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["a&b", "<x>", None, "", "=1+1", "13812345678", " lead", "中文"],
            "count": [1, 2, 3, 4, 5, 6, 7, 8],
            "rate": [0.5, np.nan, 1e-7, 2.0, -3.25, 1 / 3, np.inf, 0.0],
            "nullable": pd.array([1, None, 3, None, 5, 6, 7, 8], dtype="Int64"),
            "flag": [True, False, True, False, True, False, True, False],
            "mixed": ["x", 1, None, 2.5, "y", "z", 3, "w"],
            "numbers": [1, 2.5, None, 4, 5, 6, 7, 8],
            "cat": pd.Categorical(["p", "q", "p", None, "q", "p", "q", "p"]),
            "ctrl": ["a\x01b", "_x0041_", "tab\tok", "x" * 40_000, "n\nl", None, "é", "\x1f"],
        }
    )


def _reference(frame: pd.DataFrame, path) -> None:
    """xlsxwriter, one typed call per non-empty cell (the writer this module replaces)."""
    book = xlsxwriter.Workbook(
        str(path),
        {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    sheet = book.add_worksheet("表")
    sheet.write_row(0, 0, list(frame.columns))
    for c, col in enumerate(frame.columns):
        numbers = plain_xlsx._numeric(frame[col]) is not None
        for r, v in enumerate(frame[col].astype(object).tolist(), start=1):
            if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v)) or v == "":
                continue
            if numbers:
                sheet.write_number(r, c, float(v))
            else:
                sheet.write_string(r, c, str(v))
    book.close()


def _calamine(path) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()


def test_reads_back_as_the_cell_by_cell_writer(tmp_path) -> None:
    frame = _frame()
    write_tables(tmp_path / "fast.xlsx", [Table("表", frame)])
    _reference(frame, tmp_path / "ref.xlsx")
    fast, ref = _calamine(tmp_path / "fast.xlsx"), _calamine(tmp_path / "ref.xlsx")
    assert len(fast) == len(ref) == len(frame) + 1
    for got, want in zip(fast, ref, strict=True):
        assert got == want


def test_cells_types_headers_and_view(tmp_path) -> None:
    frame = _frame()
    path = write_tables(tmp_path / "t.xlsx", [Table("隔离", frame, {"text": "文本"}, width=20)])
    book = openpyxl.load_workbook(path)
    ws = book["隔离"]
    assert ws.freeze_panes == "A2"
    assert ws["A1"].value == "文本" and ws["A1"].font.b
    assert ws["B1"].value == "count" and not ws["B2"].font.b
    assert ws["A2"].value == "a&b" and ws["A3"].value == "<x>"
    assert ws["A4"].value is None and ws["A5"].value is None  # NA and "" stay blank
    assert ws["A6"].value == "=1+1" and ws["A6"].data_type == "s"  # text, not a formula
    assert ws["A7"].value == "13812345678" and ws["A8"].value == " lead"
    assert ws["B2"].value == 1 and ws["C4"].value == pytest.approx(1e-7)
    assert ws["C3"].value is None and ws["C8"].value is None  # NaN and inf blank
    assert ws["D3"].value is None and ws["D4"].value == 3
    assert ws["E2"].value == "True" and ws["E3"].value == "False"
    assert ws["F3"].value == "1" and ws["F5"].value == "2.5"  # a mixed column is text
    assert ws["G3"].value == 2.5 and ws["G4"].value is None
    assert ws["H2"].value == "p" and ws["H5"].value is None
    assert ws["I2"].value == "a_x0001_b"  # the format's escape (Excel shows the character)
    assert ws["I5"].value == "x" * 32_767
    assert ws.column_dimensions["A"].width == pytest.approx(20.71, abs=0.01)
    with zipfile.ZipFile(path) as zf:
        assert "<f>" not in zf.read("xl/worksheets/sheet1.xml").decode()


def test_blocks_and_several_sheets(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(plain_xlsx, "BLOCK_ROWS", 7)
    big = pd.DataFrame({"i": np.arange(50), "s": [f"行{i}" for i in range(50)]})
    empty = pd.DataFrame({"a": pd.Series([], dtype=object)})
    path = write_tables(tmp_path / "b.xlsx", [Table("一", big), Table("二", empty)])
    book = CalamineWorkbook.from_path(str(path))
    assert book.sheet_names == ["一", "二"]
    rows = book.get_sheet_by_index(0).to_python()
    assert rows[0] == ["i", "s"] and len(rows) == 51
    assert [r[0] for r in rows[1:]] == list(range(50)) and rows[50][1] == "行49"
    assert book.get_sheet_by_index(1).to_python() == [["a"]]


def test_column_letters() -> None:
    letters = column_letters(800)
    assert letters[:3] == ["A", "B", "C"] and letters[25:28] == ["Z", "AA", "AB"]
    assert letters[701] == "ZZ" and letters[702] == "AAA"


def test_xml_texts_equal_each_text_escaped_alone() -> None:
    texts = ["a&b<c>", "", "_x0041_ and \x01\x1f", "x" * 40_000, "普通文本", '"q"', "\ufffe"]
    assert plain_xlsx.xml_texts(texts) == [plain_xlsx.xml_text(t) for t in texts]
    with_separator = ["a", f"b{plain_xlsx._JOIN}c", "d&"]  # falls back to one text at a time
    assert plain_xlsx.xml_texts(with_separator) == [plain_xlsx.xml_text(t) for t in with_separator]
    assert plain_xlsx.xml_texts([]) == []
