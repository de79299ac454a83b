"""Hand-made matrix exports: the demo's 问卷星 export (default questionnaire: items 4–15 one
question each, 16 the overall item) rewritten with items 4–15 as the rows of ONE matrix
question 4, in the layouts platforms write, and the questionnaire that describes them.

Layouts (``LAYOUTS``):

- ``dash``: 问卷星 — the first row's column ``4、题干—行标签``, the other rows' columns headed by
  their bare labels;
- ``paren``: 问卷星 — every row ``4(行标签)``;
- ``flag``: 问卷星 按选项序号 — every row ``第4题(行标签)`` holding option numbers, every other
  question as option numbers too (a code export);
- ``tencent``: 腾讯问卷 CSV — ``4.题干-行标签`` with 腾讯问卷's metadata headers.

The rows, answers and metadata are those of the source export, so ingesting the rewritten
export with :func:`matrix_questionnaire` must give what the default questionnaire gives on
the source export.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.demo.round_files import write_export
from evaluation.questionnaire import default_path, load_questionnaire

STEM = "请您对以下物业服务进行评价"
LABELS = [
    "服务态度",
    "信息公示",
    "门岗管理",
    "巡逻消防",
    "公共清洁",
    "垃圾清运",
    "绿化养护",
    "电梯运行",
    "设施报修",
    "停车秩序",
    "收费公开",
    "投诉处理",
]
LAYOUTS = ("dash", "paren", "flag", "tencent")
TENCENT_META = {"序号": "编号", "提交答卷时间": "提交时间", "所用时间": "答题时长"}
#: the rewritten export's question numbers: 1–3 identification, 4 the matrix, then these
NEW_NUMBER = {16: 5, 17: 6, 18: 7}


def _number(header: str) -> int | None:
    m = re.match(r"^(\d+)、", header)
    return int(m[1]) if m else None


def matrix_export(source: pd.DataFrame, layout: str) -> pd.DataFrame:
    """``source`` (the demo export, every cell text or NA) in matrix ``layout``."""
    q = load_questionnaire()
    five = q.scale_options("five")
    code_of = dict(zip(five["label"], five["code"], strict=True))
    code_of.update({"(跳过)": -3})
    out: dict[str, pd.Series] = {}
    rows_done = False
    for header in source.columns:
        number = _number(header)
        values = source[header]
        if layout == "flag" and number is not None and 4 <= number <= 16:
            values = values.map(lambda v: v if pd.isna(v) else str(code_of[v]))
        if number is None:
            out[TENCENT_META.get(header, header) if layout == "tencent" else header] = values
        elif number <= 3 or number in NEW_NUMBER:
            new = NEW_NUMBER.get(number, number)
            text = header.split("、", 1)[1]
            out[f"{new}.{text}" if layout == "tencent" else f"{new}、{text}"] = values
        elif not rows_done:
            for k, label in enumerate(LABELS):
                column = source[_source_column(source, 4 + k)]
                if layout == "flag":
                    column = column.map(lambda v: v if pd.isna(v) else str(code_of[v]))
                out[_row_header(layout, k, label)] = column
            rows_done = True
    return pd.DataFrame(out)


def _source_column(source: pd.DataFrame, number: int) -> str:
    return next(c for c in source.columns if _number(c) == number)


def _row_header(layout: str, k: int, label: str) -> str:
    if layout == "dash":
        return f"4、{STEM}—{label}" if k == 0 else label
    if layout == "paren":
        return f"4({label})"
    if layout == "flag":
        return f"第4题({label})"
    return f"4.{STEM}-{label}"


def write_matrix_export(source: pd.DataFrame, layout: str, folder: Path) -> Path:
    """Write the ``layout`` export of ``source`` into ``folder`` (xlsx; CSV for 腾讯问卷)."""
    frame = matrix_export(source, layout)
    if layout == "tencent":
        path = folder / "腾讯问卷导出.csv"
        frame.to_csv(path, index=False, encoding="utf-8-sig")
        return path
    path = folder / f"问卷星矩阵_{layout}.xlsx"
    # 序号 as a number, as 问卷星 writes it; every other cell text
    frame = frame.astype(object).where(frame.notna(), None)
    frame["序号"] = pd.to_numeric(frame["序号"], errors="coerce").astype("Int64").astype(object)
    frame["序号"] = frame["序号"].where(frame["序号"].notna(), None)
    write_export(frame, path)
    return path


def matrix_questionnaire() -> str:
    """The hand-written questionnaire TOML of the matrix exports (default scales)."""
    default = tomllib.loads(default_path().read_text(encoding="utf-8"))
    scales = default_path().read_text(encoding="utf-8")
    scales = scales[scales.index("[scales.five]") : scales.index("[identification]")]
    lines = [
        "[questionnaire]",
        'id = "matrix-test"',
        'title = "物业服务满意度调查（矩阵题）"',
        "",
        scales,
        "[identification]",
        'estate = { number = 1, text = "您居住的小区名称" }',
        'building = { number = 2, text = "您居住的楼栋号" }',
        'room = { number = 3, text = "您的房号" }',
        'phone = { number = 6, text = "您的联系电话（选填，仅用于回访核实）" }',
        "",
        "[free_text]",
        'comment = { number = 7, text = "您对本小区物业服务的意见和建议" }',
        "",
    ]
    for item, label in zip(default["items"][:12], LABELS, strict=True):
        lines += [
            "[[items]]",
            f'id = "{item["id"]}"',
            "number = 4",
            f'row = "{label}"',
            f'stem = "{STEM}"',
            f'dimension = "{item["dimension"]}"',
            "",
        ]
    lines += [
        "[[items]]",
        'id = "S13"',
        "number = 5",
        'text = "您对本小区物业服务的总体评价"',
        'dimension = "总体评价"',
        "overall = true",
    ]
    return "\n".join(lines) + "\n"


def read_source(path: Path) -> pd.DataFrame:
    """The demo export as text cells (NA for empty), its blank rows back in their places
    (the reader skips them), so that a rewritten export keeps the source's row numbers."""
    from evaluation.ingest.readers import read_survey_export

    frame, info = read_survey_export(path)
    frame.index = info.source_rows
    frame = frame.reindex(range(info.header_row + 1, int(info.source_rows.max()) + 1))
    return frame.reset_index(drop=True).astype(object).where(frame.notna().to_numpy(), np.nan)
