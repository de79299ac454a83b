"""Hostile input to the round model: broken registers, wrong round.toml types and values,
odd register cells.

Every case ends in a located error (exit 2, the file, row or key named, no traceback) or a
quarantine reason; no row is lost; nothing is written outside the round's folders.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import (
    HSET,
    REGISTER_HEADERS,
    TOML_CASES,
    TYPED,
    WRONG_VALUES,
    assert_located,
    broken_files,
    changed_outside,
    file_tree,
    round_folder,
    run_cli,
    set_toml,
    typed_workbook,
)
from wuye_common.errors import WuyeError


@pytest.mark.parametrize("kind", ["half", "random", "ole2", "empty"])
def test_broken_register_is_a_located_error(ws, tmp_path, capsys, kind):
    root = round_folder(ws)
    good = next((root / "fieldwork").glob("*.xlsx"))
    bad = broken_files(good, tmp_path)[kind]
    shutil.copy(bad, root / "台账.xlsx")
    set_toml(root, ("inputs", "register"), "台账.xlsx")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "台账.xlsx")


@pytest.mark.parametrize(("key", "value"), TOML_CASES, ids=[repr(c) for c in TOML_CASES])
def test_toml_wrong_types_are_located_errors(ws, tmp_path, capsys, key, value):
    root = round_folder(ws)
    set_toml(root, key, value)
    before = file_tree(tmp_path)
    code, err = run_cli(["score", root], capsys)
    assert code == 2, err
    assert_located(err, "round.toml")
    assert key[0] in err
    assert not changed_outside(before, file_tree(tmp_path))


def test_toml_syntax_error_and_binary_toml(ws, capsys):
    root = round_folder(ws)
    (root / "round.toml").write_text('[round\nperiod = "2025H2', encoding="utf-8")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "round.toml")
    (root / "round.toml").write_bytes(b"\xff\xfe\x00garbage")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "round.toml")


@HSET
@given(
    section=st.sampled_from(
        [
            "round",
            "sampling",
            "ingest",
            "thresholds",
            "inputs",
            "output",
            "questionnaire",
            "report",
            "rules",
        ]
    ),
    name=st.sampled_from(
        [
            "id",
            "period",
            "seed",
            "margin",
            "minimum",
            "method",
            "min_duration_s",
            "一级",
            "register",
            "responses",
            "dir",
            "path",
            "notebook_estates",
            "notebooks",
        ]
    ),
    value=st.one_of(
        st.integers(-5, 10**6),
        st.floats(allow_nan=False),
        st.booleans(),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
)
def test_any_toml_value_loads_or_is_located(small_round, tmp_path_factory, section, name, value):
    """Whatever value a key gets, load_round either accepts it or names round.toml."""
    from evaluation.round import load_round

    ws = tmp_path_factory.mktemp("toml") / "ws"
    shutil.copytree(small_round / "demo", ws / "demo")
    root = round_folder(ws)
    set_toml(root, (section, name), value)
    try:
        load_round(root)
    except WuyeError as exc:
        assert exc.problems
        assert all(p.file for p in exc.problems), exc
    finally:
        shutil.rmtree(ws.parent, ignore_errors=True)


@HSET
@given(column=st.sampled_from(REGISTER_HEADERS), row=st.integers(0, 4), value=WRONG_VALUES)
def test_register_wrong_values_are_accepted_or_located(small_round, column, row, value):
    """Any value in any register column: loads, or every problem names file, row, column."""
    from evaluation.round import load_register

    source = round_folder(small_round) / "台账.csv"
    register = pd.read_csv(source, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    if column not in register.columns:
        register[column] = ""
    register.loc[row, column] = value
    path = source.with_name(f"台账_{os.getpid()}.csv")
    register.to_csv(path, index=False, encoding="utf-8-sig")
    try:
        frame = load_register(
            path, {"一级": 0.9, "二级": 0.8, "三级": 0.7, "四级": 0.6, "还建社区": 0.5}
        )
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
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.loc[1, "户数"] = "9" * 1_000_000
    register.loc[2, "小区编号"] = "G\x00" * 500_000
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "台账.csv", "第 3 行", "第 4 行")
    assert len(err) < 5000  # the 1 MB values are not echoed back


def test_register_with_real_excel_types_in_every_column(ws, capsys):
    """Dates, booleans, numbers and formulas as real Excel cells in each register column:
    a located problem per bad cell or a clean load, never a traceback."""
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    for column in register.columns:
        cells = {(row, column): TYPED[(row + len(column)) % len(TYPED)] for row in range(5)}
        typed_workbook(register, root / "台账.xlsx", cells)
        set_toml(root, ("inputs", "register"), "台账.xlsx")
        code, err = run_cli(["score", root], capsys)
        assert code == 2, err  # the register's problems, or (it loaded) no answers yet
        if "还没有导入问卷数据" not in err:
            assert_located(err, "台账.xlsx", "第 ")
