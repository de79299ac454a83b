"""Field sheets, sampling record round trip and the round-level ``run_sampling``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest

from sampling.config import SamplingConfig
from sampling.design import draw_round, run_sampling
from sampling.fieldsheets import HEADERS, sheet_names, write_field_sheets
from sampling.record import read_sampling_record, write_sampling_record
from wuye_common.errors import WuyeError

CONFIG = SamplingConfig(
    margin=0.15, minimum=5, response_rate=0.85, reserve_ratio=0.5, sizing="margin", method="srs"
)


def make(names: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = names or {"007": "东湖苑", "008": "西山居[二期]"}
    rows = [
        (e, f"{b}栋", "1单元", str(f), f"{f}0{r}")
        for e in names
        for b in (1, 2)
        for f in range(1, 9)
        for r in (1, 2)
    ]
    rows.append(("007", "3栋", "1单元", "1", "=1+1"))  # must stay text, not a formula
    frame = pd.DataFrame(rows, columns=["estate_id", "building", "unit", "floor", "room"])
    register = pd.DataFrame(
        {
            "estate_id": list(names),
            "estate_name": list(names.values()),
            "households": 32,
            "threshold": 0.8,
        }
    )
    return register, frame


def test_sheet_names_safe_unique_short():
    labels = ["A/B:C*D?[E]\\F", "x" * 40, "x" * 40, "History", "说明", "'quoted'"]
    names = sheet_names(labels)
    assert len(set(n.lower() for n in names)) == len(names)
    assert all(len(n) <= 31 for n in names)
    assert not any(set(n) & set("[]:*?/\\") for n in names)
    assert names[0] == "A_B_C_D__E__F" and names[2].endswith("~2")
    assert names[3] != "History" and names[4] != "说明" and not names[5].startswith("'")


def test_field_sheets(tmp_path):
    register, frame = make()
    result = draw_round(register, frame, CONFIG, seed=3, confidence=0.95)
    path = write_field_sheets(
        result, register, tmp_path / "sheets.xlsx", title="测试区 2025年上半年"
    )
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["说明", "007 东湖苑", "008 西山居_二期_"]
    sheet = workbook["007 东湖苑"]
    everything = list(sheet.iter_rows(values_only=True))
    assert everything[0] == HEADERS and "访问结果" in HEADERS and "问卷编号" in HEADERS
    mine = result.sample[result.sample["estate_id"] == "007"]
    rows = everything[: len(mine) + 1]
    assert everything[len(mine) + 1] == (None,) * len(everything[0])  # the table ends
    labels = [r[4] for r in rows[1:]]
    assert labels.count("主样本") == (mine["role"] == "main").sum()
    assert "替补1" in labels
    assert [r[0] for r in rows[1:]] == list(range(1, len(mine) + 1))
    assert all(v is None for r in rows[1:] for v in r[5:])  # the visit columns are blank
    # below the table: the estate id, the per-building quota, the signature block
    below = everything[len(mine) + 2 :]
    assert below[0][0] == "小区编号" and below[0][2] == "007"
    assert below[1][:4] == ("楼栋配额", None, "应完成", "替补")
    strata = result.strata[result.strata["estate_id"] == "007"]
    quota = below[2 : 2 + len(strata)]
    assert [r[0] for r in quota] == strata["building"].astype(str).tolist()
    assert [r[2] for r in quota] == strata["n_h"].tolist()
    assert "调查员签名：" in below[-1] and "督导审核签名：" in below[-1]
    # the drop-down of 访问结果 and the check of 上门次数 cover the household rows
    checks = sheet.data_validations.dataValidation
    outcome = next(dv for dv in checks if dv.type == "list")
    assert outcome.formula1 == '"完成,拒访,无人,空置,非本户"'
    assert str(outcome.sqref) == f"J2:J{len(mine) + 1}"
    visits = next(dv for dv in checks if dv.type == "whole")
    assert (visits.formula1, visits.formula2) == ("1", "3")
    rooms = [r[3] for r in rows[1:]]
    assert all(isinstance(room, str) for room in rooms)
    # print-ready: header row repeated, fit to one page wide, page header names the estate
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToHeight == 0 and sheet.page_setup.fitToWidth in (None, 1)
    assert sheet.page_setup.paperSize == 9
    assert "东湖苑" in sheet.oddHeader.center.text
    assert "&P" in sheet.oddFooter.center.text
    assert sheet.print_options.gridLines
    summary = [r for r in workbook["说明"].iter_rows(values_only=True) if r[0] in {"007", "008"}]
    assert [r[3] for r in summary] == result.plan["n"].tolist()


def test_formula_like_room_stays_text(tmp_path):
    register, frame = make()
    frame = frame[frame["room"].isin(["=1+1", "101"])].reset_index(drop=True)
    config = SamplingConfig(margin=0.5, minimum=50, response_rate=1.0)  # census
    result = draw_round(register, frame, config, seed=3, confidence=0.95)
    path = write_field_sheets(result, register, tmp_path / "f.xlsx")
    sheet = openpyxl.load_workbook(path)["007 东湖苑"]
    assert "=1+1" in [row[3] for row in sheet.iter_rows(values_only=True)]
    n = int((result.sample["estate_id"] == "007").sum())
    assert all(cell.data_type == "s" for cell in sheet["D"][1 : n + 1])


def test_record_round_trip(tmp_path):
    register, frame = make()
    result = draw_round(register, frame, CONFIG, seed=3, confidence=0.95)
    written = write_sampling_record(result, tmp_path / "rec")
    assert sorted(p.name for p in written) == ["meta.json", "plan.csv", "sample.csv", "strata.csv"]
    back = read_sampling_record(tmp_path / "rec")
    pd.testing.assert_frame_equal(back.sample, result.sample)
    pd.testing.assert_frame_equal(back.strata, result.strata)
    pd.testing.assert_frame_equal(back.plan, result.plan)
    assert back.meta == json.loads(json.dumps(result.meta))
    meta = back.meta
    assert meta["seed"] == 3 and len(meta["frame_sha256"]) == 64
    assert meta["parameters"]["margin"] == 0.15 and meta["package_version"]
    assert not list((tmp_path / "rec").glob(".*tmp"))


def test_record_missing_file(tmp_path):
    with pytest.raises(WuyeError, match="抽样记录不完整"):
        read_sampling_record(tmp_path)


def test_run_sampling_writes_everything(tmp_path):
    register, frame = make()
    frame.rename(
        columns={
            "estate_id": "小区编号",
            "building": "楼栋",
            "unit": "单元",
            "floor": "楼层",
            "room": "房号",
        }
    ).to_csv(tmp_path / "住户清册.csv", index=False, encoding="utf-8-sig")
    round_ = SimpleNamespace(
        round_id="2025H1",
        kind="H",
        label="测试区 2025年上半年",
        seed=20240906,
        confidence=0.95,
        sampling=CONFIG,
        register=register,
        paths={"frame": tmp_path / "住户清册.csv"},
        output_dir=tmp_path / "out",
    )
    result = run_sampling(round_)
    names = sorted(p.name for p in result.written)
    assert names == ["meta.json", "plan.csv", "sample.csv", "strata.csv", "抽样入户表_2025H1.xlsx"]
    assert all(p.exists() and p.parent == tmp_path / "out" / "sampling" for p in result.written)
    again = draw_round(register, frame, CONFIG, seed=20240906, confidence=0.95)
    pd.testing.assert_frame_equal(result.sample, again.sample)
    assert result.meta["round_id"] == "2025H1"
    (warning,) = result.meta["warnings"]  # 007 has 33 rows in the frame, 32 in the 台账
    assert "33 户" in warning and "32 户" in warning
    assert str(result.warnings[0]) == warning
    round_.paths = {}
    with pytest.raises(WuyeError, match="frame"):
        run_sampling(round_)


def test_quarterly_round_skips_the_other_estates_of_its_register(tmp_path):
    """A quarterly round covers part of the 台账: frame rows of its other estates
    (``all_estate_ids``) are skipped with a warning; estates in no 台账 stay an error."""
    register, frame = make()
    frame.to_csv(tmp_path / "frame.csv", index=False, encoding="utf-8-sig")
    round_ = SimpleNamespace(
        round_id="2025Q3",
        kind="Q",
        label="测试区 2025年第三季度",
        seed=1,
        confidence=0.95,
        sampling=CONFIG,
        register=register[register["estate_id"] == "008"],
        all_estate_ids=("007", "008"),
        paths={"frame": tmp_path / "frame.csv"},
        output_dir=tmp_path / "out",
    )
    result = run_sampling(round_)
    assert set(result.sample["estate_id"]) == {"008"}
    assert any("007" in w for w in result.meta["warnings"])
    round_.all_estate_ids = ("008",)
    with pytest.raises(WuyeError, match="007"):
        run_sampling(round_)


REGISTER_CSV = """小区编号,小区名称,所属社区,物业企业,服务等级,户数
E1,葛店花园,葛店社区,华宇物业,一级,60
E2,融创城,宏伟社区,华宇物业,二级,40
E3,还建一区,还建一社区,安居物业,还建社区,30
"""
ROUND_TOML = """
[round]
district = "葛店经开区"
period = "{period}"
seed = 7

[sampling]
margin = 0.1
minimum = 10

[inputs]
register = "台账.csv"
frame = "住户清册.csv"
"""


def real_round(tmp_path, period: str):
    from evaluation.round import load_round

    folder = tmp_path / period
    folder.mkdir()
    (folder / "round.toml").write_text(ROUND_TOML.format(period=period), encoding="utf-8")
    (folder / "台账.csv").write_text(REGISTER_CSV, encoding="utf-8")
    lines = ["小区编号,楼栋,单元,楼层,房号,是否入住"]
    for estate, size in (("E1", 60), ("E2", 40), ("E3", 30)):
        lines += [
            f"{estate},{i % 3 + 1}栋,1单元,{i // 6 + 1},{i // 6 + 1}0{i % 6},"
            f"{'否' if i == 0 else '是'}"
            for i in range(size)
        ]
    (folder / "住户清册.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_round(folder)


def test_run_sampling_on_loaded_rounds(tmp_path):
    half = run_sampling(real_round(tmp_path, "2025H1"))
    assert half.plan["estate_id"].tolist() == ["E1", "E2", "E3"]
    assert half.plan["N"].tolist() == [59, 39, 29]  # one vacant household each
    assert half.plan["planning_p"].tolist() == [0.9, 0.8, 0.5]
    assert half.warnings == [] and half.meta["seed"] == 7
    quarter = run_sampling(real_round(tmp_path, "2025Q3"))
    assert quarter.plan["estate_id"].tolist() == ["E3"]
    assert any("不在本轮评估范围" in w.message for w in quarter.warnings)
    same = half.sample[half.sample["estate_id"] == "E3"].reset_index(drop=True)
    pd.testing.assert_frame_equal(quarter.sample, same)  # same seed, same estate → same draw
    assert (quarter.written[0].parent / "meta.json").exists()


@pytest.mark.parametrize(
    "texts",
    [
        ["a", "东湖苑", " x ", ""],
        ["a,b", "c", "d", "e"],  # needs quoting: pandas writes it
        ['say "hi"', "c", "d", "e"],
        ["line\nbreak", "c", "d", "e"],
        ["cr\r", "c", "d", "e"],
    ],
)
def test_record_csv_is_pandas_csv_byte_for_byte(tmp_path, texts):
    from sampling.record import _plain_csv

    table = pd.DataFrame(
        {
            "estate_id": pd.array(texts, dtype="str"),
            "order": [1, 2, 3, 10**12],
            "seq": [-1, 0, 5, 2],
        }
    )
    for part in (table, table.iloc[:0], table.iloc[:1]):
        written = _plain_csv(part, tmp_path / "fast.csv", chunk=2)
        part.to_csv(tmp_path / "pandas.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
        if written:
            assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
        else:
            assert any(ch in "".join(part["estate_id"]) for ch in ',"\r\n')
    # not plain: missing text, floats
    assert not _plain_csv(
        table.assign(estate_id=pd.array(["a", None, "b", "c"], dtype="str")), tmp_path / "x.csv"
    )
    assert not _plain_csv(table.assign(order=0.5), tmp_path / "x.csv")


@pytest.mark.filterwarnings("ignore:Number of footer images")  # the refused &G header
@pytest.mark.parametrize(
    "names",
    [
        {"007": "东湖苑 & <花园>", "008": "西山居[二期]", "009": "小"},
        # a page header xlsxwriter refuses (an image placeholder &G) on the first sheet
        {"007": "&G苑", "008": "西山居", "009": "a" * 300},
    ],
)
def test_field_sheets_fast_path_writes_the_per_cell_workbook(tmp_path, names):
    """The sheet-XML path and xlsxwriter's per-cell path give the same cells, formats and
    page set-up, including texts XML must escape and an estate whose table fills several
    row blocks."""
    from sampling import fieldsheets

    register, frame = make(names)
    frame.loc[frame.index[:5], "room"] = ["_x0041_", " 101", "a\x01b", "<&>", '"q"']
    frame.loc[frame.index[5:8], "building"] = "甲&乙"
    config = SamplingConfig(margin=0.5, minimum=40, response_rate=1.0, reserve_ratio=0.5)
    result = draw_round(register, frame, config, seed=5, confidence=0.95)
    books = {}
    for fast in (True, False):
        path = tmp_path / f"{fast}.xlsx"
        fieldsheets._write_workbook(path, result, register, "区 & 期", fast=fast)
        books[fast] = openpyxl.load_workbook(path)
    fast, slow = books[True], books[False]
    assert fast.sheetnames == slow.sheetnames and len(fast.sheetnames) == 4
    for name in fast.sheetnames:
        a, b = fast[name], slow[name]
        assert a.dimensions == b.dimensions
        cells_a = [(c.coordinate, c.value, c.data_type, c.font.i, c.font.b, c.border.left.style)
                   for row in a.iter_rows() for c in row]  # fmt: skip
        cells_b = [(c.coordinate, c.value, c.data_type, c.font.i, c.font.b, c.border.left.style)
                   for row in b.iter_rows() for c in row]  # fmt: skip
        assert cells_a == cells_b
        assert [str(d.sqref) for d in a.data_validations.dataValidation] == [
            str(d.sqref) for d in b.data_validations.dataValidation
        ]
        assert str(a.oddHeader.center.text) == str(b.oddHeader.center.text)
        assert (a.print_area, a.print_title_rows) == (b.print_area, b.print_title_rows)
        assert a.freeze_panes == b.freeze_panes and a.page_setup.paperSize == 9
        widths = [a.column_dimensions[c].width for c in "ABCDEFGHIJK"]
        assert widths == [b.column_dimensions[c].width for c in "ABCDEFGHIJK"]
    rooms = [c.value for c in fast[fast.sheetnames[1]]["D"]]
    assert "_x0041_" in rooms and "<&>" in rooms and " 101" in rooms
