"""Reading survey exports: real 问卷星 files, other platforms, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xlsxwriter

from evaluation.ingest.readers import (
    classify_header,
    expand_multiselect,
    multiselect_flags,
    read_survey_export,
)
from evaluation.ingest.template import write_template
from evaluation.questionnaire import load_questionnaire
from wuye_common.errors import WuyeError

META = ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP"]


def write_rows(path: Path, rows: list[list[object]]) -> Path:
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet("Sheet1")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    book.close()
    return path


# ----------------------------------------------------------------------- real 问卷星 files


@pytest.mark.parametrize(("stem", "n_rows", "first_row"), [("wjx", 800, 2), ("r_357_357", 204, 2)])
def test_real_wjx_exports_both_kinds(
    shared_fixtures: Path, stem: str, n_rows: int, first_row: int
) -> None:
    text, t_info = read_survey_export(shared_fixtures / "wjx" / f"{stem}_0.xls")
    code, c_info = read_survey_export(shared_fixtures / "wjx" / f"{stem}_2.xls")
    for frame, info, kind in ((text, t_info, "text"), (code, c_info, "code")):
        assert info.platform == "wjx" and info.kind == kind
        assert set(info.metadata) == {
            "response_no",
            "submitted_at",
            "duration",
            "source",
            "source_detail",
            "ip",
        }
        assert sorted(info.metadata.values()) == sorted(META)
        assert len(frame) == n_rows and info.source_rows[0] == first_row
        assert info.source_rows[-1] == n_rows + 1
    # metadata order differs between the two export versions; both are recovered
    singles = t_info.questions
    assert singles["qtype"].eq("single").all()
    numbers = singles["number"].tolist()
    assert numbers == list(range(1, len(numbers) + 1))
    assert c_info.questions.query("qtype == 'single'")["number"].tolist() == [
        n for n in numbers if n in set(c_info.questions.query("qtype == 'single'")["number"])
    ]


def test_real_wjx_multiselect_text_matches_code_columns(shared_fixtures: Path) -> None:
    text, t_info = read_survey_export(shared_fixtures / "wjx" / "wjx_0.xls")
    code, c_info = read_survey_export(shared_fixtures / "wjx" / "wjx_2.xls")
    assert t_info.questions.set_index("number").loc[6, "text"] == "兴趣爱好"
    for number in (6, 8):
        flags = multiselect_flags(code, c_info, number)
        assert len(flags.columns) >= 10 and set(np.unique(flags.to_numpy())) <= {0, 1}
        column = t_info.questions.set_index("number").loc[number, "column"]
        expanded = expand_multiselect(text[column])
        shared = [c for c in expanded.columns if c in flags.columns]
        assert shared == list(expanded.columns)  # typed "其他〖…〗" text is dropped
        pd.testing.assert_frame_equal(expanded[shared], flags[shared], check_dtype=False)
    # code answers of single-choice questions are option numbers
    q1 = c_info.questions.set_index("number").loc[1, "column"]
    assert code[q1].astype(int).between(1, 4).all()


def test_header_classification() -> None:
    assert classify_header("4、物业服务态度(单选题 *必答)") == (4, "物业服务态度", None, "single")
    assert classify_header("第6题(其他【请注明】)") == (6, "", "其他【请注明】", "multi_flag")
    assert classify_header("7(电梯运行)") == (7, "电梯运行", None, "matrix")
    assert classify_header("Q12：停车管理") == (12, "停车管理", None, "single")
    assert classify_header("3.您的房号") == (3, "您的房号", None, "single")
    assert classify_header("序号")[3] == ""


# ----------------------------------------------------------------------- synthetic layouts


def test_skipped_markers_kept_and_blank_rows_skipped_and_counted(tmp_path: Path) -> None:
    rows = [
        [*META, "1、小区", "2、满意度"],
        [
            1,
            "2025-05-01 10:00:00",
            "120秒",
            "手机提交",
            "直接访问",
            "1.2.3.4(湖北)",
            "甲",
            "(跳过)",
        ],
        [None] * 8,
        [3, "2025-05-01 10:05:00", "130秒", "手机提交", "直接访问", "1.2.3.5(湖北)", "乙", "满意"],
        [None] * 8,
        [None] * 8,
    ]
    frame, info = read_survey_export(write_rows(tmp_path / "a.xlsx", rows))
    assert len(frame) == 2  # blank rows are not rows: skipped, and counted
    assert info.source_rows.tolist() == [2, 4] and info.blank_rows == 1
    assert frame["2、满意度"].iloc[0] == "(跳过)"
    assert info.kind == "text"
    skipped = expand_multiselect(pd.Series(["A┋B", "(跳过)", None, "B"]))
    assert skipped["A"].tolist()[0] == 1 and skipped.iloc[1].isna().all()


def test_code_export_with_minus_three(tmp_path: Path) -> None:
    rows = [
        [*META, "1、小区", "2、态度", "3、总体"],
        [1, "2025-05-01", "200", "a", "b", "ip", "甲", 2, -3],
        [2, "2025-05-01", "200", "a", "b", "ip", "乙", 1, 1],
    ]
    frame, info = read_survey_export(write_rows(tmp_path / "c.xlsx", rows))
    assert info.kind == "code" and frame["3、总体"].tolist() == ["-3", "1"]


def test_title_rows_above_header(tmp_path: Path) -> None:
    rows = [
        ["物业满意度调查 导出数据"],
        [],
        [*META, "1、小区"],
        [1, "t", "60秒", "a", "b", "c", "甲"],
    ]
    frame, info = read_survey_export(write_rows(tmp_path / "t.xlsx", rows))
    assert info.header_row == 3 and info.source_rows.tolist() == [4] and len(frame) == 1


def test_gbk_csv_and_utf16_tencent(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "编号": [1, 2],
            "提交时间": ["2025-05-01 10:00", "2025-05-02 11:00"],
            "答题时长": ["100秒", "200秒"],
            "1.您居住的小区名称": ["锦绣花园", "阳光家园"],
            "4.物业服务中心工作人员的服务态度": ["满意", "不满意"],
        }
    )
    gbk = tmp_path / "腾讯问卷.csv"
    table.to_csv(gbk, index=False, encoding="gbk")
    frame, info = read_survey_export(gbk)
    assert info.platform == "tencent" and info.encoding == "gb18030"
    assert frame["1.您居住的小区名称"].tolist() == ["锦绣花园", "阳光家园"]
    assert info.questions["number"].tolist() == [1, 4]
    utf16 = tmp_path / "utf16.csv"
    table.to_csv(utf16, index=False, sep="\t", encoding="utf-16")
    frame16, info16 = read_survey_export(utf16)
    assert info16.encoding == "utf-16" and frame16.equals(frame)


def test_kobo_export(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "start": ["2025-05-01T10:00:00"],
            "end": ["2025-05-01T10:04:00"],
            "estate": ["锦绣花园"],
            "group_a/q4": ["满意"],
            "_id": [17],
            "_uuid": ["u-1"],
            "_submission_time": ["2025-05-01T10:05:00"],
        }
    )
    path = tmp_path / "kobo.xlsx"
    table.to_excel(path, index=False)
    _frame, info = read_survey_export(path)
    assert info.platform == "kobo"
    q = info.questions.set_index("column")
    assert q.loc["group_a/q4", "number"] == 4 and q.loc["estate", "text"] == "estate"
    assert info.metadata["submitted_at"] == "_submission_time"


def test_template_is_recognised(tmp_path: Path) -> None:
    q = load_questionnaire()
    register = pd.DataFrame({"estate_id": ["E1"], "estate_name": ["锦绣花园"]})
    path = write_template(tmp_path / "纸质录入.xlsx", q, register)
    book = pd.ExcelFile(path, engine="calamine")
    assert book.sheet_names[0] == "问卷录入"
    headers = pd.read_excel(path, engine="calamine").columns.tolist()
    assert "4、物业服务中心工作人员的服务态度" in headers and "录入序号" in headers
    # typed in by hand: one row with codes and text
    row = {h: None for h in headers}
    row.update(
        {
            "录入序号": 1,
            "1、您居住的小区名称": "锦绣花园",
            "2、您居住的楼栋号": "3栋",
            "16、您对本小区物业服务的总体评价": 2,
        }
    )
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb["问卷录入"]
    for c, h in enumerate(headers, start=1):
        if row[h] is not None:
            ws.cell(row=2, column=c, value=row[h])
    wb.save(path)
    frame, info = read_survey_export(path)
    assert info.platform == "template" and info.kind == "code" and len(frame) == 1
    assert info.metadata["response_no"] == "录入序号"
    assert set(range(1, 19)) <= set(info.questions["number"].dropna())


# ----------------------------------------------------------------------- bad files


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    with pytest.raises(WuyeError, match="空的") as info:
        read_survey_export(path)
    assert info.value.problems[0].file == "empty.xlsx"


def test_corrupt_workbook(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    with pytest.raises(WuyeError, match="损坏") as info:
        read_survey_export(path)
    assert info.value.problems[0].file == "broken.xlsx"


def test_password_protected_workbook(tmp_path: Path) -> None:
    # Encrypted .xlsx files are OLE compound documents, not zip archives
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048)
    with pytest.raises(WuyeError, match="加密") as info:
        read_survey_export(path)
    assert info.value.problems[0].file == "locked.xlsx"
    assert "密码" in info.value.problems[0].fix


def test_html_disguised_as_xls(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_text("<html><table><tr><td>序号</td></tr></table></html>", encoding="utf-8")
    with pytest.raises(WuyeError, match="网页"):
        read_survey_export(path)


def test_no_question_columns(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "meta_only.xlsx", [META, [1, "t", "1秒", "a", "b", "c"]])
    with pytest.raises(WuyeError, match="题目列") as info:
        read_survey_export(path)
    assert info.value.problems[0].file == "meta_only.xlsx"


def test_header_only_and_unsupported_and_missing(tmp_path: Path) -> None:
    with pytest.raises(WuyeError, match="不支持"):
        (tmp_path / "x.pdf").write_bytes(b"%PDF")
        read_survey_export(tmp_path / "x.pdf")
    with pytest.raises(WuyeError, match="找不到"):
        read_survey_export(tmp_path / "none.xlsx")
    path = write_rows(tmp_path / "blank.xlsx", [[None]])
    with pytest.raises(WuyeError, match="没有任何数据"):
        read_survey_export(path)
