"""A first real round through the command line, as the README walks it: ``init``, fill the
台账, ``questionnaire draft`` from the agency's export, skip ``sample`` (the agency drew its
own), ``run``; a run whose report items partly failed exits non-zero and names them."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from evaluation.cli import main
from evaluation.round import load_round


def test_init_writes_a_round_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "2026H1"
    assert main(["init", str(folder), "--district", "葛店经开区", "--period", "2026H1"]) == 0
    assert {p.name for p in folder.iterdir()} == {
        "round.toml",
        "台账.xlsx",
        "问卷.toml",
        "fieldwork",
    }
    rnd = load_round(folder)
    assert (rnd.district, rnd.period) == ("葛店经开区", "2026H1")
    assert rnd.register["estate_id"].tolist() == ["示例001"]  # the example row
    assert len(rnd.questionnaire.items) == 13  # a copy of the default questionnaire
    text = (folder / "round.toml").read_text(encoding="utf-8")
    for section in ("round", "thresholds", "sampling", "ingest", "inputs", "output"):
        assert f"[{section}]" in text
    for section in ("questionnaire", "rules", "report"):
        assert f"[{section}]" in text
    with zipfile.ZipFile(folder / "台账.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert '<dataValidation type="list"' in sheet and "一级,二级,三级,四级,还建社区" in sheet
    capsys.readouterr()
    assert main(["init", str(folder)]) == 2
    assert "不会覆盖" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "q"), "--period", "2026Q3"]) == 0
    assert load_round(tmp_path / "q").register["tier"].tolist() == ["还建社区"]
    assert main(["init", str(tmp_path / "bad"), "--period", "2026H3"]) == 2
    assert "评估期" in capsys.readouterr().err


@pytest.fixture
def agency_round(ws: Path, tmp_path: Path) -> Path:
    """A round started with ``init`` and filled as an agency would: its 台账 (the small demo
    round's), its own 问卷星 export, the questionnaire drafted from it; no sampling."""
    demo = ws / "demo" / "inputs" / "2025H2"
    folder = tmp_path / "workspace" / "2025H2"
    assert main(["init", str(folder), "--district", "葛店经开区", "--period", "2025H2"]) == 0
    register = pd.read_csv(demo / "台账.csv", dtype=str)
    register.to_excel(folder / "台账.xlsx", index=False, engine="xlsxwriter")
    export = next((demo / "fieldwork").glob("*.xlsx"))
    shutil.copy(export, folder / "fieldwork" / export.name)
    (folder / "问卷.toml").unlink()
    draft = ["questionnaire", "draft", str(folder / "fieldwork" / export.name)]
    assert main([*draft, "-o", str(folder / "问卷.toml")]) == 0
    toml = folder / "round.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("notebooks = true", "notebooks = false"),
        encoding="utf-8",
    )
    return folder


def test_first_real_round_runs_without_sampling(
    agency_round: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["run", str(agency_round), "--no-cards"]) == 0
    out = capsys.readouterr().out
    assert "报告已生成" in out
    manifest = json.loads(
        (agency_round.parent / "reports" / "2025H2" / "manifest.json").read_text("utf-8")
    )
    assert manifest["failures"] == []
    assert any(f["path"].endswith("_结果.xlsx") for f in manifest["files"])


def test_failed_report_items_exit_non_zero_and_are_named(
    agency_round: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    import evaluation.report.notebooks as notebooks

    toml = agency_round / "round.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("notebooks = false", "notebooks = true"),
        encoding="utf-8",
    )
    empty = tmp_path / "no-notebooks"
    empty.mkdir()
    monkeypatch.setattr(notebooks, "notebook_dir", lambda: empty)
    assert main(["run", str(agency_round), "--no-cards"]) == 1
    captured = capsys.readouterr()
    assert "报告已生成" not in captured.out and "报告部分生成" in captured.out
    assert "项报告未能生成" in captured.err and "district_report.ipynb" in captured.err
    manifest = json.loads(
        (agency_round.parent / "reports" / "2025H2" / "manifest.json").read_text("utf-8")
    )
    assert "district_report.ipynb" in [f["target"] for f in manifest["failures"]]


def test_questionnaire_export_through_the_cli(tmp_path: Path) -> None:
    wjx, form = tmp_path / "问卷星.txt", tmp_path / "form.xlsx"
    assert main(["questionnaire", "export", "default", "--format", "wjx", "-o", str(wjx)]) == 0
    assert wjx.read_text(encoding="utf-8").startswith("住宅小区物业服务满意度调查问卷\n\n1. ")
    assert main(["questionnaire", "export", "default", "--format", "xlsform", "-o", str(form)]) == 0
    assert (
        pd.read_excel(form, sheet_name="choices", engine="calamine")["list_name"].iloc[0] == "five"
    )
