"""The bureau's workbook: reopens, numeric percentages, formulas never injected."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from evaluation.demo.synthetic import FORMULA_NAME, ODD_NAME, synthetic_results
from evaluation.report.excel import SHEETS, write_workbook
from evaluation.results import FRAMES


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_results(tmp_path_factory.mktemp("xl") / "round", n_estates=20)


def _header_index(ws, name: str) -> int:
    return [c.value for c in ws[1]].index(name)


def test_workbook_sheets_numbers_and_text(results, tmp_path: Path) -> None:
    path = write_workbook(results, tmp_path / "结果.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    ws = wb["小区结果"]
    rate_col = _header_index(ws, "满意率")
    name_col = _header_index(ws, "小区名称")
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 20
    for row in rows:
        cell = row[rate_col]
        assert cell.data_type == "n" and isinstance(cell.value, float)
        assert cell.number_format == "0.0%"
    names = {row[name_col].value: row[name_col] for row in rows}
    formula = names[FORMULA_NAME]
    assert formula.data_type == "s"
    assert formula.quotePrefix
    assert names[ODD_NAME].data_type == "s"
    assert ws.freeze_panes is not None and ws.auto_filter.ref
    # widths count Chinese characters twice: the firm column fits its longest name
    firm_col = _header_index(ws, "物业企业")
    letter = openpyxl.utils.get_column_letter(firm_col + 1)
    assert ws.column_dimensions[letter].width >= 2 * len("武汉安居物业服务有限公司")
    # no formula anywhere in the workbook
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)
    with zipfile.ZipFile(path) as z:  # native charts (openpyxl does not load them back)
        assert any(n.startswith("xl/charts/chart") for n in z.namelist())


def test_verdict_conditional_formats(results, tmp_path: Path) -> None:
    ws = openpyxl.load_workbook(write_workbook(results, tmp_path / "x.xlsx"))["小区结果"]
    rules = [r.formula for rng in ws.conditional_formatting for r in rng.rules if r.formula]
    assert ['"达标"'] in rules and ['"未达标"'] in rules


def test_empty_frames_say_no_data(results, tmp_path: Path) -> None:
    empty = type(results)(
        round=results.round,
        estates=pd.DataFrame(),
        **{k: pd.DataFrame() for k in FRAMES if k != "estates"},
    )
    wb = openpyxl.load_workbook(write_workbook(empty, tmp_path / "e.xlsx"))
    texts = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    assert "本轮无数据" in texts
