"""The report pieces of issue 15: the plan's power, the operating-characteristic chart and
the small-area estimates, each with its plain Chinese sentence."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from evaluation.demo.synthetic import synthetic_results
from evaluation.report import charts, pdf, tables
from evaluation.report.excel import write_workbook
from tests.report.test_pdf import pdf_text, squash


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_results(tmp_path_factory.mktemp("power") / "round", n_estates=20)


def test_district_report_has_power_oc_chart_and_small_area(results, tmp_path: Path) -> None:
    payload = pdf.district_payload(results)
    assert "<svg" in payload["oc_chart"]
    assert payload["plan_power"]["columns"][:2] == ["服务等级", "小区数"]
    small = payload["small_area"]["rows"]
    assert len(small) == 2  # the two estates with fewer than 30 answers
    rows = dict(pdf.method_rows(results))
    assert "被判为「未达标」的概率" in rows["检验功效"] and "本方案共需入户" in rows["检验功效"]
    assert rows["小区域估计"].startswith(tables.SAE_SENTENCE)
    text = pdf_text(pdf.render_district_pdf(results, tmp_path / "d.pdf"))
    for words in ("判定的操作特征", "抽样方案的检验功效", "样本较少小区的小区域估计"):
        assert words in text
    assert squash(tables.OC_SENTENCE[:20]) in text


def test_oc_curves_are_the_exact_operating_characteristic(results) -> None:
    from evaluation.scoring.exact import operating_characteristic

    curves = charts.oc_curves(results, points=5)
    assert set(curves["tier"]) <= set(results.round.thresholds)
    row = curves.iloc[2]  # the threshold itself
    want = operating_characteristic(row["N"], row["n"], row["threshold"], row["rate"])
    assert row["p_fail"] == pytest.approx(want["p_fail"][0]) and row["p_fail"] <= 0.025
    assert charts.to_svg(charts.oc_chart(results)) == charts.to_svg(charts.oc_chart(results))


def test_cards_show_power_and_small_area_where_it_applies(results, tmp_path: Path) -> None:
    payloads = pdf.card_payloads(results)
    small, large = payloads["E002"], payloads["E010"]
    assert small["estate"]["sae_text"] and not large["estate"]["sae_text"]
    assert "检验功效" in dict(small["facts"])
    written, failures = pdf.render_cards(
        results, tmp_path / "cards", estate_ids=["E002"], progress=False
    )
    assert not failures
    text = pdf_text(written[0])
    assert "小区域估计" in text and "检验功效" in text


def test_workbook_method_sheet_and_estate_columns(results, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(write_workbook(results, tmp_path / "w.xlsx"))
    method = [str(c.value) for row in wb["方法说明"].iter_rows() for c in row if c.value]
    assert "检验功效" in method and "判定的操作特征（各等级中位数小区）" in method
    assert "判为未达标" in method
    header = [c.value for c in next(wb["小区结果"].iter_rows(max_row=1))]
    assert {"小区域估计", "区间方法"} <= set(header)
