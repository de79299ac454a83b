"""Reads bounded by the data (wuye_common.sheets): a sheet's declared or implied size never
drives allocation, ceilings are located errors, odd paths are refused before reading."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.hostile import raw_workbook
from wuye_common.errors import WuyeError
from wuye_common.sheets import Limits, calamine_rows, path_kind, require_file, xlsx_extent


def _rows(path: Path, limits: Limits | None = None):
    return calamine_rows(path, lambda names: names[0], limits or Limits(), file=path.name)


def test_path_kinds(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("a")
    os.mkfifo(tmp_path / "pipe.csv")
    assert path_kind(tmp_path / "f.csv") == "file"
    assert path_kind(tmp_path) == "dir"
    assert path_kind(tmp_path / "nope.csv") == "missing"
    assert path_kind(tmp_path / "pipe.csv") == "other"  # never read: it may never end
    assert path_kind(tmp_path / ("a" * 300)) == "unusable"
    assert path_kind("a\x00b") == "unusable"
    for name in ("pipe.csv", "a" * 300, "nope.csv"):
        with pytest.raises(WuyeError) as info:
            require_file(tmp_path / name, "台账", "检查路径")
        assert info.value.problems[0].file


def test_extent_probe_sees_cells_whatever_the_prefix(tmp_path: Path) -> None:
    cells = {"A1": "x", "C5": 1, "XFD1048576": "y"}
    for prefix in ("", "x:"):
        path = raw_workbook(tmp_path / f"p{prefix[:1]}.xlsx", cells, prefix=prefix)
        extent = xlsx_extent(path, "Sheet1")
        assert (extent.cells, extent.rows, extent.columns) == (3, 1_048_576, 16_384)


def test_a_declared_dimension_is_not_read(tmp_path: Path) -> None:
    path = raw_workbook(
        tmp_path / "dim.xlsx", {"A1": "x", "B2": 1}, formula="1", dimension="A1:XFD1048576"
    )
    assert xlsx_extent(path, "Sheet1").area == 4
    _, numbers, *_ = _rows(path)
    assert numbers.tolist() == [1, 2]


def test_sparse_sheet_is_refused_before_calamine_allocates_it(tmp_path: Path) -> None:
    """Two formula cells at A1 and XFD1048576 (8 KB): calamine would ask for 17 billion
    cells and abort the process; the probe refuses the sheet with a located error."""
    path = raw_workbook(tmp_path / "稀疏.xlsx", {"A1": 1, "XFD1048576": 2}, formula="1+1")
    assert path.stat().st_size < 8192
    start = time.process_time()
    with pytest.raises(WuyeError) as info:
        _rows(path)
    assert time.process_time() - start < 1.0
    problem = info.value.problems[0]
    assert problem.file == "稀疏.xlsx" and problem.sheet == "Sheet1" and "稀疏" in problem.message


def test_a_stray_far_cell_in_one_column_is_read_bounded(tmp_path: Path) -> None:
    path = raw_workbook(tmp_path / "far.xlsx", {"A1": 1, "A2": 2, "A1048576": 3}, formula="1")
    start = time.process_time()
    _, numbers, _, _, last = _rows(path)
    assert time.process_time() - start < 2.0
    assert numbers.tolist() == [1, 2, 1_048_576] and last == 1_048_576


def test_ceilings_are_located_errors(tmp_path: Path) -> None:
    path = raw_workbook(tmp_path / "big.xlsx", {f"A{i}": i for i in range(1, 8)}, formula="1")
    with pytest.raises(WuyeError) as info:
        _rows(path, Limits(max_rows=5))
    assert "5" in info.value.problems[0].message and info.value.problems[0].file == "big.xlsx"
    with pytest.raises(WuyeError, match="单元格"):
        _rows(path, Limits(max_cells=3))


def test_ods_repeats_are_counted_before_calamine_expands_them(tmp_path: Path) -> None:
    """An .ods declares repeats (``number-rows-repeated``): 947 bytes can ask for 10⁸ filled
    cells (calamine took a minute and gigabytes) or a range of 17 billion (it refused with
    its own error). The expanded cells are counted first; trailing empty repeats, which
    every LibreOffice file has, cost nothing."""
    from tests.hostile import ODS_CELL, raw_ods

    empty_tail = (
        '<table:table-row table:number-rows-repeated="1048575">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
    )
    normal = raw_ods(
        tmp_path / "lo.ods", f"<table:table-row>{ODS_CELL}</table:table-row>{empty_tail}"
    )
    assert _rows(normal)[1].tolist() == [1]
    repeated = raw_ods(
        tmp_path / "rep.ods",
        '<table:table-row table:number-rows-repeated="100000"><table:table-cell '
        'table:number-columns-repeated="1000" office:value-type="string"><text:p>x</text:p>'
        "</table:table-cell></table:table-row>",
    )
    far = raw_ods(
        tmp_path / "far.ods",
        f"<table:table-row>{ODS_CELL}</table:table-row>"
        '<table:table-row table:number-rows-repeated="1048574"><table:table-cell/>'
        "</table:table-row><table:table-row><table:table-cell table:number-columns-repeated="
        f'"16383"/>{ODS_CELL}</table:table-row>',
    )
    for path, needle in ((repeated, "单元格"), (far, "稀疏")):
        start = time.process_time()
        with pytest.raises(WuyeError, match=needle) as info:
            _rows(path)
        assert time.process_time() - start < 1.0
        assert info.value.problems[0].file == path.name
