"""Report pieces of the fieldwork-quality checks and comments (#14): the per-firm comment
themes in the workbook's 居民意见 sheet."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from evaluation.demo.synthetic import synthetic_results
from evaluation.report import tables
from evaluation.report.excel import write_workbook


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return synthetic_results(tmp_path_factory.mktemp("quality_pieces"), n_estates=6, seed=3)


def test_themes_by_firm_sum_the_firms_estates(results) -> None:
    themes = results.comment_themes
    firm_of = results.estates.set_index("estate_id")["firm"]
    # a second estate of the first estate's firm mentions 电梯 too: the firm sums both
    first, other = themes["estate_id"].iat[0], results.estates["estate_id"]
    same = other[(firm_of.reindex(other).to_numpy() == firm_of[first]) & (other != first)]
    extra = same.iat[0] if len(same) else first
    row = pd.DataFrame(
        {
            "estate_id": [extra],
            "theme": ["电梯"],
            "mentions": [2],
            "dissatisfied_mentions": [1],
            "dissatisfied": [4],
            "share_dissatisfied": [0.25],
        }
    )
    results.comment_themes = pd.concat([themes, row], ignore_index=True)
    try:
        table = tables.themes_by_firm(results)
    finally:
        results.comment_themes = themes
    lift = table[(table["firm"] == firm_of[first]) & (table["theme"] == "电梯")].iloc[0]
    base = 5 + (4 if extra != first else 0)  # each estate's dissatisfied counted once
    assert lift["mentions"] == 1 + 2 and lift["dissatisfied_mentions"] == 1 + 1
    assert lift["dissatisfied"] == base
    assert lift["share_dissatisfied"] == pytest.approx(2 / base)


def test_comments_sheet_has_the_firm_table(results, tmp_path: Path) -> None:
    path = write_workbook(results, tmp_path / "book.xlsx")
    ws = openpyxl.load_workbook(path, read_only=True)["居民意见"]
    cells = [str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "居民意见主题（按物业企业，合计其各小区）" in cells
    firm_of = results.estates.set_index("estate_id")["firm"]
    assert str(firm_of[results.comment_themes["estate_id"].iat[0]]) in cells
