"""Reading survey exports: 问卷星 (xls/xlsx, text and code), 腾讯问卷 CSV, KoboToolbox, paper.

:func:`read_survey_export` detects the platform and export kind and returns every data
row as text (``str`` dtype, NA for empty cells) with an :class:`ExportInfo` describing
what it found. Nothing is dropped except fully blank rows *after the last data row*
(formatting residue); blank rows between data rows are kept so that ingest can account
for them. ``ExportInfo.source_rows`` gives each row's spreadsheet row number (header = 1
when the header is on the first row; CSV: line number).

Question headers recognised (after NFKC and removing type suffixes like
``(单选题 *必答)``/``【单选题】``):

- ``N、题干`` (问卷星, our paper template), ``N.题干``/``Q N:题干`` (腾讯问卷);
- ``第N题(选项)`` — one 0/1 column per option of a multi-select (问卷星 按选项序号);
- ``N(子题)`` — one column per row of a matrix question (问卷星);
- ``N、题干—行标签`` followed by columns headed by the bare labels of the matrix's other
  rows (问卷星's 矩阵单选题 layout): the bare columns become rows of question N (``stem`` and
  ``row`` in :attr:`ExportInfo.questions`);
- KoboToolbox: every non-metadata column (``q4``/``Q4`` gives the number; group paths
  ``group/q4`` keep their last segment).

Excel files: .xlsx/.xlsm are streamed by :mod:`evaluation.ingest.xlsx` (the sheet XML
decompressed in chunks and scanned with numpy; a shared-string cell's index is its category
code, so no Python object is made per cell (inline strings aside) and memory stays bounded
— a 642,000-row city export reads in ~0.6 GB instead of ~2.6 GB). Whatever that reader does not handle (.xls,
.ods, formulas, dates, odd XML, damaged or encrypted files) is read with python-calamine
(the engine behind pandas' ``engine="calamine"``), converting each column once per
distinct value; both give the same frame (``tests/test_fast_xlsx.py``), and calamine
names the problem of a file neither can read.

Skipped markers: ``(跳过)`` in text exports and ``-3`` (also ``-2``) in code exports mean
the respondent was routed past the question; they are kept here and decoded as missing by
ingest (:data:`SKIP_MARKERS`).
"""

from __future__ import annotations

import contextlib
import gc
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.ingest import xlsx
from evaluation.ingest.uniques import on_uniques
from wuye_common.cells import categorical_texts, text_frame, without_blanks
from wuye_common.errors import Problem, WuyeError
from wuye_common.scrub import scrub_text, scrubbed_logger
from wuye_common.sheets import Limits, calamine_rows, require_file, unique_headers

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
TEMPLATE_MARKER_SHEET = "_wuye_template"
MULTI_SEPARATOR = "┋"
KIND_SAMPLE_ROWS = 5000
SKIP_MARKERS = frozenset({"(跳过)", "跳过", "-3", "-2", "(空)"})
#: what the streaming .xlsx reader raises on a file it does not handle: its own signal, and
#: a damaged zip (truncated, bad CRC or header, corrupt deflate stream, member name not
#: UTF-8). Anything else is a bug in that reader and propagates.
FAST_XLSX_DECLINES = (
    xlsx.Unsupported,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    UnicodeDecodeError,
)

log = scrubbed_logger("wuye.ingest")

#: metadata column aliases (normalised header → canonical name)
METADATA_ALIASES: dict[str, str] = {
    "序号": "response_no",
    "编号": "response_no",
    "答卷编号": "response_no",
    "录入序号": "response_no",
    "_id": "response_no",
    "_index": "response_no",
    "提交答卷时间": "submitted_at",
    "提交时间": "submitted_at",
    "结束答题时间": "submitted_at",
    "答题结束时间": "submitted_at",
    "_submission_time": "submitted_at",
    "调查日期": "submitted_at",
    "开始答题时间": "started_at",
    "start": "started_at",
    "end": "ended_at",
    "所用时间": "duration",
    "答题时长": "duration",
    "作答时长": "duration",
    "用时": "duration",
    "来源": "source",
    "来源详情": "source_detail",
    "来自ip": "ip",
    "ip": "ip",
    "ip地址": "ip",
    "填写者ip": "ip",
    "调查员": "interviewer",
    "访问员": "interviewer",
    "_uuid": "kobo_uuid",
    "today": "kobo_today",
    "deviceid": "kobo_device",
    "_validation_status": "kobo_other",
    "__version__": "kobo_other",
    "_status": "kobo_other",
    "_submitted_by": "kobo_other",
    "_tags": "kobo_other",
    "_notes": "kobo_other",
    "meta/instanceid": "kobo_other",
    "formhub/uuid": "kobo_other",
    "_xform_id_string": "kobo_other",
    "地理位置国家和地区": "geo",
    "省": "geo",
    "市": "geo",
    "用户id": "user_id",
    "昵称": "user_id",
    "自定义字段": "custom",
    "总分": "score",
}
WJX_MARKERS = {"提交答卷时间", "所用时间", "来源详情", "来自ip"}
KOBO_MARKERS = {"_uuid", "_submission_time", "_index", "__version__", "_validation_status"}
TENCENT_MARKERS = {"答题时长", "开始答题时间", "结束答题时间", "地理位置国家和地区"}

#: question-type words a trailing bracket may start with (``(单选题 *必答)``, ``【矩阵量表题】``)
_TYPE_WORDS = (
    "单选题",
    "多选题",
    "填空题",
    "多项填空题",
    "矩阵",
    "量表题",
    "排序题",
    "下拉框",
    "简答题",
    "单选",
    "多选",
    "必答",
    "选填",
)
_OPENERS = "(（【["
_CLOSERS = ")）】]"
_NUMBERED = re.compile(r"^(?:Q|q|第)?(\d{1,4})(?:题)?\s*[、.．:：)）]\s*(.*)$", re.S)
_MULTI = re.compile(r"^第(\d{1,4})题[(（](.*)[)）]$", re.S)
_MATRIX = re.compile(r"^(\d{1,4})[(（](.*)[)）]$", re.S)
_KOBO_NUMBER = re.compile(r"^[qQ](\d{1,4})(?:$|[_\-])")
#: ``题干—行标签``: 问卷星 joins a matrix's stem and its first row with an em dash (one or two)
_MATRIX_DASH = re.compile(r"^(?P<stem>.+?)[—―]{1,2}(?P<row>[^—―]+)$", re.S)
#: characters that may stand between a matrix stem and a row label in a header
ROW_SEPARATORS = "—―-_|:/"


@dataclass
class ExportInfo:
    """What :func:`read_survey_export` detected in a file.

    ``questions``: one row per question column — ``column`` (header in the returned frame),
    ``number`` (Int64, NA when unnumbered), ``text`` (normalised 题干 or sub-question),
    ``option`` (multi-select option for ``第N题(选项)`` columns, else NA), ``qtype``
    (``single``, ``multi_flag``, ``matrix`` or ``unnumbered``), ``stem`` and ``row`` (a
    matrix row's 题干 and label as far as the header tells them, else NA).
    ``metadata``: canonical name (``response_no, submitted_at, duration, source,
    source_detail, ip, …``) → column header.
    ``file`` and ``sheet`` are the names outputs show: scrubbed of personal data
    (``问卷_张三_13812345678.xlsx`` → ``问卷_张三_〔电话〕.xlsx``); ``path`` is the file read,
    never written anywhere.
    """

    path: str
    file: str
    platform: str
    kind: str
    sheet: str | None
    header_row: int
    metadata: dict[str, str]
    questions: pd.DataFrame
    source_rows: np.ndarray
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    blank_rows: int = 0
    """Rows below the header that hold no value (between data rows, or blank lines and
    empty cells after the last one): skipped, not rows of the export, counted in the
    reconciliation."""

    @property
    def question_columns(self) -> list[str]:
        """Headers of the question columns, in file order."""
        return self.questions["column"].tolist()


def normalise_text(text: object) -> str:
    """NFKC, no spaces, no trailing type suffixes such as ``(单选题 *必答)`` or ``*必答``.

    Linear in the text's length (no regular expression: a header of 1,500 ``(矩阵`` costs
    microseconds): suffixes are cut from the end one at a time (:func:`_strip_type_suffix`).
    """
    out = "".join(unicodedata.normalize("NFKC", str(text)).split())
    while True:
        shorter = _strip_type_suffix(out)
        if shorter is None:
            return out
        out = shorter


def _strip_type_suffix(text: str) -> str | None:
    """``text`` without its last type suffix, ``None`` when it has none: ``*必答`` at the
    end, or a closing bracket at the end whose group (from the first opening bracket after
    the previous closing one) starts with a type word (:data:`_TYPE_WORDS`)."""
    if text.endswith("*必答"):
        return text[: -len("*必答")]
    if not text or text[-1] not in _CLOSERS:
        return None
    end = len(text) - 1
    start = end  # the group: back to the previous closing bracket (none inside it)
    while start > 0 and text[start - 1] not in _CLOSERS:
        start -= 1
    for i in range(start, end):
        if text[i] in _OPENERS and text.startswith(_TYPE_WORDS, i + 1):
            return text[:i]
    return None


def classify_header(header: str) -> tuple[int | None, str, str | None, str]:
    """``(number, text, option, qtype)`` of a question header, qtype ``""`` if not one."""
    h = normalise_text(header)
    m = _MULTI.match(h)
    if m:
        return int(m[1]), "", m[2], "multi_flag"
    m = _NUMBERED.match(h)
    if m and m[2]:
        return int(m[1]), m[2], None, "single"
    m = _MATRIX.match(h)
    if m and m[2]:
        return int(m[1]), m[2], None, "matrix"
    return None, h, None, ""


def read_survey_export(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    categorical: bool = False,
    limits: Limits | None = None,
) -> tuple[pd.DataFrame, ExportInfo]:
    """Read one survey export; detect platform (``wjx``, ``tencent``, ``kobo``,
    ``template``, ``generic``) and kind (``text``: answers as option text; ``code``:
    answers as option numbers).

    Returns ``(rows, info)``: ``rows`` has one column per header (headers NFKC-normalised,
    e.g. full-width ``？`` → ``?``, and stripped; duplicates suffixed ``.1``), every cell
    ``str`` or NA, one row per row holding a value (blank rows are skipped and counted in
    ``info.blank_rows``). ``categorical=True`` gives the same text as ``category`` columns
    (categories of ``str`` dtype), each column factorised once: faster for large files,
    used by ingest. ``limits``: the row and cell ceilings (:class:`wuye_common.sheets.Limits`).
    Raises :class:`WuyeError` naming the file for missing, empty, corrupt, encrypted,
    oversized or unrecognisable files.
    """
    path = Path(path)
    name = scrub_text(path.name)
    read = _read_raw(path, sheet, categorical, limits or Limits())
    header_idx, frame, source_rows = _header_and_body(read.raw)
    sheet_name = None if read.sheet is None else scrub_text(read.sheet)
    keys = {c: normalise_text(c).lower() for c in frame.columns}
    platform = _platform(set(keys.values()), read.sheets, read.encoding is not None)
    metadata, questions = _classify_columns(keys, platform, (name, sheet_name))
    numbered = questions["number"].notna()
    if not numbered.any() and platform not in ("kobo", "template", "generic"):
        raise WuyeError(
            Problem(
                "没有找到可识别的题目列（列名应形如「4、题干」）",
                "确认导出的是答卷数据（问卷星：下载答卷数据→按选项文本或序号），且第一行是列名",
                file=name,
                sheet=sheet_name,
            )
        )
    if questions.empty:
        raise WuyeError(
            Problem(
                "没有找到任何题目列",
                "确认第一行是列名，题目列写成「4、题干」",
                file=name,
                sheet=sheet_name,
            )
        )
    kind = "code" if platform == "template" else _kind(frame, questions)
    header_row = int(read.raw.index[header_idx]) + 1
    last = max(read.last_row, int(source_rows[-1]) if len(source_rows) else header_row)
    info = ExportInfo(
        path=str(path),
        file=name,
        platform=platform,
        kind=kind,
        sheet=sheet_name,
        header_row=header_row,
        metadata=metadata,
        questions=questions,
        source_rows=source_rows,
        encoding=read.encoding,
        blank_rows=max(last - header_row - len(source_rows), 0),
    )
    return frame, info


@dataclass
class _Raw:
    """An export's cells as read: the rows holding a value (index: row number − 1), the
    sheet read and all sheet names (Excel), the encoding (CSV), and the last row the file
    held anything in (blank rows are counted from it)."""

    raw: pd.DataFrame
    sheet: str | None
    sheets: list[str]
    encoding: str | None
    last_row: int


def _read_raw(path: Path, sheet: str | int | None, categorical: bool, limits: Limits) -> _Raw:
    """The cells of an export, every cell text or NA, blank rows and columns left out;
    refuses missing, empty, unsupported and oversized files and files without data."""
    name = scrub_text(path.name)
    require_file(path, "问卷导出", "检查文件路径")
    if path.stat().st_size == 0:
        raise WuyeError(
            Problem("问卷导出文件是空的（0 字节）", "从问卷平台重新导出该文件", file=name)
        )
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        read = _read_excel(path, sheet, categorical, limits)
    elif suffix in CSV_SUFFIXES:
        raw, encoding, lines = _read_csv(path, limits)
        if categorical:
            raw = pd.DataFrame(
                {
                    c: categorical_texts(
                        raw[c].to_numpy(dtype=object, na_value=None), text_only=True
                    )
                    for c in raw.columns
                },
                index=raw.index,
            )
        read = _Raw(raw, None, [], encoding, lines)
    else:
        raise WuyeError(
            Problem(
                f"不支持的文件格式 {suffix or '（无扩展名）'}",
                "请导出为 .xlsx、.xls 或 .csv",
                file=name,
            )
        )
    if read.raw.empty or read.raw.notna().to_numpy().sum() == 0:
        raise WuyeError(
            Problem(
                "文件中没有任何数据",
                "确认导出时选择了正确的问卷和答卷范围",
                file=name,
                sheet=None if read.sheet is None else scrub_text(read.sheet),
            )
        )
    return read


def _header_and_body(raw: pd.DataFrame) -> tuple[int, pd.DataFrame, np.ndarray]:
    """``(header row position, rows under it with the headers as columns, their source
    row numbers)``; columns without a header are dropped (``raw`` holds no blank row)."""
    header_idx = _find_header(raw)
    headers = unique_headers([_clean_header(v) for v in raw.iloc[header_idx].tolist()])
    body = raw.iloc[header_idx + 1 :]
    keep = [i for i, h in enumerate(headers) if h]
    frame = body.iloc[:, keep].copy()
    frame.columns = [headers[i] for i in keep]
    frame = frame.reset_index(drop=True)
    source_rows = np.asarray(body.index.to_numpy(), dtype=np.int64) + 1
    return header_idx, frame, source_rows


def matrix_parts(text: str) -> tuple[str | None, str | None]:
    """``(stem, row)`` of a normalised question text that names a matrix row: ``题干—行``
    (问卷星's first row) or ``题干(行)``; ``(None, None)`` otherwise."""
    m = _MATRIX_DASH.match(text)
    if m:
        return m["stem"], m["row"]
    m = re.match(r"^(?P<stem>.+)[(](?P<row>[^()]+)[)]$", text, re.S)
    if m:
        return m["stem"], m["row"]
    return None, None


def row_matches(text: object, label: str) -> bool:
    """Whether a question column's normalised ``text`` is the matrix row ``label``: the bare
    label, ``…—label`` (or another :data:`ROW_SEPARATORS` before it) or ``…(label)``."""
    if not isinstance(text, str) or not label:
        return False
    if text == label or text.endswith(f"({label})"):
        return True
    return (
        text.endswith(label) and len(text) > len(label) and text[-len(label) - 1] in ROW_SEPARATORS
    )


def canonical_label(canonical: str) -> str:
    """How a metadata field is named to the user."""
    return {
        "submitted_at": "提交时间",
        "started_at": "开始答题时间",
        "ended_at": "结束答题时间",
        "duration": "答题用时",
        "ip": "IP",
    }.get(canonical, canonical)


#: metadata whose values are read (times, duration, IP): two columns for one is refused
SINGLE_METADATA = ("submitted_at", "started_at", "ended_at", "duration", "ip")


def _add_metadata_column(
    metadata: dict[str, str], canonical: str, col: str, where: tuple[str, str | None]
) -> None:
    """Record ``col`` as the column of ``canonical`` (the first one counts); a second column
    for a field of :data:`SINGLE_METADATA` (``提交答卷时间`` beside ``提交时间``) is refused
    with both names (``where``: file and sheet of the error)."""
    if canonical in metadata and canonical in SINGLE_METADATA:
        raise WuyeError(
            Problem(
                f"有两列都是「{canonical_label(canonical)}」：「{metadata[canonical]}」、「{col}」，"
                "无法确定用哪一列",
                "只保留其中一列（删除或改名另一列）后重新导入",
                file=where[0],
                sheet=where[1],
                column=col,
            )
        )
    metadata.setdefault(canonical, col)


def _classify_columns(
    keys: dict[str, str], platform: str, where: tuple[str, str | None] = ("", None)
) -> tuple[dict[str, str], pd.DataFrame]:
    """The metadata columns (canonical name → header; the first of each, see
    :func:`_add_metadata_column`) and the question columns (:attr:`ExportInfo.questions`),
    from the headers and their normalised keys.

    A column no rule recognises that follows a ``N、题干—行`` column (or another such row)
    is the next row of matrix N, headed by its bare label."""
    metadata: dict[str, str] = {}
    q_rows: list[dict[str, object]] = []
    matrix: dict[str, object] | None = None  # the matrix whose rows may follow
    for col, key in keys.items():
        canonical = METADATA_ALIASES.get(key) or METADATA_ALIASES.get(key.split("/")[-1])
        if canonical:
            _add_metadata_column(metadata, canonical, col, where)
            matrix = None
            continue
        number, text, option, qtype = classify_header(col)
        stem = row = None
        if qtype in ("single", "matrix"):
            stem, row = matrix_parts(text) if qtype == "single" else (None, text)
        if not qtype and matrix is not None and platform not in ("kobo", "template"):
            q_rows[matrix["first"]]["qtype"] = "matrix"
            number, stem, row, qtype = matrix["number"], matrix["stem"], text, "matrix"
        elif not qtype and platform == "kobo":
            last_seg = col.split("/")[-1]
            m = _KOBO_NUMBER.match(last_seg)
            number, text, qtype = (int(m[1]) if m else None), normalise_text(last_seg), "unnumbered"
        elif not qtype and platform in ("generic", "template", "tencent"):
            qtype = "unnumbered"
        if qtype:
            q_rows.append(
                {
                    "column": col,
                    "number": number,
                    "text": text,
                    "option": option,
                    "qtype": qtype,
                    "stem": stem,
                    "row": row,
                }
            )
        dash = qtype == "single" and _MATRIX_DASH.match(text or "") is not None
        if dash:
            matrix = {"number": number, "stem": stem, "first": len(q_rows) - 1}
        elif not (matrix is not None and qtype == "matrix" and number == matrix["number"]):
            matrix = None
    questions = pd.DataFrame(
        q_rows, columns=["column", "number", "text", "option", "qtype", "stem", "row"]
    )
    questions["number"] = questions["number"].astype("Int64")
    return metadata, _shared_number_rows(questions)


def _common_prefix(texts: list[str]) -> str:
    """The longest text every one of ``texts`` starts with (character by character)."""
    first, last = min(texts), max(texts)
    k = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), None)
    return first[:k] if k is not None else first[: min(len(first), len(last))]


def _shared_number_rows(questions: pd.DataFrame) -> pd.DataFrame:
    """Columns of one question number headed ``N.题干<sep>行`` (腾讯问卷 writes a matrix so,
    the separator one of :data:`ROW_SEPARATORS`) are rows of matrix N: ``stem`` is their
    common 题干, ``row`` what follows the separator."""
    single = questions[(questions["qtype"] == "single") & questions["number"].notna()]
    for _, group in single.groupby("number"):
        if len(group) < 2:
            continue
        texts = group["text"].astype(str).tolist()
        prefix = _common_prefix(texts)
        cut = max(prefix.rfind(sep) for sep in ROW_SEPARATORS)
        if cut <= 0 or any(len(t) <= cut + 1 for t in texts):
            continue
        questions.loc[group.index, "stem"] = prefix[:cut]
        questions.loc[group.index, "row"] = [t[cut + 1 :] for t in texts]
        questions.loc[group.index, "qtype"] = "matrix"
    return questions


def expand_multiselect(values: pd.Series, separator: str = MULTI_SEPARATOR) -> pd.DataFrame:
    """A ``┋``-joined multi-select text column as one 0/1 (Int64) column per option;
    rows with no answer (NA, ``(跳过)``) are NA in every column. Text typed into an
    "other" option (问卷星 writes ``其他【请注明】〖…〗``) is dropped: it may hold
    personal data, and the option itself is kept."""
    text = values.astype("string").str.replace(r"〖[^〖〗]*〗", "", regex=True)
    skipped = text.isna() | text.isin(SKIP_MARKERS)
    dummies = text.where(~skipped, "").str.get_dummies(sep=separator).astype("Int64")
    dummies.loc[skipped.to_numpy()] = pd.NA
    return dummies


def multiselect_flags(frame: pd.DataFrame, info: ExportInfo, number: int) -> pd.DataFrame:
    """The ``第N题(选项)`` 0/1 columns of question ``number`` as Int64, headed by option."""
    q = info.questions
    cols = q[(q["qtype"] == "multi_flag") & (q["number"] == number)]
    out = frame[cols["column"].tolist()].apply(pd.to_numeric, errors="coerce")
    out.columns = cols["option"].tolist()
    return out.where(out >= 0).astype("Int64")


# --------------------------------------------------------------------------- internals


def _read_excel(path: Path, sheet: str | int | None, categorical: bool, limits: Limits) -> _Raw:
    name = scrub_text(path.name)
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.lstrip().startswith(b"<") or b"<html" in head.lower() or b"<table" in head.lower():
        raise WuyeError(
            Problem(
                "该文件名为 Excel，实际是网页（HTML）格式，无法直接读取",
                "用 Excel 打开后「另存为」.xlsx，再导入",
                file=name,
            )
        )
    if path.suffix.lower() in (".xlsx", ".xlsm") and head.startswith(b"PK\x03\x04"):
        fast = _read_xlsx_fast(path, sheet, limits)
        if fast is not None:
            raw, target, names, last = fast
            return _Raw(raw if categorical else _text_columns(raw), target, names, None, last)
    return _read_excel_calamine(path, sheet, head, categorical, limits)


def _read_xlsx_fast(
    path: Path, sheet: str | int | None, limits: Limits | None = None
) -> tuple[pd.DataFrame, str, list[str], int] | None:
    """The sheet by :func:`evaluation.ingest.xlsx.read_xlsx_sheet` (streamed, categorical
    codes), or None when that reader does not handle the file (unusual content, damage,
    unknown sheet): the calamine path then reads it or names the problem."""

    def pick(names: list[str]) -> str:
        try:
            return _pick_sheet(names, sheet, path.name)
        except WuyeError as exc:
            raise xlsx.Unsupported("sheet") from exc

    try:
        with _gc_paused():
            return xlsx.read_xlsx_sheet(path, pick, limits)
    except FAST_XLSX_DECLINES as exc:
        # the kind of reason only (Unsupported messages are fixed texts): never cell text
        reason = f"Unsupported: {exc}" if isinstance(exc, xlsx.Unsupported) else type(exc).__name__
        log.debug(
            "%s: streaming .xlsx reader declined (%s), reading with calamine",
            scrub_text(path.name),
            reason,
        )
        return None


def _pick_sheet(names: list[str], sheet: str | int | None, file: str) -> str:
    """The sheet to read: the first one that is not the template marker by default."""
    if sheet is None:
        data_sheets = [s for s in names if s != TEMPLATE_MARKER_SHEET]
        return data_sheets[0] if data_sheets else names[0]
    if isinstance(sheet, int):
        if not -len(names) <= sheet < len(names):
            raise WuyeError(
                Problem(
                    f"没有第 {sheet + 1} 个工作表（共 {len(names)} 个）",
                    "检查工作表序号",
                    file=file,
                )
            )
        return names[sheet]
    if sheet not in names:
        raise WuyeError(
            Problem(f"没有名为「{sheet}」的工作表", f"现有工作表：{'、'.join(names)}", file=file)
        )
    return sheet


def _text_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as ``str`` columns (NA for missing), as :func:`_text_frame`."""
    columns = {}
    for c in raw.columns:
        cat = raw[c].array
        texts = np.append(np.asarray(cat.categories, dtype=object), None)
        columns[c] = pd.Series(texts[cat.codes], dtype="str", index=raw.index)
    return pd.DataFrame(columns, index=raw.index)


def _read_excel_calamine(
    path: Path, sheet: str | int | None, head: bytes, categorical: bool, limits: Limits
) -> _Raw:
    """The sheet's non-blank rows read with python-calamine, bounded
    (:func:`wuye_common.sheets.calamine_rows`)."""
    name = scrub_text(path.name)
    try:
        with _gc_paused():  # 100,000s of row lists: no cycle collection passes over them
            rows, numbers, target, names, last = calamine_rows(
                path, lambda names: _pick_sheet(names, sheet, name), limits, file=name
            )
            raw = text_frame(rows, numbers - 1, categorical=categorical)
            del rows
    except WuyeError:
        raise
    except Exception as exc:  # calamine raises many kinds; name the file and the fix
        encrypted = head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" and path.suffix.lower() in (
            ".xlsx",
            ".xlsm",
        )
        reason = (
            "文件已加密（设置了打开密码）" if encrypted else "文件已损坏或不是有效的 Excel 文件"
        )
        if "password" in str(exc).lower() or "encrypt" in str(exc).lower():
            reason = "文件已加密（设置了打开密码）"
        raise WuyeError(
            Problem(
                f"无法读取问卷导出：{reason}（{type(exc).__name__}）",
                "取消密码保护，或从问卷平台重新下载，用 Excel 另存为 .xlsx 后重试",
                file=name,
            )
        ) from exc
    return _Raw(raw, target, names, None, last)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored afterwards): building a large sheet
    allocates many container objects, and the collector would traverse them repeatedly
    though they hold no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_csv(path: Path, limits: Limits) -> tuple[pd.DataFrame, str, int]:
    """``(rows holding a value (index: line − 1), encoding, lines)`` of a CSV export;
    refused before parsing when its lines × header fields pass the ceilings."""
    name = scrub_text(path.name)
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "gb18030")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:8192]
        sep = _separator(sample)
        first = next((line for line in sample.splitlines() if line.strip()), "")
        lines = text.count("\n") + (not text.endswith("\n"))
        limits.check(lines, first.count(sep) + 1, file=name)
        try:
            raw = pd.read_csv(
                io.StringIO(text),
                header=None,
                dtype=str,
                sep=sep,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                engine="c",
            )
        except Exception as exc:  # malformed quoting etc.
            raise WuyeError(
                Problem(
                    f"CSV 文件格式错误：{type(exc).__name__}: {exc}",
                    "用 Excel 打开后另存为「CSV UTF-8」或 .xlsx",
                    file=name,
                )
            ) from exc
        blank = raw.apply(lambda col: on_uniques(col, lambda u: u.str.strip() == "").fillna(False))
        return without_blanks(raw.mask(blank.astype(bool))), encoding, len(raw)
    raise WuyeError(
        Problem(
            "无法识别 CSV 文件的编码（已尝试 UTF-8、GBK/GB18030）",
            "用 Excel 打开后另存为「CSV UTF-8」",
            file=name,
        )
    )


def _separator(sample: str) -> str:
    """The field separator of a CSV sample: the most frequent of ``,``, tab and ``;`` on its
    first lines that is equally frequent on each of them (as a sniffer would decide, in
    linear time), else ``,`` (tab when tabs outnumber commas)."""
    lines = [line for line in sample.splitlines()[:20] if line.strip()][:-1] or sample.splitlines()
    best, best_count = None, 0
    for sep in (",", "\t", ";"):
        counts = {_unquoted_count(line, sep) for line in lines}
        if len(counts) == 1 and (count := counts.pop()) > best_count:
            best, best_count = sep, count
    if best is not None:
        return best
    return "\t" if sample.count("\t") > sample.count(",") else ","


def _unquoted_count(line: str, sep: str) -> int:
    """How often ``sep`` occurs in ``line`` outside double quotes."""
    return sum(part.count(sep) for part in line.split('"')[::2])


def _clean_header(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def _find_header(raw: pd.DataFrame) -> int:
    """Index of the header row: the first of the first 20 rows with ≥ 2 metadata or
    question-like cells; otherwise the first non-blank row."""
    top = raw.iloc[:20]
    best = None
    for i, row in enumerate(top.itertuples(index=False)):
        hits = 0
        for v in row:
            if isinstance(v, str) and v.strip():
                key = normalise_text(v).lower()
                if key in METADATA_ALIASES or classify_header(v)[3]:
                    hits += 1
        if hits >= 2:
            return i
        if best is None and any(isinstance(v, str) and v.strip() for v in row):
            best = i
    return best or 0


def _platform(keys: set[str], sheet_names: list[str], is_csv: bool) -> str:
    if TEMPLATE_MARKER_SHEET in sheet_names:
        return "template"
    if keys & KOBO_MARKERS:
        return "kobo"
    if keys & TENCENT_MARKERS:
        return "tencent"
    if keys & WJX_MARKERS or "序号" in keys:
        return "wjx"
    return "generic"


def _kind(frame: pd.DataFrame, questions: pd.DataFrame) -> str:
    """``code`` when the export has 0/1 multi-select columns or most answered question
    columns hold only integers (option numbers) in the first :data:`KIND_SAMPLE_ROWS`
    rows; ``text`` otherwise. (Ingest accepts option text in code exports too.)"""
    if (questions["qtype"] == "multi_flag").any():
        return "code"
    cols = questions.loc[questions["qtype"] != "multi_flag", "column"].tolist()
    if not cols:
        return "text"
    answered = integer = 0
    head = frame[cols].iloc[:KIND_SAMPLE_ROWS]
    for col in cols:  # a few dozen columns, each tested once per distinct value
        values = pd.Series(head[col].dropna().unique()).astype("string")
        if len(values):
            answered += 1
            integer += bool(values.str.fullmatch(r"\s*-?\d+\s*").fillna(False).all())
    n = answered
    return "code" if n and integer * 2 >= n else "text"
