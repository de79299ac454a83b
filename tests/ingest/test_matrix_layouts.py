"""Matrix questions end to end: the rows of one 问卷星 矩阵单选题 declared as items of one
question number (``row`` labels) are found in every layout platforms write, and the round
ingests exactly as the same answers asked one question at a time."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from evaluation import pipeline
from evaluation.ingest import ingest_round
from evaluation.ingest.readers import read_survey_export
from evaluation.round import load_round
from tests.ingest.matrix_exports import (
    LABELS,
    LAYOUTS,
    STEM,
    matrix_questionnaire,
    read_source,
    write_matrix_export,
)


def matrix_round(ws: Path, layout: str, questionnaire: str) -> tuple[Path, Path]:
    """The small round of ``ws`` with its export rewritten in ``layout`` and
    ``questionnaire`` (TOML text) as its questionnaire; returns (round folder, export)."""
    root = ws / "demo" / "inputs" / "2025H2"
    source = next((root / "fieldwork").glob("*.xlsx"))
    frame = read_source(source)
    target = root / "matrix"
    target.mkdir()
    export = write_matrix_export(frame, layout, target)
    (root / "问卷.toml").write_text(questionnaire, encoding="utf-8")
    config = tomllib.loads((root / "round.toml").read_text(encoding="utf-8"))
    config["questionnaire"] = {"path": "问卷.toml"}
    config["inputs"]["responses"] = [f"matrix/{export.name}"]
    (root / "round.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    return root, source


def ingest_like_default(root: Path, source: Path):
    """(matrix ingest, default-questionnaire ingest of the source export), same sample."""
    rnd = load_round(root)
    with pipeline.RunContext(rnd) as context:
        sample = context.sample().sample
    got = ingest_round(rnd, sample=sample)
    want = ingest_round(rnd, [source], sample=sample, questionnaire="default")
    return got, want


def assert_same_ingest(got, want) -> None:
    counts = ["level", "estate_id", "read", "accepted", "quarantined"]
    g = got.counts[got.counts["level"] != "file"][counts].reset_index(drop=True)
    w = want.counts[want.counts["level"] != "file"][counts].reset_index(drop=True)
    pd.testing.assert_frame_equal(g, w)
    assert (got.counts["read"] == got.counts["accepted"] + got.counts["quarantined"]).all()
    assert got.quarantine["reason_code"].tolist() == want.quarantine["reason_code"].tolist()
    assert got.quarantine["source_row"].tolist() == want.quarantine["source_row"].tolist()
    cols = ["estate_id", "item_id", "code", "satisfied", "points"]
    pd.testing.assert_frame_equal(
        got.answers[cols].astype(str).reset_index(drop=True),
        want.answers[cols].astype(str).reset_index(drop=True),
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_matrix_layout_ingests_as_separate_questions(ws: Path, layout: str) -> None:
    root, source = matrix_round(ws, layout, matrix_questionnaire())
    got, want = ingest_like_default(root, source)
    assert len(got.respondents) > 100
    assert_same_ingest(got, want)


def test_reader_names_matrix_rows_of_the_dash_layout(ws: Path, tmp_path: Path) -> None:
    root = ws / "demo" / "inputs" / "2025H2"
    frame = read_source(next((root / "fieldwork").glob("*.xlsx")))
    _, info = read_survey_export(write_matrix_export(frame, "dash", tmp_path))
    rows = info.questions[info.questions["number"] == 4]
    assert rows["qtype"].tolist() == ["matrix"] * 12
    assert rows["row"].tolist() == LABELS
    assert rows["stem"].tolist() == [STEM] * 12
    assert info.questions["number"].dropna().astype(int).tolist() == [1, 2, 3, *[4] * 12, 5, 6, 7]


def test_rows_without_labels_still_clash(tmp_path: Path) -> None:
    from evaluation.questionnaire import load_questionnaire
    from wuye_common.errors import WuyeError

    text = matrix_questionnaire().replace(f'row = "{LABELS[1]}"\n', "", 1)
    path = tmp_path / "q.toml"
    path.write_text(text.replace(f'row = "{LABELS[2]}"', f'row = "{LABELS[3]}"', 1), "utf-8")
    with pytest.raises(WuyeError) as err:
        load_questionnaire(path)
    message = str(err.value)
    assert "题号重复：4" in message and f"行标签重复：{LABELS[3]}" in message


def test_row_labels_in_headers() -> None:
    from evaluation.ingest.readers import matrix_parts, row_matches

    assert matrix_parts("请评价—秩序维护") == ("请评价", "秩序维护")
    assert matrix_parts("请评价——秩序维护") == ("请评价", "秩序维护")
    assert matrix_parts("请评价(秩序维护)") == ("请评价", "秩序维护")
    assert matrix_parts("门岗值守管理") == (None, None)
    assert row_matches("秩序维护", "秩序维护")
    assert row_matches("请评价-秩序维护", "秩序维护")
    assert row_matches("请评价:秩序维护", "秩序维护")
    assert row_matches("请评价(秩序维护)", "秩序维护")
    assert not row_matches("社区秩序维护", "秩序维护")  # a longer label is another row
    assert not row_matches(None, "秩序维护")


def test_questionnaire_matrix_rows(tmp_path: Path) -> None:
    from evaluation.questionnaire import load_questionnaire

    path = tmp_path / "q.toml"
    path.write_text(matrix_questionnaire(), encoding="utf-8")
    q = load_questionnaire(path)
    rows = q.items[q.items["number"] == 4]
    assert rows["row"].tolist() == LABELS and rows["text"].tolist() == LABELS
    assert q.matrices == {4: STEM}
    assert q.items.set_index("item_id").loc["S13", "row"] == ""
