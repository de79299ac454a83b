"""``questionnaire draft``: the questionnaire drafted from an export loads and ingests that
export as a hand-written one does — the demo export, hand-made matrix exports in every
layout, and the real 问卷星 exports of ../shared/fixtures (a market survey: no rating
question, no estate question)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from evaluation import pipeline
from evaluation.ingest import ingest_round
from evaluation.ingest.draft import draft_questionnaire, write_draft
from evaluation.ingest.readers import normalise_text
from evaluation.questionnaire import load_questionnaire
from evaluation.round import load_round
from tests.ingest.matrix_exports import (
    LAYOUTS,
    matrix_questionnaire,
    read_source,
    write_matrix_export,
)
from tests.ingest.test_ingest_round import make_round
from tests.ingest.test_matrix_layouts import assert_same_ingest
from wuye_common.errors import WuyeError


def _write(tmp_path: Path, text: str, name: str = "q.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _demo_export(ws: Path) -> Path:
    return next((ws / "demo" / "inputs" / "2025H2" / "fieldwork").glob("*.xlsx"))


def test_draft_of_the_demo_export_is_the_default_questionnaire(ws: Path, tmp_path: Path) -> None:
    text = draft_questionnaire([_demo_export(ws)])
    assert "# 待确认：" not in text  # a standard export: nothing left to decide
    drafted = load_questionnaire(_write(tmp_path, text))
    default = load_questionnaire()
    cols = ["number", "dimension", "is_overall", "required"]
    pd.testing.assert_frame_equal(drafted.items[cols], default.items[cols])
    # the export's text is NFKC-normalised (full-width brackets become ASCII ones)
    assert drafted.items["text"].tolist() == default.items["text"].map(normalise_text).tolist()
    option_cols = ["scale", "code", "label", "satisfied", "points", "missing"]
    pd.testing.assert_frame_equal(
        drafted.scale_options("five")[option_cols], default.scale_options("five")[option_cols]
    )
    keys = {k: (q.number, q.text) for k, q in drafted.identification.items()}
    assert keys == {
        "estate": (1, "您居住的小区名称"),
        "building": (2, "您居住的楼栋号"),
        "room": (3, "您的房号"),
        "phone": (17, "您的联系电话"),
    }
    assert list(drafted.free_text) == ["comment"]


def _round_and_sample(ws: Path):
    rnd = load_round(ws / "demo" / "inputs" / "2025H2")
    with pipeline.RunContext(rnd) as context:
        return rnd, context.sample().sample


def test_drafted_questionnaire_ingests_the_demo_export_as_the_default(
    ws: Path, tmp_path: Path
) -> None:
    source = _demo_export(ws)
    q = load_questionnaire(_write(tmp_path, draft_questionnaire([source])))
    rnd, sample = _round_and_sample(ws)
    got = ingest_round(rnd, [source], sample=sample, questionnaire=q)
    want = ingest_round(rnd, [source], sample=sample, questionnaire="default")
    assert len(got.respondents) > 100
    assert_same_ingest(got, want)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_drafted_matrix_questionnaire_ingests_as_the_hand_written(
    ws: Path, tmp_path: Path, layout: str
) -> None:
    export = write_matrix_export(read_source(_demo_export(ws)), layout, tmp_path)
    text = draft_questionnaire([export])
    drafted = load_questionnaire(_write(tmp_path, text))
    hand = load_questionnaire(_write(tmp_path, matrix_questionnaire(), "hand.toml"))
    cols = ["number", "row", "dimension", "scale", "is_overall"]
    pd.testing.assert_frame_equal(drafted.items[cols], hand.items[cols])
    if layout in ("dash", "tencent"):  # the stem is in the header
        assert drafted.matrices == hand.matrices
    rnd, sample = _round_and_sample(ws)
    got = ingest_round(rnd, [export], sample=sample, questionnaire=drafted)
    want = ingest_round(rnd, [export], sample=sample, questionnaire=hand)
    assert len(got.respondents) > 100
    assert_same_ingest(got, want)


def test_code_export_with_its_text_export_gives_the_option_order(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    wjx = shared_fixtures / "wjx"
    text = draft_questionnaire([wjx / "r_357_357_2.xls", wjx / "r_357_357_0.xls"])
    q = load_questionnaire(_write(tmp_path, text))
    assert q.scale_options("q3")["label"].tolist() == [
        "初中及以下",
        "高中/中专/职高",
        "大专或大学非本科",
        "本科",
        "硕士及以上",
        "其它",
    ]
    assert "选项顺序" not in text  # known from the pair


HAND_R357 = """
[questionnaire]
id = "r357"
title = "手写"
[scales.sex]
options = ["男", "女"]
[scales.age]
options = ["16岁以下", "16~19岁", "20~24岁", "25~29岁", "30~34岁", "35~39岁", "40~49岁",
           "50~59岁", "60岁以上"]
[scales.edu]
options = ["初中及以下", "高中/中专/职高", "大专或大学非本科", "本科", "硕士及以上", "其它"]
[[items]]
id = "A"
number = 1
text = "请问您的性别?"
dimension = "性别"
scale = "sex"
[[items]]
id = "B"
number = 2
text = "请问您的年龄?"
dimension = "年龄"
scale = "age"
[[items]]
id = "C"
number = 3
text = "请问您的最高学历是?"
dimension = "学历"
scale = "edu"
overall = true
"""


@pytest.mark.parametrize(
    "files",
    [
        ["r_357_357_0.xls"],
        ["r_357_357_2.xls"],
        ["r_357_357_2.xls", "r_357_357_0.xls"],
        ["wjx_0.xls"],
        ["wjx_2.xls"],
        ["wjx_2.xls", "wjx_0.xls"],
    ],
)
def test_real_wjx_exports_draft_load_and_ingest(
    shared_fixtures: Path, tmp_path: Path, files: list[str]
) -> None:
    paths = [shared_fixtures / "wjx" / f for f in files]
    text = draft_questionnaire(paths)
    assert "未找到小区名称题" in text and "满意选项无法判断" in text  # said, not guessed silently
    assert "多选题" in text or files[0].startswith("r_")
    q = load_questionnaire(_write(tmp_path, text))
    assert q.items["is_overall"].sum() == 1
    export = paths[0]
    got = ingest_round(make_round(tmp_path), {export: "锦绣花园"}, questionnaire=q)
    counts = got.counts
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    total = counts[counts["level"] == "total"].iloc[0]
    assert total["read"] == (204 if files[0].startswith("r_") else 800)
    assert total["accepted"] > 0 and not (got.quarantine["reason_code"] == "bad_answer").any()
    if files[0].startswith("r_"):
        hand = load_questionnaire(_write(tmp_path, HAND_R357, "hand.toml"))
        want = ingest_round(make_round(tmp_path), {export: "锦绣花园"}, questionnaire=hand)
        cols = ["level", "estate_id", "read", "accepted", "quarantined"]
        pd.testing.assert_frame_equal(got.counts[cols], want.counts[cols])


def test_write_draft_refuses_to_overwrite(ws: Path, tmp_path: Path) -> None:
    target = write_draft([_demo_export(ws)], tmp_path / "问卷.toml")
    assert tomllib.loads(target.read_text(encoding="utf-8"))["items"]
    with pytest.raises(WuyeError, match="不会覆盖"):
        write_draft([_demo_export(ws)], target)
