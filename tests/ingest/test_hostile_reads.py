"""Hostile input to the export readers: reads bounded by the data, text handled in linear
time, ceilings refused with located errors (issue 21, "reads bounded by the declared size,
not the data")."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from evaluation.ingest.ingest import ingest_round
from evaluation.ingest.linking import building_key, estate_key, room_parts, unit_key
from evaluation.ingest.readers import classify_header, normalise_text, read_survey_export
from evaluation.ingest.validate import parse_duration, parse_timestamp
from evaluation.questionnaire import load_questionnaire
from evaluation.round import IngestConfig
from tests.hostile import EXPORT_HEADER, raw_workbook
from wuye_common.errors import WuyeError
from wuye_common.scrub import scrub_text
from wuye_common.sheets import Limits

DATA = {
    "A2": 1, "B2": "2025-06-01 10:00:00", "C2": 200, "D2": "锦绣花园", "E2": "3栋", "F2": "1-101", "G2": "满意",
    "A3": 2, "B3": "2025-06-01 10:05:00", "C3": 210, "D3": "阳光家园", "E3": "4栋", "F3": "2-201", "G3": "不满意",
    "A4": 3, "B4": "2025-06-01 10:07:00", "C4": 190, "D4": "锦绣花园", "E4": "3栋", "F4": "1-102", "G4": "满意",
}  # fmt: skip
REGISTER = pd.DataFrame({"estate_id": ["E001", "E002"], "estate_name": ["锦绣花园", "阳光家园"]})


def _round(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(
        register=REGISTER,
        ingest=IngestConfig(),
        secret_path=tmp_path / "k.key",
        questionnaire="default",
    )


def test_the_8kb_sparse_workbook_reads_in_a_second_and_little_memory(tmp_path: Path) -> None:
    """The issue's example: an export whose last cell is at A1048576 took 30 s and 1.3 GB and
    quarantined 1,048,557 blank rows. Blank rows are not rows: one stray row is read."""
    cells = {**EXPORT_HEADER, **DATA, "A1048576": 7}
    path = raw_workbook(tmp_path / "问卷星导出_稀疏.xlsx", cells)
    assert path.stat().st_size < 8192
    tracemalloc.start()
    start = time.process_time()
    _frame, info = read_survey_export(path, categorical=True)
    elapsed = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 200 * 2**20
    assert info.source_rows.tolist() == [2, 3, 4, 1_048_576]
    assert info.blank_rows == 1_048_576 - 1 - 4
    result = ingest_round(_round(tmp_path), [path], key=b"k" * 32)
    assert len(result.respondents) == 3 and len(result.quarantine) == 1
    assert result.blank_rows == info.blank_rows
    assert "整行空白的行已跳过，不计入读入：1048571 行" in result.report()
    result.write_quarantine(tmp_path / "隔离记录.xlsx")
    assert (tmp_path / "隔离记录.xlsx").stat().st_size < 20_000


def test_sparse_workbook_on_the_calamine_path_is_located_not_a_crash(tmp_path: Path) -> None:
    """Formulas send the file to calamine; cells at A1 and XFD1048576 would make it
    allocate 17 billion cells (the process aborts). Refused, named, in milliseconds."""
    cells = {**EXPORT_HEADER, "A2": 1, "XFD1048576": 2}
    path = raw_workbook(tmp_path / "稀疏公式.xlsx", cells, formula="1+1")
    start = time.process_time()
    with pytest.raises(WuyeError) as info:
        read_survey_export(path)
    assert time.process_time() - start < 1.0
    assert info.value.problems[0].file == "稀疏公式.xlsx"


def test_wide_sparse_workbook_costs_its_cells(tmp_path: Path) -> None:
    cells = {**EXPORT_HEADER, **DATA, "XFD1": "备注", "XFD3": "x"}
    path = raw_workbook(tmp_path / "wide.xlsx", cells)
    start = time.process_time()
    frame, _info = read_survey_export(path)
    assert time.process_time() - start < 1.0
    assert len(frame) == 3 and "备注" in frame.columns


@pytest.mark.parametrize("formula", ["", "1"])
def test_row_and_cell_ceilings_are_located(tmp_path: Path, formula: str) -> None:
    rows = {f"A{i}": i for i in range(2, 40)}
    path = raw_workbook(tmp_path / "大文件.xlsx", {**EXPORT_HEADER, **rows}, formula=formula)
    with pytest.raises(WuyeError) as info:
        read_survey_export(path, limits=Limits(max_rows=10))
    problem = info.value.problems[0]
    assert problem.file == "大文件.xlsx" and "10" in problem.message and problem.fix
    with pytest.raises(WuyeError, match="单元格"):
        read_survey_export(path, limits=Limits(max_cells=50))


def test_csv_ceiling_is_checked_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("序号,1、小区,16、总体评价\n" + "1,a,满意\n" * 50, encoding="utf-8")
    with pytest.raises(WuyeError) as info:
        read_survey_export(path, limits=Limits(max_rows=20))
    assert info.value.problems[0].file == "big.csv"
    frame, info = read_survey_export(path)
    assert len(frame) == 50


def test_ceilings_come_from_round_toml(tmp_path: Path) -> None:
    rows = {f"A{i}": i for i in range(2, 40)}
    path = raw_workbook(tmp_path / "export.xlsx", {**EXPORT_HEADER, **rows})
    rnd = _round(tmp_path)
    rnd.ingest = IngestConfig(max_rows=10)
    with pytest.raises(WuyeError, match="max_rows"):
        ingest_round(rnd, [path], key=b"k" * 32)


def test_a_pipe_or_a_folder_named_as_an_export_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "导出.csv")
    (tmp_path / "文件夹.xlsx").mkdir()
    for name in ("导出.csv", "文件夹.xlsx", "a" * 300 + ".xlsx"):
        with pytest.raises(WuyeError) as info:
            read_survey_export(tmp_path / name)
        assert info.value.problems[0].file


HOSTILE_TEXTS = [
    "(矩阵" * 1500,
    "(矩阵" * 1500 + ")",
    "(单选题)" * 2000,
    "【" * 10_000 + "单选]",
    "1" * 10_000 + "x1",
    "1a" * 5000,
    "〖" * 10_000,
    "十" * 10_000,
    "1-" * 5000,
    "9" * 9_999 + "秒",
    "1:" * 5000,
    " " * 10_000,
    "2025-" * 2000,
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=[t[:12] for t in HOSTILE_TEXTS])
def test_every_text_parser_is_linear(text: str) -> None:
    """A 10,000-character header or cell costs milliseconds in every parser of user text
    (no backtracking regex; about 20 ms each here). The limit is a guard against quadratic
    work (seconds), loose enough for a loaded machine, not a speed goal."""
    values = pd.Series([text], dtype="string")
    parsers = [
        lambda: normalise_text(text),
        lambda: classify_header(text),
        lambda: building_key(values),
        lambda: room_parts(values),
        lambda: unit_key(values),
        lambda: estate_key(values),
        lambda: parse_duration(values),
        lambda: parse_timestamp(values),
        lambda: scrub_text(text),
    ]
    for parse in parsers:
        start = time.process_time()
        parse()
        assert time.process_time() - start < 0.25, parse


def test_matrix_header_export_reads_quickly(tmp_path: Path) -> None:
    """The issue's example: a header of 1,500 repeated ``(矩阵`` kept the header normaliser
    busy for more than 25 s."""
    cells = {**EXPORT_HEADER, "H1": "17、" + "(矩阵" * 1500, **DATA}
    path = raw_workbook(tmp_path / "矩阵.xlsx", cells)
    start = time.process_time()
    read_survey_export(path)
    assert time.process_time() - start < 0.5
    q = load_questionnaire()
    assert len(q.items)
