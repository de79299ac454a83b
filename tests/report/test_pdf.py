"""Typst PDFs: Chinese text survives, odd names are safe, failures are collected."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pypdfium2 as pdfium
import pytest

from evaluation.demo.synthetic import FORMULA_NAME, ODD_NAME, synthetic_results
from evaluation.report import format as fmt
from evaluation.report import pdf
from evaluation.results import FRAMES


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_results(tmp_path_factory.mktemp("pdf") / "round", n_estates=20)


def pdf_text(path: Path) -> str:
    doc = pdfium.PdfDocument(str(path))
    try:
        text = "".join(page.get_textpage().get_text_range() for page in doc)
    finally:
        doc.close()
    return re.sub(r"\s+", "", text)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def district_pdf(results, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district PDF of ``results``, rendered once for the tests that read it."""
    return pdf.render_district_pdf(results, tmp_path_factory.mktemp("district") / "district.pdf")


def test_district_pdf_text(results, district_pdf: Path) -> None:
    text = pdf_text(district_pdf)
    e = results.estates
    for name in e["estate_name"].head(8):
        assert squash(name) in text
    row = e.iloc[5]
    assert squash(fmt.interval(row["rate"], row["rate_low"], row["rate_high"])) in text
    for heading in (
        "测评概况",
        "分等级结果",
        "红榜",
        "黑榜",
        "物业企业结果",
        "测评方法",
        "摘要",
        "各社区结果",
        "存在问题与整改建议",
    ):
        assert heading in text
    assert "隔离" in text and "答题时间过短" in text
    assert "本轮无数据" not in text  # every section has data here


def test_cards_for_odd_names_use_ids(results, tmp_path: Path) -> None:
    ids = ["E001", "E002", "E003"]
    written, failures = pdf.render_cards(
        results, tmp_path / "cards", estate_ids=ids, progress=False
    )
    assert not failures
    assert sorted(p.name for p in written) == [f"{i}.pdf" for i in ids]
    assert sorted(p.name for p in (tmp_path / "cards").iterdir()) == [f"{i}.pdf" for i in ids]
    assert squash(FORMULA_NAME) in pdf_text(tmp_path / "cards" / "E001.pdf")
    text = pdf_text(tmp_path / "cards" / "E002.pdf")
    assert squash(ODD_NAME) in text
    row = results.estates.set_index("estate_id").loc["E002"]
    assert squash(fmt.interval(row["rate"], row["rate_low"], row["rate_high"])) in text
    assert "分项满意率" in text and "与上一轮相比" in text


def test_card_renders_to_png_with_threshold_line(results, tmp_path: Path) -> None:
    """The red threshold line sits at threshold × bar width from the bar's left edge."""
    payload = pdf.card_payloads(results)["E002"]
    png = pdf.compile_pdf("card.typ", payload, fmt_="png", ppi=144)
    (tmp_path / "card.png").write_bytes(png)
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "card.png").convert("RGB")).astype(int)
    red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    # dimension bars: light-blue fill rows; the track starts at the bars' common left edge
    blue = (
        (abs(img[..., 0] - 0x8F) < 6)
        & (abs(img[..., 1] - 0xB3) < 6)
        & (abs(img[..., 2] - 0xE0) < 6)
    )
    rows = np.where(blue.any(axis=1))[0]
    left = int(np.where(blue[rows].any(axis=0))[0].min())
    width = 5.2 / 2.54 * 144  # 5.2 cm at 144 ppi
    red_cols = np.where(red[rows].any(axis=0))[0]
    assert len(red_cols)
    expected = left + payload["estate"]["threshold"] * width
    assert abs(red_cols.mean() - expected) < 4


def test_empty_round_says_no_data(results, tmp_path: Path) -> None:
    empty = type(results)(
        round=results.round,
        estates=pd.DataFrame(),
        **{k: pd.DataFrame() for k in FRAMES if k != "estates"},
    )
    text = pdf_text(pdf.render_district_pdf(empty, tmp_path / "d.pdf"))
    assert "本轮无数据" in text
    assert pdf.render_cards(empty, tmp_path / "c", progress=False) == ([], [])


def test_one_failing_card_does_not_stop_others(results, tmp_path: Path, monkeypatch) -> None:
    good = pdf.card_payloads(results)
    bad = {k: v for k, v in list(good.items())[:4]}
    bad["E002"] = {**bad["E002"], "estate": None}  # template cannot read it
    monkeypatch.setattr(pdf, "card_payloads", lambda _r: bad)
    written, failures = pdf.render_cards(
        results, tmp_path / "cards", progress=False, executor=ThreadPoolExecutor(2), batch_size=2
    )
    assert sorted(p.stem for p in written) == ["E001", "E003", "E004"]
    assert [f.estate_id for f in failures] == ["E002"]
    assert failures[0].reason
    assert not (tmp_path / "cards" / "E002.pdf").exists()
    assert not [p for p in (tmp_path / "cards").iterdir() if p.name.endswith(".tmp")]


def test_cards_on_local_dask_cluster(results, tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster,
        distributed.Client(cluster) as client,
    ):
        written, failures = pdf.render_cards(
            results,
            tmp_path / "cards",
            executor=client.get_executor(),
            estate_ids=["E003", "E004"],
            progress=False,
        )
    assert not failures and len(written) == 2


def test_results_round_tripped_through_csv_render(results, tmp_path: Path) -> None:
    """What notebooks and a re-run see: frames saved as CSV and loaded back (NaN lists etc.)."""
    from evaluation.report.excel import write_workbook
    from evaluation.results import load_results, save_results

    save_results(results, tmp_path / "data")
    loaded = load_results(results.round.root, tmp_path / "data")
    assert loaded.estates["list"].isna().any()  # empty strings come back as NaN
    written, failures = pdf.render_cards(
        loaded, tmp_path / "cards", progress=False, estate_ids=["E001", "E002"]
    )
    assert not failures and len(written) == 2
    assert "本轮无数据" not in pdf_text(pdf.render_district_pdf(loaded, tmp_path / "d.pdf"))
    assert write_workbook(loaded, tmp_path / "x.xlsx").exists()


def test_display_tables_on_empty_results(results) -> None:
    from evaluation.report import tables

    empty = type(results)(
        round=results.round,
        estates=pd.DataFrame(),
        **{k: pd.DataFrame() for k in FRAMES if k != "estates"},
    )
    for fn in (
        tables.tier_summary,
        tables.estates_table,
        tables.firms_table,
        tables.changes_table,
        tables.dimensions_table,
        tables.indicators_table,
    ):
        assert fn(empty).empty
    assert repr(tables.show(tables.estates_table(empty))) == "本轮无数据"
    assert "<table" in tables.show(tables.overview(results)).to_html()
    assert tables.estate_profile(empty, "E001").empty
    assert len(tables.overview(empty)) == 3


def test_stage_column_names_are_understood(results) -> None:
    """Frames as the pipeline builds them: merge suffixes, rate_low/high, rate_prev/change."""
    from evaluation.report import tables

    e = results.estates.rename(columns={"firm": "firm_x", "households": "households_x"})
    e = e.assign(firm_y=e["firm_x"], households_y=e["households_x"])
    c = results.changes.rename(
        columns={
            "previous_rate": "rate_prev",
            "diff": "change",
            "diff_low": "change_low",
            "diff_high": "change_high",
        }
    )
    f = results.firms.rename(columns={"ci_low": "rate_low", "ci_high": "rate_high"})
    staged = type(results)(**{**results.__dict__, "estates": e, "changes": c, "firms": f})
    ready = tables.prepare(staged)
    assert {"firm", "households"} <= set(ready.estates.columns)
    assert not [col for col in ready.estates.columns if col.endswith(("_x", "_y"))]
    assert tables.prepare(ready) is ready
    card = pdf.card_payloads(staged)["E003"]
    assert dict(card["facts"])["物业企业"] == results.estates.iloc[2]["firm"]
    assert "个百分点（" in card["change"]["diff"] and card["change"]["diff"].endswith("）")
    assert "（" in tables.firms_table(staged)["满意率（区间）"].iloc[0]


def test_cards_show_the_non_response_sensitivity_beside_the_verdict(results) -> None:
    from dataclasses import replace

    e = results.estates
    delta = np.where(e["verdict"] == "临界", 0.3, np.where(e["verdict"] == "达标", 0.74, -np.inf))
    cards = pdf.card_payloads(replace(results, estates=e.assign(nr_delta=delta)))
    notes = {k: v["estate"]["verdict_note"] for k, v in cards.items()}
    verdict = e.set_index("estate_id")["verdict"]
    for estate, note in notes.items():
        if verdict[estate] == "达标":
            assert note.endswith("满意与不满意住户应答意愿相差 2.1 倍即可改变判定")
        elif verdict[estate] == "未达标":
            assert note.endswith("任何未应答情形都不改变判定")
        else:
            assert "应答意愿" not in note
    # the district report shows the caterpillar and funnel plots (SVG, glyphs as paths)
    payload = pdf.district_payload(results)
    assert payload["caterpillar"].startswith("<?xml") and "<svg" in payload["funnel"]
    assert any(row[0] == "多重检验" for row in payload["method"])


def test_district_pdf_is_untagged(district_pdf: Path) -> None:
    """DISTRICT_PDF_TAGS off: no structure tree (a 10× smaller file at 2,000 estates)."""
    path = district_pdf
    assert b"/StructTreeRoot" not in path.read_bytes()
    assert len(page_texts_of(path)) > 5


def page_texts_of(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(str(path))
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


def test_a_long_tier_chart_runs_on_over_pages_above_the_footer(tmp_path: Path) -> None:
    """A tier of 80 estates is longer than a page: its chart continues on the next page
    (it was one unbreakable block, drawn past the page's end over the footer)."""
    many = synthetic_results(tmp_path / "round", n_estates=400)
    path = pdf.render_district_pdf(many, tmp_path / "district.pdf")
    doc = pdfium.PdfDocument(str(path))
    try:
        chart_pages = 0
        for page in doc:
            text = page.get_textpage()
            body = text.get_text_range()
            if "（达标线" not in body and chart_pages == 0:
                continue
            if "三、各社区结果" in body:
                break
            chart_pages += 1
            footer = _footer_chars(text)  # "… 测评报告 · 第 N 页"
            boxes = {i: text.get_charbox(i) for i in range(text.count_chars())}
            drawn = {i for i, (left, _, right, _) in boxes.items() if right > left}
            footer_top = max(boxes[i][3] for i in footer & drawn)
            assert min(boxes[i][1] for i in drawn - footer) > footer_top
    finally:
        doc.close()
    assert chart_pages > 5  # five tiers of 80 estates: more than one page each


def _footer_chars(text) -> set[int]:
    """The character indices of the page's footer line "<round> 测评报告 · 第 N 页": the run
    of characters before its last "页" on the same line."""
    searcher = text.search("页")
    hits = []
    while (hit := searcher.get_next()) is not None:
        hits.append(hit)
    searcher.close()
    end = hits[-1][0]
    _, low, _, high = text.get_charbox(end)
    start = end
    while start > 0:
        left, bottom, right, top = text.get_charbox(start - 1)
        if (top < low or bottom > high) and right > left:  # another line (a space: no box)
            break
        start -= 1
    return set(range(start, end + 1))
