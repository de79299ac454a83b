"""Deliverables a bureau signs off (issue #17): the 测评报告's cover and 摘要 up front, cards
that say what must be done, the one style sheet."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pypdfium2 as pdfium
import pytest

from evaluation.demo.synthetic import synthetic_results
from evaluation.report import cards, pdf, summary
from evaluation.report import format as fmt


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    r = synthetic_results(tmp_path_factory.mktemp("deliver") / "round", n_estates=24)
    report = {
        "client": "示例区住房和城市更新局",
        "agency": "示例调查咨询有限公司",
        "report_number": "WY-2025H1-007",
        "survey_period": "2025年3月1日至3月31日",
        "basis": ["《示例区满意度测评工作方案》", "《示例区物业服务企业考评办法》"],
    }
    black = r.estates[r.estates["list"] == "黑榜"]["estate_id"].astype(str).tolist()
    escalations = pd.DataFrame(
        {
            "level": "estate",
            "key": black,
            "label": black,
            "list": "黑榜",
            "black_consecutive": 2,
            "red_consecutive": 0,
            "flag": "退出预警",
        }
    )
    return replace(r, round=replace(r.round, report=report), escalations=escalations)


def page_texts(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(str(path))
    try:
        return [re.sub(r"\s+", "", page.get_textpage().get_text_range()) for page in doc]
    finally:
        doc.close()


@pytest.fixture(scope="module")
def district_pages(results, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The page texts of ``results``' district PDF, rendered once for the tests that read it."""
    target = tmp_path_factory.mktemp("deliver_pdf") / "district.pdf"
    return page_texts(pdf.render_district_pdf(results, target))


def test_cover_then_summary_with_the_lists_on_the_first_two_pages(results, district_pages) -> None:
    pages = district_pages
    cover, first_two = pages[0], "".join(pages[:2])
    for text in ("示例区住房和城市更新局", "示例调查咨询有限公司", "WY-2025H1-007", "考评办法"):
        assert text in cover
    assert "摘要" in pages[1] and "红黑榜" in pages[1]
    e = results.estates
    listed = e[e["list"].isin(["红榜", "黑榜"])]
    assert len(listed) >= 2
    for name in listed["estate_name"]:
        assert re.sub(r"\s+", "", name) in first_two
    for name in e.loc[e["verdict"] == "未达标", "estate_name"]:
        assert re.sub(r"\s+", "", name) in first_two  # failing estates named in the 摘要
    assert "退出预警" in first_two
    assert "「" not in "".join(pages) and "门槛" not in "".join(pages)


def test_report_sections_in_order(district_pages) -> None:
    text = "".join(district_pages)
    order = [
        "摘要",
        "一、测评方法",
        "三、各社区结果",
        "五、红黑榜",
        "八、存在问题与整改建议",
        "附录",
    ]
    positions = [text.find(h) for h in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert "综合得分" in text and "样本完成率" in text and "RR1" in text


def test_black_listed_card_says_history_firm_and_requirement(results, tmp_path) -> None:
    payloads = cards.card_payloads(results)
    e = results.estates
    black = str(e.loc[e["list"] == "黑榜", "estate_id"].iloc[0])
    card = payloads[black]
    assert card["estate"]["history"] == "连续 2 轮黑榜；退出预警"
    assert card["estate"]["requirement"].startswith("优先整改满意率最低的分项")
    assert card["firm"].startswith("满意率 ")
    rank = dict(card["facts"])["排名"]
    assert re.fullmatch(r"\d+/\d+", rank) and rank.endswith(f"/{e['rank'].notna().sum()}")
    assert all(d["name"] != "总体评价" for d in card["dimensions"])
    written, failures = pdf.render_cards(
        results, tmp_path / "cards", estate_ids=[black, "E002"], progress=False
    )
    assert not failures and len(written) == 2
    text = page_texts(tmp_path / "cards" / f"{black}.pdf")
    assert len(text) == 1  # one page
    for words in ("退出预警", "连续2轮黑榜", "整改要求", "物业企业状况", rank):
        assert words in text[0]
    passing = str(e.loc[(e["verdict"] != "未达标") & (e["list"] != "黑榜"), "estate_id"].iloc[0])
    assert payloads[passing]["estate"]["requirement"] == ""


def test_community_table_weights_estates_by_households(results) -> None:
    table = summary.community_table(results)
    e = results.estates
    first = table.iloc[0]
    members = e[e["community"].astype(str) == first["所属社区"]]
    expected = (members["rate"] * members["households"]).sum() / members["households"].sum()
    assert first["满意率（户数加权）"] == fmt.pct(expected)
    assert table["小区数"].map(lambda s: int(s.replace(",", ""))).sum() == len(e)


def test_changes_sorted_by_change_in_the_style(results) -> None:
    from evaluation.report import tables

    changes = tables.changes_table(results)
    assert not changes.empty
    shown = changes["变化（区间）"].tolist()
    assert all("个百分点（" in s and "～" in s for s in shown if s != "—")
    signed = [float(s.split(" ")[0].replace("−", "-")) for s in shown if s != "—"]
    assert signed == sorted(signed, reverse=True)


NUMBER_TEXT = re.compile(r"^[−+-]?[\d,]+(\.\d+)?\s*(%|个|户|份)?$")
RULE_COLUMNS = {
    '"达标"': "结论",
    '"临界"': "结论",
    '"未达标"': "结论",
    '"红榜"': "榜单",
    '"黑榜"': "榜单",
}


def test_workbook_one_clean_table_per_sheet(results, tmp_path) -> None:
    import openpyxl

    from evaluation.report.excel import SHEETS, write_workbook

    wb = openpyxl.load_workbook(write_workbook(results, tmp_path / "结果.xlsx"))
    assert wb.sheetnames == list(SHEETS)
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        assert header and all(h is None or re.search(r"[\u4e00-\u9fff]", h) for h in header), (
            ws.title,
            header,
        )
        assert len([h for h in header if h]) == len({h for h in header if h}), ws.title
        assert ws.freeze_panes is not None, ws.title
        assert (
            ws.print_title_rows in ("1:1", "$1:$1") and ws.sheet_properties.pageSetUpPr.fitToPage
        ), ws.title
        assert ws.page_setup.fitToHeight in (0, "0") and ws.page_setup.fitToWidth in (None, 1), (
            ws.title
        )
        assert results.round.district in ws.oddHeader.left.text, ws.title
        if ws.auto_filter.ref:  # the filter covers the whole table
            assert ws.auto_filter.ref.endswith(str(ws.max_row)), ws.title
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                identifier = re.search("编号|假名", str(header[cell.column - 1]))
                if isinstance(cell.value, str) and not identifier:
                    assert not NUMBER_TEXT.match(cell.value), (
                        ws.title,
                        cell.coordinate,
                        cell.value,
                    )
        for rng in ws.conditional_formatting:
            column = header[next(iter(rng.sqref.ranges)).min_col - 1]
            for rule in rng.rules:
                if rule.formula:
                    assert column == RULE_COLUMNS[rule.formula[0]], (ws.title, column)
                else:  # data bars and colour scales sit on a rate column
                    assert column.startswith("满意率"), (ws.title, column)
    items = wb["分题结果"]
    header = [c.value for c in items[1]]
    assert "题目" in header and items.cell(2, header.index("题目") + 1).value
    summary = {r[0].value: r[1] for r in wb["汇总"].iter_rows(min_row=2)}
    assert (
        summary["总户数"].data_type == "n" and summary["平均应答率（RR1）"].number_format == "0.0%"
    )
