"""Plain data tables written to ``.xlsx`` at the speed of the data: the quarantine record of
an ingest and the back-check list can hold hundreds of thousands of rows, which a
cell-by-cell writer (xlsxwriter: ~5 µs a cell) takes many seconds to write.

A *plain* table is one sheet per :class:`Table`: a bold header row (frozen), one column
width, and cells that are numbers (integer and float columns, or object columns holding
numbers only) or text (everything else, booleans included); NA, NaN and ``""`` stay blank.
Text is written as inline strings, which a spreadsheet never evaluates (``=1+1`` stays
text, phone numbers stay text). Each column's XML is built once per distinct value and
spread by code with numpy; each block of :data:`BLOCK_ROWS` rows is one join of a grid of
pieces, streamed into the zip, so the memory held is a block's.

The package follows ECMA-376 Part 1 (SpreadsheetML): ``[Content_Types].xml``, the package
and workbook relationships, ``workbook.xml``, a minimal ``styles.xml`` (cell formats 0:
default, 1: bold) and one ``worksheets/sheetN.xml`` per table. Characters XML 1.0 does not
allow are written in the format's ``_xHHHH_`` escape (§22.9.2.19, as Excel and xlsxwriter
do), a literal ``_xHHHH_`` in the text is protected by ``_x005F_``, and a text longer than
a cell holds (32,767 characters) is cut there.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name

BLOCK_ROWS = 20_000
MAX_CELL_TEXT = 32_767
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LITERAL_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_JOIN = "\ue000\U000f0000"  # private-use characters: not touched by the escapes


@dataclass
class Table:
    """One sheet: ``frame`` under a header row of ``headers[column]`` (the column name
    where absent), every column ``width`` characters wide."""

    title: str
    frame: pd.DataFrame
    headers: Mapping[str, str] = field(default_factory=dict)
    width: float = 14.0


def write_tables(path: str | Path, tables: Sequence[Table]) -> Path:
    """Write ``tables`` as the sheets of one ``.xlsx`` at ``path``; returns ``path``."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _content_types(len(tables)))
        zf.writestr("_rels/.rels", _package_rels())
        zf.writestr("xl/workbook.xml", _workbook([t.title for t in tables]))
        zf.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(tables)))
        zf.writestr("xl/styles.xml", _STYLES)
        for i, table in enumerate(tables, start=1):
            with zf.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as fh:
                for part in _sheet_parts(table):
                    fh.write(part.encode("utf-8", "replace"))
    return path


def xml_text(text: str) -> str:
    """``text`` as the content of a SpreadsheetML text element (escaped, cut to a cell's
    length)."""
    return _escaped(text[:MAX_CELL_TEXT])


def xml_texts(texts: list[str]) -> list[str]:
    """:func:`xml_text` of each text, in three passes over the texts joined by a separator
    that no pass changes (per text where a text holds the separator itself)."""
    cut = [t if len(t) <= MAX_CELL_TEXT else t[:MAX_CELL_TEXT] for t in texts]
    joined = _JOIN.join(cut)
    if joined.count(_JOIN) != max(len(cut) - 1, 0):
        return [_escaped(t) for t in cut]
    return _escaped(joined).split(_JOIN) if cut else []


def _escaped(text: str) -> str:
    """A literal ``_xHHHH_`` protected, characters XML does not allow as ``_xHHHH_``, then
    XML's own escapes."""
    text = _LITERAL_ESCAPE.sub(r"_x005F_\1", text)
    return escape(_NOT_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text))


def column_letters(n: int) -> list[str]:
    """Excel's letters of the first ``n`` columns (A, B, …, Z, AA, …)."""
    return [xl_col_to_name(i) for i in range(n)]


def _sheet_parts(table: Table) -> Iterator[str]:
    """The worksheet XML in pieces: head, header row, blocks of data rows, tail."""
    frame = table.frame
    columns = list(frame.columns)
    letters = column_letters(max(len(columns), 1))
    head = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS} {_NS_R}>'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
        'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
    )
    if columns:
        width = table.width + 0.7109375  # as Excel stores a width of n characters
        head += f'<cols><col min="1" max="{len(columns)}" width="{width}" customWidth="1"/></cols>'
    yield head + "<sheetData>"
    names = [str(table.headers.get(c, c)) for c in columns]
    yield (
        '<row r="1">'
        + "".join(
            f'<c r="{letter}1" s="1" t="inlineStr"><is><t xml:space="preserve">{xml_text(name)}'
            "</t></is></c>"
            for letter, name in zip(letters, names, strict=False)
        )
        + "</row>"
    )
    cells = [_column_cells(frame[c]) for c in columns] if columns else []
    for start in range(0, len(frame), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(frame))
        numbers = np.arange(start + 2, stop + 2).astype(str).astype(object)
        # one row of pieces per sheet row: <row r="n">, then per cell its column's opening,
        # the row number and its value's XML ("" three times for a blank), then </row>
        pieces = np.full((stop - start, 3 * len(cells) + 4), "", dtype=object)
        pieces[:, 0], pieces[:, 1], pieces[:, 2] = '<row r="', numbers, '">'
        for j, (letter, (fragments, codes)) in enumerate(zip(letters, cells, strict=False)):
            code = codes[start:stop]
            present = code >= 0
            at = 3 + 3 * j
            pieces[present, at] = f'<c r="{letter}'
            pieces[present, at + 1] = numbers[present]
            pieces[present, at + 2] = fragments[code[present]]
        pieces[:, -1] = "</row>"
        yield "".join(pieces.ravel().tolist())
    yield "</sheetData></worksheet>"


def _column_cells(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(fragments, codes)``: the XML after a cell's reference for each distinct value of
    the column, and each row's code into them (−1: blank)."""
    as_numbers = _numeric(values)
    if as_numbers is not None:
        codes, uniques = pd.factorize(as_numbers, use_na_sentinel=True)
        text = [_number_text(v) for v in np.asarray(uniques, dtype=object).tolist()]
        return _without_blanks(
            np.array([f'"><v>{t}</v></c>' for t in text], dtype=object),
            codes,
            [t == "" for t in text],
        )
    cells = values.astype(object).where(values.notna(), None)
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    texts = [v if type(v) is str else str(v) for v in np.asarray(uniques, dtype=object).tolist()]
    fragments = np.array(
        [f'" t="inlineStr"><is><t xml:space="preserve">{t}</t></is></c>' for t in xml_texts(texts)],
        dtype=object,
    )
    return _without_blanks(fragments, codes, [t == "" for t in texts])


def _without_blanks(
    fragments: np.ndarray, codes: np.ndarray, blank: list[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` with the rows whose value writes as nothing (``""``, ±inf) set to −1."""
    is_blank = np.asarray(blank, dtype=bool)
    if is_blank.any():
        codes = np.where((codes >= 0) & is_blank[np.maximum(codes, 0)], -1, codes)
    return fragments, codes


def _numeric(values: pd.Series) -> pd.Series | None:
    """The column as float/int values when it is written as numbers, else ``None``."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return values
    if not (pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)):
        return None
    present = values.dropna().astype(object)
    kind = pd.api.types.infer_dtype(present, skipna=True)
    numbers = not present.empty and kind in ("integer", "floating", "mixed-integer-float")
    return values if numbers else None


def _number_text(value: float | int) -> str:
    """A number as SpreadsheetML writes it (integers without a decimal point)."""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if np.isfinite(value) else ""


def _content_types(n: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
        f"{sheets}</Types>"
    )


def _package_rels() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )


def _workbook(titles: list[str]) -> str:
    sheets = "".join(
        f'<sheet name="{escape(title, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
        for i, title in enumerate(titles, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<workbook {_NS} {_NS_R}><bookViews><workbookView/></bookViews>"
        f"<sheets>{sheets}</sheets></workbook>"
    )


def _workbook_rels(n: int) -> str:
    sheets = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG_REL}">{sheets}'
        f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )


_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f"<styleSheet {_NS}>"
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
