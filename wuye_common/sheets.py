"""Spreadsheet reads bounded by the data, not by what a file declares.

Every reader of user tables (survey exports, 台账, 住户清册) goes through here or through
the streaming reader :mod:`evaluation.ingest.xlsx`, which both keep these promises:

- **ceilings** (:class:`Limits`, ``[ingest] max_rows`` / ``max_cells``; defaults
  :data:`DEFAULT_MAX_ROWS` rows and :data:`DEFAULT_MAX_CELLS` cells, well above a city
  round of 650,000 rows × 40 columns): a sheet with more non-blank rows, or more cells in
  its rows × columns that hold data, is refused with a located :class:`WuyeError` instead
  of being read;
- **blank rows are not rows**: rows without a value are skipped (their number is kept for
  the reconciliation), so time and memory grow with the rows that hold data;
- **no allocation by a declared or implied size**: python-calamine builds a dense range
  from the first to the last cell, so an 8 KB .xlsx with one cell at ``A1`` and one at
  ``XFD1048576`` would ask it for 17 billion cells. Before calamine reads an .xlsx sheet,
  :func:`xlsx_extent` scans its cell references (streamed, vectorised, any namespace
  prefix) and :func:`calamine_rows` refuses a sheet whose range is far larger than its
  cells (:data:`SPARSE_FACTOR`). The streaming reader never allocates by position at all.

It also holds what both .xlsx readers need of a workbook's parts (:func:`sheet_parts`,
:func:`zip_member`, :func:`xml_text`) and the file-kind check every reader starts with
(:func:`path_kind`: a FIFO or ``/dev/zero`` named as an input is never read).
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wuye_common.errors import Problem, WuyeError

DEFAULT_MAX_ROWS = 2_000_000
DEFAULT_MAX_CELLS = 100_000_000
SPARSE_FACTOR = 8
"""calamine may read a sheet whose range (rows × columns between the first and the last
cell) is at most this many times its cells, or :data:`SPARSE_FLOOR` cells."""
SPARSE_FLOOR = 4_000_000
CALAMINE_COST = 3
"""A sheet read by calamine may hold a third of the cell ceiling (it holds about eight
times the memory a cell costs the streaming reader)."""
CHUNK_BYTES = 8 << 20

_ATTR = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')
_ENTITY = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_DECL_ENCODING = re.compile(rb'<\?xml[^>]*encoding\s*=\s*["\']([^"\']+)["\']')


class Unsupported(Exception):
    """A workbook part this module (or the streaming reader) does not understand."""


@dataclass(frozen=True)
class Limits:
    """Ceilings of one read: non-blank rows, and cells (rows × columns holding data)."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_cells: int = DEFAULT_MAX_CELLS

    def check(
        self,
        rows: int,
        width: int,
        *,
        file: str,
        sheet: str | None = None,
        row: int | None = None,
    ) -> None:
        """Refuse (a located :class:`WuyeError`) ``rows`` non-blank rows of ``width``
        columns above the ceilings; ``row``: where the reader was when it stopped."""
        if rows > self.max_rows:
            what = f"数据行超过 {self.max_rows:,} 行（读到第 {row or rows:,} 行时停止）"
        elif rows * width > self.max_cells:
            what = f"单元格（行 × 列）超过 {self.max_cells:,} 个（{rows:,} 行 × {width:,} 列）"
        else:
            return
        raise WuyeError(
            Problem(
                f"文件过大：{what}，未读取",
                "确认这是本轮的导出（不是整库数据或多余的空白格式）；确需导入时，拆分文件，"
                "或在 round.toml 的 [ingest] 调高 max_rows / max_cells",
                file=file,
                sheet=sheet or None,
            )
        )


def unique_headers(headers: list[str]) -> list[str]:
    """Repeated header texts numbered as pandas does (``题目``, ``题目.1``, …); blank
    headers stay blank."""
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        if h and h in seen:
            seen[h] += 1
            out.append(f"{h}.{seen[h]}")
        else:
            seen[h] = 0
            out.append(h)
    return out


def path_kind(path: str | Path) -> str:
    """``"file"`` (a regular file), ``"dir"``, ``"missing"``, ``"other"`` (a FIFO, a
    device: never read, it may never end) or ``"unusable"`` (name too long, a NUL, a
    loop, no permission to look)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):
        return "unusable"
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "other"


def require_file(path: str | Path, what: str, fix: str) -> None:
    """A located :class:`WuyeError` unless ``path`` is a regular file; ``what`` names the
    input (``台账``), ``fix`` says where its path is set."""
    kind = path_kind(path)
    if kind == "file":
        return
    messages = {
        "missing": f"找不到{what}文件",
        "dir": f"{what}路径指向的是文件夹，不是文件",
        "other": f"{what}路径指向的不是普通文件（设备或管道）",
        "unusable": f"{what}路径无法使用（名称过长、含非法字符或无权访问）",
    }
    raise WuyeError(Problem(messages[kind], fix, file=str(path)))


# --------------------------------------------------------------------------- workbook parts


def sheet_parts(zf: zipfile.ZipFile) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``[(sheet name, sheet part)]`` in workbook order, and the workbook's relation
    targets by type (``sharedStrings``, ``styles``). Raises :class:`Unsupported`."""
    book = _relations(zf, "_rels/.rels", "")[1].get("officeDocument", "xl/workbook.xml")
    text = xml_text(read_part(zf, book))
    base = posixpath.dirname(book)
    by_id, by_type = _relations(
        zf, posixpath.join(base, "_rels", posixpath.basename(book) + ".rels"), base
    )
    sheets = []
    block = re.search(r"<sheets>(.*?)</sheets>", text, re.S)
    if block is None:
        raise Unsupported("no <sheets> in workbook")
    for tag in re.findall(r"<sheet\b([^>]*)/?>", block[1]):
        attrs = dict(_ATTR.findall(tag))
        rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
        if "name" not in attrs or rid is None or rid not in by_id:
            raise Unsupported("sheet without name or relation")
        sheets.append((xml_entities(attrs["name"]), by_id[rid]))
    return sheets, by_type


def _relations(zf: zipfile.ZipFile, name: str, base: str) -> tuple[dict[str, str], dict[str, str]]:
    """The internal targets (part names) of the relations part ``name``, by ``Id`` and by
    type (the last segment of ``Type``; the first relation of each type)."""
    by_id: dict[str, str] = {}
    by_type: dict[str, str] = {}
    for tag in re.findall(r"<Relationship\b([^>]*)/?>", xml_text(read_part(zf, name))):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("TargetMode") == "External":
            continue
        target = xml_entities(attrs.get("Target", ""))
        target = (
            target[1:]
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(base, target))
        )
        by_id[attrs.get("Id", "")] = target
        by_type.setdefault(attrs.get("Type", "").rsplit("/", 1)[-1], target)
    return by_id, by_type


def zip_member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The zip entry of part ``name``: present, not encrypted or patched, stored or
    deflated (the only methods OPC allows)."""
    info = zf.NameToInfo.get(name)
    if info is None:
        raise Unsupported("part missing")
    if info.flag_bits & 0x61:  # encrypted, compressed patched data, strong encryption
        raise Unsupported("encrypted part")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Unsupported("compression method")
    return info


def read_part(zf: zipfile.ZipFile, name: str) -> bytes:
    """A small part (workbook, relations, styles, shared strings), whole."""
    return zf.read(zip_member(zf, name))


def xml_text(data: bytes) -> str:
    """An XML part as text; only UTF-8 is handled here."""
    m = _DECL_ENCODING.search(data[:200])
    if m and m[1].lower().replace(b"-", b"") != b"utf8":
        raise Unsupported("XML encoding other than UTF-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unsupported("UTF-16 XML")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unsupported("XML not valid UTF-8") from exc


def xml_entities(raw: str) -> str:
    """XML entity and character references decoded; an unknown entity is unsupported."""
    if "&" not in raw:
        return raw
    found = _ENTITY.findall(raw)
    if len(found) != raw.count("&"):
        raise Unsupported("unknown XML entity")
    return _ENTITY.sub(_entity, raw)


def _entity(m: re.Match[str]) -> str:
    if m[1]:
        return _NAMED[m[1]]
    code = int(m[2]) if m[2] else int(m[3], 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise Unsupported("bad character reference")
    return chr(code)


# --------------------------------------------------------------------------- extent probe


@dataclass(frozen=True)
class Extent:
    """What an .xlsx sheet holds, from its cell references: ``cells`` (cell elements, an
    upper bound of the non-empty ones) and the smallest rectangle calamine would allocate
    (``rows`` × ``columns``, references without a position counted as one step further)."""

    cells: int
    rows: int
    columns: int

    @property
    def area(self) -> int:
        return self.rows * self.columns


def xlsx_extent(path: str | Path, sheet: str) -> Extent:
    """The :class:`Extent` of sheet ``sheet`` of an .xlsx, its XML streamed in chunks and
    scanned with numpy (every ``r="…"`` attribute, whatever the namespace prefix). Raises
    :class:`Unsupported` (or what :mod:`zipfile` raises) when the part cannot be found."""
    with zipfile.ZipFile(path) as zf:
        parts = dict(sheet_parts(zf)[0])
        if sheet not in parts:
            raise Unsupported("sheet part not found")
        probe = _Probe()
        with zf.open(zip_member(zf, parts[sheet])) as fh:
            tail = b""
            while data := fh.read(CHUNK_BYTES):
                buf = tail + data
                cut = buf.rfind(b">") + 1
                probe.chunk(buf[:cut])
                tail = buf[cut:]
                if len(tail) > CHUNK_BYTES:
                    raise Unsupported("no tag end in a chunk")
            probe.chunk(tail)
    return probe.extent()


class _Probe:
    """Running minima and maxima of the cell and row references of a sheet."""

    def __init__(self) -> None:
        self.cells = 0
        self.bare_cells = 0
        self.bare_rows = 0
        self.lo = np.array([2**31, 2**31])  # row, column
        self.hi = np.array([-1, -1])

    def chunk(self, buf: bytes) -> None:
        if not buf:
            return
        a = np.frombuffer(buf + b"\0\0\0\0", dtype=np.uint8)
        lt = np.flatnonzero(a[:-4] == 60)
        cell_tag, row_tag = _element_kinds(a, lt)
        refs = np.flatnonzero(
            (a[1:-3] == 114) & (a[2:-2] == 61) & (a[3:-1] == 34) & _SPACE[a[:-4]]
        )  # ' r="': on <row> and <c> only
        refs += 4  # the value's first byte
        quotes = np.flatnonzero(a == 34)
        ends = np.searchsorted(quotes, refs)
        if len(refs) and ends[-1] >= len(quotes):
            raise Unsupported("unclosed attribute")
        stop = quotes[ends]
        letters = _LETTER[a[refs]]
        self.cells += int(cell_tag.sum())
        cols, rows = _references(a, refs[letters], stop[letters])
        row_refs = _numbers(a, refs[~letters], stop[~letters])
        self.bare_cells += max(int(cell_tag.sum()) - int(letters.sum()), 0)
        self.bare_rows += max(int(row_tag.sum()) - int((~letters).sum()), 0)
        for k, values in ((0, np.r_[rows, row_refs]), (1, cols)):
            if len(values):
                self.lo[k] = min(self.lo[k], int(values.min()))
                self.hi[k] = max(self.hi[k], int(values.max()))

    def extent(self) -> Extent:
        span = np.where(self.hi >= 0, self.hi - self.lo + 1, 0)
        rows = int(span[0]) + self.bare_rows
        columns = int(span[1]) + self.bare_cells
        return Extent(self.cells, max(rows, 1 if self.cells else 0), columns)


_SPACE = np.zeros(256, dtype=bool)
_SPACE[[32, 9, 10, 13]] = True
_LETTER = np.zeros(256, dtype=bool)
_LETTER[65:91] = True
_ENDS = _SPACE.copy()
_ENDS[[47, 62]] = True  # '/', '>'


def _element_kinds(a: np.ndarray, lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which tags are cells (``c``) and rows (``row``), with or without a prefix."""
    name = lt + 1
    colon = np.zeros(len(lt), dtype=np.int64)
    for step in range(1, 12):  # a short prefix such as ``x:``
        hit = (colon == 0) & (a[np.minimum(lt + step, len(a) - 1)] == 58)
        colon[hit] = step
    name = np.where(colon > 0, lt + colon + 1, name)
    name = np.minimum(name, len(a) - 4)
    opening = a[np.minimum(lt + 1, len(a) - 1)] != 47  # not a closing tag such as </x:c>
    cell = opening & (a[name] == 99) & _ENDS[a[name + 1]]
    row = (
        opening
        & (a[name] == 114)
        & (a[name + 1] == 111)
        & (a[name + 2] == 119)
        & _ENDS[a[name + 3]]
    )
    return cell, row


def _numbers(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Decimal integers in ``a[start:stop]`` (up to 9 digits; anything else: 0)."""
    width = stop - start
    value = np.zeros(len(start), dtype=np.int64)
    ok = (width >= 1) & (width <= 9)
    for j in range(9):
        inside = ok & (j < width)
        digit = a[np.minimum(start + j, len(a) - 1)].astype(np.int64) - 48
        good = (digit >= 0) & (digit <= 9)
        ok &= ~inside | good
        value = np.where(inside, value * 10 + digit, value)
    return np.where(ok, value, 0)


def _references(
    a: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Columns (1-based) and rows of ``A1``-style references (odd ones give 0)."""
    col = np.zeros(len(start), dtype=np.int64)
    letters = np.zeros(len(start), dtype=np.int64)
    for j in range(3):
        at = np.minimum(start + j, len(a) - 1)
        more = (letters == j) & _LETTER[a[at]] & (start + j < stop)
        col = np.where(more, col * 26 + (a[at].astype(np.int64) - 64), col)
        letters += more
    return col, _numbers(a, start + letters, stop)


_ODS_TAG = re.compile(
    rb"<(?:[\w.-]+:)?table-row\b([^>]*)>|<(?:[\w.-]+:)?(?:covered-)?table-cell\b([^>]*)>"
    rb"|</(?:[\w.-]+:)?table-row>"
)
_ODS_REPEAT = re.compile(rb"number-(rows|columns)-repeated\s*=\s*[\"']([0-9]{1,10})[\"']")


def ods_extent(path: str | Path) -> Extent:
    """The :class:`Extent` of an .ods spreadsheet as calamine expands it: repeated rows and
    cells (``number-rows-repeated``, ``number-columns-repeated``) count as many times as
    they repeat when they hold a value (or pad one); trailing empty repeats do not.
    ``content.xml`` is streamed (every sheet counted)."""
    probe = _OdsProbe()
    with zipfile.ZipFile(path) as zf, zf.open(zip_member(zf, "content.xml")) as fh:
        tail = b""
        while data := fh.read(CHUNK_BYTES):
            buf = tail + data
            cut = buf.rfind(b">") + 1
            for m in _ODS_TAG.finditer(buf, 0, cut):
                probe.tag(m)
            tail = buf[cut:]
            if len(tail) > CHUNK_BYTES:
                raise Unsupported("no tag end in a chunk")
    return Extent(probe.cells, probe.rows, probe.width)


class _OdsProbe:
    """Running counts of an .ods's expanded cells, rows and widest row."""

    def __init__(self) -> None:
        self.cells = self.rows = self.width = 0
        self.repeat = 1
        self.row_cells = self.row_width = self.pending = 0
        self.pending_rows = 0

    def tag(self, m: re.Match[bytes]) -> None:
        if m.group(0).startswith(b"</"):
            if self.row_cells:
                self.rows += self.pending_rows + self.repeat
                self.pending_rows = 0
                self.cells += self.repeat * self.row_cells
                self.width = max(self.width, self.row_width)
            else:
                self.pending_rows += self.repeat  # empty rows count only before a full one
            return
        attrs = m.group(1) if m.group(1) is not None else m.group(2)
        repeat = _ODS_REPEAT.search(attrs)
        count = int(repeat[2]) if repeat else 1
        if m.group(1) is not None:  # a row starts
            self.repeat, self.row_cells, self.row_width, self.pending = count, 0, 0, 0
        elif attrs.rstrip().endswith(b"/"):  # an empty cell: counts only if a value follows
            self.pending += count
        else:
            self.row_width += self.pending + count
            self.row_cells += self.pending + count
            self.pending = 0


# --------------------------------------------------------------------------- calamine, bounded


def calamine_rows(
    path: str | Path,
    pick: Callable[[list[str]], str],
    limits: Limits,
    *,
    file: str,
) -> tuple[list[list[object]], np.ndarray, str, list[str], int]:
    """The non-blank rows of a sheet read with python-calamine, without letting it
    allocate a sparse sheet's whole range: ``(rows, row numbers (1-based), sheet name, all
    sheet names, rows in calamine's range)``; ``pick(names)`` chooses the sheet. Each row is a list of cell values
    from column A (calamine's types: ``str``, ``float``, ``bool``, dates). Refuses (a
    located :class:`WuyeError`) a sheet over ``limits`` or, for .xlsx, one whose range is
    far larger than its cells. Other exceptions are calamine's: the caller names them."""
    from python_calamine import CalamineWorkbook

    suffix = Path(path).suffix.lower()
    zipped = suffix in (".xlsx", ".xlsm", ".ods") and zipfile.is_zipfile(path)
    if zipped and suffix == ".ods":  # calamine expands an .ods's repeats when it opens it
        _check_extent(path, "", limits, file, ods=True)
    book = CalamineWorkbook.from_path(str(path))
    names = [str(s) for s in book.sheet_names]
    target = pick(names)
    if zipped and suffix != ".ods":
        _check_extent(path, target, limits, file)
    sheet = book.get_sheet_by_name(target)
    start = sheet.start if sheet.height else None
    first_col = int(start[1]) if start else 0
    lead = [""] * first_col
    rows: list[list[object]] = []
    numbers: list[int] = []
    width = i = 0
    for i, row in enumerate(sheet.iter_rows(), start=1):
        if any(v != "" for v in row):
            rows.append(lead + list(row) if first_col else list(row))
            numbers.append(i)
            width = max(width, len(rows[-1]))
            if len(rows) > limits.max_rows or len(rows) * width > limits.max_cells:
                limits.check(len(rows), width, file=file, sheet=target, row=i)
    return rows, np.asarray(numbers, dtype=np.int64), target, names, i


def _check_extent(
    path: str | Path, sheet: str, limits: Limits, file: str, *, ods: bool = False
) -> None:
    """Refuse an .xlsx sheet (an .ods spreadsheet) calamine would allocate far beyond its
    cells, or over the ceilings (its cell count is an upper bound of the non-blank cells)."""
    try:
        extent = ods_extent(path) if ods else xlsx_extent(path, sheet)
    except (Unsupported, zipfile.BadZipFile, OSError, EOFError, ValueError):
        return  # calamine reads (or names the damage of) what the probe cannot
    if extent.area > max(SPARSE_FACTOR * extent.cells, SPARSE_FLOOR):
        raise WuyeError(
            Problem(
                f"工作表的数据区域过于稀疏：只有约 {extent.cells:,} 个单元格，却分散在 "
                f"{extent.rows:,} 行 × {extent.columns:,} 列的范围内，未读取",
                "删除表格远处多余的单元格（或只把数据复制到新工作簿），另存为 .xlsx 后重试",
                file=file,
                sheet=sheet or None,
            )
        )
    # calamine holds ~32 bytes a cell (the streaming reader 4): its share of the ceiling
    share = Limits(limits.max_rows, limits.max_cells // CALAMINE_COST)
    share.check(extent.rows, extent.columns, file=file, sheet=sheet or None)
