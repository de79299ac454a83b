"""Ingest a round's fieldwork exports: read, link, validate, pseudonymise, account.

:func:`ingest_round` reads every export, stacks the rows, applies the rules of
:mod:`evaluation.ingest.validate` to all rows at once (vectorised), and returns an
:class:`IngestResult` whose tables follow ``docs/architecture.md``. Every input row ends
in exactly one of ``respondents`` or ``quarantine``; ``counts`` shows read = accepted +
quarantined per file and per estate.

Rules — each row gets exactly one reason, the first broken in this order: blank row;
no estate name; unknown/ambiguous estate; bad answer; required item empty; speeder; (with
a sample) building or room empty; not in sample; duplicate.

- ``blank_row``: no question answered (metadata such as 序号 or time may be present);
- ``missing_required``: no estate name; a required item (the overall item by default)
  left empty — an explicit 不清楚/跳过 counts as answered; with a sample, building or room
  empty;
- ``unknown_estate`` / ``ambiguous_estate``: see :mod:`evaluation.ingest.linking`;
- ``bad_answer``: an item answer that is neither an option text, a skip marker, nor
  (code exports, paper template) a valid option number;
- ``speeder``: 所用时间 < ``[ingest] min_duration_s`` (rows without a duration pass);
- ``not_in_sample`` (only when a sample is given): estate + building + room do not
  identify exactly one sampled household;
- ``duplicate``: among rows passing every other rule, several for the same household
  (the linked ``household_id``; without a sample: estate + building + unit + room; for
  rows without a room: estate + phone). The latest submission (提交答卷时间; ties and
  missing times: the later file, then the later row) is kept, the others quarantined.

Personal data: phone, IP and room (with estate and building) become HMAC pseudonyms
(``phone_key``, ``ip_key``, ``room_key``; sampled households ``household_key``) — see
:mod:`evaluation.ingest.pseudonym`; respondent names and free-text comments are not kept
at all. Raw values never reach ``respondents``, ``answers``, ``quarantine`` or the
workbook. Free text that is kept is scrubbed (:mod:`wuye_common.scrub`): the estate name as
typed (``quarantine.estate_raw``), the building as typed when it does not link to the
sample (``respondents.building``), the file and sheet names (``source_file``, ``sheet``).

Dispositions (with a sample) and the estates' AAPOR outcome rates — ``response_rate`` is
RR1, completes over every eligible household approached, main and reserve — are those of
:mod:`evaluation.ingest.dispositions`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from evaluation.codes import column_codes, is_tiled, narrow
from evaluation.ingest import linking, pseudonym, validate
from evaluation.ingest.comments import clean_comments, theme_table
from evaluation.ingest.dispositions import dispositions as outcome_dispositions
from evaluation.ingest.quality import backcheck as bc
from evaluation.ingest.quality.checks import Forms, Quality, run_checks
from evaluation.ingest.quality.config import QualityConfig
from evaluation.ingest.quality.rules import REASONS as QUALITY_REASONS
from evaluation.ingest.quality.rules import Hit
from evaluation.ingest.readers import ExportInfo, normalise_text, read_survey_export, row_matches
from evaluation.questionnaire import Questionnaire, load_questionnaire
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import atomic_path
from wuye_common.plain_xlsx import Table, write_tables
from wuye_common.scrub import scrub_text, scrub_values
from wuye_common.sheets import DEFAULT_MAX_CELLS, DEFAULT_MAX_ROWS, Limits

if TYPE_CHECKING:
    from evaluation.round import Round

RESPONDENT_COLUMNS = [
    "response_id",
    "estate_id",
    "building",
    "household_key",
    "role",
    "source_file",
    "source_row",
    "submitted_at",
    "duration_s",
    "room_key",
    "phone_key",
    "ip_key",
    "platform",
    "surveyor",
    "quality_rules",
]
ANSWER_COLUMNS = ["response_id", "estate_id", "item_id", "dimension", "code", "satisfied", "points"]
QUARANTINE_COLUMNS = [
    "source_file",
    "sheet",
    "source_row",
    "reason_code",
    "reason",
    "estate_raw",
    "detail",
    "estate_id",
    "household_key",
    "room_key",
    "phone_key",
]
UNRESOLVED = "(未识别)"
RAW_SHOWN = 200
"""Characters of the estate name as typed kept in the quarantine (``estate_raw``)."""
EMPTY_MARKERS = frozenset({"(空)", "（空）", "(跳过)", "（跳过）", "-3", "-2"})
#: headers accepted for identification columns when no question matches (Kobo, hand-made)
IDENT_HEADERS: dict[str, set[str]] = {
    "estate": {"小区名称", "小区", "estate", "estate_name", "estate_id", "小区编号"},
    "building": {"楼栋", "楼栋号", "楼号", "building"},
    "unit": {"单元", "单元号", "unit"},
    "room": {"房号", "房间号", "门牌号", "room"},
    "phone": {"电话", "联系电话", "手机", "手机号", "phone"},
    "name": {"姓名", "name"},
    "surveyor": {"调查员", "访问员", "调查员编号", "访问员编号", "surveyor", "interviewer"},
}
IDENT_KEYS = ("estate", "building", "unit", "room", "phone", "name", "surveyor")
#: a 来源详情 value on more forms than this share (or 10) says nothing about the device
GENERIC_SOURCE_SHARE = 0.05
#: the quarantine workbook's Chinese headers
QUARANTINE_HEADERS = {
    "source_file": "文件",
    "sheet": "工作表",
    "source_row": "原始行号",
    "reason_code": "原因代码",
    "reason": "原因",
    "estate_raw": "填写的小区名称",
    "detail": "说明",
    "estate_id": "小区编号",
    "household_key": "住户假名",
    "room_key": "房号假名",
    "phone_key": "电话假名",
}
COMMENT_COLUMNS = ["estate_id", "response_id", "question", "theme", "comment"]
SURVEYOR_LENGTH = 8
"""Characters of a surveyor's pseudonym (the agency maps them back with the secrets folder's
调查员对照 file)."""


@dataclass
class IngestResult:
    """Tables produced by :func:`ingest_round` (see ``docs/architecture.md``)."""

    respondents: pd.DataFrame
    answers: pd.DataFrame
    quarantine: pd.DataFrame
    counts: pd.DataFrame
    dispositions: pd.DataFrame
    response_rates: pd.DataFrame
    exports: list[ExportInfo] = field(default_factory=list)
    quality_flags: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per form a quality rule found (:data:`~evaluation.ingest.quality.checks.
    FLAG_COLUMNS`): flagged ones stay in ``respondents``, quarantined ones are in
    ``quarantine`` too."""
    surveyors: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per surveyor (pseudonym): forms, flags, surveyor effect, fabrication score,
    back-check rates (empty without a surveyor column)."""
    comments: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Scrubbed comments: :data:`COMMENT_COLUMNS`."""
    comment_themes: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per estate × theme: mentions and the share among dissatisfied respondents."""
    secrets: dict[str, pd.DataFrame] = field(default_factory=dict)
    """For the secrets folder only, never stored or reported: ``回访名单`` (the back-check
    list, with phone numbers) and ``调查员对照`` (surveyor pseudonym → name as written);
    the ingest step empties it once the files are written."""

    def summary(self) -> pd.DataFrame:
        """Per-file and per-estate accounting (read = accepted + quarantined), Chinese
        headers, ready to print."""
        table = self.counts.copy()
        table["level"] = table["level"].map({"file": "文件", "estate": "小区", "total": "合计"})
        table = table.rename(
            columns={
                "level": "层级",
                "source_file": "文件",
                "estate_id": "小区编号",
                "read": "读入",
                "accepted": "接受",
                "quarantined": "隔离",
                "blank_rows": "跳过空行",
            }
        )
        return table.astype({"文件": object, "小区编号": object}).fillna("")

    @property
    def blank_rows(self) -> int:
        """Rows without any value the readers skipped (all files)."""
        total = self.counts.loc[self.counts["level"] == "total", "blank_rows"]
        return int(total.iloc[0]) if len(total) else 0

    def report(self) -> str:
        """Printable accounting plus quarantine reasons (no personal data)."""
        lines = ["导入核对（读入 = 接受 + 隔离）：", self.summary().to_string(index=False)]
        lines.append(f"整行空白的行已跳过，不计入读入：{self.blank_rows} 行")
        if len(self.quarantine):
            reasons = self.quarantine.groupby(["reason_code", "reason"]).size()
            lines.append("隔离原因：")
            lines += [f"  {code}（{msg}）：{n} 行" for (code, msg), n in reasons.items()]
        return "\n".join(lines)

    def write_quarantine(self, path: str | Path) -> Path:
        """Write the quarantine workbook (隔离记录 + 导入核对) via a temporary file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            write_tables(
                tmp,
                [
                    Table("隔离记录", self.quarantine, QUARANTINE_HEADERS),
                    Table("导入核对", self.summary()),
                ],
            )
        return path


def ingest_round(
    round: Round,
    files: Iterable[str | Path] | Mapping[str | Path, str] | None = None,
    *,
    sample: pd.DataFrame | None = None,
    questionnaire: Questionnaire | str | Path | None = None,
    contacts: pd.DataFrame | None = None,
    key: bytes | None = None,
    allow_unsampled: bool = False,
    margin: float = linking.DEFAULT_MARGIN,
    household_frame: pd.DataFrame | None = None,
    backchecks: pd.DataFrame | None = None,
    executor: Executor | None = None,
) -> IngestResult:
    """Ingest the round's exports.

    ``files``: paths (default ``round.paths["responses"]``), or a mapping path → estate
    (name or id) for one-file-per-estate exports without an estate question (a file
    without an estate column otherwise uses its file name as the estate name).
    ``sample``: the drawn sample (``estate_id, building, unit, floor, room, household_id,
    role, order``); ``None`` skips sample linking and dispositions. ``contacts``:
    optional ``household_id, status`` (``refused``/``not_reached``) from field records.
    ``key``: HMAC key (default: read or create ``round.secret_path``).
    ``allow_unsampled``: keep households not in the sample with role ``unsampled``
    instead of quarantining them. ``household_frame``: the household frame (``estate_id, building,
    unit, room``) for the ``household`` quality rule when there is no sample (or unsampled
    households are allowed). ``backchecks``: the round's call results (``response_id,
    result``, :func:`evaluation.ingest.quality.backcheck.read_results`).
    Quality checks (``round.quality``, :mod:`evaluation.ingest.quality`) and comment cleaning
    (:mod:`evaluation.ingest.comments`) run on the forms every other rule accepted.
    ``executor``: where each file is read and standardised (:func:`read_export`; e.g. a
    Dask client's executor, :mod:`evaluation.executors`); ``None``: here, one file after
    another. The rules are applied here, to all rows at once.
    """
    cfg = getattr(round, "ingest", None)
    min_duration = float(getattr(cfg, "min_duration_s", 60.0))
    cutoff = float(getattr(cfg, "match_cutoff", 90.0))
    # the round's loaded questionnaire (a stand-in round without one: the shipped one)
    questionnaire = load_questionnaire(
        questionnaire if questionnaire is not None else getattr(round, "questionnaire", "default")
    )
    if key is None:
        key = pseudonym.load_or_create_key(round.secret_path)
    if files is None:
        files = list(getattr(round, "paths", {}).get("responses", []))
    estate_for_file: dict[str, str] = {}
    if isinstance(files, Mapping):
        estate_for_file = {str(Path(p)): str(e) for p, e in files.items()}
        files = list(files)
    files = [Path(f) for f in files]
    _check_files(files)
    overrides = {k: getattr(cfg, f"{k}_question", None) for k in ("estate", "building", "room")}
    limits = Limits(
        max_rows=int(getattr(cfg, "max_rows", DEFAULT_MAX_ROWS)),
        max_cells=int(getattr(cfg, "max_cells", DEFAULT_MAX_CELLS)),
    )
    jobs = [
        (path, questionnaire, overrides, estate_for_file.get(str(path)), order, limits)
        for order, path in enumerate(files)
    ]
    if executor is None:
        read = [read_export(*job) for job in jobs]
    else:  # one task per file; results in the files' order
        read = [f.result() for f in [executor.submit(read_export, *job) for job in jobs]]
    exports = [info for _, info in read]
    rows = _stack([part for part, _ in read])
    del read
    context = _Context(
        register=round.register,
        questionnaire=questionnaire,
        key=key,
        sample=sample,
        contacts=contacts,
        min_duration=min_duration,
        cutoff=cutoff,
        margin=margin,
        allow_unsampled=allow_unsampled,
        quality=getattr(round, "quality", None) or QualityConfig(),
        frame=household_frame,
        backchecks=backchecks,
        seed=int(getattr(round, "seed", 0) or 0),
    )
    return _validate(rows, context, exports)


def _check_files(files: list[Path]) -> None:
    """At least one file, and distinct file stems as outputs show them: response ids hash
    "{file stem}:{row}" of the name scrubbed of personal data (a.xlsx and a.csv;
    问卷_13812345678.xlsx and 问卷_13912345678.xlsx both show as 问卷_〔电话〕)."""
    if not files:
        raise WuyeError(
            Problem(
                "没有要导入的问卷导出文件",
                "在 round.toml 的 [inputs] responses 中列出文件，或在命令行给出",
            )
        )
    stems = [Path(scrub_text(f.name)).stem for f in files]
    if len(set(stems)) != len(stems):
        dup = sorted(
            {scrub_text(f.name) for f, s in zip(files, stems, strict=True) if stems.count(s) > 1}
        )
        raise WuyeError(
            Problem(
                f"文件名重复（不计扩展名；文件名中的电话等个人信息不计）：{'、'.join(dup)}",
                "每个导出文件使用不同的、不含个人信息的文件名（如加上日期或平台），"
                "以便按文件名和行号追溯",
            )
        )


def read_export(
    path: Path,
    questionnaire: Questionnaire,
    overrides: dict[str, Any],
    file_estate: str | None,
    order: int,
    limits: Limits,
) -> tuple[pd.DataFrame, ExportInfo]:
    """One export read and put in the standard wide layout (:func:`_standardise`), with its
    :class:`ExportInfo`: the per-file part of the ingest, run where ``ingest_round``'s
    executor runs it. The export's other columns (names, free text) are not kept."""
    frame, info = read_survey_export(path, categorical=True, limits=limits)
    return _standardise(frame, info, questionnaire, overrides, file_estate, order), info


# --------------------------------------------------------------------------- column mapping


def find_column(
    info: ExportInfo,
    number: int | None,
    text: str | None,
    *,
    row: str | None = None,
    stem: str | None = None,
    item_id: str | None = None,
    exclude: set[str] = frozenset(),
) -> str | None:
    """The question column for a question.

    A column named by the item's id (an XLSForm made by ``questionnaire export``: Kobo and
    ODK export the question names) first; a matrix row (``row`` given) is then the column of
    question ``number`` whose header names that row label (:func:`~evaluation.ingest.readers.
    row_matches`: bare label, ``题干—行``, ``N(行)``, ``第N题(行)``), or, when the platform
    numbered the matrix otherwise, the one column naming that row under the same ``stem``;
    otherwise the same
    normalised text (题干) first, then the same question number (not for matrix rows,
    which share their matrix's number)."""
    questions = info.questions[~info.questions["column"].isin(exclude)]
    if item_id:
        names = questions["column"].map(lambda c: normalise_text(str(c).split("/")[-1]).lower())
        hit = questions[names == normalise_text(item_id).lower()]
        if len(hit) == 1:
            return str(hit["column"].iloc[0])
    if row:
        return _matrix_row_column(questions, number, normalise_text(row), stem)
    q = questions[questions["qtype"].isin(["single", "matrix", "unnumbered"])]
    if text:
        want = normalise_text(text)
        hit = q[q["text"] == want]
        if len(hit) == 1:
            return str(hit["column"].iloc[0])
    if number is not None:
        hit = q[(q["number"] == number).fillna(False) & (q["qtype"] != "matrix")]
        if len(hit) > 1:
            first, second = hit["column"].iloc[0], hit["column"].iloc[1]
            raise WuyeError(
                Problem(
                    f"第 {number} 题有两列：「{first}」、「{second}」，无法确定用哪一列",
                    "只保留其中一列（删除或改名另一列，或让列名与问卷题干一致）后重新导入",
                    file=info.file,
                    sheet=info.sheet,
                    column=str(second),
                )
            )
        if len(hit) == 1:
            return str(hit["column"].iloc[0])
    return None


def _matrix_row_column(
    questions: pd.DataFrame, number: int | None, label: str, stem: str | None
) -> str | None:
    """The column of row ``label`` of matrix ``number`` (see :func:`find_column`)."""
    texts = questions["option"].where(questions["qtype"] == "multi_flag", questions["text"])
    labelled = texts.map(lambda t: row_matches(t, label)).astype(bool)
    hit = questions[labelled & (questions["number"] == number).fillna(False)]
    if hit.empty and stem:  # numbered otherwise by the platform: the same stem
        hit = questions[labelled & (questions["stem"] == normalise_text(stem)).fillna(False)]
        hit = hit if len(hit) == 1 else hit.iloc[:0]
    if hit.empty:  # an export without numbers: the label alone, if unique
        hit = questions[labelled & questions["number"].isna()]
        hit = hit if len(hit) == 1 else hit.iloc[:0]
    return str(hit["column"].iloc[0]) if len(hit) else None


def _override(info: ExportInfo, spec: Any) -> str | None:
    if spec is None:
        return None
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return find_column(info, int(spec), None)
    return find_column(info, None, str(spec)) or (
        str(spec) if str(spec) in info.questions["column"].tolist() else None
    )


def _standardise(
    frame: pd.DataFrame,
    info: ExportInfo,
    q: Questionnaire,
    overrides: dict[str, Any],
    file_estate: str | None,
    order: int,
) -> pd.DataFrame:
    """One export's rows in the standard wide layout (raw text, not yet validated)."""
    n = len(frame)
    ident, item_cols = _map_columns(frame, info, q, overrides)
    if not any(item_cols.values()):
        raise WuyeError(
            Problem(
                "导出文件中没有找到本问卷的评价题列",
                f"确认导出的是「{q.title}」的答卷；题目列应形如「4、题干」，"
                "题号或题干与问卷定义一致",
                file=info.file,
                sheet=info.sheet,
            )
        )
    out = pd.DataFrame(
        {
            "source_file": info.file,
            "sheet": info.sheet or "",
            "file_order": order,
            "source_row": info.source_rows.astype(np.int64),
            "platform": info.platform,
            "kind": info.kind,
        },
        index=frame.index,
    )
    out["estate_raw"] = _estate_raw(frame, info, ident["estate"], file_estate)
    for key_name in ("building", "room", "phone", "name", "surveyor"):
        out[f"{key_name}_raw"] = _text_column(frame, ident[key_name])
    if ident["unit"]:
        out["room_raw"] = _with_unit(out["room_raw"], _text_column(frame, ident["unit"]))
    for key_name, column in _free_text_columns(info, q, ident, item_cols).items():
        out[f"free:{key_name}"] = _text_column(frame, column)
    _add_metadata(out, frame, info.metadata)
    answered = np.zeros(n, dtype=bool)
    for c in info.question_columns:
        answered |= _text_column(frame, c).notna().to_numpy()
    for item_id, c in item_cols.items():
        out[f"item:{item_id}"] = _text_column(frame, c, raw=True)
    out["answered_any"] = answered
    out["missing_items"] = "、".join(f"{i}" for i, c in item_cols.items() if c is None)
    out.attrs = {}
    assert len(out) == n
    return out


def _map_columns(
    frame: pd.DataFrame, info: ExportInfo, q: Questionnaire, overrides: dict[str, Any]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """The export's column (``None``: not found) of each identification question and of
    each item; no column serves twice."""
    used: set[str] = set()
    ident: dict[str, str | None] = {}
    for key_name in IDENT_KEYS:
        col = _ident_column(
            frame, info, key_name, q.identification.get(key_name), overrides.get(key_name), used
        )
        ident[key_name] = col
        if col:
            used.add(col)
    item_cols: dict[str, str | None] = {}
    for item in q.items.itertuples(index=False):
        number = None if pd.isna(item.number) else int(item.number)
        col = find_column(
            info,
            number,
            item.text,
            row=item.row or None,
            stem=item.stem or None,
            item_id=item.item_id,
            exclude=used,
        )
        item_cols[item.item_id] = col
        if col:
            used.add(col)
    return ident, item_cols


def _free_text_columns(
    info: ExportInfo,
    q: Questionnaire,
    ident: dict[str, str | None],
    item_cols: dict[str, str | None],
) -> dict[str, str]:
    """The export's column of each free-text question (``[free_text]``) that it has."""
    used = {c for c in [*ident.values(), *item_cols.values()] if c}
    out: dict[str, str] = {}
    for key_name, question in q.free_text.items():
        col = find_column(info, question.number, question.text, exclude=used)
        if col is not None:
            out[key_name] = col
            used.add(col)
    return out


def _ident_column(
    frame: pd.DataFrame, info: ExportInfo, key_name: str, spec: Any, override: Any, used: set[str]
) -> str | None:
    """An identification question's column: the ``[ingest]`` override, else the
    questionnaire's question, else a column with a known header (:data:`IDENT_HEADERS`)."""
    col = _override(info, override)
    if col is None and spec is not None:
        col = find_column(info, spec.number, spec.text, exclude=used)
    if col is None:
        col = next(
            (
                c
                for c in frame.columns
                if c not in used
                and normalise_text(c.split("/")[-1]).lower() in IDENT_HEADERS[key_name]
            ),
            None,
        )
    return col


def _text_column(frame: pd.DataFrame, name: str | None, *, raw: bool = False) -> pd.Series:
    """Column ``name`` of the export (all NA when ``None``); unless ``raw``, empty and skip
    markers (:data:`EMPTY_MARKERS`) become NA."""
    if name is None:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    values = frame[name]
    if isinstance(values.dtype, pd.CategoricalDtype):  # text per distinct value
        if raw:
            return values
        cat = values.array
        blank = np.append(cat.categories.isin(EMPTY_MARKERS), True)
        codes = np.where(blank[cat.codes], -1, cat.codes)
        return pd.Series(
            pd.Categorical.from_codes(codes, dtype=cat.dtype), index=values.index, name=values.name
        )
    values = values.astype("string")
    if raw:
        return values
    return values.mask(_blankish(values).to_numpy(dtype=bool))


def _with_unit(room: pd.Series, unit: pd.Series) -> pd.Series:
    """The room as written, ``单元-房号`` where a separate unit question was answered and the
    room holds a single number (``linking.room_parts`` then reads the unit from it)."""
    room = room.astype("string")
    unit = unit.astype("string").str.strip()
    single = room.str.count(r"\d+").eq(1).fillna(False).to_numpy(dtype=bool)
    given = unit.notna().to_numpy() & single
    return room.mask(given, unit + "-" + room)


def _estate_raw(
    frame: pd.DataFrame, info: ExportInfo, column: str | None, file_estate: str | None
) -> pd.Series:
    """The estate name as written; blank cells (or every row, without an estate column)
    get the file's estate, or else the file name."""
    estate = _text_column(frame, column)
    if file_estate is not None and column:
        estate = estate.astype("string")
    if file_estate is not None or column is None:
        fallback = file_estate if file_estate is not None else Path(info.file).stem
        estate = (
            estate.fillna(fallback)
            if column
            else pd.Series(fallback, index=frame.index, dtype="string")
        )
    return estate


def _add_metadata(out: pd.DataFrame, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    """IP, submission time and duration as written (duration from start and end times
    when the export has no duration column)."""
    out["ip_raw"] = _text_column(frame, meta.get("ip"))
    out["device_raw"] = _text_column(frame, meta.get("kobo_device") or meta.get("source_detail"))
    out["submitted_raw"] = _text_column(frame, meta.get("submitted_at") or meta.get("ended_at"))
    duration = _text_column(frame, meta.get("duration"))
    if meta.get("duration") is None and meta.get("started_at") and meta.get("ended_at"):
        started = validate.parse_timestamp(_text_column(frame, meta["started_at"]))
        ended = validate.parse_timestamp(_text_column(frame, meta["ended_at"]))
        duration = (ended - started).dt.total_seconds().astype("string")
    out["duration_raw"] = duration


def _stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """All files' standardised rows; text columns stay categorical (categories united)
    or, when the files disagree in type, become ``string``."""
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    rows = pd.concat(parts, ignore_index=True)
    for c in rows.columns:
        categorical = [isinstance(p[c].dtype, pd.CategoricalDtype) for p in parts]
        if not any(categorical) or isinstance(rows[c].dtype, pd.CategoricalDtype):
            continue
        try:
            if not all(categorical):  # a column missing in some file (all NA, ``string``)
                raise TypeError
            rows[c] = pd.Series(union_categoricals([p[c] for p in parts]), index=rows.index)
        except TypeError:
            rows[c] = rows[c].astype("string")
    return rows


def _blankish(values: pd.Series) -> pd.Series:
    """Empty, or an empty/skip marker such as ``(空)`` (blank cells are NA by now)."""
    return values.isna() | values.isin(EMPTY_MARKERS)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Context:
    """What validating a round's stacked rows needs besides the rows."""

    register: pd.DataFrame
    questionnaire: Questionnaire
    key: bytes
    """HMAC key of the pseudonyms."""
    sample: pd.DataFrame | None = None
    contacts: pd.DataFrame | None = None
    min_duration: float = 60.0
    cutoff: float = 90.0
    margin: float = linking.DEFAULT_MARGIN
    allow_unsampled: bool = False
    quality: QualityConfig = field(default_factory=QualityConfig)
    frame: pd.DataFrame | None = None
    backchecks: pd.DataFrame | None = None
    seed: int = 0


class _Flags:
    """Each row's first broken rule (``reason``: index into ``codes``, 0 = accepted so far)
    and its detail text."""

    def __init__(self, n: int) -> None:
        self.given: dict[str, Hit] = {}
        """Rules that only flag (``[quality]``): their hits, for the quality checks."""
        self.codes = [""]  # reason codes in the order first flagged
        self.reason = np.zeros(n, dtype=np.int8)
        self.detail = np.full(n, "", dtype=object)

    @property
    def accepted(self) -> np.ndarray:
        return self.reason == 0

    def flag(
        self, mask: np.ndarray, code: str, text: np.ndarray | str | Callable[[np.ndarray], Any] = ""
    ) -> None:
        """Quarantine the rows of ``mask`` not yet quarantined; ``text``: one detail for
        all, one per input row, or a function giving the details of the rows it is passed
        (positions), so that texts are made for the quarantined rows only."""
        new = np.asarray(mask, dtype=bool) & (self.reason == 0)
        if code not in self.codes:
            self.codes.append(code)
        self.reason[new] = self.codes.index(code)
        if isinstance(text, str):
            self.detail[new] = text
        elif callable(text):
            where = np.flatnonzero(new)
            if len(where):
                self.detail[where] = np.asarray(list(text(where)), dtype=object)
        else:
            self.detail[new] = np.asarray(text, dtype=object)[new]

    def reason_codes(self) -> pd.Series:
        return pd.Series(np.asarray(self.codes, dtype=object)[self.reason], dtype=object)


@dataclass
class _Linked:
    """Each row's estate, building and household, as linked to the 台账 and the sample."""

    estate_id: pd.Series
    building_key: pd.Series
    room: pd.DataFrame
    """:func:`linking.room_parts` of the room as written (``room_key``, ``unit_key``)."""
    building: pd.Series
    """The sample's building label where the row links to it, else ``building_key``."""
    household_id: pd.Series
    role: pd.Series
    sample_row: np.ndarray | None = None
    """Each row's linked household's position in the sample (−1: none; None: no sample)."""


@dataclass
class _Keys:
    """Pseudonyms (raw personal values are not used after they are made)."""

    room: pd.Series
    phone: pd.Series
    household: pd.Series
    sample: pd.Series | None
    """The sample's households' keys (``None`` without a sample)."""
    sample_row: np.ndarray | None = None
    """Each row's household as its position in the sample (-1: not linked; ``None``
    without a sample)."""


def _validate(rows: pd.DataFrame, context: _Context, exports: list[ExportInfo]) -> IngestResult:
    """Apply the rules of the module doc to all rows at once, in their order, then the
    quality checks on the rows they accepted, and build the result tables."""
    q = context.questionnaire
    flags = _Flags(len(rows))
    flags.flag(~rows["answered_any"].to_numpy(), "blank_row")
    estate_id = _link_estates(rows, context, flags)
    codes, status = _decode_answers(rows, q)
    _flag_answers(flags, q, status)
    duration = _flag_speeders(rows, flags, context)
    linked = _link_households(rows, context, flags, estate_id)
    keys = _pseudonyms(rows, context, linked)
    submitted = validate.parse_timestamp(rows["submitted_raw"])
    _flag_duplicates(rows, flags, estate_id, keys, submitted, context)
    codes = np.where(status == validate.OK, codes, 0)
    checked = _quality(rows, context, linked, keys, (submitted, duration), codes, flags)

    accepted = flags.accepted
    respondents = _respondents_table(rows, context, linked, keys, submitted, duration, accepted)
    respondents["response_id"] = pd.Series(checked.of_rows("response_id", accepted), dtype="str")
    respondents["ip_key"] = pd.array(checked.of_rows("ip_key", accepted), dtype="string")
    respondents["surveyor"] = checked.surveyor_key[accepted].astype("string").to_numpy()
    respondents["quality_rules"] = checked.rules_of(accepted)
    answers = answers_frame(
        respondents["response_id"], respondents["estate_id"], codes[accepted], q
    )
    satisfied = _overall_satisfied(codes[accepted], q)
    del status
    quarantine = _quarantine_table(rows, flags, estate_id, keys)
    counts = _counts(rows, estate_id, accepted, {e.file: e.blank_rows for e in exports})
    dispositions, rates = outcome_dispositions(
        respondents,
        context.sample,
        context.contacts,
        context.key,
        context.register,
        sample_keys=keys.sample,
    )
    comments, themes = _comments(rows, respondents, accepted, satisfied, q)
    result = IngestResult(respondents, answers, quarantine, counts, dispositions, rates, exports)
    result.quality_flags = checked.quality.flags
    result.surveyors = checked.quality.surveyors
    result.comments, result.comment_themes = comments, themes
    result.secrets = _secrets(rows, context, respondents, checked, accepted, keys)
    return result


@dataclass
class _Checked:
    """The quality checks of the rows accepted before them (``positions``)."""

    positions: np.ndarray
    response_id: np.ndarray
    """The checked rows' response ids (made once for them and the respondents)."""
    ip_key: np.ndarray
    """The checked rows' IP pseudonyms."""
    quality: Quality
    surveyor_key: pd.Series
    """Every row's surveyor pseudonym (NA: none)."""

    def of_rows(self, name: str, accepted: np.ndarray) -> np.ndarray:
        """The checked rows' ``name`` values for the ``accepted`` rows (a subset of them)."""
        per_row = np.full(len(accepted), None, dtype=object)
        per_row[self.positions] = getattr(self, name)
        return per_row[accepted]

    def rules_of(self, accepted: np.ndarray) -> pd.Series:
        """The ``;``-joined flag codes of the ``accepted`` rows, in their order."""
        per_row = np.full(len(accepted), "", dtype=object)
        per_row[self.positions] = self.quality.flag_rules
        return pd.Series(per_row[accepted], dtype="string")


def _quality(
    rows: pd.DataFrame,
    context: _Context,
    linked: _Linked,
    keys: _Keys,
    times: tuple[pd.Series, np.ndarray],
    codes: np.ndarray,
    flags: _Flags,
) -> _Checked:
    """Run the quality checks on the rows accepted so far (``times``: submission times and
    durations) and quarantine the forms a ``quarantine`` rule found."""
    q = context.questionnaire
    submitted, duration = times
    at = np.flatnonzero(flags.accepted)
    surveyor_key = pseudonym.pseudonymise(
        rows["surveyor_raw"], context.key, "surveyor", SURVEYOR_LENGTH
    )
    pick = rows.iloc[at]
    forms = Forms(
        estate_id=linked.estate_id.iloc[at].reset_index(drop=True),
        response_id=pd.Series(_response_ids(pick[["source_file", "source_row"]]), dtype="str"),
        source_file=pick["source_file"].reset_index(drop=True),
        source_row=pick["source_row"].reset_index(drop=True),
        codes=codes[at],
        scale_sizes=_scale_sizes(q),
        overall=int(np.flatnonzero(q.items["is_overall"].to_numpy(dtype=bool))[0]),
        submitted=submitted.iloc[at].reset_index(drop=True),
        duration=duration[at],
        ip_key=pseudonym.pseudonymise(
            pseudonym.normalise_ip(pick["ip_raw"]), context.key, "ip"
        ).reset_index(drop=True),
        device_key=_device_keys(pick["device_raw"], context.key),
        phone_key=keys.phone.iloc[at].reset_index(drop=True),
        surveyor=surveyor_key.iloc[at].reset_index(drop=True),
        satisfied=_overall_satisfied(codes[at], q),
        in_frame=_in_frame(context, linked, at),
        given={code: Hit(hit.mask[at], hit.detail[at]) for code, hit in flags.given.items()},
    )
    quality = run_checks(forms, context.quality, context.backchecks)
    for code in pd.unique(quality.quarantine_code[quality.quarantine_code != ""]):
        mask = np.zeros(len(rows), dtype=bool)
        hit = quality.quarantine_code == code
        mask[at[hit]] = True
        detail = np.full(len(rows), "", dtype=object)
        detail[at[hit]] = quality.quarantine_detail[hit]
        flags.flag(mask, str(code), detail)
    return _Checked(
        positions=at,
        response_id=forms.response_id.to_numpy(dtype=object),
        ip_key=forms.ip_key.to_numpy(dtype=object, na_value=None),
        quality=quality,
        surveyor_key=surveyor_key,
    )


def _scale_sizes(q: Questionnaire) -> np.ndarray:
    """Each item's number of answer options (its missing options aside)."""
    options = q.options[~q.options["missing"]].groupby("scale")["code"].max()
    return q.items["scale"].map(options).fillna(0).to_numpy(dtype=np.int64)


def _overall_satisfied(codes: np.ndarray, q: Questionnaire) -> np.ndarray:
    """1.0 / 0.0 on the overall item, NaN without an answer."""
    j = int(np.flatnonzero(q.items["is_overall"].to_numpy(dtype=bool))[0])
    options = q.scale_options(q.items["scale"].iloc[j])
    lookup = np.full(int(options["code"].max()) + 1 if len(options) else 1, np.nan)
    scored = options[~options["missing"]]
    lookup[scored["code"].to_numpy()] = scored["satisfied"].to_numpy(dtype=float)
    column = codes[:, j] if codes.size else np.zeros(len(codes), dtype=np.int64)
    return lookup[np.clip(column, 0, len(lookup) - 1)]


def _device_keys(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonyms of a device or source detail, NA for values too common to tell a device
    (more than :data:`GENERIC_SOURCE_SHARE` of the forms, or 10: 直接访问, 微信)."""
    text = values.astype("string").reset_index(drop=True)
    counts = text.value_counts()
    generic = counts[counts > max(10, GENERIC_SOURCE_SHARE * len(text))].index
    return pseudonym.pseudonymise(text.mask(text.isin(generic)), key, "device")


def _in_frame(context: _Context, linked: _Linked, at: np.ndarray) -> np.ndarray | None:
    """Whether each checked row's building and room are in the household frame; ``None``
    without a frame, or with a sample (its own rule quarantines rows not in it) unless
    unsampled households are allowed."""
    frame = context.frame
    if frame is None or (context.sample is not None and not context.allow_unsampled):
        return None
    households = frame.assign(
        household_id=frame.get("household_id", pd.Series(range(len(frame)))).astype(str),
        role="frame",
    )
    resp = pd.DataFrame(
        {
            "estate_id": linked.estate_id.iloc[at],
            "building_key": linked.building_key.iloc[at],
            "room_key": linked.room["room_key"].iloc[at],
            "unit_key": linked.room["unit_key"].iloc[at],
        }
    )
    link = linking.link_sample(resp, households)["link"].to_numpy()
    return (link == "linked") | (link == "no_room")


def _comments(
    rows: pd.DataFrame,
    respondents: pd.DataFrame,
    accepted: np.ndarray,
    satisfied: np.ndarray,
    q: Questionnaire,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accepted forms' free-text answers, scrubbed and classified, and the themes per
    estate (:mod:`evaluation.ingest.comments`)."""
    parts = []
    for key_name in q.free_text:
        column = rows.get(f"free:{key_name}")
        if column is None:
            continue
        cleaned = clean_comments(column[accepted].reset_index(drop=True), q.themes)
        part = pd.DataFrame(
            {
                "estate_id": respondents["estate_id"],
                "response_id": respondents["response_id"],
                "question": key_name,
                "theme": cleaned["theme"],
                "comment": cleaned["comment"],
            }
        )
        parts.append(part[part["comment"].notna()])
    comments = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COMMENT_COLUMNS)
    )
    unhappy = pd.DataFrame(
        {
            "estate_id": respondents["estate_id"],
            "response_id": respondents["response_id"],
            "dissatisfied": satisfied == 0.0,
        }
    )
    return comments[COMMENT_COLUMNS], theme_table(comments, unhappy)


def _secrets(
    rows: pd.DataFrame,
    context: _Context,
    respondents: pd.DataFrame,
    checked: _Checked,
    accepted: np.ndarray,
    keys: _Keys,
) -> dict[str, pd.DataFrame]:
    """The back-check list (unless the round's call results are in already) and the
    surveyor pseudonyms' names: for the secrets folder only."""
    out: dict[str, pd.DataFrame] = {}
    names = pd.DataFrame(
        {"surveyor": checked.surveyor_key, "调查员": rows["surveyor_raw"].astype("string")}
    ).dropna()
    if len(names):
        out["调查员对照"] = names.drop_duplicates("surveyor").sort_values("surveyor")
    if context.backchecks is not None and len(context.backchecks):
        return out
    risk = np.zeros(len(rows))
    surveyor_risk = np.zeros(len(rows))
    risk[checked.positions] = checked.quality.risk
    surveyor_risk[checked.positions] = checked.quality.surveyor_risk
    drawn = bc.draw_backcheck(
        respondents["surveyor"],
        risk[accepted],
        surveyor_risk[accepted],
        context.quality.backcheck_share,
        context.seed,
    )
    if drawn.empty:
        return out
    at = np.flatnonzero(accepted)[drawn["position"].to_numpy()]
    names_of = (
        context.register.set_index("estate_id")["estate_name"] if len(context.register) else {}
    )
    phone = pseudonym.normalise_phone(rows["phone_raw"].iloc[at]).astype("string")
    listing = pd.DataFrame(
        {
            "response_id": respondents["response_id"].iloc[drawn["position"]].to_numpy(),
            "estate_name": respondents["estate_id"]
            .iloc[drawn["position"]]
            .map(names_of)
            .to_numpy(),
            "building": rows["building_raw"].iloc[at].astype("string").to_numpy(),
            "room": rows["room_raw"].iloc[at].astype("string").to_numpy(),
            "phone": phone.to_numpy(),
            "method": np.where(phone.notna().to_numpy(), "电话", "上门"),
            "surveyor_name": rows["surveyor_raw"].iloc[at].astype("string").to_numpy(),
            "submitted_at": respondents["submitted_at"].iloc[drawn["position"]].to_numpy(),
            "source_file": rows["source_file"].iloc[at].to_numpy(),
            "source_row": rows["source_row"].iloc[at].to_numpy(),
            "inclusion": drawn["inclusion"].round(4).to_numpy(),
            "result": "",
            "note": "",
        }
    )
    del keys
    out["回访名单"] = listing.rename(columns=bc.LIST_HEADERS)
    return out


def _link_estates(rows: pd.DataFrame, context: _Context, flags: _Flags) -> pd.Series:
    """Each row's ``estate_id`` from the estate name as written; flags rows without a
    name, with an unknown or an ambiguous one."""
    matched = linking.match_estates(
        rows["estate_raw"], context.register, cutoff=context.cutoff, margin=context.margin
    )
    estate_id = matched["estate_id"].astype("string")
    m = matched["match"].to_numpy()
    sugg = matched["suggestions"].to_numpy(dtype=object)
    flags.flag(m == "missing", "missing_required", "小区名称未填写")
    flags.flag(
        m == "unknown",
        "unknown_estate",
        lambda at: [
            f"最接近的台账小区：{t}" if t else "台账中没有相近的小区名称" for t in sugg[at]
        ],
    )
    flags.flag(m == "ambiguous", "ambiguous_estate", lambda at: [f"可能是：{t}" for t in sugg[at]])
    return estate_id


def _decode_answers(rows: pd.DataFrame, q: Questionnaire) -> tuple[np.ndarray, np.ndarray]:
    """Per row × item: the option code and its :mod:`validate` status (option texts; in
    code exports option numbers too)."""
    items = q.items
    n = len(rows)
    small = len(q.options) == 0 or int(q.options["code"].max()) < 127
    codes = np.zeros((n, len(items)), dtype=np.int8 if small else np.int32)
    status = np.zeros((n, len(items)), dtype=np.int8)
    accept_codes = rows["kind"].eq("code").to_numpy()
    for j, item in enumerate(items.itertuples(index=False)):
        opts = q.scale_options(item.scale)
        values = rows[f"item:{item.item_id}"]
        c_text, s_text = validate.decode_column(values, opts, accept_codes=False)
        if accept_codes.any():
            c_code, s_code = validate.decode_column(values, opts, accept_codes=True)
            c_text = np.where(accept_codes, c_code, c_text)
            s_text = np.where(accept_codes, s_code, s_text)
        codes[:, j], status[:, j] = c_text, s_text
    return codes, status


def _flag_answers(flags: _Flags, q: Questionnaire, status: np.ndarray) -> None:
    """Flags answers that cannot be read, then required items left empty."""
    items = q.items
    bad = status == validate.BAD
    numbers = items["number"].astype("string").fillna("?").to_numpy()
    bad_text = _describe(bad, numbers, "第{}题答案无法识别")
    flags.flag(bad.any(axis=1), "bad_answer", bad_text)
    required = items["required"].to_numpy(dtype=bool)
    blank_req = (status == validate.BLANK) & required[None, :]
    flags.flag(
        blank_req.any(axis=1), "missing_required", _describe(blank_req, numbers, "第{}题未作答")
    )


def _flag_speeders(rows: pd.DataFrame, flags: _Flags, context: _Context) -> np.ndarray:
    """Rows answered in less than ``[ingest] min_duration_s`` seconds: quarantined, or only
    flagged (``flags.given``) as ``[quality.speeder]`` says; returns the durations."""
    min_duration = context.min_duration
    duration = validate.parse_duration(rows["duration_raw"]).to_numpy()
    action = context.quality.action("speeder")
    speeder = (np.nan_to_num(duration, nan=np.inf) < min_duration) & (action != "off")
    speed_text = np.full(len(rows), "", dtype=object)
    speed_text[speeder] = [
        f"用时 {d:.0f} 秒，低于 {min_duration:.0f} 秒" for d in duration[speeder]
    ]
    if action == "quarantine":
        flags.flag(speeder, "speeder", speed_text)
    else:
        flags.given["speeder"] = Hit(speeder, speed_text)
    return duration


def _link_households(
    rows: pd.DataFrame, context: _Context, flags: _Flags, estate_id: pd.Series
) -> _Linked:
    """Buildings, rooms and (with a sample) sampled households; with a sample, flags rows
    without building or room, then rows not in the sample (unless ``allow_unsampled``)."""
    bkey = linking.building_key(rows["building_raw"])
    room = linking.room_parts(rows["room_raw"])
    linked = _Linked(
        estate_id=estate_id,
        building_key=bkey,
        room=room,
        building=bkey.copy(),
        household_id=pd.Series(pd.NA, index=rows.index, dtype="string"),
        role=pd.Series(pd.NA, index=rows.index, dtype="string"),
    )
    sample = context.sample
    if sample is None:
        return linked
    need = (bkey.isna() | room["room_key"].isna()).to_numpy()
    flags.flag(need, "missing_required", "有抽样名单时须填写楼栋号和房号")
    resp = pd.DataFrame(
        {
            "estate_id": estate_id,
            "building_key": bkey,
            "room_key": room["room_key"],
            "unit_key": room["unit_key"],
        }
    )
    link = linking.link_sample(resp, sample)
    linked.building = linking.frame_building_labels(resp, sample).fillna(bkey)
    linked.household_id = link["household_id"].astype("string")
    linked.sample_row = link["sample_row"].to_numpy()
    role = link["role"].astype("string")
    lk = link["link"].to_numpy()
    del resp, link
    notes = {"ambiguous": "该楼栋有多户同一房号，请补填单元号", "no_room": "缺少房号"}
    if context.allow_unsampled:
        role = role.fillna("unsampled")
    else:
        flags.flag(
            lk != "linked",
            "not_in_sample",
            lambda at: [notes.get(v, "抽样名单中没有该楼栋、房号") for v in lk[at].tolist()],
        )
    linked.role = role
    return linked


def _pseudonyms(rows: pd.DataFrame, context: _Context, linked: _Linked) -> _Keys:
    """Room, phone and household pseudonyms (see :mod:`evaluation.ingest.pseudonym`)."""
    key, sample, room = context.key, context.sample, linked.room
    room_ident = _joined(
        "|", linked.estate_id, linked.building_key, room["unit_key"], room["room_key"]
    )
    room_key = pseudonym.pseudonymise(room_ident.where(room["room_key"].notna()), key, "room")
    del room_ident
    phone_key = pseudonym.pseudonymise(pseudonym.normalise_phone(rows["phone_raw"]), key, "phone")
    # sampled households and linked rows in one pass: each household is hashed once
    if sample is None:
        household_key = pseudonym.pseudonymise(linked.household_id, key, "household")
        return _Keys(room=room_key, phone=phone_key, household=household_key, sample=None)
    # each sampled household is hashed once; a linked row takes its household's key
    sample_keys = pseudonym.pseudonymise(sample["household_id"], key, "household").array
    at = linked.sample_row
    household_key = pd.Series(
        sample_keys.take(at, allow_fill=True), index=rows.index, name="household_key"
    )
    sample_keys = pd.Series(sample_keys, index=sample.index, name="household_key")
    return _Keys(room_key, phone_key, household_key, sample_keys, sample_row=at)


def _duplicate_keys(estate_id: pd.Series, keys: _Keys) -> pd.Series:
    """The household a row answers for: its sampled household, else its room, else
    (rows without a room) estate + phone."""
    dup_key = keys.household.where(keys.household.notna(), keys.room)
    by_phone = (dup_key.isna() & keys.phone.notna()).to_numpy()
    if by_phone.any():
        dup_key = dup_key.copy()
        dup_key[by_phone] = "phone:" + _joined(":", estate_id[by_phone], keys.phone[by_phone])
    return dup_key


def _duplicate_codes(estate_id: pd.Series, keys: _Keys) -> np.ndarray:
    """:func:`_duplicate_keys` as integer codes (-1: no key). A row linked to the sample
    takes the code of its household's key in the sample: one factorize of the sample's
    keys, in sample order, instead of one of the rows' keys (a string hash per row, the
    strings scattered in memory). Household, room and phone keys are HMACs of different
    kinds: a household key never equals a room or phone key, so the codes of the rows not
    linked follow those of the sample."""
    if keys.sample is None or keys.sample_row is None:
        return pd.factorize(_duplicate_keys(estate_id, keys))[0]
    sample_code, sample_uniques = pd.factorize(keys.sample)
    at = keys.sample_row
    code = np.full(len(at), -1, dtype=np.int64)
    linked = at >= 0
    code[linked] = sample_code[at[linked]]
    rest = np.flatnonzero(code < 0)
    if len(rest):
        part = _Keys(keys.room.iloc[rest], keys.phone.iloc[rest], keys.household.iloc[rest], None)
        other = pd.factorize(_duplicate_keys(estate_id.iloc[rest], part))[0]
        code[rest] = np.where(other >= 0, other + len(sample_uniques), -1)
    return code


def _flag_duplicates(
    rows: pd.DataFrame,
    flags: _Flags,
    estate_id: pd.Series,
    keys: _Keys,
    submitted: pd.Series,
    context: _Context,
) -> None:
    """Among rows passing every other rule, all but the latest submission of each household
    (ties and missing times: the later file, then the later row): quarantined, or only
    flagged (``flags.given``) as ``[quality.duplicate]`` says."""
    n = len(rows)
    action = context.quality.action("duplicate")
    if action == "off":
        return
    code = _duplicate_codes(estate_id, keys)
    keyed = flags.accepted & (code >= 0)
    counts = np.bincount(code[keyed], minlength=int(code.max(initial=-1)) + 2)
    # only keys that occur more than once among those rows need sorting
    cand = np.flatnonzero(keyed & (counts[np.maximum(code, 0)] > 1))
    if not len(cand):
        return
    # by key, then time (missing first), file, row: the last of each key is kept
    time = submitted.to_numpy(dtype="datetime64[ns]").view(np.int64)[cand]  # NaT: lowest
    cand = cand[
        np.lexsort(
            (
                rows["source_row"].to_numpy()[cand],
                rows["file_order"].to_numpy()[cand],
                time,
                code[cand],
            )
        )
    ]
    key = code[cand]
    is_last = np.r_[key[1:] != key[:-1], True]
    losers = cand[~is_last]
    kept = cand[is_last][np.cumsum(is_last)[~is_last]]
    files = rows["source_file"].to_numpy(dtype=object)[kept]
    row_numbers = rows["source_row"].to_numpy(dtype=object)[kept]
    text = np.full(n, "", dtype=object)
    text[losers] = [f"保留 {f} 第 {r} 行的答卷" for f, r in zip(files, row_numbers, strict=True)]
    mask = np.zeros(n, dtype=bool)
    mask[losers] = True
    if action == "quarantine":
        flags.flag(mask, "duplicate", text)
    else:
        flags.given["duplicate"] = Hit(mask, text)


def _respondents_table(
    rows: pd.DataFrame,
    context: _Context,
    linked: _Linked,
    keys: _Keys,
    submitted: pd.Series,
    duration: np.ndarray,
    accepted: np.ndarray,
) -> pd.DataFrame:
    """The accepted rows (:data:`RESPONDENT_COLUMNS`); their response ids and IP pseudonyms
    are the quality checks' (:func:`_quality`, made once for the rows it checks)."""
    respondents = pd.DataFrame(
        {
            "response_id": pd.Series(pd.NA, index=rows.index, dtype="str"),
            "estate_id": linked.estate_id,
            "building": scrub_values(linked.building),  # as typed, without a sample
            "household_key": keys.household,
            "role": linked.role,
            "source_file": rows["source_file"],
            "source_row": rows["source_row"],
            "submitted_at": submitted,
            "duration_s": duration,
            "room_key": keys.room,
            "phone_key": keys.phone,
            "ip_key": pd.Series(pd.NA, index=rows.index, dtype="string"),
            "platform": rows["platform"],
        }
    )[accepted].reset_index(drop=True)
    return respondents


def _quarantine_table(
    rows: pd.DataFrame, flags: _Flags, estate_id: pd.Series, keys: _Keys
) -> pd.DataFrame:
    """The quarantined rows (:data:`QUARANTINE_COLUMNS`), each with its reason."""
    reason_s = flags.reason_codes()
    quarantine = pd.DataFrame(
        {
            "source_file": rows["source_file"],
            "sheet": rows["sheet"],
            "source_row": rows["source_row"],
            "reason_code": reason_s,
            "reason": reason_s.map({**QUALITY_REASONS, **validate.REASONS}),
            "estate_raw": rows["estate_raw"],
            "detail": pd.Series(flags.detail, dtype=object),
            "estate_id": estate_id,
            "household_key": keys.household,
            "room_key": keys.room,
            "phone_key": keys.phone,
        }
    )[~flags.accepted].reset_index(drop=True)
    quarantine["detail"] = quarantine["detail"].astype("string")
    # a copy without personal data, cut to RAW_SHOWN characters: the row number finds the
    # original in the agency's file (scrubbed before the cut, over a margin, so no number
    # is cut in half)
    raw = quarantine["estate_raw"].astype("string").str.slice(0, RAW_SHOWN + 40)
    quarantine["estate_raw"] = scrub_values(raw).str.slice(0, RAW_SHOWN)
    return quarantine


def _joined(sep: str, *columns: pd.Series) -> pd.Series:
    """Text columns joined row by row, NA as empty (one pass instead of one per ``+``)."""
    texts = [c.to_numpy(dtype=object, na_value="").tolist() for c in columns]
    return pd.Series(
        [sep.join(t) for t in zip(*texts, strict=True)], index=columns[0].index, dtype="string"
    )


def _describe(mask: np.ndarray, numbers: np.ndarray, template: str) -> np.ndarray:
    out = np.full(mask.shape[0], "", dtype=object)
    rows_with = np.flatnonzero(mask.any(axis=1))
    for i in rows_with:  # only rows being quarantined
        out[i] = "；".join(template.format(numbers[j]) for j in np.flatnonzero(mask[i]))
    return out


def _response_ids(rows: pd.DataFrame) -> np.ndarray:
    """``blake2b("{file_stem}:{row}", 8 bytes)`` as hex, per row: the hash state that has
    absorbed ``"{file_stem}:"`` is made once per file and copied per row."""
    files, names = pd.factorize(rows["source_file"], use_na_sentinel=True)
    numbers = rows["source_row"].to_numpy()
    out = np.empty(len(rows), dtype=object)
    for j in range(-1, len(names)):
        where = np.flatnonzero(files == j)
        if not len(where):
            continue
        name = names[j] if j >= 0 else None
        stem = Path(name).stem if isinstance(name, str) else ""
        copy = hashlib.blake2b(f"{stem}:".encode(), digest_size=8).copy
        ids = []
        append = ids.append
        for r in numbers[where].tolist():
            h = copy()
            h.update(str(r).encode())
            append(h.hexdigest())
        out[where] = ids
    return out


#: prefix of the stored answer columns of ``respondents`` (one per item: ``q:<item_id>``)
ANSWER_PREFIX = "q:"


def answers_frame(
    response_id: pd.Series, estate_id: pd.Series, codes: np.ndarray, q: Questionnaire
) -> pd.DataFrame:
    """Long answers, one row per respondent × item (respondents' order, then the
    questionnaire's item order), from the respondent × item matrix of option ``codes``
    (column ``j`` = ``q.items`` row ``j``; 0 = no scored answer).

    ``response_id``, ``estate_id``, ``item_id`` and ``dimension`` are categorical (about a
    tenth of the memory of text columns at city scale; estate, item and dimension
    categories sorted); ``code`` Int64 (NA: no answer); ``satisfied`` and ``points`` from
    the option tables (NaN without an answer or for a code the scale does not have).
    """
    codes = np.asarray(codes)
    n, k = codes.shape
    items = q.items
    opts = q.options[~q.options["missing"]]
    width = int(opts["code"].max()) + 1 if len(opts) else 1
    sat_lookup = np.full((k, width), np.nan)  # column 0 (no answer) stays NaN
    pts_lookup = sat_lookup.copy()
    for j, scale in enumerate(items["scale"]):
        o = opts[opts["scale"] == scale]
        sat_lookup[j, o["code"].to_numpy()] = o["satisfied"].to_numpy(dtype=float)
        pts_lookup[j, o["code"].to_numpy()] = o["points"].to_numpy(dtype=float)
    safe = np.where((codes > 0) & (codes < width), codes, 0)
    satisfied = np.empty((n, k))
    points = np.empty((n, k))
    for j in range(k):  # one lookup per item column, no 7-million-long index arrays
        satisfied[:, j] = sat_lookup[j, safe[:, j]]
        points[:, j] = pts_lookup[j, safe[:, j]]
    flat = codes.reshape(-1)
    code = pd.arrays.IntegerArray(flat.astype(np.int64), flat <= 0)

    r_codes, r_names = pd.factorize(pd.Series(response_id), use_na_sentinel=True)
    e_codes, e_names = pd.factorize(pd.Series(estate_id), sort=True, use_na_sentinel=True)
    i_codes, i_names = pd.factorize(items["item_id"].astype(str), sort=True)
    d_codes, d_names = pd.factorize(items["dimension"].astype(str), sort=True)
    return pd.DataFrame(
        {
            "response_id": _categorical(np.repeat(narrow(r_codes, len(r_names)), k), r_names),
            "estate_id": _categorical(np.repeat(narrow(e_codes, len(e_names)), k), e_names),
            "item_id": _categorical(np.tile(narrow(i_codes, len(i_names)), n), i_names),
            "dimension": _categorical(np.tile(narrow(d_codes, len(d_names)), n), d_names),
            "code": code,
            "satisfied": satisfied.reshape(-1),
            "points": points.reshape(-1),
        },
        copy=False,
    )


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    return pd.Categorical.from_codes(
        codes, categories=pd.Index(categories).astype("str"), validate=False
    )


def answer_columns(respondents: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """The answer codes as one column per item, ``q:<item_id>`` (Int64; NA: no answer), one
    row per respondent in ``respondents``' order — the stored form of ``answers``
    (see :func:`answers_from_columns`). Items in their order of first appearance."""
    n = len(respondents)
    index = pd.Index(respondents["response_id"])
    if not index.is_unique:
        raise WuyeError(
            Problem(
                "respondents 中 response_id 有重复，无法保存答案",
                "检查导入结果：每份答卷的编号应唯一",
                column="response_id",
            )
        )
    r_codes, r_names = column_codes(answers["response_id"])
    i_codes, i_names = column_codes(answers["item_id"])
    at = index.get_indexer(r_names)  # respondent row of each distinct id
    if (at < 0).any() or (r_codes < 0).any():
        raise WuyeError(
            Problem(
                "answers 中有答卷不在 respondents 中，无法保存答案",
                "用同一次导入的 respondents 与 answers",
                column="response_id",
            )
        )
    code = answers["code"].to_numpy(dtype=np.int64, na_value=0)
    k = len(i_names)
    if (
        k
        and len(answers) == n * k
        and np.array_equal(at, np.arange(n))
        and (r_codes.reshape(n, k) == np.arange(n)[:, None]).all()
        and np.array_equal(np.sort(i_codes[:k]), np.arange(k))
        and is_tiled(i_codes, k)
    ):
        # the respondent × item grid of answers_frame: a reshape, no scatter
        order = i_codes[:k]
        grid = code.reshape(n, k)[:, np.argsort(order)]
    else:
        order = pd.unique(i_codes)
        order = order[order >= 0]
        grid = np.zeros((n, k), dtype=np.int64)
        ok = i_codes >= 0
        grid[at[r_codes[ok]], i_codes[ok]] = code[ok]
    return pd.DataFrame(
        {
            f"{ANSWER_PREFIX}{i_names[j]}": pd.arrays.IntegerArray(
                np.ascontiguousarray(grid[:, j]), grid[:, j] <= 0
            )
            for j in order
        },
        index=respondents.index,
    )


def answers_from_columns(respondents: pd.DataFrame, q: Questionnaire) -> pd.DataFrame:
    """The long ``answers`` frame rebuilt from the ``q:<item_id>`` columns of stored
    ``respondents`` (:func:`answer_columns`) and the round's questionnaire: the same rows,
    values and dtypes as :func:`ingest_round` gave. An item without a column (not in the
    questionnaire when ingested) has only missing answers; a column of an item the
    questionnaire no longer has is an error (re-run the ingest)."""
    items = q.items["item_id"].astype(str).tolist()
    stored = {
        c[len(ANSWER_PREFIX) :] for c in respondents.columns if str(c).startswith(ANSWER_PREFIX)
    }
    unknown = sorted(stored - set(items))
    if unknown:
        raise WuyeError(
            Problem(
                f"已保存的答案中有问卷里没有的题目：{'、'.join(unknown)}",
                "问卷定义在导入后被修改了：重新运行 wuye-eval ingest",
            )
        )
    codes = np.zeros((len(respondents), len(items)), dtype=np.int64)
    for j, item in enumerate(items):
        column = respondents.get(f"{ANSWER_PREFIX}{item}")
        if column is not None:
            codes[:, j] = (
                pd.to_numeric(column, errors="coerce")
                .to_numpy(dtype=np.float64, na_value=0.0)
                .astype(np.int64)
            )
    return answers_frame(respondents["response_id"], respondents["estate_id"], codes, q)


def _counts(
    rows: pd.DataFrame, estate_id: pd.Series, accepted: np.ndarray, blank: dict[str, int]
) -> pd.DataFrame:
    """Per file, per estate and in total: ``read = accepted + quarantined``, and
    ``blank_rows`` (per file and in total; 0 per estate): rows without any value, skipped
    by the reader and not counted as read."""
    base = pd.DataFrame(
        {
            "source_file": rows["source_file"],
            "estate_id": estate_id.fillna(UNRESOLVED),
            "accepted": accepted.astype(int),
            "quarantined": (~accepted).astype(int),
        }
    )
    base["read"] = 1
    cols = ["read", "accepted", "quarantined"]
    by_file = base.groupby("source_file", sort=False)[cols].sum().reset_index()
    by_file["blank_rows"] = by_file["source_file"].map(blank).fillna(0).astype(int)
    by_file.insert(0, "level", "file")
    by_estate = base.groupby("estate_id")[cols].sum().reset_index()
    by_estate["blank_rows"] = 0
    by_estate.insert(0, "level", "estate")
    total = pd.DataFrame(
        [{"level": "total", **base[cols].sum().to_dict(), "blank_rows": sum(blank.values())}]
    )
    out = pd.concat([by_file, by_estate, total], ignore_index=True)
    for c in ("source_file", "estate_id"):
        out[c] = out[c].astype("string")
    return out[["level", "source_file", "estate_id", *cols, "blank_rows"]]
