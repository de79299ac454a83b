"""ingest_round: every row accounted for, each quarantine rule, pseudonyms, dispositions."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xlsxwriter
from openpyxl import load_workbook

from evaluation.ingest.ingest import ingest_round
from evaluation.ingest.pseudonym import load_or_create_key, pseudonymise
from evaluation.ingest.template import write_template
from evaluation.questionnaire import load_questionnaire
from evaluation.round import IngestConfig
from wuye_common.errors import WuyeError

Q = load_questionnaire()
META = ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP"]
ITEM_HEADERS = [f"{i.number}、{i.text}" for i in Q.items.itertuples()]
HEADERS = [
    *META,
    "1、您居住的小区名称",
    "2、您居住的楼栋号",
    "3、您的房号",
    *ITEM_HEADERS,
    "17、您的联系电话（选填，仅用于回访核实）",
    "18、您对本小区物业服务的意见和建议",
]
REGISTER = pd.DataFrame(
    {
        "estate_id": ["E001", "E002", "E003"],
        "estate_name": ["锦绣花园", "阳光家园", "阳光花园"],
        "community": "c",
        "firm": "f",
        "tier": "一级",
        "households": 100,
        "threshold": 0.9,
    }
)
PHONE = "13812345678"
IP = "58.19.3.4"


def make_round(tmp_path: Path, **ingest: float) -> SimpleNamespace:
    return SimpleNamespace(
        register=REGISTER,
        ingest=IngestConfig(**ingest),
        secret_path=tmp_path / ".secrets" / "r.key",
        questionnaire="default",
    )


def row(
    no: int,
    estate: str | None = "锦绣花园",
    building: str | None = "3栋",
    room: str | None = "1-101",
    answer: str | int | None = "满意",
    *,
    overall: object = "满意",
    seconds: str | None = "200秒",
    at: str = "2025-06-01 10:00:00",
    phone: str | None = None,
) -> list[object]:
    items = [answer] * (len(ITEM_HEADERS) - 1) + [overall]
    return [
        no,
        at,
        seconds,
        "手机提交",
        "直接访问",
        f"{IP}(湖北-鄂州)",
        estate,
        building,
        room,
        *items,
        phone or "(空)",
        "(空)",
    ]


def write_export(path: Path, rows: list[list[object]], headers: list[str] = HEADERS) -> Path:
    book = xlsxwriter.Workbook(
        str(path), {"strings_to_numbers": False, "strings_to_formulas": False}
    )
    sheet = book.add_worksheet("Sheet1")
    sheet.write_row(0, 0, headers)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            if value is not None:
                sheet.write(r, c, value)
    book.close()
    return path


def messy_rows() -> list[list[object]]:
    # metadata but no answer (fully blank rows are no rows at all: test_readers)
    blank = [2, "2025-06-01 10:00:00", "200秒", "手机提交", "直接访问", f"{IP}(湖北-鄂州)"]
    blank += [None] * (len(HEADERS) - len(blank))
    return [
        row(1, phone=PHONE),  # 2 duplicate (older)
        blank,  # 3 blank_row
        row(3, estate=None),  # 4 missing_required
        row(4, estate="武昌府"),  # 5 unknown_estate
        row(5, estate="阳光小区"),  # 6 ambiguous_estate
        row(6, room="1-102", answer="很好"),  # 7 bad_answer
        row(7, room="1-103", overall=None),  # 8 missing_required
        row(8, room="1-104", seconds="35秒"),  # 9 speeder
        row(9, estate=" Ｅ００２ ", building="４号楼", room="2单元201"),  # 10 ok (id, full width)
        row(
            10,
            estate="锦绣 花园小区",
            building="３",
            room="1-101",  # 11 ok, keeps latest
            at="2025-06-02 09:00:00",
            phone="+86 138-1234-5678",
        ),
        row(11, estate="阳光花园", room="1-105", overall="不清楚"),  # 12 ok, overall missing
        row(12, estate="阳光花园", room="1-106", answer="(跳过)"),  # 13 ok, items skipped
        row(13, estate="=1+1", room="1-107"),  # 14 unknown, not a formula
    ]


EXPECTED = {
    2: "duplicate",
    3: "blank_row",
    4: "missing_required",
    5: "unknown_estate",
    6: "ambiguous_estate",
    7: "bad_answer",
    8: "missing_required",
    9: "speeder",
    14: "unknown_estate",
}


@pytest.fixture
def messy(tmp_path: Path):
    path = write_export(tmp_path / "问卷星导出.xlsx", messy_rows())
    return ingest_round(make_round(tmp_path), [path]), tmp_path


def test_every_rule_and_every_row_accounted(messy) -> None:
    result, _ = messy
    got = dict(zip(result.quarantine["source_row"], result.quarantine["reason_code"], strict=True))
    assert got == EXPECTED
    assert sorted(result.respondents["source_row"]) == [10, 11, 12, 13]
    assert set(result.quarantine["reason"]) >= {
        "空行：没有任何题目作答",
        "答题用时过短（疑似乱答）",
    }
    counts = result.counts
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    total = counts[counts["level"] == "total"].iloc[0]
    assert (total["read"], total["accepted"], total["quarantined"]) == (13, 4, 9)
    by_estate = counts[counts["level"] == "estate"].set_index("estate_id")
    assert by_estate.loc["E001", "accepted"] == 1 and by_estate.loc["E003", "accepted"] == 2
    assert by_estate["read"].sum() == 13
    summary = result.summary()
    assert list(summary.columns) == ["层级", "文件", "小区编号", "读入", "接受", "隔离", "跳过空行"]
    assert "整行空白的行已跳过，不计入读入：0 行" in result.report()
    assert "隔离原因" in result.report()


def test_details_and_suggestions(messy) -> None:
    result, _ = messy
    q = result.quarantine.set_index("source_row")
    assert "阳光家园（E002" in q.loc[6, "detail"] and "阳光花园（E003" in q.loc[6, "detail"]
    assert q.loc[7, "detail"].startswith("第4题答案无法识别")
    assert q.loc[8, "detail"] == "第16题未作答"
    assert "35 秒" in q.loc[9, "detail"]
    assert "第 11 行" in q.loc[2, "detail"]
    assert q.loc[5, "estate_raw"] == "武昌府"


def test_answers_contract(messy) -> None:
    result, _ = messy
    a = result.answers
    assert list(a.columns) == [
        "response_id",
        "estate_id",
        "item_id",
        "dimension",
        "code",
        "satisfied",
        "points",
    ]
    assert str(a["code"].dtype) == "Int64" and len(a) == 4 * 13
    r = result.respondents.set_index("source_row")
    ok = a[a["response_id"] == r.loc[11, "response_id"]]
    assert (ok["code"] == 2).all() and (ok["satisfied"] == 1.0).all()
    assert (ok["points"] == 75.0).all()
    dont_know = a[(a["response_id"] == r.loc[12, "response_id"]) & (a["item_id"] == "S13")]
    assert dont_know["code"].isna().all() and dont_know["satisfied"].isna().all()
    skipped = a[(a["response_id"] == r.loc[13, "response_id"]) & (a["item_id"] != "S13")]
    assert skipped["points"].isna().all() and skipped["code"].isna().all()
    assert r.loc[10, "estate_id"] == "E002" and r.loc[10, "building"] == "4"
    assert r["response_id"].is_unique
    assert r["submitted_at"].notna().all() and (r["duration_s"] == 200).all()


def test_no_raw_personal_data_anywhere(messy) -> None:
    result, tmp_path = messy
    path = result.write_quarantine(tmp_path / "out" / "隔离记录.xlsx")
    tables = [result.respondents, result.answers, result.quarantine, result.counts]
    text = "\n".join(t.astype(str).to_csv() for t in tables) + result.report()
    book = load_workbook(path)
    text += "\n".join(str(c.value) for ws in book for r in ws.iter_rows() for c in r)
    for raw in (PHONE, "1234-5678", IP, "1-101", "2单元201", "湖北-鄂州"):
        assert raw not in text
    # phone variants pseudonymise alike: the duplicate is found through the household
    r = result.respondents.set_index("source_row")
    assert r.loc[11, "phone_key"] == result.quarantine.set_index("source_row").loc[2, "phone_key"]
    assert len(r.loc[11, "phone_key"]) == 16


def test_quarantine_workbook(messy) -> None:
    result, tmp_path = messy
    path = result.write_quarantine(tmp_path / "q.xlsx")
    ws = load_workbook(path)["隔离记录"]
    header = [c.value for c in ws[1]]
    assert header[:7] == [
        "文件",
        "工作表",
        "原始行号",
        "原因代码",
        "原因",
        "填写的小区名称",
        "说明",
    ]
    rows = {r[2]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == set(EXPECTED)
    assert rows[14][5] == "=1+1"  # kept as text, never a formula
    assert ws.cell(row=2, column=1).data_type == "s"
    assert "导入核对" in load_workbook(path).sheetnames


def test_secret_key_created_private_and_reused(messy) -> None:
    result, tmp_path = messy
    key_path = tmp_path / ".secrets" / "r.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    again = ingest_round(make_round(tmp_path), [tmp_path / "问卷星导出.xlsx"])
    pd.testing.assert_frame_equal(
        again.respondents.drop(columns="submitted_at"),
        result.respondents.drop(columns="submitted_at"),
    )
    other = ingest_round(make_round(tmp_path), [tmp_path / "问卷星导出.xlsx"], key=b"k" * 32)
    assert not set(other.respondents["phone_key"].dropna()) & set(
        result.respondents["phone_key"].dropna()
    )


def test_code_export_gives_same_answers(tmp_path: Path) -> None:
    text_rows = [
        row(1, room="1-101", answer="非常满意", overall="不满意"),
        row(2, room="1-102", answer="(跳过)", overall="不清楚"),
    ]
    code_rows = [
        row(1, room="1-101", answer=1, overall=4),
        row(2, room="1-102", answer=-3, overall=6),
    ]
    a = ingest_round(make_round(tmp_path), [write_export(tmp_path / "t.xlsx", text_rows)])
    b = ingest_round(make_round(tmp_path), [write_export(tmp_path / "c.xlsx", code_rows)])
    assert b.exports[0].kind == "code" and a.exports[0].kind == "text"
    cols = ["item_id", "code", "satisfied", "points"]
    pd.testing.assert_frame_equal(a.answers[cols], b.answers[cols])
    bad = ingest_round(
        make_round(tmp_path), [write_export(tmp_path / "bad.xlsx", [row(1, answer=1, overall=9)])]
    )
    assert bad.quarantine["reason_code"].tolist() == ["bad_answer"]


def test_satisfied_override(tmp_path: Path) -> None:
    path = write_export(tmp_path / "t.xlsx", [row(1, answer="基本满意", overall="基本满意")])
    default = ingest_round(make_round(tmp_path), [path])
    wider = ingest_round(
        make_round(tmp_path),
        [path],
        questionnaire=load_questionnaire(satisfied=["非常满意", "满意", "基本满意"]),
    )
    assert (default.answers["satisfied"] == 0).all() and (wider.answers["satisfied"] == 1).all()


def sample_frame() -> pd.DataFrame:
    rows = [  # estate, building, unit, room, role, order
        ("E001", "3栋", "1", "101", "main", 1),
        ("E001", "3栋", "1", "102", "main", 2),
        ("E001", "3栋", "1", "103", "main", 3),
        ("E001", "3栋", "1", "104", "reserve", 1),
        ("E001", "3栋", "1", "105", "reserve", 2),
        ("E001", "4栋", "1", "101", "main", 1),
        ("E001", "4栋", "1", "102", "reserve", 1),
        ("E002", "1栋", "2", "201", "main", 1),
    ]
    s = pd.DataFrame(rows, columns=["estate_id", "building", "unit", "room", "role", "order"])
    s["floor"] = s["room"].str[0].astype(int)
    s["household_id"] = s["estate_id"] + "|" + s["building"] + "|" + s["unit"] + "|" + s["room"]
    return s


def test_sample_linking_and_dispositions(tmp_path: Path) -> None:
    rows = [
        row(1, building="3号楼", room="1-101"),  # main completed
        row(2, building="3", room="1单元104"),  # reserve used → one main substituted
        row(3, building="4栋", room="101室"),  # main completed (unit from sample)
        row(4, building="5栋", room="1-101"),  # not in sample
        row(5, building=None, room="1-101"),
    ]  # building missing
    path = write_export(tmp_path / "s.xlsx", rows)
    contacts = pd.DataFrame({"household_id": ["E001|3栋|1|103"], "status": ["refused"]})
    result = ingest_round(make_round(tmp_path), [path], sample=sample_frame(), contacts=contacts)
    q = dict(zip(result.quarantine["source_row"], result.quarantine["reason_code"], strict=True))
    assert q == {5: "not_in_sample", 6: "missing_required"}
    r = result.respondents.set_index("source_row")
    assert r.loc[2, "building"] == "3栋" and r.loc[3, "role"] == "reserve"
    assert r["household_key"].notna().all()
    key = load_or_create_key(tmp_path / ".secrets" / "r.key")
    s = sample_frame()
    s["household_key"] = pseudonymise(s["household_id"], key, "household")
    d = result.dispositions.merge(s[["household_key", "household_id"]], on="household_key")
    status = dict(zip(d["household_id"], d["status"], strict=True))
    # 3栋: one reserve used, one main refused → the refusal took the reserve's place,
    # so the other non-responding main (102) is not reached
    assert status == {
        "E001|3栋|1|101": "completed",
        "E001|3栋|1|102": "not_reached",
        "E001|3栋|1|103": "refused",
        "E001|3栋|1|104": "completed",
        "E001|3栋|1|105": "unused",
        "E001|4栋|1|101": "completed",
        "E001|4栋|1|102": "unused",
        "E002|1栋|2|201": "not_reached",
    }
    rates = result.response_rates.set_index("estate_id")
    assert rates.loc["E001", "n_main"] == 4 and rates.loc["E001", "completed"] == 3
    # AAPOR RR1: 3 completes of 5 households approached (4 mains + reserve 104)
    assert rates.loc["E001", "eligible"] == 5
    assert rates.loc["E001", "response_rate"] == pytest.approx(3 / 5)
    assert rates.loc["E001", "completion_rate"] == pytest.approx(3 / 4)  # 样本完成率
    assert rates.loc["E001", "refusal_rate"] == pytest.approx(1 / 5)
    assert rates.loc["E002", "response_rate"] == 0
    assert "household_id" not in result.dispositions.columns


def test_substitution_rule_without_contacts(tmp_path: Path) -> None:
    rows = [row(1, room="1-104"), row(2, room="1-105"), row(3, room="1-101")]
    result = ingest_round(
        make_round(tmp_path), [write_export(tmp_path / "s.xlsx", rows)], sample=sample_frame()
    )
    got = result.dispositions.query("estate_id == 'E001' and building == '3栋'")
    assert got.sort_values(["role", "order"])["status"].tolist() == [
        "completed",
        "substituted",
        "substituted",
        "completed",
        "completed",
    ]
    rates = result.response_rates.set_index("estate_id")
    # two reserves and four mains approached, three completes: RR1 = 3/6 (样本完成率 3/4)
    assert rates.loc["E001", "response_rate"] == 0.5
    assert rates.loc["E001", "completion_rate"] == 0.75


def test_files_per_estate_and_accounting_per_file(tmp_path: Path) -> None:
    headers = [h for h in HEADERS if not h.startswith("1、")]
    rows = [
        [
            v
            for h, v in zip(HEADERS, row(i, room=f"1-10{i}"), strict=True)
            if not h.startswith("1、")
        ]
        for i in (1, 2)
    ]
    a = write_export(tmp_path / "锦绣花园.xlsx", rows, headers)
    b = write_export(tmp_path / "第二批.xlsx", rows[:1], headers)
    result = ingest_round(make_round(tmp_path), {a: "锦绣花园", b: "E002"})
    assert result.respondents.groupby("estate_id").size().to_dict() == {"E001": 2, "E002": 1}
    stem_only = ingest_round(make_round(tmp_path), [a])
    assert stem_only.respondents["estate_id"].eq("E001").all()
    unknown = ingest_round(make_round(tmp_path), [a, b])
    files = unknown.counts[unknown.counts["level"] == "file"].set_index("source_file")
    assert files.loc["第二批.xlsx", "quarantined"] == 1


def test_template_round_trip(tmp_path: Path) -> None:
    path = write_template(tmp_path / "纸质.xlsx", Q, REGISTER)
    wb = load_workbook(path)
    ws = wb["问卷录入"]
    headers = [c.value for c in ws[1]]
    values = {
        "录入序号": 1,
        "1、您居住的小区名称": "锦绣花园",
        "2、您居住的楼栋号": "3",
        "3、您的房号": "101",
    }
    values.update({h: 2 for h in ITEM_HEADERS})
    values[ITEM_HEADERS[0]] = "非常满意"
    for c, h in enumerate(headers, start=1):
        if h in values:
            ws.cell(row=2, column=c, value=values[h])
    wb.save(path)
    result = ingest_round(make_round(tmp_path), [path])
    assert len(result.respondents) == 1 and result.quarantine.empty
    assert result.answers["code"].tolist() == [1] + [2] * 12


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(WuyeError, match="没有要导入"):
        ingest_round(make_round(tmp_path), [])
    other = write_export(
        tmp_path / "other.xlsx", [[1, "t", "1秒", "a", "b", "c", "x"]], [*META, "1、您的性别"]
    )
    with pytest.raises(WuyeError, match="评价题列") as info:
        ingest_round(make_round(tmp_path), [other])
    assert info.value.problems[0].file == "other.xlsx"
    (tmp_path / "x").mkdir()
    write_export(tmp_path / "x" / "other.xlsx", [row(1)])
    with pytest.raises(WuyeError, match="文件名重复"):
        ingest_round(make_round(tmp_path), [other, tmp_path / "x" / "other.xlsx"])
    # the same stem with another extension would give the same response ids
    (tmp_path / "other.csv").write_text("序号\n1\n", encoding="utf-8")
    with pytest.raises(WuyeError, match=re.escape("：other.csv、other.xlsx")):
        ingest_round(make_round(tmp_path), [other, tmp_path / "other.csv"])


def test_demo_export_ingests_with_every_row_accounted(tmp_path: Path) -> None:
    demo = pytest.importorskip("evaluation.demo")
    from evaluation.round import SamplingConfig
    from sampling.design import draw_round

    district = demo.build_district(11, estates=6)
    register = district.register.assign(threshold=0.8)
    drawn = draw_round(register, district.frame, SamplingConfig(), seed=3, confidence=0.95)
    visits = demo.simulate_visits(district, drawn.sample, period="2025H2", seed=5)
    path = tmp_path / "问卷星导出_2025H2.xlsx"
    demo.write_export(visits.export, path)
    rnd = SimpleNamespace(
        register=register,
        ingest=IngestConfig(),
        secret_path=tmp_path / "k.key",
        questionnaire="default",
    )
    result = ingest_round(rnd, [path], sample=drawn.sample)
    key = visits.key.assign(source_row=visits.key["row"] + 2).set_index("source_row")
    blank = key.index[key["role"] == "blank"]
    n = len(visits.export) - len(blank)  # fully blank rows are skipped, and counted
    assert len(result.respondents) + len(result.quarantine) == n
    total = result.counts.query("level == 'total'")
    assert total["read"].iat[0] == n and total["blank_rows"].iat[0] == len(blank) > 0
    q = result.quarantine.set_index("source_row")
    assert not set(blank) & (set(q.index) | set(result.respondents["source_row"]))
    unknown = key.index[key["role"] == "unknown"]
    assert q.loc[unknown, "reason_code"].isin(["unknown_estate", "ambiguous_estate"]).all()
    speeders = key.index[key["mess"].str.contains("speeder")]
    assert q.reindex(speeders)["reason_code"].notna().all()
    unsampled = key.index[key["role"] == "unsampled"]
    assert q.reindex(unsampled)["reason_code"].notna().all()
    accepted = key.loc[result.respondents["source_row"]]
    # the forged batch uses sampled households: it links, and the quality checks flag it
    forged = (accepted["role"] == "forged").to_numpy()
    assert forged.sum() >= 6 and (result.respondents["quality_rules"][forged] != "").all()
    assert accepted["role"][~forged].isin(["main", "reserve"]).all()
    assert (accepted["estate_id"].to_numpy() == result.respondents["estate_id"].to_numpy()).all()
    roles = result.respondents["role"].to_numpy()
    assert (accepted["role"].to_numpy()[~forged] == roles[~forged]).all()
    assert len(result.respondents) > 0.85 * n
    assert np.isfinite(result.response_rates["response_rate"]).all()


def test_respondents_contract_columns(messy) -> None:
    result, _ = messy
    assert list(result.respondents.columns[:9]) == [
        "response_id",
        "estate_id",
        "building",
        "household_key",
        "role",
        "source_file",
        "source_row",
        "submitted_at",
        "duration_s",
    ]
    assert list(result.quarantine.columns[:7]) == [
        "source_file",
        "sheet",
        "source_row",
        "reason_code",
        "reason",
        "estate_raw",
        "detail",
    ]


def test_matrix_export_matched_by_row_label(tmp_path: Path) -> None:
    # 问卷星 matrix question 4 with one column per row, headed "4(row label)"
    headers = [
        *META,
        "1、您居住的小区名称",
        "2、您居住的楼栋号",
        "3、您的房号",
        *[f"4({i.text})" for i in Q.items.itertuples()],
    ]
    rows = [
        [
            1,
            "2025-06-01 10:00:00",
            "200秒",
            "a",
            "b",
            IP,
            "锦绣花园",
            "3",
            "101",
            *(["满意"] * 12 + ["非常满意"]),
        ]
    ]
    result = ingest_round(make_round(tmp_path), [write_export(tmp_path / "m.xlsx", rows, headers)])
    assert result.quarantine.empty
    assert result.answers["code"].tolist() == [2] * 12 + [1]


def test_kobo_export_ingests(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "start": ["2025-06-01T10:00:00", "2025-06-01T11:00:00"],
            "end": ["2025-06-01T10:04:00", "2025-06-01T11:00:20"],
            "estate": ["锦绣花园", "阳光家园"],
            "building": ["3", "1"],
            "room": ["101", "102"],
            **{f"survey/q{i.number}": ["满意", "不满意"] for i in Q.items.itertuples()},
            "_id": [1, 2],
            "_uuid": ["a", "b"],
            "_submission_time": ["2025-06-01T10:05:00"] * 2,
        }
    )
    path = tmp_path / "kobo.xlsx"
    table.to_excel(path, index=False)
    result = ingest_round(make_round(tmp_path), [path])
    assert result.exports[0].platform == "kobo"
    assert result.respondents["estate_id"].tolist() == ["E001"]
    assert result.quarantine["reason_code"].tolist() == ["speeder"]  # 20 s from start to end
    assert result.respondents["duration_s"].tolist() == [240.0]


def test_files_read_over_an_executor_give_the_same_result(tmp_path: Path) -> None:
    """``executor`` (a thread pool here; a Dask client's in ``tests/pipeline/
    test_dask_round.py``) reads each file; the tables equal the in-process ingest's, and a
    file's located error reaches the caller."""
    from concurrent.futures import ThreadPoolExecutor

    a = write_export(tmp_path / "a.xlsx", messy_rows())
    b = write_export(tmp_path / "b.xlsx", [row(i, room=f"2-20{i}") for i in (1, 2, 3)])
    here = ingest_round(make_round(tmp_path), [a, b])
    with ThreadPoolExecutor(2) as pool:
        there = ingest_round(make_round(tmp_path), [a, b], executor=pool)
        bad = write_export(
            tmp_path / "bad.xlsx", [[1, "t", "1秒", "a", "b", "c", "x"]], [*META, "1、您的性别"]
        )
        with pytest.raises(WuyeError, match="评价题列") as info:
            ingest_round(make_round(tmp_path), [a, bad], executor=pool)
    assert info.value.problems[0].file == "bad.xlsx"
    for name in ("respondents", "answers", "quarantine", "counts", "response_rates"):
        pd.testing.assert_frame_equal(getattr(here, name), getattr(there, name), obj=name)
    assert [e.file for e in there.exports] == ["a.xlsx", "b.xlsx"]
