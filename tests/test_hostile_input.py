"""Hostile and broken input: every case ends in a located error (exit 2, the file, row or
key named, no traceback) or a quarantine reason; no row is lost (read = accepted +
quarantined); nothing is written outside the round's folders.

A small demo round (5 estates, sampled, with its simulated 问卷星 export) is built once and
copied per test; inputs are then broken on purpose. CLI cases call
``evaluation.cli.main([...])`` and read stderr; data cases call the Python API.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.cli import main
from sampling.errors import WuyeError

PERIOD = "2025H2"
SEED = 5
HSET = settings(max_examples=12, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

ODD_TEXT = [
    "\x00", "a\x00b", "\u202e右到左\u200f", "😀🏠", "e\u0301\u0301\u0301", "ＧＤ００１",
    "\ufeff", "\u200b", "\r\n", "\t", "\x1b[31m", "\udcff"[:0] + "𠀀𪚥", " ", "",
    "=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "=HYPERLINK(\"http://x\",\"y\")",
    "../../x", "/etc/passwd", "a\\b", "NaN", "None", "null", "TRUE", "1e309", "-0",
    "9" * 40, "1,000", "３０秒",
]
WRONG_VALUES = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sampled 5-estate round; register and frame as CSV so tests can rewrite them."""
    from evaluation import pipeline
    from evaluation.demo import build_district, write_demo_round, write_fieldwork
    from evaluation.ingest.pseudonym import load_or_create_key
    from evaluation.round import load_round

    ws = tmp_path_factory.mktemp("hostile_template") / "ws"
    district = build_district(SEED, estates=5)
    root = write_demo_round(ws / "demo", PERIOD, seed=SEED, estates=5, output_dir=ws / "out",
                            database=ws / "wuye.sqlite", secrets=ws / ".secrets",
                            district=district)
    register = pd.read_excel(root / "台账.xlsx", dtype=str, engine="calamine")
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    (root / "台账.xlsx").unlink()
    config = tomllib.loads((root / "round.toml").read_text(encoding="utf-8"))
    config["inputs"]["register"] = "台账.csv"
    config["report"] = {"notebooks": False}
    (root / "round.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    rnd = load_round(root)
    drawn = pipeline.sample_step(rnd)
    write_fieldwork(root, district, drawn.sample, period=PERIOD, seed=SEED)
    load_or_create_key(rnd.secret_path)
    return ws


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(template, target)
    return target


def _root(ws: Path) -> Path:
    return ws / "demo" / "inputs" / PERIOD


def _tree(base: Path) -> dict[str, int]:
    return {p.relative_to(base).as_posix(): p.stat().st_mtime_ns
            for p in base.rglob("*") if p.is_file()}


ALLOWED = ("ws/out/", "ws/wuye.sqlite", "ws/.secrets/")


def _cli(args: list[str], capsys) -> tuple[int, str]:
    """Run the CLI, return (exit code, stderr); the tree around ``ws`` is checked after."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _changed_outside(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(p for p in set(after) - set(before) | {p for p in before if p in after
                                                          and before[p] != after[p]}
                  if not p.startswith(ALLOWED))


def _assert_located(err: str, *needles: str) -> None:
    assert err.startswith("错误：共发现"), err[:500]
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err[:800]!r}"


# --------------------------------------------------------------------------- broken files
def _broken_files(good: Path, folder: Path) -> dict[str, Path]:
    data = good.read_bytes()
    rng = np.random.default_rng(1)
    files = {
        "half": data[: len(data) // 2],
        "random": rng.bytes(5000),
        "ole2": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + rng.bytes(4096),
        "empty": b"",
        "html": b"<html><body><table><tr><td>1</td></tr></table></body></html>",
        "zip_no_xml": _zip_bytes(folder),
    }
    out = {}
    for name, content in files.items():
        path = folder / f"坏文件_{name}.xlsx"
        path.write_bytes(content)
        out[name] = path
    return out


def _zip_bytes(folder: Path) -> bytes:
    path = folder / "z.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    data = path.read_bytes()
    path.unlink()
    return data


@pytest.mark.parametrize("kind", ["half", "random", "ole2", "empty", "html", "zip_no_xml"])
def test_broken_export_is_a_located_error(ws, tmp_path, capsys, kind):
    root = _root(ws)
    good = next((root / "fieldwork").glob("*.xlsx"))
    bad = _broken_files(good, tmp_path)[kind]
    before = _tree(tmp_path)
    code, err = _cli(["ingest", root, bad], capsys)
    assert code == 2
    _assert_located(err, bad.name)
    assert not _changed_outside(before, _tree(tmp_path))


@pytest.mark.parametrize("kind", ["half", "random", "ole2", "empty"])
def test_broken_register_is_a_located_error(ws, tmp_path, capsys, kind):
    root = _root(ws)
    good = next((root / "fieldwork").glob("*.xlsx"))
    bad = _broken_files(good, tmp_path)[kind]
    shutil.copy(bad, root / "台账.xlsx")
    _set_toml(root, ("inputs", "register"), "台账.xlsx")
    code, err = _cli(["score", root], capsys)
    assert code == 2
    _assert_located(err, "台账.xlsx")


@pytest.mark.parametrize("kind", ["half", "random", "ole2", "empty"])
def test_broken_frame_is_a_located_error(ws, tmp_path, capsys, kind):
    root = _root(ws)
    good = next((root / "fieldwork").glob("*.xlsx"))
    bad = _broken_files(good, tmp_path)[kind]
    shutil.copy(bad, root / "住户清册.xlsx")
    _set_toml(root, ("inputs", "frame"), "住户清册.xlsx")
    before = _tree(tmp_path)
    code, err = _cli(["sample", root], capsys)
    assert code == 2
    _assert_located(err, "住户清册.xlsx")
    assert not _changed_outside(before, _tree(tmp_path))


def test_broken_csv_bytes_are_a_located_error(ws, capsys):
    root = _root(ws)
    (root / "bad.csv").write_bytes(b"\xff\xfe\x00\x00" + bytes(range(256)) * 20)
    code, err = _cli(["ingest", root, root / "bad.csv"], capsys)
    assert code == 2
    _assert_located(err, "bad.csv")


# --------------------------------------------------------------------------- round.toml
def _set_toml(root: Path, key: tuple[str, ...], value) -> None:
    path = root / "round.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    node = config
    for part in key[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[key[-1]] = value
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


TOML_CASES = [
    (("thresholds",), "x"), (("inputs",), "x"), (("inputs", "responses"), 5),
    (("inputs", "register"), 5), (("inputs", "frame"), ["a"]), (("output", "dir"), 5),
    (("output", "database"), {"a": 1}), (("output", "secrets"), True),
    (("questionnaire",), "x"), (("questionnaire", "path"), 5), (("report",), 5),
    (("rules",), "x"), (("report", "notebook_estates"), "GD001"), (("round",), 5),
    (("round", "id"), "../../x"), (("round", "id"), "/abs/x"), (("round", "id"), "a/b"),
    (("round", "id"), "a\\b"), (("round", "id"), "a\x00b"), (("round", "id"), ".."),
    (("round", "seed"), "x"), (("round", "seed"), 1.5), (("round", "confidence"), "0.95"),
    (("round", "confidence"), 95), (("round", "period"), 2025), (("round", "district"), 3),
    (("round", "interval_method"), "nonsense"), (("thresholds", "一级"), "90%"),
    (("thresholds", "五级"), 0.5), (("thresholds", "一级"), True),
    (("sampling", "margin"), "x"), (("sampling", "minimum"), -5),
    (("sampling", "maximum"), "x"), (("sampling", "deff"), 0), (("sampling", "method"), 1),
    (("sampling", "reserve_ratio"), -1), (("sampling", "planning_p"), 2),
    (("sampling", "unknown_key"), 1), (("ingest", "min_duration_s"), "x"),
    (("ingest", "match_cutoff"), 500), (("ingest", "estate_question"), [1]),
]


@pytest.mark.parametrize(("key", "value"), TOML_CASES, ids=[repr(c) for c in TOML_CASES])
def test_toml_wrong_types_are_located_errors(ws, tmp_path, capsys, key, value):
    root = _root(ws)
    _set_toml(root, key, value)
    before = _tree(tmp_path)
    code, err = _cli(["score", root], capsys)
    assert code == 2, err
    _assert_located(err, "round.toml")
    assert key[0] in err
    assert not _changed_outside(before, _tree(tmp_path))


def test_toml_syntax_error_and_binary_toml(ws, capsys):
    root = _root(ws)
    (root / "round.toml").write_text('[round\nperiod = "2025H2', encoding="utf-8")
    code, err = _cli(["score", root], capsys)
    assert code == 2
    _assert_located(err, "round.toml")
    (root / "round.toml").write_bytes(b"\xff\xfe\x00garbage")
    code, err = _cli(["score", root], capsys)
    assert code == 2
    _assert_located(err, "round.toml")


@HSET
@given(section=st.sampled_from(["round", "sampling", "ingest", "thresholds", "inputs",
                                "output", "questionnaire", "report", "rules"]),
       name=st.sampled_from(["id", "period", "seed", "margin", "minimum", "method",
                             "min_duration_s", "一级", "register", "responses", "dir",
                             "path", "notebook_estates", "notebooks"]),
       value=st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=False), st.booleans(),
                       st.text(max_size=8), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_any_toml_value_loads_or_is_located(template, tmp_path_factory, section, name, value):
    """Whatever value a key gets, load_round either accepts it or names round.toml."""
    from evaluation.round import load_round

    ws = tmp_path_factory.mktemp("toml") / "ws"
    shutil.copytree(template / "demo", ws / "demo")
    root = _root(ws)
    _set_toml(root, (section, name), value)
    try:
        load_round(root)
    except WuyeError as exc:
        assert exc.problems
        assert all(p.file for p in exc.problems), exc
    finally:
        shutil.rmtree(ws.parent, ignore_errors=True)


# --------------------------------------------------------------------------- register
REGISTER_HEADERS = ["小区编号", "小区名称", "所属社区", "物业企业", "服务等级", "户数",
                    "投诉件数", "信用积分", "红色物业", "专业物业", "业委会", "业委会党员比例"]


@HSET
@given(column=st.sampled_from(REGISTER_HEADERS), row=st.integers(0, 4), value=WRONG_VALUES)
def test_register_wrong_values_are_accepted_or_located(template, column, row, value):
    """Any value in any register column: loads, or every problem names file, row, column."""
    from evaluation.round import load_register

    source = _root(template) / "台账.csv"
    register = pd.read_csv(source, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    if column not in register.columns:
        register[column] = ""
    register.loc[row, column] = value
    path = source.with_name(f"台账_{os.getpid()}.csv")
    register.to_csv(path, index=False, encoding="utf-8-sig")
    try:
        frame = load_register(path, {"一级": .9, "二级": .8, "三级": .7, "四级": .6,
                                     "还建社区": .5})
        assert len(frame) == len(register)  # no row lost
    except WuyeError as exc:
        for problem in exc.problems:
            assert problem.file == path.name
            assert problem.row == row + 2 or problem.row is None
            assert problem.column
            assert "\x00" not in str(problem)
    finally:
        path.unlink()


def test_register_enormous_cell_is_a_short_located_error_or_accepted(ws, capsys):
    root = _root(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.loc[1, "户数"] = "9" * 1_000_000
    register.loc[2, "小区编号"] = "G\x00" * 500_000
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = _cli(["score", root], capsys)
    assert code == 2
    _assert_located(err, "台账.csv", "第 3 行", "第 4 行")
    assert len(err) < 5000  # the 1 MB values are not echoed back


# --------------------------------------------------------------------------- frame
FRAME_HEADERS = ["小区编号", "楼栋", "单元", "楼层", "房号", "是否入住"]


@HSET
@given(column=st.sampled_from(FRAME_HEADERS), rows=st.lists(st.integers(0, 3000), min_size=1,
                                                          max_size=3), value=WRONG_VALUES)
def test_frame_wrong_values_sample_or_are_located(template, tmp_path_factory, column, rows,
                                                  value):
    """Any value in any frame column: the sample is drawn and its field sheets written, or
    every problem names the frame."""
    from evaluation.round import load_round
    from sampling.design import run_sampling

    root = _root(template)
    frame = pd.read_csv(root / "住户清册.csv", dtype=str, encoding="utf-8-sig",
                        keep_default_na=False)
    rows = [r % len(frame) for r in rows]
    frame.loc[rows, column] = value
    folder = tmp_path_factory.mktemp("frame")
    path = folder / "住户清册.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    rnd = load_round(root)
    rnd.output_dir = folder / "out"
    try:
        drawn = run_sampling(rnd, frame_path=path)
        assert int(drawn.plan["N"].sum()) <= len(frame)
        for book in (folder / "out").rglob("*.xlsx"):
            assert _formulas(book) == 0
    except WuyeError as exc:
        assert all(p.file and path.name in p.file for p in exc.problems), exc
    finally:
        shutil.rmtree(folder)


# --------------------------------------------------------------------------- exports
def _export(template: Path) -> pd.DataFrame:
    from evaluation.ingest.readers import read_survey_export

    path = next((_root(template) / "fieldwork").glob("*.xlsx"))
    frame, _ = read_survey_export(path)
    return pd.read_excel(path, dtype=str, engine="calamine", keep_default_na=False,
                         na_values=[""]).iloc[: len(frame)]


def _ingest(template: Path, data: pd.DataFrame, path: Path, *, csv: bool = False):
    from evaluation.demo import write_export
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round
    from sampling.record import read_sampling_record

    if csv:
        data.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        write_export(data, path)
    rnd = load_round(_root(template))
    sample = read_sampling_record(template / "out" / "sampling").sample
    return ingest_round(rnd, [path], sample=sample)


def _assert_accounted(result, n_rows: int) -> None:
    """read = accepted + quarantined for the file and in total, and read = rows written."""
    counts = result.counts
    files = counts[counts["level"] == "file"]
    assert int(files["read"].sum()) == n_rows
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()
    assert len(result.respondents) + len(result.quarantine) == n_rows
    assert result.quarantine["reason"].notna().all()
    assert (result.quarantine["reason"].astype(str).str.len() > 0).all()
    ids = pd.concat([result.respondents["source_row"], result.quarantine["source_row"]])
    assert ids.is_unique


@settings(HSET, max_examples=8)
@given(data=st.data())
def test_export_wrong_values_in_any_column_are_quarantined_or_accepted(template,
                                                                       tmp_path_factory,
                                                                       data):
    export = _export(template)
    column = data.draw(st.sampled_from(list(export.columns)), label="column")
    rows = data.draw(st.lists(st.integers(0, len(export) - 1), min_size=1, max_size=20,
                              unique=True), label="rows")
    value = data.draw(WRONG_VALUES.filter(lambda v: "\x00" not in v), label="value")
    export.loc[rows, column] = value
    folder = tmp_path_factory.mktemp("export")
    result = _ingest(template, export, folder / "问卷星导出_坏值.xlsx")
    _assert_accounted(result, len(export))
    shutil.rmtree(folder)


def test_export_odd_unicode_and_formulas_everywhere(template, tmp_path):
    """Every odd string in every column (cycled over the rows): all rows accounted for,
    and the quarantine workbook holds no formula."""
    export = _export(template)
    odd = [v for v in ODD_TEXT if "\x00" not in v]  # NUL cannot be stored in xlsx
    rng = np.random.default_rng(3)
    for column in export.columns:
        rows = rng.choice(len(export), size=min(40, len(export)), replace=False)
        export.loc[rows, column] = [odd[i % len(odd)] for i in range(len(rows))]
    result = _ingest(template, export, tmp_path / "问卷星导出_怪字符.xlsx")
    _assert_accounted(result, len(export))
    result.write_quarantine(tmp_path / "隔离记录.xlsx")
    assert _formulas(tmp_path / "隔离记录.xlsx") == 0


def test_export_enormous_cells_and_nul_in_csv(template, tmp_path):
    """1 MB strings and NUL characters (in a CSV export, xlsx cannot hold them)."""
    export = _export(template)
    columns = list(export.columns)
    big = "好" * 1_000_000
    export.loc[0, columns[6]] = big  # estate name
    export.loc[1, columns[-1]] = big  # comment
    export.loc[2, columns[9]] = big  # an item answer
    export.loc[3, columns[6]] = "a\x00b"
    export.loc[4, columns[8]] = "1\x00单元101"
    result = _ingest(template, export, tmp_path / "问卷星导出_大单元格.csv", csv=True)
    _assert_accounted(result, len(export))
    result.write_quarantine(tmp_path / "隔离记录.xlsx")
    assert (tmp_path / "隔离记录.xlsx").stat().st_size < 5_000_000


def _formulas(path: Path) -> int:
    """Formula cells in a workbook; also checks every XML part parses (a control character
    that slipped into the XML makes Excel refuse the whole file)."""
    import xml.etree.ElementTree as ET

    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith((".xml", ".rels")):
                ET.fromstring(z.read(name))
        return sum(len(re.findall(r"<f[ >]", z.read(n).decode("utf-8", "replace")))
                   for n in z.namelist() if n.startswith("xl/worksheets/"))


# --------------------------------------------------------------------------- whole round
ESCAPE_IDS = ["../../esc", "/tmp/wuye_escape_abs", "a/b", "a\\b", "CON"]


def test_escaping_ids_and_formula_names_stay_inside_the_round(ws, tmp_path, capsys):
    """Estate ids built to escape the output folder and firm/community names that look like
    formulas: the whole round runs, every file lands in the round's folders, workbooks hold
    no formulas, and the odd ids are kept as data."""
    root = _root(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    frame = pd.read_csv(root / "住户清册.csv", dtype=str, encoding="utf-8-sig")
    mapping = dict(zip(register["小区编号"], ESCAPE_IDS, strict=True))
    register["小区编号"] = register["小区编号"].map(mapping)
    frame["小区编号"] = frame["小区编号"].map(mapping)
    register["物业企业"] = ["=HYPERLINK(\"http://x\",\"点\")", "+1+1", "-1", "@SUM(1)",
                         "\u202e企业😀"]
    register["所属社区"] = ["=1", "+2", "-3", "@x", "社区\u0301"]
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    frame.to_csv(root / "住户清册.csv", index=False, encoding="utf-8-sig")
    shutil.rmtree(ws / "out")
    (ws / "wuye.sqlite").unlink(missing_ok=True)
    _set_toml(root, ("round", "district"), "../../区/x\\y")  # names the workbook
    before = _tree(tmp_path)
    for command in ("sample", "run"):
        code, err = _cli([command, root], capsys)
        assert code == 0, err
    assert not _changed_outside(before, _tree(tmp_path))
    assert not Path("/tmp/wuye_escape_abs.pdf").exists()
    books = list((ws / "out").rglob("*.xlsx"))
    assert len(books) >= 3
    for book in books:
        assert _formulas(book) == 0, book
    estates = pd.read_csv(ws / "out" / "data" / "estates.csv", dtype=str)
    assert set(ESCAPE_IDS) <= set(estates["estate_id"])
    assert len(list((ws / "out" / "cards").glob("*.pdf"))) == len(ESCAPE_IDS)


@pytest.mark.parametrize("bad", ["a\x00b", "x\ny", "\x1b[2J"])
def test_control_characters_in_estate_ids_are_located(ws, capsys, bad):
    root = _root(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.loc[2, "小区编号"] = bad
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = _cli(["sample", root], capsys)
    assert code == 2
    _assert_located(err, "台账.csv", "第 4 行", "小区编号")


def test_missing_files_and_wrong_suffix(ws, tmp_path, capsys):
    root = _root(ws)
    code, err = _cli(["ingest", root, tmp_path / "nope.xlsx"], capsys)
    assert code == 2
    _assert_located(err, "nope.xlsx")
    (tmp_path / "export.pdf").write_bytes(b"%PDF-1.4")
    code, err = _cli(["ingest", root, tmp_path / "export.pdf"], capsys)
    assert code == 2
    _assert_located(err, "export.pdf")
    code, err = _cli(["score", tmp_path / "no_round"], capsys)
    assert code == 2
    _assert_located(err, "round.toml")


# --------------------------------------------------------------------------- typed cells
TYPED = [pd.Timestamp("2025-01-01 08:00"), True, False, 3.5, -1, 1e300, 0, "=1/0",
         "#DIV/0!", 12345678901234567890]


def _typed_workbook(data: pd.DataFrame, path: Path, cells: dict[tuple[int, str], object]
                    ) -> None:
    """Write ``data`` as xlsx with some cells replaced by real Excel types (dates,
    booleans, numbers, a formula) rather than text."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(data.columns))
    for row in data.astype(object).where(data.notna(), None).itertuples(index=False):
        sheet.append(list(row))
    columns = list(data.columns)
    for (row, column), value in cells.items():
        if isinstance(value, int) and abs(value) > 2**53:
            value = float(value)
        sheet.cell(row + 2, columns.index(column) + 1).value = (
            value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
    book.save(path)


def test_register_with_real_excel_types_in_every_column(ws, capsys):
    """Dates, booleans, numbers and formulas as real Excel cells in each register column:
    a located problem per bad cell or a clean load, never a traceback."""
    root = _root(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    for column in register.columns:
        cells = {(row, column): TYPED[(row + len(column)) % len(TYPED)] for row in range(5)}
        _typed_workbook(register, root / "台账.xlsx", cells)
        _set_toml(root, ("inputs", "register"), "台账.xlsx")
        code, err = _cli(["score", root], capsys)
        assert code == 2, err  # the register's problems, or (it loaded) no answers yet
        if "还没有导入问卷数据" not in err:
            _assert_located(err, "台账.xlsx", "第 ")


def test_export_with_real_excel_types_in_every_column(template, tmp_path):
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round
    from sampling.record import read_sampling_record

    export = _export(template)
    rng = np.random.default_rng(9)
    cells = {}
    for column in export.columns:
        for row in rng.choice(len(export), size=8, replace=False):
            cells[(int(row), column)] = TYPED[int(rng.integers(len(TYPED)))]
    path = tmp_path / "问卷星导出_类型.xlsx"
    _typed_workbook(export, path, cells)
    rnd = load_round(_root(template))
    sample = read_sampling_record(template / "out" / "sampling").sample
    result = ingest_round(rnd, [path], sample=sample)
    _assert_accounted(result, len(export))


def test_template_output_to_a_folder_or_a_wrong_suffix(ws, tmp_path, capsys):
    root = _root(ws)
    folder = tmp_path / "模板"
    folder.mkdir()
    before = _tree(tmp_path)
    code, err = _cli(["template", root, "-o", folder], capsys)
    assert code == 0, err
    new = set(_tree(tmp_path)) - set(before)
    assert new == {"模板/纸质问卷录入模板.xlsx"}  # inside the folder, no temporary left
    code, err = _cli(["template", root, "-o", tmp_path / "x.txt"], capsys)
    assert code == 2
    _assert_located(err, "x.txt")


def test_odd_export_shapes_through_the_cli(ws, tmp_path, capsys):
    """Header only, BOM only, blank lines, broken quoting, an OLE2 .xls: located errors;
    duplicate headers, GBK, 1,000 extra columns and 8 copies of every row: accounted for.
    A header-only export does not wipe the round's earlier ingest."""
    from evaluation.store import Store

    root = _root(ws)
    export = _export(ws)
    code, err = _cli(["ingest", root], capsys)
    assert code == 0, err
    with Store(ws / "wuye.sqlite") as store:
        accepted = len(store.read("respondents", round_id=PERIOD))
    export.iloc[:0].to_excel(tmp_path / "header_only.xlsx", index=False)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf")
    (tmp_path / "blank.csv").write_text("\n\n\n", encoding="utf-8")
    (tmp_path / "quotes.csv").write_text(",".join(export.columns) + '\n"open,1,2\n',
                                         encoding="utf-8")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"x" * 3000)
    for name in ("header_only.xlsx", "bom.csv", "blank.csv", "quotes.csv", "old.xls"):
        code, err = _cli(["ingest", root, tmp_path / name], capsys)
        assert code == 2, name
        _assert_located(err, name)
    with Store(ws / "wuye.sqlite") as store:
        assert len(store.read("respondents", round_id=PERIOD)) == accepted

    dup = export.copy()
    dup.columns = [dup.columns[9] if i == 10 else c for i, c in enumerate(dup.columns)]
    dup.to_csv(tmp_path / "dup.csv", index=False)
    export.head(50).to_csv(tmp_path / "gbk.csv", index=False, encoding="gb18030")
    wide = pd.concat([export.head(5), pd.DataFrame("x", index=range(5),
                                                   columns=[f"extra{i}" for i in range(1000)])],
                     axis=1)
    wide.to_csv(tmp_path / "wide.csv", index=False)
    pd.concat([export] * 8).to_csv(tmp_path / "tall.csv", index=False)
    rows = {"dup.csv": len(export), "gbk.csv": 50, "wide.csv": 5, "tall.csv": 8 * len(export)}
    code, err = _cli(["ingest", root, *(tmp_path / name for name in rows)], capsys)
    assert code == 0, err
    with Store(ws / "wuye.sqlite") as store:
        counts = store.read("ingest_counts", round_id=PERIOD)
    files = counts[counts["level"] == "file"].set_index("source_file")
    assert {Path(f).name: int(n) for f, n in files["read"].items()} == rows
    assert (counts["read"] == counts["accepted"] + counts["quarantined"]).all()


def test_frame_enormous_and_typed_cells(template, tmp_path):
    """1 MB cells (a digit run, text) and real Excel types in every frame column: the
    sample is drawn or the problems name the frame — never a crash in natural sorting."""
    from evaluation.round import load_round
    from sampling.design import run_sampling

    root = _root(template)
    frame = pd.read_csv(root / "住户清册.csv", dtype=str, encoding="utf-8-sig")
    cases = [("csv", {(3, "房号"): "1" * 1_000_000, (5, "楼栋"): "栋" * 1_000_000,
                      (7, "单元"): "9" * 5000 + "单元"})]
    cases.append(("xlsx", {(row + 50 * i, column): TYPED[(row + i) % len(TYPED)]
                           for row in range(0, 40, 4) for i, column in enumerate(FRAME_HEADERS)}))
    for n, (kind, cells) in enumerate(cases):
        folder = tmp_path / f"case{n}"
        folder.mkdir()
        path = folder / f"住户清册.{kind}"
        if kind == "csv":
            changed = frame.copy()
            for (row, column), value in cells.items():
                changed.loc[row, column] = value
            changed.to_csv(path, index=False, encoding="utf-8-sig")
        else:
            _typed_workbook(frame, path, cells)
        rnd = load_round(root)
        rnd.output_dir = folder / "out"
        try:
            drawn = run_sampling(rnd, frame_path=path)
            assert int(drawn.plan["N"].sum()) <= len(frame)
            for book in (folder / "out").rglob("*.xlsx"):
                assert _formulas(book) == 0
        except WuyeError as exc:
            assert all(p.file and path.name in p.file for p in exc.problems), exc
            assert len(str(exc)) < 20_000


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--estates", "-3"], ["--estates", "abc"],
                                  ["--estates", "10000000"], ["--seed", "1e9"]])
def test_demo_arguments_out_of_range_are_usage_errors(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--workspace", str(tmp_path / "ws"), *args])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and args[0] in err
    assert not (tmp_path / "ws").exists()
