"""The filled field sheets read back: recorded refusals reach the dispositions and RR1."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from evaluation.ingest.dispositions import dispositions
from evaluation.ingest.visits import read_visits
from sampling.design import draw_round
from sampling.fieldsheets import HEADERS, write_field_sheets
from tests.sampling.test_outputs import CONFIG, make
from wuye_common.errors import WuyeError

KEY = b"k" * 32


def _filled(tmp_path, outcomes: dict[int, str], estate_sheet: str = "007 东湖苑"):
    register, frame = make()
    drawn = draw_round(register, frame, CONFIG, seed=3, confidence=0.95)
    path = write_field_sheets(drawn, register, tmp_path / "入户表.xlsx")
    book = openpyxl.load_workbook(path)
    ws = book[estate_sheet]
    col = HEADERS.index("访问结果") + 1
    for seq, outcome in outcomes.items():
        ws.cell(seq + 1, col, outcome)
        ws.cell(seq + 1, HEADERS.index("上门次数") + 1, 2)
    book.save(path)
    return drawn, register, path


def test_recorded_refusals_reach_the_dispositions(tmp_path) -> None:
    drawn, register, path = _filled(tmp_path, {1: "拒访", 2: "无人", 3: "完成", 4: "空置"})
    contacts = read_visits([path], drawn.sample)
    s = drawn.sample[drawn.sample["estate_id"] == "007"].set_index("seq")
    assert contacts["household_id"].tolist() == [s.loc[k, "household_id"] for k in (1, 2, 3, 4)]
    assert contacts["status"].tolist() == ["refused", "not_reached", "completed", "vacant"]
    assert contacts["visits"].tolist() == [2, 2, 2, 2]
    no_response = pd.DataFrame({"household_key": pd.Series([], dtype=object)})
    with_records, rates = dispositions(no_response, drawn.sample, contacts, KEY, register)
    without, rates0 = dispositions(no_response, drawn.sample, None, KEY, register)
    first = with_records["household_key"].isin(
        without.loc[drawn.sample["household_id"].eq(s.loc[1, "household_id"]).to_numpy(),
                    "household_key"]
    )  # fmt: skip
    assert with_records.loc[first, "status"].tolist() == ["refused"]
    r, r0 = (x.set_index("estate_id").loc["007"] for x in (rates, rates0))
    assert r["refused"] == 1 and r0["refused"] == 0


def test_unknown_outcome_is_a_located_error(tmp_path) -> None:
    drawn, _, path = _filled(tmp_path, {2: "不在家"})
    with pytest.raises(WuyeError) as err:
        read_visits([path], drawn.sample)
    problem = err.value.problems[0]
    assert "不在家" in problem.message and problem.row == 3 and problem.column == "访问结果"
    assert problem.sheet == "007 东湖苑"


def test_blank_sheets_give_no_contacts(tmp_path) -> None:
    drawn, _, path = _filled(tmp_path, {})
    assert read_visits([path], drawn.sample).empty
