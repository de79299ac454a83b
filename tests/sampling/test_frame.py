"""Frame input: Chinese headers, checks with row numbers, warnings against the 台账."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.round import load_round
from sampling.frame import load_frame
from wuye_common.errors import WuyeError

REGISTER = pd.DataFrame(
    {
        "estate_id": ["007", "008"],
        "estate_name": ["东湖苑", "西山居"],
        "households": [4, 2],
        "threshold": [0.8, 0.5],
    }
)


def write_csv(
    tmp_path, rows, header="小区编号,楼栋,单元,楼层,房号", name="frame.csv", encoding="utf-8-sig"
):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding=encoding)
    return path


GOOD = [
    "007,1栋,1单元,1,101",
    "007,1栋,1单元,1,102",
    "007,2栋,1单元,2,201",
    "007,2栋,2单元,2,201",
    "008,A座,,3,301",
    "008,A座,,3,302",
]


def test_reads_chinese_headers_and_builds_household_id(tmp_path):
    frame, warnings = load_frame(write_csv(tmp_path, GOOD), REGISTER)
    assert warnings == []
    assert list(frame.columns) == [
        "estate_id",
        "building",
        "unit",
        "floor",
        "room",
        "occupied",
        "household_id",
    ]
    assert frame["estate_id"].tolist()[0] == "007"  # leading zeros kept
    assert frame["household_id"].tolist()[0] == "007|1栋|1单元|101"
    assert frame["household_id"].tolist()[4] == "008|A座||301"
    assert frame["occupied"].all()


def test_gbk_csv_and_excel(tmp_path):
    frame, _ = load_frame(write_csv(tmp_path, GOOD, encoding="gb18030"), REGISTER)
    assert len(frame) == 6
    table = pd.read_csv(write_csv(tmp_path, GOOD), dtype=str, keep_default_na=False)
    table.to_excel(tmp_path / "frame.xlsx", index=False)
    excel, _ = load_frame(tmp_path / "frame.xlsx", REGISTER)
    pd.testing.assert_frame_equal(excel, frame)


def test_duplicate_room_reported_with_rows(tmp_path):
    rows = [*GOOD, "007,1栋,1单元,1,101"]
    with pytest.raises(WuyeError) as info:
        load_frame(write_csv(tmp_path, rows), REGISTER)
    (problem,) = info.value.problems
    assert problem.row == 8 and "房号重复" in problem.message and "第 2 行" in problem.message
    assert "101" not in str(problem)  # room numbers are personal data
    assert problem.file == "frame.csv"


def test_missing_building_and_room_reported(tmp_path):
    rows = [*GOOD, "007,,1单元,1,105", "008,A座,,3,"]
    with pytest.raises(WuyeError) as info:
        load_frame(write_csv(tmp_path, rows), REGISTER)
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {(8, "楼栋"), (9, "房号")}


def test_unknown_estate_is_an_error_unless_known_elsewhere(tmp_path):
    rows = [*GOOD, "999,1栋,1单元,1,101", "999,1栋,1单元,1,102"]
    with pytest.raises(WuyeError) as info:
        load_frame(write_csv(tmp_path, rows), REGISTER)
    (problem,) = info.value.problems
    assert "999" in problem.message and problem.row == 8 and "第 8、9 行" in problem.message
    frame, warnings = load_frame(write_csv(tmp_path, rows), REGISTER, known_estates=["999"])
    assert "999" not in set(frame["estate_id"])
    assert any("不在本轮评估范围" in w.message for w in warnings)


def test_size_mismatch_and_missing_estate_warn(tmp_path):
    register = pd.concat(
        [
            REGISTER,
            pd.DataFrame(
                {
                    "estate_id": ["009"],
                    "estate_name": ["新村"],
                    "households": [3],
                    "threshold": [0.7],
                }
            ),
        ],
        ignore_index=True,
    )
    register.loc[0, "households"] = 10
    frame, warnings = load_frame(write_csv(tmp_path, GOOD), register)
    texts = [w.message for w in warnings]
    assert any("007" in t and "10 户" in t and "按住户清册的 4 户" in t for t in texts)
    assert any("009" in t and "没有任何住户" in t for t in texts)
    assert len(frame) == 6


def test_occupancy(tmp_path):
    rows = [r + ",是" for r in GOOD[:-2]] + [GOOD[-2] + ",空置", GOOD[-1] + ","]
    frame, warnings = load_frame(
        write_csv(tmp_path, rows, header="小区编号,楼栋,单元,楼层,房号,是否入住"), REGISTER
    )
    assert frame["occupied"].tolist() == [True] * 4 + [False, True]
    assert warnings == []
    bad = [*rows[:-1], GOOD[-1] + ",也许"]
    with pytest.raises(WuyeError) as info:
        load_frame(
            write_csv(tmp_path, bad, header="小区编号,楼栋,单元,楼层,房号,是否入住"), REGISTER
        )
    assert info.value.problems[0].row == 7 and info.value.problems[0].column == "是否入住"


def test_missing_columns_and_fullwidth(tmp_path):
    with pytest.raises(WuyeError, match="缺少列"):
        load_frame(write_csv(tmp_path, ["007,1栋,1"], header="小区编号,楼栋,单元"), REGISTER)
    frame, _ = load_frame(write_csv(tmp_path, ["007,１栋 ,1单元,1,１０１"]), REGISTER)
    assert frame["room"].tolist() == ["101"] and frame["building"].tolist() == ["1栋"]


def test_many_bad_rows_are_capped(tmp_path):
    rows = [f"007,,1单元,1,{i}" for i in range(80)]
    with pytest.raises(WuyeError) as info:
        load_frame(write_csv(tmp_path, rows), REGISTER)
    assert len(info.value.problems) == 51 and "另有 30 行" in info.value.problems[-1].message


def test_frame_is_read_within_the_given_ceilings(tmp_path):
    from wuye_common.sheets import Limits

    path = write_csv(tmp_path, GOOD)
    with pytest.raises(WuyeError, match="max_rows"):
        load_frame(path, REGISTER, limits=Limits(max_rows=5))
    frame, _ = load_frame(path, REGISTER, limits=Limits(max_rows=7))  # header line too
    assert len(frame) == 6


def test_sampling_reads_the_frame_within_the_rounds_ingest_ceilings(ws):
    """A province's frame (millions of households) passes the default ceiling only when
    ``[ingest] max_rows`` is raised; the round's ceilings are the ones applied."""
    from dataclasses import replace

    from sampling.design import run_sampling
    from tests.hostile import round_folder

    rnd = load_round(round_folder(ws))
    with pytest.raises(WuyeError, match="max_rows") as info:
        run_sampling(replace(rnd, ingest=replace(rnd.ingest, max_rows=10)))
    assert info.value.problems[0].file == "住户清册.csv"
    assert len(run_sampling(rnd).sample)
