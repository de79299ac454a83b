"""A streaming reader for plain .xlsx sheets: every column as a ``Categorical`` of text.

An .xlsx is a zip; a survey export's sheet is simple XML (``<row><c r="B2" t="s"><v>12</v>
</c>…``) and most of its text cells are *shared strings*: the ``<v>`` of such a cell is an
index into the workbook's shared-string table, so it already is a category code. This
reader reads the shared-string table once, then stream-decompresses the sheet in chunks of
:data:`CHUNK_BYTES` (cut after a ``</row>``) and finds the cells of each chunk with numpy
on the raw bytes (positions of ``<``, ``>`` and ``"``): no Python object per shared-string,
number or boolean cell (an inline-string cell, rare in exports, makes one ``bytes`` key per
text run). Each cell becomes an ``int32`` code in a (column × row) table of the columns and
rows that hold a value (*slots*, so memory and time grow with the data, never with a cell's
position: a stray cell at ``XFD1048576`` costs one slot): ``≥ 0`` a shared string, ``-1``
empty, ``≤ -2`` another value (number, boolean, inline string) kept once per distinct
value per chunk. Each column is then turned into text once per distinct code. Rows beyond
the ceilings (:class:`wuye_common.sheets.Limits`) stop the read with a located error. A
large sheet (:data:`PARALLEL_MIN_BYTES`) is scanned by :data:`READ_PROCESSES` processes:
each helper (a fresh Python process) decompresses the part itself and scans a later share of the chunks,
this process the first share, merging the helpers' codes in order (:func:`_read_in_shares`:
same frame and same errors as one process; threads do not help, the scan holds the GIL).

The result is exactly what ``python-calamine``'s rows (:func:`wuye_common.sheets.calamine_rows`)
followed by :func:`wuye_common.cells.categorical_texts` give, blank rows and columns left
out (``tests/ingest/test_fast_xlsx.py`` compares both on every fixture), including
calamine's text rules: ``\\r\\n`` → ``\\n``,
XML entities, leading/trailing XML whitespace trimmed unless ``xml:space="preserve"``,
``_x00HH_`` escapes, phonetic runs (``<rPh>``) dropped. Anything else — formulas, error or
date-typed cells, numbers with a date or custom style, cells without a reference,
namespace prefixes, other encodings, encrypted or unusually compressed parts, malformed
XML — raises :class:`Unsupported`, and the caller reads the file with calamine instead. A
damaged zip raises what :mod:`zipfile`/:mod:`zlib` raise (``BadZipFile``, ``zlib.error``,
``EOFError``, ``OSError``, ``UnicodeDecodeError`` for a member name); any other exception
is a bug here.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from wuye_common.cells import float_texts
from wuye_common.sheets import (
    Limits,
    Unsupported,
    read_part,
    sheet_parts,
    xml_entities,
    xml_text,
    zip_member,
)

CHUNK_BYTES = 8 << 20
#: a sheet part this large (uncompressed) is scanned by up to READ_PROCESSES processes
PARALLEL_MIN_BYTES = 128 << 20
READ_PROCESSES = 2
FIRST_SHARE_WEIGHT = 1.2  # this process's share of the chunks against a helper's 1
#: builtin number formats calamine reads as plain numbers (not dates or durations)
PLAIN_BUILTIN_FORMATS = frozenset({*range(0, 14), *range(37, 45), 48, 49})

_NUMBER, _SHARED, _BOOL, _INLINE = 0, 1, 2, 3
_XML_WS = " \t\r\n"
_WS_BYTES = np.array([32, 9, 10, 13], dtype=np.uint8)
#: first letters of the tags that may stand inside <sheetData> (row, c, v, f, is, t, r,
#: rPr and its children, rPh, phoneticPr, extLst/ext, and closing tags)
_TAG_LETTERS = np.zeros(256, dtype=bool)
_TAG_LETTERS[np.frombuffer(b"/rcvfitbusoepl", dtype=np.uint8)] = True
_IS_WS = np.zeros(256, dtype=bool)
_IS_WS[_WS_BYTES] = True
_ENDS_NAME = _IS_WS.copy()  # a byte that ends a tag name: whitespace, '>' or '/'
_ENDS_NAME[[62, 47]] = True
_PAD = 64
_MAX_COLUMNS = 16_384
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_SI = re.compile(
    r'<si>\s*<t>([^<]*)</t>\s*</si>|<si>\s*<t xml:space="preserve">([^<]*)</t>'
    r"\s*</si>|<si>(.*?)</si>|<si\s*/>",
    re.S,
)
_RUN_TEXT = re.compile(r"<t(\s[^>]*)?>([^<]*)</t>|<t(?:\s[^>]*)?/>")
_PHONETIC = re.compile(r"<rPh\b.*?</rPh>|<rPh\b[^>]*/>", re.S)
_ATTR = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')


@dataclass
class _Extras:
    """Values other than shared strings, one entry per distinct value per chunk."""

    kinds: list[np.ndarray] = field(default_factory=list)
    numbers: list[np.ndarray] = field(default_factory=list)
    keys: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(self, kind: int, numbers: np.ndarray | None, keys: np.ndarray | None) -> int:
        """Append a block of distinct values; returns the extra index of its first."""
        n = len(numbers) if numbers is not None else len(keys)  # type: ignore[arg-type]
        self.kinds.append(np.full(n, kind, dtype=np.int8))
        self.numbers.append(numbers if numbers is not None else np.full(n, np.nan))
        self.keys.append(keys if keys is not None else np.full(n, None, dtype=object))
        start = self.size
        self.size += n
        return start


@dataclass
class _Cells:
    """A sheet's cells: ``codes`` (column × row, see the module docstring), the extra values
    the negative codes point to, and ``kinds`` (kind × column: the column holds that kind)."""

    codes: np.ndarray
    extras: _Extras
    kinds: np.ndarray
    rows: np.ndarray
    """Each row's number in the sheet (1-based): rows without a value are not there."""
    columns: np.ndarray
    """Each column's position in the sheet (0-based): columns without a value are not there."""
    last_row: int
    """The last row holding a cell."""


def read_xlsx_sheet(
    path: str | Path, pick, limits: Limits | None = None, processes: int | None = None
) -> tuple[pd.DataFrame, str, list[str], int]:
    """``(frame, sheet name, all sheet names, last row)``: ``pick(names)`` chooses the
    sheet; ``frame`` has one ``category`` column (categories ``str``) per sheet column
    holding a value, labelled by its position (0 = A), and one row per sheet row holding
    a value, labelled by its number − 1 (blank rows and columns are not there); ``last row``
    is the last row holding a cell (blank rows below the header = that − header row − data
    rows). Raises :class:`Unsupported`, or a located :class:`WuyeError` over ``limits``.

    ``processes``: how many processes scan the sheet's chunks (``None``: up to
    :data:`READ_PROCESSES` for a sheet part of :data:`PARALLEL_MIN_BYTES` or more, else
    one); the result and the errors are the same for any number (see :func:`_read_in_shares`)."""
    try:
        book = zipfile.ZipFile(path)
    except NotImplementedError as exc:  # a zip version or feature zipfile does not read
        raise Unsupported("zip version") from exc
    with book as zf:
        sheets, rels_of = sheet_parts(zf)
        names = [name for name, _ in sheets]
        target = pick(names)
        member = dict(sheets).get(target)
        if member is None:
            raise Unsupported("sheet part not found")
        where = (Path(path).name, target)
        size = zf.NameToInfo[member].file_size if member in zf.NameToInfo else 0
        with _helpers(path, member, size, processes, limits or Limits(), where) as helpers:
            cells, shared = _read_book(zf, member, rels_of, limits or Limits(), where, helpers)
    return _columns(cells, shared), target, names, cells.last_row


def _read_book(zf, member, rels_of, limits, where, helpers) -> tuple[_Cells, np.ndarray]:
    """The cells of sheet part ``member`` and the shared-string table, with ``helpers``
    (:func:`_helpers`) scanning later shares of the sheet's chunks."""
    sst_part = rels_of.get("sharedStrings", "xl/sharedStrings.xml")
    styles_part = rels_of.get("styles", "xl/styles.xml")
    plain = _plain_styles(read_part(zf, styles_part) if styles_part in zf.NameToInfo else None)
    shared = (
        _shared_strings(read_part(zf, sst_part))
        if sst_part in zf.NameToInfo
        else np.empty(0, dtype=object)
    )
    state = _State(len(shared), plain, limits, where)
    for helper in helpers:
        helper.send((len(shared), plain))
    with zf.open(zip_member(zf, member)) as fh:
        cells = _read_in_shares(fh, state, helpers) if helpers else _read_cells(fh, state)
    return cells, shared


# --------------------------------------------------------------------------- workbook parts


def _plain_styles(data: bytes | None) -> np.ndarray:
    """Per cell style (``s``): True when calamine reads its numbers as plain numbers."""
    if data is None:
        return np.ones(1, dtype=bool)
    text = xml_text(data)
    custom = {
        _style_id(a["numFmtId"]): xml_entities(a.get("formatCode", ""))
        for a in (dict(_ATTR.findall(t)) for t in re.findall(r"<numFmt\b([^>]*)/?>", text))
        if "numFmtId" in a
    }
    block = re.search(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", text, re.S)
    if block is None:
        return np.ones(1, dtype=bool)
    plain = []
    for tag in re.findall(r"<xf\b([^>]*?)/?>", block[1]):
        fmt = _style_id(dict(_ATTR.findall(tag)).get("numFmtId", "0"))
        if fmt in custom:
            code = custom[fmt]
            plain.append(not re.search(r'[dmhysapDMHYSAP\[\]"\\_]', code))
        else:
            plain.append(fmt in PLAIN_BUILTIN_FORMATS)
    return np.array(plain or [True], dtype=bool)


def _style_id(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise Unsupported("number format id")
    return int(text)


# --------------------------------------------------------------------------- text rules


def _run_text(raw: str, preserve: bool) -> str:
    """One ``<t>``'s text as calamine reads it (before ``_x00HH_`` escapes)."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = xml_entities(raw)
    return text if preserve else text.strip(_XML_WS)


def _escapes(text: str) -> str:
    """``_x00HH_`` → the character (calamine decodes only codes up to 0xFF)."""
    if "_x" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if int(m[1], 16) <= 0xFF else m[0], text)


def _rich_text(inner: str) -> str:
    """The text of a ``<si>``/``<is>`` with runs: its ``<t>`` parts, phonetic runs dropped."""
    inner = _PHONETIC.sub("", inner)
    if "<rPh" in inner:
        raise Unsupported("phonetic run")
    parts = []
    for attrs, raw in _RUN_TEXT.findall(inner):
        parts.append(_run_text(raw, 'xml:space="preserve"' in (attrs or "")))
    return _escapes("".join(parts))


def _shared_strings(data: bytes) -> np.ndarray:
    """The shared-string table as an object array of ``str``."""
    text = xml_text(data)
    out = []
    append = out.append
    for plain, kept, rich in _SI.findall(text):
        if rich:
            append(_rich_text(rich))
        elif kept:
            append(
                _escapes(_run_text(kept, True))
                if ("&" in kept or "\r" in kept or "_x" in kept)
                else kept
            )
        elif "&" in plain or "\r" in plain or "_x" in plain:
            append(_escapes(_run_text(plain, False)))
        else:
            append(plain.strip(_XML_WS))
    if text.count("<si") != len(out):
        raise Unsupported("shared strings not understood")
    return np.array(out, dtype=object) if out else np.empty(0, dtype=object)


# --------------------------------------------------------------------------- the sheet


def _read_cells(fh, state: _State) -> _Cells:
    """The sheet's cells, read from the sheet part ``fh`` chunk by chunk into ``state``."""
    for _, chunk in _sheet_chunks(fh, CHUNK_BYTES):
        state.chunk(chunk)
    return state.result()


def _sheet_chunks(fh, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """The ``<sheetData>`` of the sheet part ``fh`` in chunks cut after a ``</row>``, each
    with the number of reads of ``chunk_bytes`` made when it was cut: its place in the
    stream, the same in every process that reads the part."""
    buf = b""
    reads = 0
    while True:  # the part before <sheetData>
        data = fh.read(chunk_bytes)
        reads += 1
        buf += data
        m = re.search(rb"<sheetData\s*(/?)>", buf)
        if m:
            if m[1]:
                return
            buf = buf[m.end() :]
            break
        if b":sheetData" in buf:
            raise Unsupported("namespace prefix")
        if not data:
            raise Unsupported("no <sheetData>")
        if len(buf) > 64 * chunk_bytes:
            raise Unsupported("no <sheetData> near the start")
    while True:
        data = fh.read(chunk_bytes)
        reads += 1
        if not data:
            end = buf.find(b"</sheetData>")
            if end < 0:
                raise Unsupported("no </sheetData>")
            yield reads, buf[:end]
            return
        buf += data
        end = buf.find(b"</sheetData>")
        if end >= 0:
            yield reads, buf[:end]
            return
        cut = buf.rfind(b"</row>")
        if cut >= 0:
            yield reads, buf[: cut + 6]
            buf = buf[cut + 6 :]


# --------------------------------------------------------------------------- several processes
#
# The scan holds the GIL between its numpy passes, so threads do not help; zlib is cheap
# next to the scan. A helper process opens the file itself, decompresses the sheet part up
# to its share of the chunks (whose places, the reads of :func:`_sheet_chunks`, are the same
# in every process), scans that share into a :class:`_State` of its own and sends it back
# (:class:`_Part`, a table of codes as large as its share). This process scans the first
# share meanwhile and merges the parts in order. A helper is a fresh interpreter started
# with :mod:`subprocess` (the same on Windows, macOS and Linux; it never imports the
# caller's ``__main__``), and only for large sheets (:data:`PARALLEL_MIN_BYTES`).


@dataclass
class _Part:
    """What a helper scanned: its :class:`_State`'s rows, columns and values."""

    table: np.ndarray
    cols: np.ndarray
    """Each column slot's column (0-based)."""
    rows: np.ndarray
    kinds: np.ndarray
    extras: _Extras
    top_row: int
    last_row: int | None
    """The number of the last ``<row>`` seen (``None``: none)."""
    log: list[tuple[int, np.ndarray, int]]
    """Per chunk stored: rows so far, the columns first seen in it, its last row."""


#: the helper process: a fresh interpreter that imports this module and never the caller's
#: ``__main__`` (a ``multiprocessing`` spawn would run an unguarded script of the caller's
#: again in the helper, with all it does); ``sys.path`` comes first, as a pickle on stdin
_HELPER_CODE = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from evaluation.ingest.xlsx import _helper_main; _helper_main()"
)


class _Helper:
    """A process scanning the chunks of one share (reads ``start`` up to ``stop``); messages
    are pickles over its stdin and stdout."""

    def __init__(self, path, member, start, stop, limits, where) -> None:
        self.start = start
        self.process: subprocess.Popen | None = None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _HELPER_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except (OSError, ValueError):  # no process here: this process scans every chunk
            return
        self.send(list(sys.path))
        self.send((str(path), member, CHUNK_BYTES, start, stop, limits, where))

    def send(self, message) -> None:
        try:
            if self.process is not None:
                pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self.process.stdin.flush()
        except (OSError, ValueError):  # the helper has ended: its share is scanned here
            self.close()

    def result(self) -> _Part | None:
        """The helper's part; ``None`` when it failed (for any reason)."""
        try:
            return None if self.process is None else pickle.load(self.process.stdout)
        except Exception:  # ended early, cut short, not importable there: scanned here
            return None
        finally:
            self.close()

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        for pipe in (process.stdin, process.stdout):
            with suppress(OSError):
                pipe.close()
        if process.poll() is None:
            process.kill()
        process.wait()


class _Pipes:
    """The helper's side of :class:`_Helper`: pickles read from ``inp``, sent to ``out``."""

    def __init__(self, inp, out) -> None:
        self.inp, self.out = inp, out

    def recv(self):
        return pickle.load(self.inp)

    def send(self, message) -> None:
        pickle.dump(message, self.out, protocol=pickle.HIGHEST_PROTOCOL)
        self.out.flush()

    def close(self) -> None:
        self.out.close()


def _helper_main() -> None:
    """The helper process (:data:`_HELPER_CODE`): its arguments, then the shared-string
    count and styles, come as pickles on stdin; its part goes back as a pickle on stdout
    (anything else printed there goes to stderr)."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _scan_share(_Pipes(sys.stdin.buffer, out), *pickle.load(sys.stdin.buffer))


@contextmanager
def _helpers(path, member, size, processes, limits, where) -> Iterator[list[_Helper]]:
    """Helpers for all shares but the first (none for a small sheet, see
    :func:`read_xlsx_sheet`), ended when the read ends."""
    if processes is None:
        processes = min(READ_PROCESSES, os.cpu_count() or 1) if size >= PARALLEL_MIN_BYTES else 1
    if processes < 2 or multiprocessing.current_process().daemon:  # daemons have no children
        yield []
        return
    reads = size // CHUNK_BYTES + 2  # the reads of _sheet_chunks, about
    # this process's share a little larger: a helper first starts Python and decompresses
    # the part up to its share, this process parses the shared strings meanwhile
    weights = np.r_[0.0, np.cumsum([FIRST_SHARE_WEIGHT, *[1.0] * (processes - 1)])]
    starts = [max(1, round(reads * w / weights[-1])) for w in weights[1:-1]]
    helpers = []
    try:
        for start, stop in zip(starts, [*starts[1:], None], strict=True):
            helpers.append(_Helper(path, member, start, stop, limits, where))
        yield helpers
    finally:
        for helper in helpers:
            helper.close()


def _scan_share(conn, path, member, chunk_bytes, start, stop, limits, where) -> None:
    """A helper process: the chunks of sheet part ``member`` from read ``start`` up to
    ``stop`` scanned into a :class:`_State` (the shared-string count and the styles come
    through ``conn``), sent back as a :class:`_Part`; ``None`` when anything fails (then
    the parent scans the share itself and raises what the serial read raises)."""
    part = None
    try:
        state = None
        with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
            for reads, chunk in _sheet_chunks(fh, chunk_bytes):
                if reads < start:
                    continue
                if stop is not None and reads >= stop:
                    break
                if state is None:
                    state = _State.helper(*conn.recv(), limits, where)
                state.chunk(chunk)
        part = (state or _State.helper(0, np.ones(1, dtype=bool), limits, where)).part()
    except Exception:  # any failure: the parent scans this share itself
        part = None
    try:
        conn.send(part)
    finally:
        conn.close()


def _read_in_shares(fh, state: _State, helpers: list[_Helper]) -> _Cells:
    """The sheet's cells, this process scanning the chunks before the first helper's share
    and merging each helper's part in order (:meth:`_State.merge`). From a helper whose
    part is missing or would not be stored as the serial read stores it, this process scans
    the rest itself: the result, and any error, are the serial read's."""
    done = 0  # helpers merged
    alone = False  # this process scans every chunk from here on
    for reads, chunk in _sheet_chunks(fh, CHUNK_BYTES):
        while not alone and done < len(helpers) and reads >= helpers[done].start:
            if state.merge(helpers[done].result()):
                done += 1
            else:
                alone = True
                for helper in helpers[done:]:
                    helper.close()
        if alone or done == 0:
            state.chunk(chunk)
        elif done == len(helpers):
            break  # the last helper read the sheet to its end
    return state.result()


@dataclass
class _Tags:
    """A chunk's bytes and where its tags are."""

    buf: bytes
    a: np.ndarray
    """The bytes as ``uint8``, followed by :data:`_PAD` zeros."""
    body: np.ndarray
    """The bytes without the padding."""
    lt: np.ndarray
    """Position of each ``<``, then the chunk's length (the "next tag" of the last one)."""
    gt: np.ndarray
    """Position of each ``>``."""
    b1: np.ndarray
    """The first byte after each ``<``."""
    b2: np.ndarray
    """The second byte after each ``<``."""
    end2: np.ndarray
    """The second byte ends the tag name (one-letter tags: ``<c``, ``<v``, ``<f``, …)."""


@dataclass
class _Elements:
    """The chunk's ``<row …>`` and ``<c …>`` elements."""

    start: np.ndarray
    """Position of the ``<`` of each."""
    end: np.ndarray
    """Position of the ``>`` that ends its start tag."""
    is_row: np.ndarray


@dataclass
class _Attributes:
    """The elements' attributes ``name="value"``, one entry per attribute."""

    open: np.ndarray
    """Position of the opening quote."""
    close: np.ndarray
    """Position of the closing quote."""
    owner: np.ndarray
    """The element (index into :class:`_Elements`)."""
    single: np.ndarray
    """The name has one letter (``r``, ``s``, ``t``)."""
    name: np.ndarray
    """The name's last letter."""


@dataclass
class _ChunkCells:
    """The chunk's ``<c>`` elements."""

    start: np.ndarray
    """Position of the ``<`` of each."""
    selfclose: np.ndarray
    """``<c …/>``: no value."""
    col: np.ndarray
    """Column (0-based)."""
    row: np.ndarray
    """Row (1-based)."""
    kind: np.ndarray
    """``_NUMBER``/``_SHARED``/``_BOOL``/``_INLINE`` from the ``t`` attribute."""
    style: np.ndarray
    """The ``s`` attribute (0 without)."""


def _tags(buf: bytes) -> _Tags | None:
    """Where the tags of ``buf`` are; checks that only supported tags occur. ``None`` for a
    chunk without tags (only whitespace)."""
    n = len(buf)
    a = np.frombuffer(buf + b"\0" * _PAD, dtype=np.uint8)
    body = a[:n]
    lt = np.flatnonzero(body == 60)
    if not len(lt):
        if body.tobytes().strip():
            raise Unsupported("text outside cells")
        return None
    lt = np.append(lt, n)  # sentinel: "next tag" of the last one
    b1 = a[lt[:-1] + 1]
    b2 = a[lt[:-1] + 2]
    if not _TAG_LETTERS[b1].all():
        raise Unsupported("unexpected tag (comment, CDATA, prefix, …)")
    end2 = _ENDS_NAME[b2]
    if ((b1 == 102) & end2).any():
        raise Unsupported("formula")
    if ((b1 == 118) & end2 & (b2 != 62)).any():
        raise Unsupported("<v> with attributes or empty")
    if ((b1 == 114) & (b2 == 80) & (a[lt[:-1] + 3] == 104)).any():
        raise Unsupported("phonetic run in an inline string")
    gt = np.flatnonzero(body == 62)
    return _Tags(buf=buf, a=a, body=body, lt=lt, gt=gt, b1=b1, b2=b2, end2=end2)


def _elements(t: _Tags) -> _Elements | None:
    """The ``<row …>`` and ``<c …>`` elements and their start tags (``None``: none)."""
    a, lt, b1, b2 = t.a, t.lt, t.b1, t.b2
    end3 = a[lt[:-1] + 4]
    is_row = (b1 == 114) & (b2 == 111) & (a[lt[:-1] + 3] == 119) & _ENDS_NAME[end3]
    ei = np.flatnonzero(is_row | ((b1 == 99) & t.end2))  # <row …> and <c …> elements
    if not len(ei):
        return None
    X = lt[ei]
    E = np.searchsorted(t.gt, X)  # the '>' that ends each element's start tag
    if len(E) and E[-1] >= len(t.gt):
        raise Unsupported("start tag not closed")
    E = t.gt[E]
    if (lt[ei + 1] <= E).any() or (t.gt[np.searchsorted(t.gt, lt[ei + 1]) - 1] != E).any():
        raise Unsupported("start tag not understood")
    return _Elements(start=X, end=E, is_row=is_row[ei])


def _attributes(t: _Tags, el: _Elements) -> _Attributes:
    """The attributes of the start tags: the quotes inside a start tag come in pairs
    ``name="value"``; checks there is at most one ``r`` per element."""
    a, X, E = t.a, el.start, el.end
    q = np.flatnonzero(t.body == 34)
    first = np.searchsorted(q, X)
    count = np.searchsorted(q, E) - first
    if (count % 2).any():
        raise Unsupported("unbalanced quotes")
    owner = np.repeat(np.arange(len(X)), count)
    qq = q[first[owner] + np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)]
    if b"'" in t.buf:
        ap = np.flatnonzero(t.body == 39)
        if (np.searchsorted(ap, E) > np.searchsorted(ap, X)).any():
            raise Unsupported("single-quoted attribute")
    qo, qc, ko = qq[0::2], qq[1::2], owner[0::2]
    if (a[qo - 1] != 61).any():
        raise Unsupported("spaces around '='")
    single = _IS_WS[a[qo - 3]]
    name = a[qo - 2]
    is_r = single & (name == 114)
    if (np.bincount(ko[is_r], minlength=len(X)) > 1).any():
        raise Unsupported("two references")
    return _Attributes(open=qo, close=qc, owner=ko, single=single, name=name)


def _chunk_cells(t: _Tags, el: _Elements, at: _Attributes, rows: np.ndarray) -> _ChunkCells | None:
    """The cells with their reference (else the previous cell's column + 1), type and
    style (``None``: no cells)."""
    a = t.a
    row_number = np.cumsum(el.is_row) - 1  # ordinal of the row each element is in
    cells = np.flatnonzero(~el.is_row)
    if not len(cells):
        return None
    if row_number[cells[0]] < 0:
        raise Unsupported("cell outside a row")
    nc = len(cells)
    cell_of = np.full(len(el.start), -1, dtype=np.int64)
    cell_of[cells] = np.arange(nc)
    keep = ~el.is_row[at.owner]
    qo, qc, ko = at.open[keep], at.close[keep], cell_of[at.owner[keep]]
    single, name = at.single[keep], at.name[keep]
    is_r, is_s, is_t = single & (name == 114), single & (name == 115), single & (name == 116)
    col = np.full(nc, -1, dtype=np.int64)
    row = rows[row_number[cells]]
    col[ko[is_r]], row[ko[is_r]] = _reference(a, qo[is_r] + 1, qc[is_r])
    if (col < 0).any():  # cells without a reference: the previous cell's column + 1
        col = _follow_in_groups(col, row_number[cells])
    kind = np.zeros(nc, dtype=np.int8)
    if is_t.any():
        kt = ko[is_t]
        if (np.bincount(kt, minlength=nc) > 1).any():
            raise Unsupported("two t attributes")
        kind[kt] = _cell_types(a, qo[is_t] + 1, qc[is_t])
    style = np.zeros(nc, dtype=np.int64)
    if is_s.any():
        style[ko[is_s]] = _digits(a, qo[is_s] + 1, qc[is_s], 9)
    return _ChunkCells(
        start=el.start[cells],
        selfclose=a[el.end[cells] - 1] == 47,
        col=col,
        row=row,
        kind=kind,
        style=style,
    )


class _State:
    """Codes gathered chunk by chunk, in a table of the rows and columns that hold a value
    (row and column *slots*): a sheet's positions never size it, so a stray cell at
    ``XFD1048576`` adds one row and one column, not a million."""

    def __init__(self, n_shared: int, plain: np.ndarray, limits: Limits, where: tuple) -> None:
        self.n_shared = n_shared
        self.plain = plain
        self.limits = limits
        self.where = where  # (file, sheet) of the ceiling's error
        self.table = np.full((8, 1 << 12), -1, dtype=np.int32)  # column slot × row slot
        self.row_numbers = np.zeros(1 << 12, dtype=np.int64)  # each row slot's row (1-based)
        self.col_slot = np.full(_MAX_COLUMNS, -1, dtype=np.int64)  # column → its slot
        self.slot_cols: list[int] = []  # each column slot's column (0-based)
        self.n_rows = 0
        self.top_row = 0  # the last row stored
        self.extras = _Extras()
        self.kinds = np.zeros((4, 8), dtype=bool)  # kind × column slot: column holds that kind
        self.last_row: int | None = 0  # the last <row>'s number (None: unknown, in a helper)
        self.log: list[tuple[int, np.ndarray, int]] | None = None  # see _Part.log

    @classmethod
    def helper(cls, n_shared: int, plain: np.ndarray, limits: Limits, where: tuple) -> _State:
        """The state of a helper process (:func:`_scan_share`): the rows before its share
        are not known, and each chunk stored is logged for :meth:`merge`."""
        state = cls(n_shared, plain, limits, where)
        state.last_row, state.log = None, []
        return state

    def part(self) -> _Part:
        """What a helper sends back."""
        n_cols = len(self.slot_cols)
        return _Part(
            table=self.table[:n_cols, : self.n_rows].copy(),
            cols=np.asarray(self.slot_cols, dtype=np.int64),
            rows=self.row_numbers[: self.n_rows].copy(),
            kinds=self.kinds[:, :n_cols].copy(),
            extras=self.extras,
            top_row=self.top_row,
            last_row=self.last_row,
            log=self.log or [],
        )

    def merge(self, part: _Part | None) -> bool:
        """Add a helper's part (the chunks that come next) as :meth:`_store` would have
        stored its chunks; ``False``, nothing changed, when there is no part or it starts
        at or before the last row stored (rows merged or out of order) or the chunks cross
        a ceiling here: then this process scans them itself and raises as it must."""
        if part is None or (len(part.rows) and self.n_rows and part.rows[0] <= self.top_row):
            return False
        if self.n_shared + self.extras.size + part.extras.size >= 2**31 - 2:
            return False
        seen = self.col_slot >= 0
        n_cols = len(self.slot_cols)
        for rows, fresh, _ in part.log:
            n_cols += int((~seen[fresh]).sum())
            seen[fresh] = True
            rows += self.n_rows
            if rows > self.limits.max_rows or rows * n_cols > self.limits.max_cells:
                return False
        fresh = part.cols[self.col_slot[part.cols] < 0]
        top = self.n_rows + len(part.rows)
        self._grow(len(self.slot_cols) + len(fresh), top)
        self.col_slot[fresh] = len(self.slot_cols) + np.arange(len(fresh))
        self.slot_cols.extend(fresh.tolist())
        at = self.col_slot[part.cols]
        shift = np.int32(self.extras.size)  # the part's other values come after ours
        self.table[at, self.n_rows : top] = np.where(
            part.table <= -2, part.table - shift, part.table
        )
        self.row_numbers[self.n_rows : top] = part.rows
        self.kinds[:, at] |= part.kinds
        for name in ("kinds", "numbers", "keys"):
            getattr(self.extras, name).extend(getattr(part.extras, name))
        self.extras.size += part.extras.size
        if len(part.rows):
            self.n_rows, self.top_row = top, part.top_row
        if part.last_row is not None:
            self.last_row = part.last_row
        return True

    def result(self) -> _Cells:
        """The cells, columns in sheet order."""
        n_cols = len(self.slot_cols)
        order = np.argsort(np.asarray(self.slot_cols, dtype=np.int64), kind="stable")
        table = self.table[:n_cols, : self.n_rows]
        kinds = self.kinds[:, :n_cols]
        if (np.diff(order) < 0).any():  # columns first seen out of order: rare
            table, kinds = table[order], kinds[:, order]
        return _Cells(
            table,
            self.extras,
            kinds,
            rows=self.row_numbers[: self.n_rows].copy(),
            columns=np.sort(np.asarray(self.slot_cols, dtype=np.int64)),
            last_row=self.top_row,
        )

    def chunk(self, buf: bytes) -> None:
        """Parse one chunk of ``<row>`` elements (cut after a ``</row>``)."""
        if not buf:
            return
        tags = _tags(buf)
        if tags is None:
            return
        elements = _elements(tags)
        if elements is None:
            return
        attributes = _attributes(tags, elements)
        rows = self._row_numbers(tags, elements, attributes)
        cells = _chunk_cells(tags, elements, attributes, rows)
        if cells is None:
            return
        codes, has = self._values(tags, cells)
        self._store(cells.col[has], cells.row[has], codes[has], cells.kind[has])

    def _row_numbers(self, t: _Tags, el: _Elements, at: _Attributes) -> np.ndarray:
        """The number of each ``<row>``: ``r="N"``, or the previous row's + 1."""
        is_r = at.single & (at.name == 114)
        row_at = np.full(len(el.start), -1, dtype=np.int64)
        row_ref = is_r & el.is_row[at.owner]
        row_at[at.owner[row_ref]] = _digits(t.a, at.open[row_ref] + 1, at.close[row_ref], 7)
        row_at = row_at[el.is_row]
        if self.last_row is None and len(row_at) and row_at[0] < 0:
            raise Unsupported("a helper's first row has no number")  # the parent scans it
        rows = _follow(row_at, self.last_row or 0)
        if len(rows):
            self.last_row = int(rows[-1])
        return rows

    def _values(self, t: _Tags, cells: _ChunkCells) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's code (see the module docstring) and whether it has a value."""
        a, lt = t.a, t.lt
        vi = np.flatnonzero((t.b1 == 118) & (t.b2 == 62))
        V = lt[vi]
        vend = lt[vi + 1]
        if len(V) and ((a[vend + 1] != 47) | (a[vend + 2] != 118)).any():
            raise Unsupported("<v> not closed by </v>")
        nc = len(cells.start)
        kv = np.searchsorted(cells.start, V, "right") - 1
        if len(V) and (
            (kv < 0).any() or cells.selfclose[kv].any() or (np.bincount(kv, minlength=nc) > 1).any()
        ):
            raise Unsupported("value outside a cell")
        if (cells.kind[kv] == _INLINE).any():
            raise Unsupported("inline string with a value")
        codes = np.full(nc, -1, dtype=np.int32)
        has = np.zeros(nc, dtype=bool)
        vk = cells.kind[kv]
        vs, ve = V + 3, vend
        self._shared(a, codes, has, kv[vk == _SHARED], vs[vk == _SHARED], ve[vk == _SHARED])
        self._numbers(
            a, codes, has, cells.style, kv[vk == _NUMBER], vs[vk == _NUMBER], ve[vk == _NUMBER]
        )
        self._bools(a, codes, has, kv[vk == _BOOL], vs[vk == _BOOL], ve[vk == _BOOL])
        inline = np.flatnonzero(cells.kind == _INLINE)
        if len(inline):
            self._inline(t, cells.start, codes, has, inline)
        return codes, has

    def _shared(self, a, codes, has, k, start, end) -> None:
        if not len(k):
            return
        idx = _digits(a, start, end, 10)
        if (idx >= self.n_shared).any():
            raise Unsupported("shared string index out of range")
        codes[k] = idx
        has[k] = True

    def _numbers(self, a, codes, has, style, k, start, end) -> None:
        if not len(k):
            return
        s = style[k]
        if (s >= len(self.plain)).any() or not self.plain[s].all():
            raise Unsupported("number with a date or custom format")
        width = end - start
        if (width < 1).any() or (width > 40).any():
            raise Unsupported("number text")
        w = int(width.max())
        span = np.arange(w)
        m = span < width[:, None]
        chars = np.where(m, a[start[:, None] + span], 0).astype(np.uint8)
        ok = ((chars >= 48) & (chars <= 57)) | np.isin(chars, np.frombuffer(b".eE+-", np.uint8))
        if not (ok | ~m).all():
            raise Unsupported("number text")
        try:
            values = np.ascontiguousarray(chars).view(f"S{w}").ravel().astype(np.float64)
        except ValueError as exc:  # "1.2.3", "1e", "+-1"…
            raise Unsupported("number text") from exc
        if not np.isfinite(values).all():
            raise Unsupported("number out of range")
        uniques, inverse = np.unique(values, return_inverse=True)
        first = self.extras.add(_NUMBER, uniques, None)
        codes[k] = -2 - (first + inverse.ravel())
        has[k] = True

    def _bools(self, a, codes, has, k, start, end) -> None:
        if not len(k):
            return
        if ((end - start) != 1).any():
            raise Unsupported("boolean text")
        digit = a[start]
        if not np.isin(digit, [48, 49]).all():
            raise Unsupported("boolean text")
        first = self.extras.add(_BOOL, np.array([0.0, 1.0]), None)
        codes[k] = -2 - (first + (digit == 49))
        has[k] = True

    def _inline(
        self, t: _Tags, P: np.ndarray, codes: np.ndarray, has: np.ndarray, inline: np.ndarray
    ) -> None:
        """Inline strings: each cell's key is its ``<t>`` parts (raw bytes) joined by
        ``<``, each part led by ``P`` (keep whitespace) or another byte (trim)."""
        buf, a, lt, b1, end2, gt = t.buf, t.a, t.lt, t.b1, t.end2, t.gt
        ti = np.flatnonzero((b1 == 116) & end2)
        T = lt[ti]
        kt = np.searchsorted(P, T, "right") - 1
        if (kt < 0).any() or (codes[kt] != -1).any():
            raise Unsupported("text outside an inline string")
        te = np.searchsorted(gt, T)
        if len(te) and te[-1] >= len(gt):
            raise Unsupported("inline text not understood")
        te = gt[te]
        nxt = lt[ti + 1]
        closed = a[te - 1] == 47
        if (te >= nxt).any() or (~closed & ((a[nxt + 1] != 47) | (a[nxt + 2] != 116))).any():
            raise Unsupported("inline text not understood")
        stop = np.where(closed, te + 1, nxt)
        # each part from the ">" that closes its <t> tag: that byte is the flag (trim)
        keys = [buf[s:e] for s, e in zip(te.tolist(), stop.tolist(), strict=True)]
        for i in np.flatnonzero(te != T + 2).tolist():  # <t xml:space=…> or <t/>: rare
            keep = b'xml:space="preserve"' in buf[T[i] : te[i]]
            keys[i] = (b"P" if keep else b">") + keys[i][1:]
        counts = np.bincount(kt, minlength=len(P))
        cell_keys = np.full(len(P), b"", dtype=object)
        one = counts[kt] == 1
        parts = np.empty(len(keys), dtype=object)
        parts[:] = keys
        cell_keys[kt[one]] = parts[one]
        several = np.flatnonzero(~one)  # rich text: several runs, adjacent (kt ascending)
        if len(several):
            cuts = np.flatnonzero(np.diff(kt[several])) + 1
            starts = np.r_[0, cuts].tolist()
            runs = parts[several].tolist()
            cell_keys[kt[several[starts]]] = [
                b"<".join(runs[i:j]) for i, j in zip(starts, [*starts[1:], len(runs)], strict=True)
            ]
        local, uniques = pd.factorize(cell_keys[inline])
        first = self.extras.add(_INLINE, None, np.asarray(uniques, dtype=object))
        codes[inline] = -2 - (first + local)
        has[inline] = True

    def _store(self, col, row, codes, kind) -> None:
        """Put a chunk's cells (document order: rows never go back) into their slots."""
        if not len(col):
            return
        if (np.diff(row) < 0).any():  # a cell's reference names an earlier row: rare
            order = np.argsort(row, kind="stable")  # a repeated cell: the last one wins
            col, row, codes, kind = col[order], row[order], codes[order], kind[order]
        if row[0] < self.top_row:
            raise Unsupported("rows out of order")
        new_row = np.r_[self.n_rows == 0 or row[0] != self.top_row, row[1:] != row[:-1]]
        slot = self.n_rows - 1 + np.cumsum(new_row)
        n_new = int(new_row.sum())
        fresh = np.unique(col[self.col_slot[col] < 0])
        n_cols = len(self.slot_cols) + len(fresh)
        rows = self.n_rows + n_new
        if self.log is not None:
            self.log.append((rows, fresh, int(row[-1])))
        if rows > self.limits.max_rows or rows * n_cols > self.limits.max_cells:
            file, sheet = self.where
            self.limits.check(rows, n_cols, file=file, sheet=sheet, row=int(row[-1]))
        self._grow(n_cols, rows)
        self.row_numbers[self.n_rows : rows] = row[new_row]
        self.n_rows, self.top_row = rows, int(row[-1])
        if len(fresh):
            self.col_slot[fresh] = len(self.slot_cols) + np.arange(len(fresh))
            self.slot_cols.extend(fresh.tolist())
        if self.n_shared + self.extras.size >= 2**31 - 2:
            raise Unsupported("too many distinct values")
        at = self.col_slot[col]
        self.table[at, slot] = codes
        self.kinds[kind, at] = True

    def _grow(self, n_cols: int, n_rows: int) -> None:
        """Room for ``n_cols`` column slots and ``n_rows`` row slots (doubling rows)."""
        cols_cap, rows_cap = self.table.shape
        if n_cols <= cols_cap and n_rows <= rows_cap:
            return
        new_cols = max(cols_cap, n_cols)
        new_rows = max(rows_cap * 2, n_rows) if n_rows > rows_cap else rows_cap
        table = np.full((new_cols, new_rows), -1, dtype=np.int32)
        table[:cols_cap, :rows_cap] = self.table
        self.table = table
        numbers = np.zeros(new_rows, dtype=np.int64)
        numbers[: len(self.row_numbers)] = self.row_numbers
        self.row_numbers = numbers
        kinds = np.zeros((4, new_cols), dtype=bool)
        kinds[:, : self.kinds.shape[1]] = self.kinds
        self.kinds = kinds


def _follow(values: np.ndarray, before: int) -> np.ndarray:
    """Missing values (-1) as the previous value + 1 (the first: ``before + 1``)."""
    idx = np.arange(len(values))
    last = np.maximum.accumulate(np.where(values >= 0, idx, -1)) if len(values) else idx
    return np.where(last >= 0, values[np.maximum(last, 0)] + idx - last, before + 1 + idx)


def _follow_in_groups(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """:func:`_follow` within runs of equal ``group`` (each run starting before 0)."""
    idx = np.arange(len(values))
    start = np.maximum.accumulate(np.where(np.r_[True, group[1:] != group[:-1]], idx, 0))
    last = np.maximum.accumulate(np.where(values >= 0, idx, -1))
    known = last >= start
    return np.where(known, values[np.maximum(last, 0)] + idx - last, idx - start)


def _digits(a: np.ndarray, start: np.ndarray, end: np.ndarray, max_width: int) -> np.ndarray:
    """The decimal integers written in ``a[start:end]`` (vectorised)."""
    width = end - start
    value = np.zeros(len(width), dtype=np.int64)
    if not len(width):
        return value
    if (width < 1).any() or (width > max_width).any():
        raise Unsupported("number field")
    bad = np.zeros(len(width), dtype=bool)
    for j in range(int(width.max())):
        digit = a[start + j].astype(np.int64) - 48
        inside = j < width
        bad |= inside & ((digit < 0) | (digit > 9))
        value = np.where(inside, value * 10 + digit, value)
    if bad.any():
        raise Unsupported("number field")
    return value


def _reference(a: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column (0-based) and row (1-based) of ``A1``-style references."""
    c0, c1, c2, c3 = (a[start + i].astype(np.int64) for i in range(4))

    def up(x: np.ndarray) -> np.ndarray:
        return (x >= 65) & (x <= 90)

    l1 = up(c0)
    l2 = l1 & up(c1)
    l3 = l2 & up(c2)
    if not l1.all() or (l3 & up(c3)).any():
        raise Unsupported("cell reference")
    col = (
        np.where(
            l3,
            ((c0 - 64) * 26 + (c1 - 64)) * 26 + (c2 - 64),
            np.where(l2, (c0 - 64) * 26 + (c1 - 64), c0 - 64),
        )
        - 1
    )
    letters = 1 + l2.astype(np.int64) + l3
    row = _digits(a, start + letters, end, 7)
    if (row < 1).any() or (row > 1_048_576).any() or (col > 16_383).any():
        raise Unsupported("cell reference out of range")
    return col, row


def _cell_types(a: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``t`` attribute values as kinds; anything but ``s``, ``n``, ``b``, ``inlineStr``
    is unsupported (``str`` and ``e`` come with formulas, ``d`` is a date)."""
    width = end - start
    first = a[start]
    kind = np.full(len(start), -1, dtype=np.int8)
    one = width == 1
    kind[one & (first == ord("s"))] = _SHARED
    kind[one & (first == ord("n"))] = _NUMBER
    kind[one & (first == ord("b"))] = _BOOL
    inline = np.flatnonzero((width == 9) & (first == ord("i")))
    if len(inline):
        text = a[start[inline, None] + np.arange(9)]
        ok = (text == np.frombuffer(b"inlineStr", dtype=np.uint8)).all(axis=1)
        kind[inline[ok]] = _INLINE
    if (kind < 0).any():
        raise Unsupported("cell type")
    return kind


# --------------------------------------------------------------------------- columns


def _columns(cells: _Cells, shared: np.ndarray) -> pd.DataFrame:
    """Each column of codes as a ``Categorical`` of its text, with the rules of
    :func:`wuye_common.cells.categorical_texts` (in a column of strings only, ``""``
    is NA; otherwise whitespace-only text is NA, numbers as in ``float_texts``)."""

    table, extras, kinds = cells.codes, cells.extras, cells.kinds
    if extras.size:
        e_kind = np.concatenate(extras.kinds)
        e_num = np.concatenate(extras.numbers)
        e_key = np.concatenate(extras.keys)
    else:
        e_kind = np.zeros(0, np.int8)
        e_num = np.zeros(0)
        e_key = np.empty(0, dtype=object)
    inline_text: dict[int, str | None] = {}
    width, height = table.shape
    columns = {}
    filled = np.zeros(height, dtype=bool)
    for c in range(width):
        if kinds[_NUMBER, c] and kinds[_BOOL, c]:
            raise Unsupported("numbers and booleans in one column")  # pandas merges 1.0/True
        local, uniq = pd.factorize(table[c])
        uniq = np.asarray(uniq)
        texts = np.full(len(uniq), None, dtype=object)
        is_shared = uniq >= 0
        texts[is_shared] = shared[uniq[is_shared]]
        extra = np.flatnonzero(uniq <= -2)
        if len(extra):
            e = -2 - uniq[extra].astype(np.int64)
            k = e_kind[e]
            num = k == _NUMBER
            texts[extra[num]] = float_texts(e_num[e[num]])
            boolean = k == _BOOL
            texts[extra[boolean]] = np.where(e_num[e[boolean]] == 1.0, "TRUE", "FALSE")
            for i, j in zip(extra[k == _INLINE].tolist(), e[k == _INLINE].tolist(), strict=True):
                if j not in inline_text:
                    inline_text[j] = _inline_key_text(e_key[j])
                texts[i] = inline_text[j]
        if kinds[_NUMBER, c] or kinds[_BOOL, c]:
            blank = np.array([t is None or not t.strip() for t in texts], dtype=bool)
        else:
            blank = np.array([t is None or t == "" for t in texts], dtype=bool)
        texts[blank] = None
        t_codes, categories = pd.factorize(texts, use_na_sentinel=True)
        final = t_codes[local] if len(local) else local
        if not len(categories):
            continue  # no text in the whole column (empty strings only)
        filled |= final >= 0
        columns[int(cells.columns[c])] = pd.Categorical.from_codes(
            final.astype(np.int64),
            dtype=pd.CategoricalDtype(pd.Index(np.asarray(categories, dtype=object), dtype="str")),
        )
    frame = pd.DataFrame(columns, index=pd.Index(cells.rows - 1))
    return frame if filled.all() else frame.iloc[np.flatnonzero(filled)]


def _inline_key_text(key: bytes) -> str:
    """An inline-string key (see ``_State._inline``) as text."""
    parts = key.split(b"<") if key else []  # each led by its flag byte
    try:
        text = "".join(_run_text(p[1:].decode("utf-8"), p[:1] == b"P") for p in parts)
    except UnicodeDecodeError as exc:
        raise Unsupported("XML not valid UTF-8") from exc
    return _escapes(text)
