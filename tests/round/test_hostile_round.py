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
    PLANT,
    REGISTER_HEADERS,
    TOML_CASES,
    TYPED,
    WRONG_VALUES,
    assert_located,
    assert_register_in_domains,
    assert_round_in_domains,
    broken_files,
    changed_outside,
    file_tree,
    round_folder,
    run_cli,
    set_toml,
    tally,
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
            "confidence",
            "district",
            "deff",
            "reserve_ratio",
            "max_rows",
            "max_cells",
            "secrets",
            "database",
            "tie_break",
            "escalation_count",
            "weights",
            "credit_bands",
            "red",
        ]
    ),
    value=st.one_of(
        st.integers(-5, 10**6),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.text(max_size=8),
        PLANT,
        st.lists(st.integers(), max_size=2),
        st.lists(st.lists(st.integers(), max_size=2), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.lists(st.floats(), max_size=2), max_size=2),
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
        rnd = load_round(root)
        assert_round_in_domains(rnd)
        tally("round.toml", "loaded")
    except WuyeError as exc:
        assert exc.problems
        assert all(p.file for p in exc.problems), exc
        tally("round.toml", "located error")
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
        assert_register_in_domains(frame)
        tally("台账 cell", "loaded")
    except WuyeError as exc:
        for problem in exc.problems:
            assert problem.file == path.name
            assert problem.row == row + 2 or problem.row is None
            assert problem.column
            assert "\x00" not in str(problem)
        tally("台账 cell", "located error")
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


# ----------------------------------------------------------------------- issue 21 regressions


def test_two_register_columns_for_one_field_are_refused_with_both_names(ws, capsys):
    """``编号`` beside ``小区编号`` raised ValueError from load_register."""
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.insert(1, "编号", [str(i) for i in range(len(register))])
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "台账.csv", "「小区编号」", "「编号」")


@pytest.mark.parametrize("value", ["inf", "1e309", "1e19", "-5", "0", "200001", "3.5", "NaN"])
def test_households_outside_their_domain_are_located(ws, capsys, value):
    """户数 ``inf``, ``1e309`` or ``1e19`` became a negative int64 household count."""
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.loc[2, "户数"] = value
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "台账.csv", "第 4 行", "户数", "1 至 200000 的整数")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("投诉件数", "1e19", "投诉件数"),
        ("投诉件数", "2.5", "投诉件数"),
        ("信用积分", "101", "信用积分"),
        ("信用积分", "inf", "信用积分"),
        ("业委会党员比例", "150%", "业委会党员比例"),
        ("业委会党员比例", "-0.1", "业委会党员比例"),
    ],
)
def test_register_numbers_outside_their_domain_are_located(ws, capsys, column, value, expected):
    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register.loc[1, column] = value
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "台账.csv", "第 3 行", expected)


def test_percent_shares_are_read_as_percents(ws):
    from evaluation.round import load_round

    root = round_folder(ws)
    register = pd.read_csv(root / "台账.csv", dtype=str, encoding="utf-8-sig")
    register["业委会党员比例"] = ["35%", "", "0.2", "50%", ""]
    register.to_csv(root / "台账.csv", index=False, encoding="utf-8-sig")
    shares = load_round(root).register["committee_party_share"]
    assert shares.round(2).tolist()[:4] == [
        0.35,
        pytest.approx(float("nan"), nan_ok=True),
        0.2,
        0.5,
    ]


def test_absurd_questionnaire_number_is_located(ws, capsys):
    """``number = 99999999999999999999`` raised OverflowError from questionnaire_from_dict."""
    from evaluation.questionnaire import default_path

    root = round_folder(ws)
    text = (
        default_path()
        .read_text(encoding="utf-8")
        .replace("number = 16", "number = 99999999999999999999", 1)
    )
    (root / "问卷.toml").write_text(text, encoding="utf-8")
    set_toml(root, ("questionnaire", "path"), "问卷.toml")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "问卷.toml", "number", "1 至 9999 的整数")


@pytest.mark.parametrize(
    "change",
    [
        ('[scales.bad]\noptions = ["a", "b"]\nmissing = 5', "missing"),
        ("[[items]]\nid = 'X'\nnumber = 1.5\ntext = 't'\ndimension = 'd'", "number"),
        ("[[items]]\nid = '138 1234 5678'\nnumber = 98\ntext = 't'\ndimension = 'd'", "id"),
        (
            "[[items]]\nid = 'Y'\nnumber = 97\ntext = 't'\ndimension = 'd'\nrequired = 'no'",
            "required",
        ),
        ("a = " + "[" * 3000 + "]" * 3000, "嵌套"),
    ],
)
def test_hostile_questionnaire_values_are_located(ws, capsys, change):
    from evaluation.questionnaire import default_path

    text, needle = change
    root = round_folder(ws)
    base = default_path().read_text(encoding="utf-8")
    (root / "问卷.toml").write_text(
        (text + "\n" + base) if text.startswith("a =") else (base + "\n" + text), encoding="utf-8"
    )
    set_toml(root, ("questionnaire", "path"), "问卷.toml")
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "问卷.toml", needle)
    assert "1234 5678" not in err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (("round", "confidence"), float("inf")),
        (("round", "confidence"), float("nan")),
        (("round", "seed"), -1),
        (("round", "seed"), 2**40),
        (("sampling", "deff"), float("inf")),
        (("sampling", "reserve_ratio"), float("inf")),
        (("sampling", "minimum"), 1e300),
        (("sampling", "maximum"), 10**12),
        (("ingest", "min_duration_s"), float("inf")),
        (("ingest", "min_duration_s"), float("nan")),
        (("ingest", "max_rows"), 0),
        (("rules", "weights", "index"), float("inf")),
        (("rules", "weights", "index"), float("nan")),
        (("rules", "escalation_count"), 10**6),
        (("rules", "credit_bands", "AAA"), float("nan")),
        (("round", "id"), "r" * 300),
        (("round", "id"), "13812345678"),
    ],
    ids=repr,
)
def test_toml_values_outside_their_domain_are_located(ws, capsys, key, value):
    root = round_folder(ws)
    set_toml(root, key, value)
    code, err = run_cli(["score", root], capsys)
    assert code == 2, err
    assert_located(err, "round.toml", key[0])
    assert "13812345678" not in err


def test_huge_toml_integer_is_located_not_an_overflow(ws, capsys):
    """A TOML integer beyond a float (float() raised OverflowError in [rules])."""
    root = round_folder(ws)
    text = (root / "round.toml").read_text(encoding="utf-8")
    (root / "round.toml").write_text(
        text + "\n[rules.weights]\nindex = " + "9" * 400 + "\n", encoding="utf-8"
    )
    code, err = run_cli(["score", root], capsys)
    assert code == 2
    assert_located(err, "round.toml", "rules.weights.index")


def test_secrets_or_output_paths_that_cannot_be_used_are_located(ws, capsys, tmp_path):
    """``secrets`` pointing at an existing file raised OSError from ingest/pseudonym.py
    (Python API); so did a round id too long for a file name."""
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round

    root = round_folder(ws)
    (tmp_path / "不是文件夹.txt").write_text("x")
    set_toml(root, ("output", "secrets"), str(tmp_path / "不是文件夹.txt"))
    with pytest.raises(WuyeError) as info:
        load_round(root)
    assert info.value.problems[0].column == "output.secrets"
    set_toml(root, ("output", "secrets"), str(tmp_path / "keys"))
    rnd = load_round(root)
    rnd.secret_path = tmp_path / "不是文件夹.txt" / "x.key"  # as if changed after loading
    with pytest.raises(WuyeError) as info:
        ingest_round(rnd)
    assert info.value.problems[0].file
    rnd.secret_path = tmp_path / ("k" * 300 + ".key")
    with pytest.raises(WuyeError):
        ingest_round(rnd)
    code, err = run_cli(["ingest", root], capsys)
    assert code == 0, err


@HSET
@given(
    number=st.one_of(
        st.just(4), st.integers(), st.floats(), st.text(max_size=5), st.booleans()
    ),  # 4: the item's own number (another valid one may clash with another item's)
    points=st.one_of(
        st.just([100, 75, 50, 25, 0]),
        st.lists(st.one_of(st.integers(), st.floats()), min_size=5, max_size=5),
    ),
    extra_options=st.one_of(st.just(2), st.integers(0, 40)),
)
def test_any_questionnaire_numbers_load_in_domain_or_are_located(number, points, extra_options):
    import tomllib

    from evaluation.questionnaire import default_path, questionnaire_from_dict

    config = tomllib.loads(default_path().read_text(encoding="utf-8"))
    config["items"][0]["number"] = number
    config["scales"]["five"]["points"] = points
    config["scales"]["five"]["missing"] = [f"缺{i}" for i in range(extra_options)]
    try:
        q = questionnaire_from_dict(config, file="q.toml")
    except WuyeError as exc:
        assert all(p.file == "q.toml" for p in exc.problems)
        tally("问卷 numbers", "located error")
        return
    numbers = q.items["number"].dropna().astype(int)
    assert ((numbers >= 1) & (numbers <= 9999)).all()
    assert q.options["code"].between(1, 30).all()
    assert q.options["points"].dropna().between(0, 100).all()
    tally("问卷 numbers", "loaded")
