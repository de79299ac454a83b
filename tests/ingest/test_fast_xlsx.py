"""The streaming .xlsx reader (evaluation.ingest.xlsx) gives exactly what the calamine
path gives: the same frame and ExportInfo from read_survey_export, on real 问卷星 exports,
the demo export and hand-made sheets with awkward cells."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from evaluation.ingest import readers, xlsx
from evaluation.ingest.readers import read_survey_export
from wuye_common.cells import text_frame
from wuye_common.errors import WuyeError
from wuye_common.sheets import Limits, calamine_rows

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
HEAD = (
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
    '<c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>'
)
HEAD_SST = [
    "<si><t>序号</t></si>",
    "<si><t>提交答卷时间</t></si>",
    "<si><t>1、您居住的小区名称</t></si>",
    "<si><t>2、总体评价</t></si>",
]


def write_parts(
    path: Path,
    sheet_data: str,
    sst: list[str] | None = None,
    styles: str | None = None,
    sheets: tuple[str, ...] = ("Sheet1",),
) -> Path:
    """A workbook from raw XML parts (the sheet data of every sheet is the same)."""
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" '
        f'Target="worksheets/sheet{i + 1}.xml"/>'
        for i in range(len(sheets))
    )
    rels += (
        f'<Relationship Id="rIdS" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rIdY" Type="{REL}/styles" Target="/xl/styles.xml"/>'
    )
    names = "".join(
        f'<sheet name="{name}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
        for i, name in enumerate(sheets)
    )
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="application'
            '/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            f'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            f'ContentType="{ct}.sheet.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {NS} '
            f'xmlns:r="{REL}"><sheets>{names}</sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships">{rels}</Relationships>'
        ),
    }
    for i in range(len(sheets)):
        files[f"xl/worksheets/sheet{i + 1}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}><sheetData>{sheet_data}'
            "</sheetData></worksheet>"
        )
    if sst is not None:
        files["xl/sharedStrings.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><sst {NS}>{"".join(sst)}</sst>'
        )
    if styles is not None:
        files["xl/styles.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet {NS}>{styles}</styleSheet>'
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def calamine_raw(path: Path, sheet: str | int | None = None) -> pd.DataFrame:
    rows, numbers, *_ = calamine_rows(
        path, lambda names: readers._pick_sheet(names, sheet, path.name), Limits(), file="x"
    )
    return text_frame(rows, numbers - 1, categorical=True)


def fast_raw(path: Path, sheet: str | int | None = None) -> pd.DataFrame:
    return xlsx.read_xlsx_sheet(path, lambda names: readers._pick_sheet(names, sheet, "x"))[0]


def assert_same_raw(path: Path, *, fast: bool = True) -> None:
    """The cell tables agree (after dropping trailing empty rows and columns, whose extent
    the two readers may count differently); ``fast``: the fast reader handles the file."""
    want = calamine_raw(path)
    try:
        got = fast_raw(path)
    except xlsx.Unsupported:
        assert not fast, "the fast reader declined the file"
        return
    assert fast, "the fast reader read a file it should decline"
    for frame in (want, got):
        filled = frame.notna().to_numpy()
        rows = np.flatnonzero(filled.any(axis=1))
        cols = np.flatnonzero(filled.any(axis=0))
        frame.attrs["shape"] = (rows[-1] + 1 if len(rows) else 0, cols[-1] + 1 if len(cols) else 0)
    h, w = want.attrs["shape"]
    assert got.attrs["shape"] == (h, w)
    pd.testing.assert_frame_equal(got.iloc[:h, :w], want.iloc[:h, :w])


def calamine_only(monkeypatch: pytest.MonkeyPatch, path: Path, **kw):
    with monkeypatch.context() as m:
        m.setattr(readers, "_read_xlsx_fast", lambda *a, **k: None)
        return read_survey_export(path, **kw)


def assert_same_export(monkeypatch: pytest.MonkeyPatch, path: Path, *, fast: bool = True) -> None:
    """read_survey_export gives the same frame and ExportInfo on both paths, plain and
    categorical."""
    used = readers._read_xlsx_fast(path, None) is not None
    assert used == fast
    for categorical in (False, True):
        got, g_info = read_survey_export(path, categorical=categorical)
        want, w_info = calamine_only(monkeypatch, path, categorical=categorical)
        pd.testing.assert_frame_equal(got, want)
        for name in (
            "path",
            "file",
            "platform",
            "kind",
            "sheet",
            "header_row",
            "metadata",
            "encoding",
            "notes",
        ):
            assert getattr(g_info, name) == getattr(w_info, name), name
        pd.testing.assert_frame_equal(g_info.questions, w_info.questions)
        np.testing.assert_array_equal(g_info.source_rows, w_info.source_rows)


# ----------------------------------------------------------------------- real and demo exports


def xls_as_xlsx(source: Path, target: Path) -> Path:
    """A real .xls export rewritten cell by cell as .xlsx (numbers stay numbers)."""
    rows = CalamineWorkbook.from_path(str(source)).get_sheet_by_index(0).to_python()
    book = xlsxwriter.Workbook(
        str(target),
        {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    sheet = book.add_worksheet("Sheet1")
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            if value != "":
                sheet.write(r, c, value)
    book.close()
    return target


@pytest.mark.parametrize("stem", ["wjx_0", "wjx_2", "r_357_357_0", "r_357_357_2"])
def test_real_wjx_exports_same_on_both_paths(
    shared_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str
) -> None:
    source = shared_fixtures / "wjx" / f"{stem}.xls"
    assert_same_export(monkeypatch, source, fast=False)  # .xls: calamine only
    path = xls_as_xlsx(source, tmp_path / f"{stem}.xlsx")
    assert_same_raw(path)
    assert_same_export(monkeypatch, path)


def test_demo_export_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluation.demo import build_district, simulate_fieldwork, write_export

    district = build_district(7, estates=6)
    frame = district.frame.drop(columns=["occupied"])
    rank = frame.groupby(["estate_id", "building"]).cumcount().to_numpy()
    sample = frame[rank < 9].copy()
    rank = rank[rank < 9]
    sample["role"] = np.where(rank < 6, "main", "reserve")
    sample["order"] = np.where(rank < 6, rank + 1, rank - 5)
    sample["seq"] = sample.groupby("estate_id").cumcount() + 1
    export = simulate_fieldwork(district, sample.reset_index(drop=True), period="2025H2", seed=7)
    path = tmp_path / "问卷星导出.xlsx"
    write_export(export, path)
    assert_same_raw(path)
    assert_same_export(monkeypatch, path)
    frame, info = read_survey_export(path)
    assert len(frame) + info.blank_rows == len(export) and info.platform == "wjx"


def test_constant_memory_inline_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """xlsxwriter's constant_memory mode writes every text as an inline string."""
    path = tmp_path / "inline.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("答卷")
    rows = [
        ["序号", "提交答卷时间", "1、小区", "2、总体评价"],
        [1, "2025/6/1 10:00:00", " 阳光花园 ", "满意"],
        [2, "", "a & b <c>", "   "],
        [3, None, "x\ny", "非常满意"],
        [],
        [5, "2025/6/2", "_x000D_ 回车", 1.5],
    ]
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            if value is not None:
                sheet.write(r, c, value)
    book.close()
    assert b"inlineStr" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    assert_same_raw(path)
    assert_same_export(monkeypatch, path)


# ----------------------------------------------------------------------- hand-made edge cases

EDGE_SST = [
    *HEAD_SST,
    "<si><t>a&amp;b&lt;c&gt;&quot;&apos;&#20320;&#x41;</t></si>",  # 4 entities
    "<si><t>_x000D_回车_x005F_x000D_字面 _x4E2D_ _x0041_</t></si>",  # 5 escapes
    '<si><t xml:space="preserve">  两端空格  </t></si>',  # 6
    "<si><t>  去掉空格 \r\n 换行 </t></si>",  # 7
    '<si><r><rPr><b/><sz val="11"/></rPr><t>粗体</t></r><r><t xml:space="preserve"> 普通'
    "</t></r></si>",  # 8 rich runs
    '<si><t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh><phoneticPr fontId="1"/></si>',  # 9
    "<si/>",
    "<si><t></t></si>",
    "<si><t>   </t></si>",  # 10-12 empty
    '<si><t xml:space="preserve">   </t></si>',  # 13 spaces kept
    "<si>\n  <t>缩进</t>\n</si>",
    "<si><t>&#13;&#10;x</t></si>",
    "<si><t>满意</t></si>",  # 14-16
    "<si><t>1</t></si>",  # 17 text "1"
]


def edge_rows() -> str:
    return HEAD + "".join(
        [
            '<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="s"><v>4</v></c>'
            '<c r="C2" t="s"><v>5</v></c><c r="D2" t="s"><v>16</v></c></row>',
            # row 3 missing entirely; row 4 has gaps (no B, C)
            '<row r="4"><c r="A4"><v>3</v></c><c r="D4" t="s"><v>6</v></c></row>',
            '<row r="5" spans="1:4"><c r="A5" s="0"><v>4.0</v></c><c r="B5" t="s"><v>7</v></c>'
            '<c r="C5" t="s"><v>8</v></c><c r="D5" t="s"><v>9</v></c></row>',
            '<row r="6"><c r="A6"><v>5</v></c><c r="B6" t="s"><v>10</v></c><c r="C6" t="s">'
            '<v>11</v></c><c r="D6" t="s"><v>12</v></c></row>',
            '<row r="7"><c r="A7"><v>6</v></c><c r="B7" t="s"><v>13</v></c><c r="C7" t="s">'
            '<v>14</v></c><c r="D7" t="s"><v>15</v></c></row>',
            '<row r="8"><c r="A8" t="inlineStr"><is><t>7</t></is></c><c r="B8" t="inlineStr"><is>'
            '<t>内联&amp;&lt;</t></is></c><c r="C8" t="inlineStr"><is><r><t>多</t></r><r><rPr><i/>'
            '</rPr><t xml:space="preserve"> 段 </t></r></is></c><c r="D8" t="s"><v>17</v></c></row>',
            '<row r="9"/><row r="10"><c r="A10"/><c r="B10" s="0"/></row>',  # empty rows
            '<row r="11"><c r="A11"><v>1.5E1</v></c><c r="B11" t="inlineStr"><is><t>  trim  </t>'
            '</is></c><c r="C11" t="inlineStr"><is><t/></is></c><c r="D11"><v>1</v></c></row>',
            '<row r="12"><c r="A12"><v>13800138000</v></c><c r="B12" t="b"><v>1</v></c>'
            '<c r="C12" t="s"><v>16</v></c><c r="D12"><v>-0.25</v></c></row>',
            '<row r="13">\n  <c r="A13">\n    <v>12345678901234567890</v>\n  </c>\n'
            '  <c r="AA13" t="s"><v>16</v></c></row>',
        ]
    )


def test_hand_made_edge_cases_same_as_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_parts(tmp_path / "edge.xlsx", edge_rows(), EDGE_SST)
    assert_same_raw(path)
    assert_same_export(monkeypatch, path)
    raw = fast_raw(path)
    assert raw.loc[1, 1] == "a&b<c>\"'你A"
    assert raw.loc[1, 2] == "\r回车_x000D_字面 _x4E2D_ A"
    assert raw.loc[3, 3] == "  两端空格  " and raw.loc[4, 1] == "去掉空格 \n 换行"
    assert raw.loc[4, 2] == "粗体 普通" and raw.loc[4, 3] == "漢字"
    assert raw.loc[7, 1] == "内联&<" and raw.loc[7, 2] == "多 段 "
    assert pd.isna(raw.loc[5, 3]) and pd.isna(
        raw.loc[6, 1]
    )  # B holds TRUE: mixed (blank rows and columns are left out: cells by label)
    assert raw.loc[10, 0] == "15" and raw.loc[11, 0] == "13800138000"
    assert raw.loc[11, 1] == "TRUE" and raw.loc[11, 3] == "-0.25"
    assert (
        raw.loc[12, 0] == "1.2345678901234567e+19" and raw.index[-1] == 12 and raw.columns[-1] == 26
    )
    # "1" as text and 1 as a number are one category
    assert raw[3].cat.categories.tolist().count("1") == 1


def test_leading_empty_rows_and_columns_keep_row_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (
        '<row r="3"><c r="C3" t="s"><v>0</v></c><c r="D3" t="s"><v>1</v></c>'
        '<c r="E3" t="s"><v>2</v></c><c r="F3" t="s"><v>3</v></c></row>'
        '<row r="5"><c r="C5"><v>1</v></c><c r="E5" t="s"><v>4</v></c>'
        '<c r="F5" t="s"><v>4</v></c></row>'
    )
    path = write_parts(tmp_path / "offset.xlsx", data, [*HEAD_SST, "<si><t>满意</t></si>"])
    assert_same_raw(path)
    assert_same_export(monkeypatch, path)
    _, info = read_survey_export(path)
    assert info.header_row == 3 and info.source_rows.tolist() == [5] and info.blank_rows == 1


def test_chunks_cut_between_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks: rows are cut at every '</row>' and cells never split."""
    path = write_parts(tmp_path / "edge.xlsx", edge_rows(), EDGE_SST)
    whole = fast_raw(path)
    monkeypatch.setattr(xlsx, "CHUNK_BYTES", 7)
    pd.testing.assert_frame_equal(fast_raw(path), whole)


@pytest.mark.parametrize(
    ("name", "cells", "styles"),
    [
        ("formula", '<c r="A2"><f>1+1</f><v>2</v></c>', None),
        ("string formula", '<c r="A2" t="str"><f>"a"</f><v>a</v></c>', None),
        ("error", '<c r="A2" t="e"><v>#N/A</v></c>', None),
        ("iso date", '<c r="A2" t="d"><v>2025-06-01T10:00:00</v></c>', None),
        (
            "date style",
            '<c r="A2" s="1"><v>45809.5</v></c>',
            '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>',
        ),
        (
            "custom date style",
            '<c r="A2" s="1"><v>45809.5</v></c>',
            '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy/m/d h:mm"/></numFmts>'
            '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs>',
        ),
        (
            "phonetic inline",
            '<c r="A2" t="inlineStr"><is><t>漢</t><rPh sb="0" eb="1"><t>かん</t></rPh></is></c>',
            None,
        ),
        (
            "bool and number",
            '<c r="A2" t="b"><v>1</v></c></row><row r="3"><c r="A3"><v>1</v></c>',
            None,
        ),
    ],
)
def test_unusual_cells_fall_back_to_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, cells: str, styles: str | None
) -> None:
    data = (
        HEAD + f'<row r="2">{cells}<c r="C2" t="s"><v>4</v></c><c r="D2" t="s"><v>4</v></c></row>'
    )
    path = write_parts(tmp_path / "odd.xlsx", data, [*HEAD_SST, "<si><t>满意</t></si>"], styles)
    assert_same_raw(path, fast=False)
    assert_same_export(monkeypatch, path, fast=False)


@pytest.mark.parametrize(
    "data",
    [
        '<row><c><v>1</v></c><c r="C1"><v>2</v></c><c><v>3</v></c></row><row><c><v>4</v></c></row>'
        '<row r="5"><c><v>5</v></c></row><row><c><v>6</v></c></row>',
        '<row r="2"><c r="B2"><v>1</v></c></row><row><c r="C4"><v>2</v></c><c><v>3</v></c></row>'
        "<row><c><v>4</v></c></row>",
        '<row r="2"><c r="B2"><v>1</v></c></row><row r="4"/><row><c t="s"><v>0</v></c>'
        '<c t="s"><v>1</v></c></row>',
    ],
)
def test_rows_and_cells_without_references(tmp_path: Path, data: str) -> None:
    """Rows without r follow the previous row; cells without r the previous cell."""
    path = write_parts(tmp_path / "norefs.xlsx", data, HEAD_SST)
    assert_same_raw(path)


def test_plain_number_styles_stay_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    styles = (
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="0.00"/></numFmts>'
        '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="2"/><xf numFmtId="49"/>'
        '<xf numFmtId="164"/></cellXfs>'
    )
    data = HEAD + "".join(
        f'<row r="{r}"><c r="A{r}" s="{r - 2}"><v>{r}.5</v></c>'
        f'<c r="C{r}" t="s"><v>4</v></c><c r="D{r}" t="s"><v>4</v></c></row>'
        for r in range(2, 6)
    )
    path = write_parts(tmp_path / "styled.xlsx", data, [*HEAD_SST, "<si><t>满意</t></si>"], styles)
    assert_same_raw(path)
    assert_same_export(monkeypatch, path)


def test_real_dates_and_types_written_by_xlsxwriter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dates (date-styled numbers) go to calamine; the frame is the same either way."""
    path = tmp_path / "types.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    date = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, ["序号", "提交答卷时间", "1、小区", "2、总体评价"])
    sheet.write_row(1, 0, [1, None, "阳光花园", "满意"])
    sheet.write_datetime(1, 1, dt.datetime(2025, 6, 1, 10, 0), date)
    sheet.write_row(2, 0, [2, "2025-06-01 11:00:00", "阳光花园", True])
    book.close()
    assert_same_export(monkeypatch, path, fast=False)


def test_sheet_choice_and_template_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_parts(
        tmp_path / "two.xlsx",
        edge_rows(),
        EDGE_SST,
        sheets=(readers.TEMPLATE_MARKER_SHEET, "答卷 &amp; 数据"),
    )
    assert fast_raw(path, 1) is not None
    assert (
        xlsx.read_xlsx_sheet(path, lambda names: names[1])[2]
        == CalamineWorkbook.from_path(str(path)).sheet_names
    )
    assert_same_export(monkeypatch, path)
    frame, info = read_survey_export(path)
    assert info.sheet == "答卷 & 数据" and info.platform == "template"
    by_index = read_survey_export(path, sheet=1)[0]
    pd.testing.assert_frame_equal(by_index, frame)
    with pytest.raises(WuyeError, match="没有名为「无此表」的工作表"):
        read_survey_export(path, sheet="无此表")


def test_damaged_zip_goes_to_calamine_and_is_located(tmp_path: Path) -> None:
    good = write_parts(tmp_path / "good.xlsx", edge_rows(), EDGE_SST)
    data = good.read_bytes()
    for name, content in (
        ("cut.xlsx", data[: len(data) // 2]),
        ("bad.xlsx", data[:30] + b"\0" * (len(data) - 30)),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        assert readers._read_xlsx_fast(path, None) is None
        with pytest.raises(WuyeError) as err:
            read_survey_export(path)
        assert err.value.problems[0].file == name


@pytest.mark.parametrize(
    ("name", "part", "old", "new"),
    [
        ("start tag not closed", "xl/worksheets/sheet1.xml", '<c r="A13">', '<c r="A13"'),
        ("number text", "xl/worksheets/sheet1.xml", "<v>1.5E1</v>", "<v>1.5.1</v>"),
        ("not UTF-8", "xl/sharedStrings.xml", "满意", "\udcff"),
        ("inline text not UTF-8", "xl/worksheets/sheet1.xml", "  trim  ", "\udcff"),
        ("number format id", "xl/styles.xml", 'numFmtId="0"', 'numFmtId="x"'),
        ("missing workbook", "_rels/.rels", "xl/workbook.xml", "xl/nothing.xml"),
    ],
)
def test_malformed_parts_are_declined_not_crashes(
    tmp_path: Path, name: str, part: str, old: str, new: str
) -> None:
    """Malformed XML in a sound zip: the reader declines it (Unsupported), the caller reads
    it with calamine."""
    path = write_parts(
        tmp_path / "good.xlsx",
        edge_rows(),
        EDGE_SST,
        '<cellXfs count="1"><xf numFmtId="0"/></cellXfs>',
    )
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    text = parts[part].decode()
    assert old in text
    parts[part] = text.replace(old, new).encode("utf-8", "surrogateescape")
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    fast_raw(path)
    with pytest.raises(xlsx.Unsupported):
        fast_raw(bad)
    assert readers._read_xlsx_fast(bad, None) is None


def test_encrypted_or_oddly_compressed_part_is_declined(tmp_path: Path) -> None:
    good = write_parts(tmp_path / "good.xlsx", edge_rows(), EDGE_SST)
    sheet = "xl/worksheets/sheet1.xml"
    odd = tmp_path / "bzip2.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(odd, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(
                name, src.read(name), zipfile.ZIP_BZIP2 if name == sheet else zipfile.ZIP_DEFLATED
            )
    data = bytearray(good.read_bytes())  # the sheet's central directory entry: "encrypted"
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(sheet)] != sheet.encode():
        at = data.index(b"PK\x01\x02", at + 1)
    data[at + 8] |= 0x1
    encrypted = tmp_path / "encrypted.xlsx"
    encrypted.write_bytes(bytes(data))
    assert zipfile.ZipFile(encrypted).getinfo(sheet).flag_bits & 0x1
    for path in (odd, encrypted):
        with pytest.raises(xlsx.Unsupported):
            fast_raw(path)
        assert readers._read_xlsx_fast(path, None) is None


def test_fast_path_declines_are_logged_without_cell_text_and_bugs_propagate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_parts(
        tmp_path / "odd.xlsx",
        HEAD + '<row r="2"><c r="A2"><f>1+1</f><v>2</v></c><c r="C2" t="s"><v>4</v></c></row>',
        [*HEAD_SST, "<si><t>张三 13800138000</t></si>"],
    )
    with caplog.at_level("DEBUG", logger="wuye.ingest"):
        assert readers._read_xlsx_fast(path, None) is None
    assert "odd.xlsx" in caplog.text and "formula" in caplog.text
    assert "张三" not in caplog.text and "13800138000" not in caplog.text

    def broken(*args, **kwargs):
        raise IndexError("a bug in the fast reader")

    monkeypatch.setattr(xlsx, "read_xlsx_sheet", broken)
    with pytest.raises(IndexError, match="a bug"):
        read_survey_export(path)


# ----------------------------------------------------------------------- several processes


def survey_rows(n: int, tail: str = "", first: int = 2) -> str:
    """Answer rows ``first`` … ``first + n - 1`` (numbers, an inline string, shared strings
    of :data:`EDGE_SST`) under the header (when ``first`` is 2), then ``tail``."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r - 1}</v></c><c r="B{r}" t="inlineStr"><is><t>'
        f'第{r % 3}批</t></is></c><c r="C{r}" t="s"><v>14</v></c><c r="D{r}" t="s">'
        f"<v>{16 + r % 2}</v></c></row>"
        for r in range(first, first + n)
    )
    return (HEAD if first == 2 else "") + rows + tail


def read_with(path: Path, processes: int, limits: Limits | None = None):
    """``read_xlsx_sheet``'s result, or the type and text of what it raised."""
    try:
        return xlsx.read_xlsx_sheet(path, lambda names: names[0], limits, processes=processes)
    except (xlsx.Unsupported, WuyeError) as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize(
    ("name", "data", "limits", "merged"),
    [
        ("clean", survey_rows(60), None, True),
        (
            "edge cases",
            edge_rows() + survey_rows(40, first=14),
            None,
            True,
        ),
        # rows without r at the helper's start: their numbers follow the parent's rows
        ("no row numbers", re.sub(r'<row r="\d\d">', "<row>", survey_rows(60)), None, False),
        # one row number over the boundary: one row in the serial read (the last cells win)
        ("repeated row", survey_rows(25) + survey_rows(1, first=30) * 40, None, False),
        (
            "formula at the end",
            survey_rows(60, '<row r="99"><c r="A99"><f>1</f></c></row>'),
            None,
            False,
        ),
        ("rows over the ceiling", survey_rows(60), Limits(max_rows=50), False),
        ("cells over the ceiling", survey_rows(60), Limits(max_cells=200), False),
    ],
)
def test_several_processes_read_what_one_reads(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    data: str,
    limits: Limits | None,
    merged: bool,
) -> None:
    """A helper process scans the later chunks; its part is merged, or this process scans
    them itself: the frame, or the error raised, is always the serial read's."""
    path = write_parts(tmp_path / "many.xlsx", data, EDGE_SST)
    monkeypatch.setattr(xlsx, "CHUNK_BYTES", 500)
    merges: list[bool] = []
    merge = xlsx._State.merge

    def logged(state, part):
        merges.append(merge(state, part))
        return merges[-1]

    monkeypatch.setattr(xlsx._State, "merge", logged)
    want = read_with(path, 1, limits)
    got = read_with(path, 2, limits)
    assert merges == [merged]
    if isinstance(want[0], pd.DataFrame):
        pd.testing.assert_frame_equal(got[0], want[0])
        assert got[1:] == want[1:]
    else:
        assert got == want


def test_large_sheets_use_helpers_and_small_ones_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_parts(tmp_path / "survey.xlsx", survey_rows(60), EDGE_SST)
    monkeypatch.setattr(xlsx, "CHUNK_BYTES", 500)
    starts: list[int] = []
    monkeypatch.setattr(xlsx._Helper, "result", lambda helper: starts.append(helper.start))
    fast_raw(path)
    assert starts == []
    monkeypatch.setattr(xlsx, "PARALLEL_MIN_BYTES", 1000)
    assert_same_export(monkeypatch, path)  # helpers fail here: this process reads alone
    assert starts and set(starts) == {starts[0]}


def test_a_helper_never_runs_the_callers_script_again(tmp_path: Path) -> None:
    """A script without ``if __name__ == "__main__":`` reads a sheet with a helper: the
    helper scans its share and the script's own code runs once (a ``multiprocessing``
    spawn would have run the whole script again in the helper)."""
    path = write_parts(tmp_path / "survey.xlsx", survey_rows(60), EDGE_SST)
    marker = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from pathlib import Path\n"
        "from evaluation.ingest import xlsx\n"
        f"with open({str(marker)!r}, 'a') as fh:\n"
        "    fh.write('run\\n')\n"
        "xlsx.CHUNK_BYTES = 500\n"
        "merged = []\n"
        "merge = xlsx._State.merge\n"
        "xlsx._State.merge = lambda state, part: merged.append(merge(state, part)) or merged[-1]\n"
        f"frame = xlsx.read_xlsx_sheet({str(path)!r}, lambda names: names[0], processes=2)[0]\n"
        "print(len(frame), merged)\n",
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["61", "[True]"]  # the header row and 60 answers
    assert marker.read_text().splitlines() == ["run"]
