"""Whole-column table writing for xlsxwriter: a city's big sheets without a call per cell.

xlsxwriter keeps every cell as a Python object and writes it with one method call at close:
about 15 µs a cell, 30 s for the two million cells of a 2,000-estate round. :class:`BulkSheet`
is an xlsxwriter ``Worksheet`` (``add_worksheet(name, worksheet_class=BulkSheet)``) that also
takes a block of whole columns (:meth:`BulkSheet.add_block`): strings go into the shared
string table once per distinct value, and the block's ``<row>``/``<c>`` XML is rendered at
close a chunk of rows at a time. The file is the one xlsxwriter writes cell by cell: the same
shared strings in the same order, the same style indices assigned in the same order, the same
``spans`` (tests compare the XML parts byte for byte).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

CHUNK_ROWS = 20_000
"""Rows rendered to XML at a time (bounds the memory of the rendering)."""


@dataclass
class TextColumn:
    """Strings; those for which ``alt`` is true are written with ``alt_format``."""

    strings: Sequence[str]
    cell_format: Any
    alt_format: Any = None
    alt: Callable[[str], bool] | None = None


@dataclass
class NumberColumn:
    """Numbers (a NaN or infinite value is a blank cell with the format)."""

    values: np.ndarray
    cell_format: Any


@dataclass
class _Shared:
    """A string column as shared-string indices; ``quoted[i]`` picks ``alt_format``."""

    index: np.ndarray
    cell_format: Any
    alt_format: Any = None
    quoted: np.ndarray | None = None


@dataclass
class _Block:
    first: int  # first row (0-based)
    last: int  # last row
    col: int  # first column (0-based)
    columns: list[_Shared | NumberColumn]


class BulkSheet(Worksheet):
    """A worksheet that also writes blocks of whole columns (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._blocks: list[_Block] = []
        self._fixed_spans: dict[int, str] | None = None

    def add_block(
        self, first_row: int, first_col: int, columns: Sequence[TextColumn | NumberColumn]
    ) -> int:
        """Place ``columns`` (of equal length) side by side from (``first_row``,
        ``first_col``), as ``write_string``/``write_number``/``write_blank`` column after
        column would: rows past the sheet's last row are dropped. Returns the rows placed."""
        if self.constant_memory:
            raise ValueError("BulkSheet blocks need constant_memory off")
        if not columns:
            return 0
        n = min(len(_values(c)) for c in columns)
        n = max(min(n, self.xls_rowmax - first_row), 0)
        if n == 0:
            return 0
        shared = [
            self._shared(c, n)
            if isinstance(c, TextColumn)
            else NumberColumn(c.values[:n], c.cell_format)
            for c in columns
        ]
        self._check_dimensions(first_row, first_col)
        self._check_dimensions(first_row + n - 1, first_col + len(columns) - 1)
        self._blocks.append(_Block(first_row, first_row + n - 1, first_col, shared))
        return n

    def _shared(self, column: TextColumn, n: int) -> _Shared:
        """Each distinct string enters the shared string table once, in order of first
        appearance, as ``write_string`` row by row would add them."""
        values = np.asarray(column.strings, dtype=object)[:n]
        codes, uniques = pd.factorize(values, sort=False)
        if len(codes) and codes.min() < 0:
            raise TypeError("a TextColumn holds strings only (no None or NaN)")
        uniques = np.asarray(uniques, dtype=object).tolist()
        limit, table = self.xls_strmax, self.str_table
        index = np.empty(len(uniques), dtype=np.int64)
        for k, s in enumerate(uniques):
            if len(s) > limit // 2 and _utf16_len(s) > limit:
                s = _utf16_truncate(s, limit)
            index[k] = table._get_shared_string_index(s)
        table.count += len(values) - len(uniques)
        quoted = None
        if column.alt is not None:
            marked = np.fromiter(map(column.alt, uniques), dtype=bool, count=len(uniques))
            if marked.any():  # else alt_format is unused and takes no style index
                quoted = marked[codes]
        return _Shared(index[codes], column.cell_format, column.alt_format, quoted)

    def _calculate_spans(self) -> None:
        if self._fixed_spans is not None:
            self.row_spans = self._fixed_spans
            return
        super()._calculate_spans()
        spans = dict(self.row_spans)
        for b in self._blocks:
            lo, hi = b.col + 1, b.col + len(b.columns)
            for k in range(b.first // 16, b.last // 16 + 1):
                if k in spans:
                    a, z = (int(x) for x in spans[k].split(":"))
                    spans[k] = f"{min(a, lo)}:{max(z, hi)}"
                else:
                    spans[k] = f"{lo}:{hi}"
        self.row_spans = spans

    def _write_rows(self) -> None:
        if not self._blocks:
            super()._write_rows()
            return
        blocks = sorted(self._blocks, key=lambda b: b.first)
        for b in blocks:
            if any(b.first <= r <= b.last and cells for r, cells in self.table.items()):
                raise ValueError("a cell was written inside a BulkSheet block")
        self._calculate_spans()
        self._fixed_spans = self.row_spans
        low, high = self.dim_rowmin, self.dim_rowmax
        try:
            start = low
            for b in blocks:
                if start <= b.first - 1:
                    self.dim_rowmin, self.dim_rowmax = start, b.first - 1
                    super()._write_rows()
                self._write_block(b)
                start = b.last + 1
            if start <= high:
                self.dim_rowmin, self.dim_rowmax = start, high
                super()._write_rows()
        finally:
            self.dim_rowmin, self.dim_rowmax = low, high
            self._fixed_spans = None

    def _write_block(self, block: _Block) -> None:
        """The block's rows, with style indices taken in row-major order of first use."""
        taken = any(block.first <= r <= block.last for r in self.row_info)
        if taken or self.default_row_height != self.original_row_height:
            raise ValueError("BulkSheet blocks take no row formats or heights")
        for _row, _col, f in sorted(_first_uses(block), key=lambda u: u[:2]):
            f._get_xf_index()
        letters = [xl_col_to_name(block.col + j) for j in range(len(block.columns))]
        for start in range(0, block.last - block.first + 1, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, block.last - block.first + 1)
            self.fh.write(self._chunk(block, letters, start, stop))

    def _chunk(self, block: _Block, letters: list[str], start: int, stop: int) -> str:
        """Rows ``start:stop`` of the block as XML (a formatting call per cell, no Python
        loop body per cell)."""
        first = block.first + start  # 0-based
        rows = list(map(str, range(first + 1, first + 1 + stop - start)))
        extra = ' x14ac:dyDescent="0.25"' if self.excel_version == 2010 else ""
        spans = self.row_spans
        heads = [
            f'<row r="{rows[i]}" spans="{span}"{extra}>' if span else f'<row r="{rows[i]}"{extra}>'
            for i, span in enumerate(spans.get(r // 16) for r in range(first, first + len(rows)))
        ]
        cells = [
            _cells(c, letter, rows, start, stop)
            for c, letter in zip(block.columns, letters, strict=True)
        ]
        tails = ["</row>"] * len(rows)
        return "".join(map("".join, zip(heads, *cells, tails, strict=True)))


def _cells(column: Any, letter: str, rows: list[str], start: int, stop: int) -> list[str]:
    """One column's ``<c>`` elements for rows ``start:stop`` of the block."""
    s = column.cell_format._get_xf_index()
    if isinstance(column, _Shared):
        index = column.index[start:stop].tolist()
        if column.quoted is None:
            cell = f'<c r="{letter}{{}}" s="{s}" t="s"><v>{{}}</v></c>'.format
            return list(map(cell, rows, index))
        q = column.alt_format._get_xf_index()
        styles = np.where(column.quoted[start:stop], q, s).tolist()
        cell = f'<c r="{letter}{{}}" s="{{}}" t="s"><v>{{}}</v></c>'.format
        return list(map(cell, rows, styles, index))
    values = column.values[start:stop]
    out = list(
        map(f'<c r="{letter}{{}}" s="{s}"><v>{{:.16G}}</v></c>'.format, rows, values.tolist())
    )
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = f'<c r="{letter}{rows[i]}" s="{s}"/>'  # NaN and ±inf: a blank with the format
    return out


def _first_uses(block: _Block) -> Iterator[tuple[int, int, Any]]:
    """(row, column, format) of each format's first cell in each column."""
    for j, c in enumerate(block.columns):
        if isinstance(c, _Shared) and c.quoted is not None:
            for flag, f in ((False, c.cell_format), (True, c.alt_format)):
                hits = np.flatnonzero(c.quoted == flag)
                if len(hits):
                    yield int(hits[0]), j, f
        else:
            yield 0, j, c.cell_format


def _values(column: TextColumn | NumberColumn) -> Sequence:
    return column.strings if isinstance(column, TextColumn) else column.values
