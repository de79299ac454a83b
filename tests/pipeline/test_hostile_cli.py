"""Hostile input through the CLI: broken export files, escaping ids, missing files and
wrong suffixes, odd export shapes, demo arguments.

Every case ends in a located error (exit 2, the file, row or key named, no traceback) or a
quarantine reason; no row is lost; nothing is written outside the round's folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from evaluation.cli import main
from tests.hostile import (
    ESCAPE_IDS,
    PERIOD,
    assert_located,
    broken_files,
    changed_outside,
    demo_export,
    file_tree,
    formula_count,
    round_folder,
    run_cli,
    set_toml,
)


@pytest.mark.parametrize("kind", ["half", "random", "ole2", "empty", "html", "zip_no_xml"])
def test_broken_export_is_a_located_error(ws, tmp_path, capsys, kind):
    root = round_folder(ws)
    good = next((root / "fieldwork").glob("*.xlsx"))
    bad = broken_files(good, tmp_path)[kind]
    before = file_tree(tmp_path)
    code, err = run_cli(["ingest", root, bad], capsys)
    assert code == 2
    assert_located(err, bad.name)
    assert not changed_outside(before, file_tree(tmp_path))


def test_broken_csv_bytes_are_a_located_error(ws, capsys):
    root = round_folder(ws)
    (root / "bad.csv").write_bytes(b"\xff\xfe\x00\x00" + bytes(range(256)) * 20)
    code, err = run_cli(["ingest", root, root / "bad.csv"], capsys)
    assert code == 2
    assert_located(err, "bad.csv")


def test_escaping_ids_and_formula_names_stay_inside_the_round(ws, tmp_path, capsys):
    """Estate ids built to escape the output folder and firm/community names that look like
    formulas: the whole round runs, every file lands in the round's folders, workbooks hold
    no formulas, and the odd ids are kept as data."""
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    frame = pd.read_csv(root / "住户清册.csv", dtype=str, encoding="utf-8-sig")
    mapping = dict(zip(register["小区编号"], ESCAPE_IDS, strict=True))
    register["小区编号"] = register["小区编号"].map(mapping)
    frame["小区编号"] = frame["小区编号"].map(mapping)
    register["物业企业"] = ['=HYPERLINK("http://x","点")', "+1+1", "-1", "@SUM(1)", "\u202e企业😀"]
    register["所属社区"] = ["=1", "+2", "-3", "@x", "社区\u0301"]
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    frame.to_csv(root / "住户清册.csv", index=False, encoding="utf-8-sig")
    shutil.rmtree(ws / "out")
    (ws / "wuye.sqlite").unlink(missing_ok=True)
    set_toml(root, ("round", "district"), "../../区/x\\y")  # names the workbook
    before = file_tree(tmp_path)
    for command in ("sample", "run"):
        code, err = run_cli([command, root], capsys)
        assert code == 0, err
    assert not changed_outside(before, file_tree(tmp_path))
    assert not Path("/tmp/wuye_escape_abs.pdf").exists()
    books = list((ws / "out").rglob("*.xlsx"))
    assert len(books) >= 3
    for book in books:
        assert formula_count(book) == 0, book
    estates = pd.read_csv(ws / "out" / "data" / "estates.csv", dtype=str)
    assert set(ESCAPE_IDS) <= set(estates["estate_id"])
    assert len(list((ws / "out" / "cards").glob("*.pdf"))) == len(ESCAPE_IDS)


@pytest.mark.parametrize("bad", ["a\x00b", "x\ny", "\x1b[2J"])
def test_control_characters_in_estate_ids_are_located(ws, capsys, bad):
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.loc[2, "小区编号"] = bad
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = run_cli(["sample", root], capsys)
    assert code == 2
    assert_located(err, "台账.csv", "第 4 行", "小区编号")


def test_missing_files_and_wrong_suffix(ws, tmp_path, capsys):
    root = round_folder(ws)
    code, err = run_cli(["ingest", root, tmp_path / "nope.xlsx"], capsys)
    assert code == 2
    assert_located(err, "nope.xlsx")
    (tmp_path / "export.pdf").write_bytes(b"%PDF-1.4")
    code, err = run_cli(["ingest", root, tmp_path / "export.pdf"], capsys)
    assert code == 2
    assert_located(err, "export.pdf")
    code, err = run_cli(["score", tmp_path / "no_round"], capsys)
    assert code == 2
    assert_located(err, "round.toml")


def test_template_output_to_a_folder_or_a_wrong_suffix(ws, tmp_path, capsys):
    root = round_folder(ws)
    folder = tmp_path / "模板"
    folder.mkdir()
    before = file_tree(tmp_path)
    code, err = run_cli(["template", root, "-o", folder], capsys)
    assert code == 0, err
    new = set(file_tree(tmp_path)) - set(before)
    assert new == {"模板/纸质问卷录入模板.xlsx"}  # inside the folder, no temporary left
    code, err = run_cli(["template", root, "-o", tmp_path / "x.txt"], capsys)
    assert code == 2
    assert_located(err, "x.txt")


def test_odd_export_shapes_through_the_cli(ws, tmp_path, capsys):
    """Header only, BOM only, blank lines, broken quoting, an OLE2 .xls: located errors;
    duplicate headers, GBK, 1,000 extra columns and 8 copies of every row: accounted for.
    A header-only export does not wipe the round's earlier ingest."""
    from evaluation.store import Store

    root = round_folder(ws)
    export = demo_export(ws)
    code, err = run_cli(["ingest", root], capsys)
    assert code == 0, err
    with Store(ws / "wuye.sqlite") as store:
        accepted = len(store.read("respondents", round_id=PERIOD))
    export.iloc[:0].to_excel(tmp_path / "header_only.xlsx", index=False)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf")
    (tmp_path / "blank.csv").write_text("\n\n\n", encoding="utf-8")
    (tmp_path / "quotes.csv").write_text(
        ",".join(export.columns) + '\n"open,1,2\n', encoding="utf-8"
    )
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"x" * 3000)
    for name in ("header_only.xlsx", "bom.csv", "blank.csv", "quotes.csv", "old.xls"):
        code, err = run_cli(["ingest", root, tmp_path / name], capsys)
        assert code == 2, name
        assert_located(err, name)
    with Store(ws / "wuye.sqlite") as store:
        assert len(store.read("respondents", round_id=PERIOD)) == accepted

    dup = export.copy()
    dup.columns = [dup.columns[9] if i == 10 else c for i, c in enumerate(dup.columns)]
    dup.to_csv(tmp_path / "dup.csv", index=False)
    export.head(50).to_csv(tmp_path / "gbk.csv", index=False, encoding="gb18030")
    wide = pd.concat(
        [
            export.head(5),
            pd.DataFrame("x", index=range(5), columns=[f"extra{i}" for i in range(1000)]),
        ],
        axis=1,
    )
    wide.to_csv(tmp_path / "wide.csv", index=False)
    pd.concat([export] * 8).to_csv(tmp_path / "tall.csv", index=False)
    rows = {"dup.csv": len(export), "gbk.csv": 50, "wide.csv": 5, "tall.csv": 8 * len(export)}
    code, err = run_cli(["ingest", root, *(tmp_path / name for name in rows)], capsys)
    assert code == 0, err
    with Store(ws / "wuye.sqlite") as store:
        counts = store.read("ingest_counts", round_id=PERIOD)
    files = counts[counts["level"] == "file"].set_index("source_file")
    read = files["read"] + files["blank_rows"]  # blank rows are skipped, and counted
    assert {Path(f).name: int(n) for f, n in read.items()} == rows
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (("rules", "escalation_cont"), 3),
        (("rules", "weights", "index"), -1),
        (("report", "notebooks"), "no"),
        (("report", "fnt"), "x"),
        (("questionnaire", "path"), "nope.toml"),
    ],
)
def test_bad_rules_report_or_questionnaire_stop_run_before_ingest(ws, tmp_path, capsys, key, value):
    """``run`` with a bad [rules], [report] or questionnaire fails when the round is
    loaded: nothing is ingested, stored or written."""
    from evaluation.store import Store

    root = round_folder(ws)
    set_toml(root, key, value)
    with Store(ws / "wuye.sqlite") as store:
        before = store.snapshot()
    files = file_tree(tmp_path)
    code, err = run_cli(["run", root], capsys)
    assert code == 2
    assert_located(err, "nope.toml" if key[0] == "questionnaire" else "round.toml")
    assert ".".join(key[:-1]) in err or key[0] == "questionnaire"
    assert file_tree(tmp_path) == files
    with Store(ws / "wuye.sqlite") as store:
        assert store.snapshot() == before
        assert "ingest" not in set(store.steps(PERIOD)["step"])


@pytest.mark.parametrize(
    "args",
    [
        ["--seed", "-1"],
        ["--estates", "-3"],
        ["--estates", "abc"],
        ["--estates", "10000000"],
        ["--seed", "1e9"],
    ],
)
def test_demo_arguments_out_of_range_are_usage_errors(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--workspace", str(tmp_path / "ws"), *args])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and args[0] in err
    assert not (tmp_path / "ws").exists()


def test_unexpected_building_labels_through_the_cli(ws, tmp_path, capsys):
    """``十十栋`` raised KeyError in chinese_number and the CLI printed a traceback."""
    from evaluation.demo import write_export

    root = round_folder(ws)
    export = demo_export(ws)
    building = next(c for c in export.columns if "楼栋" in c)
    export.loc[0:5, building] = ["十十栋", "零十栋", "十十十", "一百栋", "十二栋", "两栋"]
    for old in (root / "fieldwork").glob("*.xlsx"):
        old.unlink()
    write_export(export, root / "fieldwork" / "问卷星导出.xlsx")
    code, err = run_cli(["ingest", root], capsys)
    assert code == 0, err
