"""Hostile exports: wrong values, odd unicode, formulas, enormous cells and real Excel
types in any column are quarantined or accepted, never lost.

Every case ends in a located error (exit 2, the file, row or key named, no traceback) or a
quarantine reason; no row is lost; nothing is written outside the round's folders.
"""

from __future__ import annotations

import shutil

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile import (
    HSET,
    ODD_TEXT,
    TYPED,
    WRONG_VALUES,
    assert_accounted,
    budget,
    demo_export,
    formula_count,
    ingest_export,
    round_folder,
    tally,
    typed_workbook,
)


@settings(HSET, max_examples=budget(8))
@given(data=st.data())
def test_export_wrong_values_in_any_column_are_quarantined_or_accepted(
    small_round, tmp_path_factory, data
):
    export = demo_export(small_round)
    column = data.draw(st.sampled_from(list(export.columns)), label="column")
    rows = data.draw(
        st.lists(st.integers(0, len(export) - 1), min_size=1, max_size=20, unique=True),
        label="rows",
    )
    value = data.draw(WRONG_VALUES.filter(lambda v: "\x00" not in v), label="value")
    export.loc[rows, column] = value
    folder = tmp_path_factory.mktemp("export")
    result = ingest_export(small_round, export, folder / "问卷星导出_坏值.xlsx")
    assert_accounted(result, len(export))
    tally("export cell", "accounted, some quarantined" if len(result.quarantine) else "accepted")
    shutil.rmtree(folder)


def test_export_odd_unicode_and_formulas_everywhere(small_round, tmp_path):
    """Every odd string in every column (cycled over the rows): all rows accounted for,
    and the quarantine workbook holds no formula."""
    export = demo_export(small_round)
    odd = [v for v in ODD_TEXT if "\x00" not in v]  # NUL cannot be stored in xlsx
    rng = np.random.default_rng(3)
    for column in export.columns:
        rows = rng.choice(len(export), size=min(40, len(export)), replace=False)
        export.loc[rows, column] = [odd[i % len(odd)] for i in range(len(rows))]
    result = ingest_export(small_round, export, tmp_path / "问卷星导出_怪字符.xlsx")
    assert_accounted(result, len(export))
    result.write_quarantine(tmp_path / "隔离记录.xlsx")
    assert formula_count(tmp_path / "隔离记录.xlsx") == 0


def test_export_enormous_cells_and_nul_in_csv(small_round, tmp_path):
    """1 MB strings and NUL characters (in a CSV export, xlsx cannot hold them)."""
    export = demo_export(small_round)
    columns = list(export.columns)
    big = "好" * 1_000_000
    export.loc[0, columns[6]] = big  # estate name
    export.loc[1, columns[-1]] = big  # comment
    export.loc[2, columns[9]] = big  # an item answer
    export.loc[3, columns[6]] = "a\x00b"
    export.loc[4, columns[8]] = "1\x00单元101"
    result = ingest_export(small_round, export, tmp_path / "问卷星导出_大单元格.csv", csv=True)
    assert_accounted(result, len(export))
    result.write_quarantine(tmp_path / "隔离记录.xlsx")
    assert (tmp_path / "隔离记录.xlsx").stat().st_size < 5_000_000


def test_export_with_real_excel_types_in_every_column(small_round, tmp_path):
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round
    from sampling.record import read_sampling_record

    export = demo_export(small_round)
    rng = np.random.default_rng(9)
    cells = {}
    for column in export.columns:
        for row in rng.choice(len(export), size=8, replace=False):
            cells[(int(row), column)] = TYPED[int(rng.integers(len(TYPED)))]
    path = tmp_path / "问卷星导出_类型.xlsx"
    typed_workbook(export, path, cells)
    rnd = load_round(round_folder(small_round))
    sample = read_sampling_record(small_round / "out" / "sampling").sample
    result = ingest_round(rnd, [path], sample=sample)
    assert_accounted(result, len(export))


def test_two_export_columns_for_one_field_are_refused_with_both_names(tmp_path):
    """Two submission-time columns, or two columns numbered as one question whose text
    does not say which is meant: refused, naming both (never the first taken silently)."""
    import pandas as pd
    import pytest

    from evaluation.demo import write_export
    from evaluation.ingest.readers import read_survey_export
    from tests.ingest.test_ingest_round import HEADERS, make_round, row
    from wuye_common.errors import WuyeError

    rows = [row(i + 1, room=f"1-{101 + i}") for i in range(3)]
    times = pd.DataFrame(rows, columns=HEADERS).assign(提交时间="2025-06-01 11:00:00")
    write_export(times, tmp_path / "两个时间.xlsx")
    with pytest.raises(WuyeError) as info:
        read_survey_export(tmp_path / "两个时间.xlsx")
    assert "「提交答卷时间」" in str(info.value) and "「提交时间」" in str(info.value)
    headers = [h if not h.startswith("4、") else "4、这道题的题干改过了" for h in HEADERS]
    twice = pd.DataFrame(rows, columns=headers).assign(**{"4、又一个第四题": "满意"})
    write_export(twice, tmp_path / "两个第四题.xlsx")
    from evaluation.ingest import ingest_round

    with pytest.raises(WuyeError) as info:
        ingest_round(make_round(tmp_path), [tmp_path / "两个第四题.xlsx"], key=b"k" * 32)
    problem = info.value.problems[0]
    assert "第 4 题有两列" in problem.message and "又一个第四题" in problem.message
    assert problem.file == "两个第四题.xlsx"


def test_a_questionnaire_draft_copies_no_personal_data(tmp_path):
    """``questionnaire draft`` writes a file from an export's headers and answers: a phone
    number in a header or among a choice column's answers is scrubbed there too, and a
    60-digit "option number" is no crash."""
    import pandas as pd

    from evaluation.demo import write_export
    from evaluation.ingest.draft import draft_questionnaire
    from tests.ingest.test_ingest_round import HEADERS, row

    rows = [row(i + 1, room=f"1-{101 + i}") for i in range(6)]
    headers = [*HEADERS[:-1], "18、性别（或写电话 13812345678）"]
    frame = pd.DataFrame(rows, columns=headers)
    frame[headers[-1]] = ["男", "女", "男", "13912345678", "女", "9" * 60]
    write_export(frame, tmp_path / "问卷.xlsx")
    text = draft_questionnaire([tmp_path / "问卷.xlsx"])
    assert "13812345678" not in text and "13912345678" not in text
