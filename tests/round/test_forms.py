"""``questionnaire export``: the 问卷星 文本导入 text round-trips (same questions, options and
matrix rows), the XLSForm passes pyxform's validation (ODK Validate, Java), and an export
of a form built from the XLSForm (Kobo's column names, option codes) ingests as the 问卷星
export of the same answers does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.questionnaire import load_questionnaire
from evaluation.questionnaire.forms import (
    export_questionnaire,
    parse_wjx_text,
    platform_questions,
    wjx_text,
    xlsform_tables,
)
from tests.ingest.matrix_exports import LABELS, STEM, matrix_questionnaire, read_source
from wuye_common.errors import WuyeError


def _questionnaires(tmp_path: Path):
    path = tmp_path / "matrix.toml"
    path.write_text(matrix_questionnaire(), encoding="utf-8")
    return {"default": load_questionnaire(), "matrix": load_questionnaire(path)}


@pytest.mark.parametrize("which", ["default", "matrix"])
def test_wjx_text_round_trips(tmp_path: Path, which: str) -> None:
    q = _questionnaires(tmp_path)[which]
    text = wjx_text(q)
    title, parsed = parse_wjx_text(text)
    assert title == q.title
    want = platform_questions(q)
    strip = [(p.number, p.title, p.kind, p.options, p.rows) for p in want]
    assert [(p.number, p.title, p.kind, p.options, p.rows) for p in parsed] == strip
    if which == "matrix":
        matrix = next(p for p in parsed if p.kind == "matrix")
        assert matrix.number == 4 and matrix.title == STEM and list(matrix.rows) == LABELS
        assert matrix.options == (
            "非常满意",
            "满意",
            "基本满意",
            "不满意",
            "非常不满意",
            "不清楚",
            "不适用",
        )
        assert "4. 请您对以下物业服务进行评价[矩阵单选题]\n非常满意 满意 基本满意" in text
    else:
        assert [p.number for p in parsed] == list(range(1, 20))


def test_matrix_options_with_spaces_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text(matrix_questionnaire().replace('"基本满意"', '"基本 满意"'), "utf-8")
    with pytest.raises(WuyeError, match="选项含空格"):
        wjx_text(load_questionnaire(path))


@pytest.mark.parametrize("which", ["default", "matrix"])
def test_xlsform_passes_pyxform(tmp_path: Path, which: str) -> None:
    from pyxform.xls2xform import convert

    q = _questionnaires(tmp_path)[which]
    path = export_questionnaire(q, "xlsform", tmp_path / "form.xlsx")
    sheets = pd.read_excel(path, sheet_name=None, dtype=str, engine="calamine")
    assert list(sheets) == ["survey", "choices", "settings"]
    names = sheets["survey"]["name"].tolist()
    assert set(q.items["item_id"]) <= set(names) and "estate" in names
    # ODK Validate (Java, shipped with pyxform) when Java is there; the conversion otherwise
    java = shutil.which("java") is not None
    result = convert(xlsform=str(path), validate=java, pretty_print=False)
    assert f"<h:title>{q.title}</h:title>" in result.xform
    for item_id in q.items["item_id"]:
        assert f"/{item_id}" in result.xform
    if which == "matrix":
        survey = sheets["survey"]
        group = survey[survey["type"] == "begin_group"]
        assert group["label"].tolist() == [STEM] and group["appearance"].tolist() == ["field-list"]


def test_unknown_format_and_wrong_suffix(tmp_path: Path) -> None:
    q = load_questionnaire()
    with pytest.raises(WuyeError, match="未知的导出格式"):
        export_questionnaire(q, "pdf", tmp_path / "x.txt")
    with pytest.raises(WuyeError, match=r"\.xlsx"):
        export_questionnaire(q, "xlsform", tmp_path / "x.txt")
    out = export_questionnaire(q, "wjx", tmp_path / "问卷星.txt")
    assert parse_wjx_text(out.read_text(encoding="utf-8"))[0] == q.title


def _kobo_export(source: pd.DataFrame, q) -> pd.DataFrame:
    """The demo's 问卷星 export as a Kobo export of the XLSForm: question names as headers
    (items inside a group path), option codes, start/end times, Kobo metadata."""
    names = xlsform_tables(q)["survey"]
    items = names[names["type"].str.startswith("select_one")]["name"].tolist()
    five = q.scale_options("five")
    code = dict(zip(five["label"], five["code"].astype(str), strict=True))
    submitted = pd.to_datetime(source["提交答卷时间"])
    seconds = pd.to_numeric(source["所用时间"].str.replace("秒", ""), errors="coerce")
    out = {
        "start": (submitted - pd.to_timedelta(seconds, unit="s")).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "end": submitted.dt.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    questions = [c for c in source.columns if c[:1].isdigit()]
    ident = ["estate", "building", "room"]
    for k, header in enumerate(questions):
        values = source[header]
        if k < 3:
            out[ident[k]] = values
        elif k < 3 + len(items):
            out[f"ratings/{items[k - 3]}"] = values.map(
                lambda v: np.nan if pd.isna(v) or v == "(跳过)" else code[v]
            )
        else:  # phone, comment, then the surveyor question
            out[("phone", "comment", "surveyor")[min(k - 3 - len(items), 2)]] = values
    frame = pd.DataFrame(out)
    frame["_id"] = source["序号"]
    frame["_uuid"] = [f"uuid-{i}" for i in range(len(frame))]
    frame["_submission_time"] = out["end"]
    blank = source.isna().all(axis=1).to_numpy()  # a blank row stays blank (not a row)
    frame.loc[blank, :] = np.nan
    return frame


def test_export_of_the_xlsform_ingests_as_the_wjx_export(ws: Path, tmp_path: Path) -> None:
    from evaluation import pipeline
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round
    from tests.ingest.test_matrix_layouts import assert_same_ingest

    root = ws / "demo" / "inputs" / "2025H2"
    source_path = next((root / "fieldwork").glob("*.xlsx"))
    q = load_questionnaire()
    kobo = _kobo_export(read_source(source_path), q)
    kobo_path = tmp_path / "kobo.csv"
    kobo.to_csv(kobo_path, index=False, encoding="utf-8-sig")
    rnd = load_round(root)
    with pipeline.RunContext(rnd) as context:
        sample = context.sample().sample
    got = ingest_round(rnd, [kobo_path], sample=sample)
    want = ingest_round(rnd, [source_path], sample=sample)
    assert got.exports[0].platform == "kobo" and got.exports[0].kind == "code"
    assert len(got.respondents) > 100
    assert_same_ingest(got, want)


@pytest.mark.parametrize(
    "files",
    [["r_357_357_2.xls", "r_357_357_0.xls"], ["wjx_0.xls"], ["wjx_2.xls", "wjx_0.xls"]],
)
def test_drafts_of_real_wjx_exports_export_to_both_platforms(
    shared_fixtures: Path, tmp_path: Path, files: list[str]
) -> None:
    from pyxform.xls2xform import convert

    from evaluation.ingest.draft import write_draft

    draft = write_draft([shared_fixtures / "wjx" / f for f in files], tmp_path / "q.toml")
    q = load_questionnaire(draft)
    title, parsed = parse_wjx_text(wjx_text(q))
    want = [(p.number, p.title, p.kind, p.options, p.rows) for p in platform_questions(q)]
    assert title == q.title
    assert [(p.number, p.title, p.kind, p.options, p.rows) for p in parsed] == want
    form = export_questionnaire(q, "xlsform", tmp_path / "form.xlsx")
    result = convert(xlsform=str(form), validate=shutil.which("java") is not None)
    assert all(f"/{item_id}" in result.xform for item_id in q.items["item_id"])


def test_draft_of_a_kobo_export_loads(ws: Path, tmp_path: Path) -> None:
    from evaluation.ingest.draft import draft_questionnaire

    root = ws / "demo" / "inputs" / "2025H2"
    kobo = _kobo_export(
        read_source(next((root / "fieldwork").glob("*.xlsx"))), load_questionnaire()
    )
    path = tmp_path / "kobo.csv"
    kobo.to_csv(path, index=False, encoding="utf-8-sig")
    text = draft_questionnaire([path])
    (tmp_path / "q.toml").write_text(text, encoding="utf-8")
    q = load_questionnaire(tmp_path / "q.toml")
    assert {"estate", "building", "room", "phone"} <= set(q.identification)
    assert len(q.items) == 13 and "按列名匹配" in text
