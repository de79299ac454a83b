"""Our paper-entry template: an Excel workbook in which paper questionnaires are typed.

The first sheet 问卷录入 has the metadata columns 录入序号, 调查日期, 调查员, 所用时间 and
one column per question headed ``N、题干`` (identification, items, free text), so
:func:`~evaluation.ingest.readers.read_survey_export` reads it like a 问卷星 export; the
hidden sheet ``_wuye_template`` marks it as ours (platform ``template``). Answers may be
typed as option text or option number (1 = first option; the missing options follow).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaluation.ingest.readers import TEMPLATE_MARKER_SHEET
from evaluation.questionnaire import Questionnaire
from wuye_common.files import atomic_path

DATA_SHEET = "问卷录入"
META_HEADERS = ["录入序号", "调查日期", "调查员", "所用时间"]
TEMPLATE_ROWS = 2000


def template_headers(questionnaire: Questionnaire) -> list[tuple[str, str]]:
    """``(header, kind)`` of the template columns; kind is meta/estate/ident/item/free."""
    cols: list[tuple[int, str, str]] = []
    for key, q in questionnaire.identification.items():
        cols.append(
            (
                q.number or 0,
                f"{q.number}、{q.text}" if q.number else q.text,
                "estate" if key == "estate" else "ident",
            )
        )
    for item in questionnaire.items.itertuples(index=False):
        cols.append((int(item.number), f"{item.number}、{item.text}", f"item:{item.scale}"))
    for q in questionnaire.free_text.values():
        cols.append((q.number or 999, f"{q.number}、{q.text}" if q.number else q.text, "free"))
    cols.sort(key=lambda c: c[0])
    # a questionnaire with a surveyor question takes the surveyor there, not in 调查员
    meta = [
        h for h in META_HEADERS if h != "调查员" or "surveyor" not in questionnaire.identification
    ]
    return [(h, "meta") for h in meta] + [(h, k) for _, h, k in cols]


def write_template(
    path: str | Path, questionnaire: Questionnaire, register: pd.DataFrame | None = None
) -> Path:
    """Write the paper-entry template to ``path`` (.xlsx), via a temporary file."""
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(
            str(tmp), {"strings_to_formulas": False, "strings_to_urls": False}
        )
        try:
            sheet = book.add_worksheet(DATA_SHEET)
            guide = book.add_worksheet("填写说明")
            lists = book.add_worksheet("选项")
            marker = book.add_worksheet(TEMPLATE_MARKER_SHEET)
            head = book.add_format(
                {
                    "bold": True,
                    "text_wrap": True,
                    "valign": "top",
                    "bg_color": "#DDEBF7",
                    "border": 1,
                }
            )
            text_fmt = book.add_format({"num_format": "@"})
            headers = template_headers(questionnaire)
            sheet.set_row(0, 48)
            names = [] if register is None else register["estate_name"].astype(str).tolist()
            for i, name in enumerate(names):
                lists.write_string(i, 0, name)
            opt_col = 1
            for c, (header, kind) in enumerate(headers):
                sheet.write_string(0, c, header, head)
                sheet.set_column(c, c, 10 if kind == "meta" else 14, text_fmt)
                if kind == "estate" and names:
                    sheet.data_validation(
                        1,
                        c,
                        TEMPLATE_ROWS,
                        c,
                        {
                            "validate": "list",
                            "source": f"=选项!$A$1:$A${len(names)}",
                            "error_type": "warning",
                            "error_message": "请填写台账中的小区名称",
                        },
                    )
                elif kind.startswith("item:"):
                    opts = questionnaire.scale_options(kind.split(":", 1)[1])
                    labels = opts["label"].tolist()
                    for r, label in enumerate(labels):
                        lists.write_string(r, opt_col, label)
                    col_letter = xlsxwriter.utility.xl_col_to_name(opt_col)
                    sheet.data_validation(
                        1,
                        c,
                        TEMPLATE_ROWS,
                        c,
                        {
                            "validate": "list",
                            "source": f"=选项!${col_letter}$1:${col_letter}${len(labels)}",
                            "error_type": "information",
                            "error_message": "可填选项文字，或选项序号 1–" + str(len(labels)),
                        },
                    )
                    opt_col += 1
            sheet.freeze_panes(1, 4)
            lines = [
                "纸质问卷录入说明",
                "1. 每份问卷录入一行；不要修改第一行的列名，不要删除或插入列。",
                "2. 评价题可填选项文字（如「满意」），也可填选项序号（1 = 第一个选项）。",
                "3. 不清楚、不适用或未作答：填「不清楚」或留空；必答题（总体评价）不能留空。",
                "4. 小区名称请按台账填写；楼栋号、房号按抽样名单填写（如 3栋、1单元101）。",
                "5. 所用时间可留空；电话等个人信息导入时会被假名化，不会出现在报告中。",
                f"问卷：{questionnaire.title}（{questionnaire.id}）",
            ]
            for r, line in enumerate(lines):
                guide.write_string(r, 0, line)
            guide.set_column(0, 0, 90)
            lists.hide()
            marker.write_string(0, 0, "wuye-eval paper-entry template")
            marker.write_string(1, 0, questionnaire.id)
            marker.hide()
            sheet.activate()
        finally:
            book.close()
    return path
