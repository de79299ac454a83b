"""Hostile input to sampling: broken and odd household frames.

Every case ends in a located error (exit 2, the file, row or key named, no traceback) or a
quarantine reason; no row is lost; nothing is written outside the round's folders.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import (
    FRAME_HEADERS,
    HSET,
    TYPED,
    WRONG_VALUES,
    assert_located,
    broken_files,
    changed_outside,
    file_tree,
    formula_count,
    round_folder,
    run_cli,
    set_toml,
    tally,
    typed_workbook,
)
from wuye_common.errors import WuyeError


@pytest.mark.parametrize("kind", ["half", "random", "ole2", "empty"])
def test_broken_frame_is_a_located_error(ws, tmp_path, capsys, kind):
    root = round_folder(ws)
    good = next((root / "fieldwork").glob("*.xlsx"))
    bad = broken_files(good, tmp_path)[kind]
    shutil.copy(bad, root / "住户清册.xlsx")
    set_toml(root, ("inputs", "frame"), "住户清册.xlsx")
    before = file_tree(tmp_path)
    code, err = run_cli(["sample", root], capsys)
    assert code == 2
    assert_located(err, "住户清册.xlsx")
    assert not changed_outside(before, file_tree(tmp_path))


@HSET
@given(
    column=st.sampled_from(FRAME_HEADERS),
    rows=st.lists(st.integers(0, 3000), min_size=1, max_size=3),
    value=WRONG_VALUES,
)
def test_frame_wrong_values_sample_or_are_located(
    small_round, tmp_path_factory, column, rows, value
):
    """Any value in any frame column: the sample is drawn and its field sheets written, or
    every problem names the frame."""
    from evaluation.round import load_round
    from sampling.design import run_sampling

    root = round_folder(small_round)
    frame = pd.read_csv(
        root / "住户清册.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False
    )
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
            assert formula_count(book) == 0
        tally("住户清册 cell", "sampled")
    except WuyeError as exc:
        assert all(p.file and path.name in p.file for p in exc.problems), exc
        tally("住户清册 cell", "located error")
    finally:
        shutil.rmtree(folder)


def test_frame_enormous_and_typed_cells(small_round, tmp_path):
    """1 MB cells (a digit run, text) and real Excel types in every frame column: the
    sample is drawn or the problems name the frame — never a crash in natural sorting."""
    from evaluation.round import load_round
    from sampling.design import run_sampling

    root = round_folder(small_round)
    frame = pd.read_csv(root / "住户清册.csv", dtype=str, encoding="utf-8-sig")
    cases = [
        (
            "csv",
            {
                (3, "房号"): "1" * 1_000_000,
                (5, "楼栋"): "栋" * 1_000_000,
                (7, "单元"): "9" * 5000 + "单元",
            },
        )
    ]
    cases.append(
        (
            "xlsx",
            {
                (row + 50 * i, column): TYPED[(row + i) % len(TYPED)]
                for row in range(0, 40, 4)
                for i, column in enumerate(FRAME_HEADERS)
            },
        )
    )
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
            typed_workbook(frame, path, cells)
        rnd = load_round(root)
        rnd.output_dir = folder / "out"
        try:
            drawn = run_sampling(rnd, frame_path=path)
            assert int(drawn.plan["N"].sum()) <= len(frame)
            for book in (folder / "out").rglob("*.xlsx"):
                assert formula_count(book) == 0
        except WuyeError as exc:
            assert all(p.file and path.name in p.file for p in exc.problems), exc
            assert len(str(exc)) < 20_000
