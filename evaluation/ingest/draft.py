"""``wuye-eval questionnaire draft``: a questionnaire file drafted from a survey export.

An agency's own 问卷星 / 腾讯问卷 / Kobo survey is described from its export (text or code
layout) so that the drafted file loads and ingests that export without edits when the
export is a standard layout:

- identification questions by their wording (小区, 楼栋, 单元, 房号, 电话, 姓名; Kobo names);
- rating questions by the options seen (5-, 4-, 3-point satisfaction or 好/差 scales;
  不清楚, 不适用, 跳过 … are missing answers, never dissatisfied); a code export's options
  come from a text export of the same answers given with it, else the wording decides;
- matrix rows (:attr:`ExportInfo.questions` ``row``) as items of their matrix question;
- the overall question (总体 / 整体 / 综合 wording, else the last rating question) marked;
- dimensions from the matrix row labels or the question wording;
- free-text questions (意见, 建议, many distinct answers) kept as free text; multi-select and
  other choice questions (性别, 年龄) are not scored and only named in a comment.

What it could not decide is written as a Chinese comment beside the line (``# 待确认：…``).
An export without any rating question (a market survey) still gets a loadable file: its
single-choice questions become items with the options seen, the satisfied option and the
overall item left for the user to decide (comments say so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evaluation.ingest.ingest import IDENT_HEADERS
from evaluation.ingest.readers import (
    MULTI_SEPARATOR,
    SKIP_MARKERS,
    ExportInfo,
    normalise_text,
    read_survey_export,
)
from evaluation.questionnaire import questionnaire_from_dict
from wuye_common.domains import MAX_OPTIONS, number_values
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import atomic_path
from wuye_common.scrub import scrub_text, scrub_values
from wuye_common.vocabulary import OVERALL_DIMENSION

#: answers meaning "no opinion": missing, never dissatisfied
MISSING_WORDS = ("不清楚", "不适用", "跳过", "不了解", "说不清", "无法评价", "不好说")
#: known rating scales, best first: (name, options from best to worst, satisfied)
KNOWN_SCALES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("five", ("非常满意", "满意", "基本满意", "不满意", "非常不满意"), ("非常满意", "满意")),
    ("four", ("非常满意", "满意", "不满意", "非常不满意"), ("非常满意", "满意")),
    ("three", ("满意", "一般", "不满意"), ("满意",)),
    ("five_general", ("非常满意", "满意", "一般", "不满意", "非常不满意"), ("非常满意", "满意")),
    ("five_rather", ("非常满意", "比较满意", "一般", "不太满意", "非常不满意"), ("非常满意", "比较满意")),
    ("five_very", ("很满意", "满意", "一般", "不满意", "很不满意"), ("很满意", "满意")),
    ("five_good", ("很好", "较好", "一般", "较差", "很差"), ("很好", "较好")),
    ("four_good", ("好", "较好", "较差", "差"), ("好", "较好")),
    ("two", ("满意", "不满意"), ("满意",)),
)  # fmt: skip
#: the shipped questionnaire's points and missing options for its three scales
DEFAULT_POINTS = {"five": [100, 75, 50, 25, 0], "four": [100, 66.7, 33.3, 0], "three": [100, 50, 0]}
DEFAULT_MISSING = ["不清楚", "不适用", "跳过"]
IDENT_WORDS: dict[str, str] = {
    "estate": r"小区|楼盘|院落|项目名称",
    "building": r"楼栋|楼号|栋号|几栋|哪栋|几号楼|幢",
    "unit": r"单元",
    "room": r"房号|门牌|房间号|室号|户号",
    "phone": r"电话|手机号|联系方式",
    "name": r"姓名|称呼|名字",
}
FREE_WORDS = r"意见|建议|其他|说明|备注|原因|问题|补充"
RATING_WORDS = r"满意|评价|评分|打分"
OVERALL_WORDS = r"总体|整体|综合评价|综合满意|总的来说"
#: dimension of a question by its wording (first match), as the shipped questionnaire names them
DIMENSION_WORDS: tuple[tuple[str, str], ...] = (
    (OVERALL_WORDS, OVERALL_DIMENSION),
    (r"投诉|建议的受理|处理结果", "投诉处理"),
    (r"服务态度|客服|客户服务|公示|服务中心|工作人员|服务事项", "综合服务"),
    (r"收费|物业费|公共收益|费用", "收费与公开"),
    (r"停车|车位|车辆停放", "停车管理"),
    (r"清洁|保洁|卫生|垃圾", "环境卫生"),
    (r"绿化|花草|树木", "绿化养护"),
    (r"电梯|设施|设备|维修|报修|照明|供水|门禁", "设施设备维修/电梯"),
    (r"秩序|安全|门岗|巡逻|消防|保安|出入", "秩序维护/安全"),
)
MAX_CHOICES = 12  # a column with more distinct answers than this is free text


@dataclass
class Column:
    """One question column of the export as the draft sees it."""

    column: str
    number: int | None
    text: str
    qtype: str
    row: str | None = None
    stem: str | None = None
    option: str | None = None
    labels: list[str] = field(default_factory=list)
    """Answers seen (text), in option order when known, without skip markers."""
    missing: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    """Option numbers seen (code exports)."""
    multi: bool = False
    ordered: bool = False
    """Labels in option order (from a code export of the same answers)."""
    notes: list[str] = field(default_factory=list)
    distinct: int = 0
    longest: int = 0


@dataclass
class Drafted:
    """One line group of the drafted file: an identification or free-text question, an
    item, or a question left out; ``notes`` are the Chinese comments beside it."""

    kind: str  # "ident", "free", "item", "skip"
    col: Column
    key: str = ""
    scale: str = ""
    dimension: str = ""
    overall: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Scale:
    name: str
    options: list[str]
    satisfied: list[str]
    points: list[float]
    missing: list[str]


# --------------------------------------------------------------------------- reading


def read_columns(paths: Sequence[str | Path]) -> tuple[list[Column], ExportInfo]:
    """The question columns of the first export, with their answers; a further export of
    the same answers in the other layout (text ↔ code) gives the option order."""
    frames = [read_survey_export(p) for p in paths]
    frame, info = frames[0]
    columns = [_column(frame, info, q) for q in info.questions.itertuples(index=False)]
    for other_frame, other in frames[1:]:
        _pair(columns, frame, info, other_frame, other)
    return columns, info


def _column(frame: pd.DataFrame, info: ExportInfo, q: object) -> Column:
    values = frame[q.column].dropna().astype(str).str.replace(r"〖[^〖〗]*〗", "", regex=True)
    values = values.str.strip()
    values = values[values != ""]
    # the draft is a file the tool writes: what it copies of the export is scrubbed
    seen = list(dict.fromkeys(scrub_values(values)))
    multi = any(MULTI_SEPARATOR in v for v in seen)
    kept = [v for v in seen if v not in SKIP_MARKERS]
    missing = [v for v in kept if v in MISSING_WORDS]
    labels = [v for v in kept if v not in MISSING_WORDS]
    codes = []
    if info.kind == "code" and labels and all(re.fullmatch(r"-?\d{1,4}", v) for v in labels):
        codes = sorted({int(v) for v in labels if int(v) > 0})
    qtype = str(q.qtype)
    row = None if pd.isna(q.row) or qtype != "matrix" else scrub_text(str(q.row))
    stem = None if pd.isna(q.stem) or qtype != "matrix" else scrub_text(str(q.stem))
    if qtype == "multi_flag" and codes and max(codes) > 1:  # 第N题(行) holding option numbers
        qtype, row = "matrix", scrub_text(str(q.option))
    return Column(
        column=str(q.column),
        number=None if pd.isna(q.number) else int(q.number),
        text=scrub_text(str(q.text)),
        qtype=qtype,
        row=row,
        stem=stem,
        option=None if pd.isna(q.option) else scrub_text(str(q.option)),
        labels=[] if codes else labels,
        missing=missing,
        codes=codes,
        multi=multi,
        distinct=len(kept),
        longest=max((len(v) for v in kept), default=0),
    )


def _pair(
    columns: list[Column],
    frame: pd.DataFrame,
    info: ExportInfo,
    other_frame: pd.DataFrame,
    other: ExportInfo,
) -> None:
    """Labels in option order from a text and a code export of the same answers (same
    headers, same rows): option k is the text written where the code export has k."""
    if info.kind == other.kind or len(frame) != len(other_frame):
        return
    texts, codes = (frame, other_frame) if info.kind == "text" else (other_frame, frame)
    for col in columns:
        if col.column not in texts.columns or col.column not in codes.columns or col.multi:
            continue
        text = texts[col.column].astype("string").str.replace(r"〖[^〖〗]*〗", "", regex=True)
        pairs = pd.DataFrame({"t": text.str.strip(), "c": codes[col.column]}).dropna()
        pairs["c"] = number_values(pairs["c"])
        pairs = pairs[(pairs["c"] > 0) & (pairs["c"] <= MAX_OPTIONS)].drop_duplicates()
        if pairs.empty or pairs["c"].duplicated().any() or pairs["t"].duplicated().any():
            continue
        by_code = dict(
            zip(pairs["c"].astype(int), scrub_values(pairs["t"].astype(str)), strict=True)
        )
        if any(t in MISSING_WORDS for t in by_code.values()):
            continue  # 不清楚 among the options: the known scales place it
        top = max(by_code)
        col.labels = [by_code.get(k, f"选项{k}") for k in range(1, top + 1)]
        col.codes, col.ordered = [], True
        gaps = [str(k) for k in range(1, top + 1) if k not in by_code]
        if gaps:
            col.notes.append(f"第 {'、'.join(gaps)} 个选项无人选择，导出中看不到其文字")


# --------------------------------------------------------------------------- deciding


def rating_scale(labels: list[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """The first known scale whose options include every answer seen."""
    if not labels:
        return None
    return next((s for s in KNOWN_SCALES if set(labels) <= set(s[1])), None)


def _ident_key(col: Column, taken: set[str]) -> str | None:
    """The identification question a column's wording (or Kobo name) names, if free."""
    name = normalise_text(col.column.split("/")[-1]).lower()
    for key, headers in IDENT_HEADERS.items():
        if key not in taken and name in headers:
            return key
    if re.search(f"{FREE_WORDS}|{RATING_WORDS}", col.text):
        return None
    for key, words in IDENT_WORDS.items():
        if key not in taken and re.search(words, col.text):
            return key
    return None


def dimension_of(text: str) -> str | None:
    """The shipped questionnaire's dimension a wording names, if any."""
    return next((dim for words, dim in DIMENSION_WORDS if re.search(words, text)), None)


def classify(columns: list[Column]) -> list[Drafted]:
    """Each column's role (see the module docstring)."""
    drafted: list[Drafted] = []
    taken: set[str] = set()
    for col in columns:
        drafted.append(_classify_one(col, taken))
        drafted[-1].notes[:0] = col.notes
    if not any(d.kind == "item" for d in drafted):
        _fallback_items(drafted)
    _mark_overall([d for d in drafted if d.kind == "item"])
    return drafted


def _classify_one(col: Column, taken: set[str]) -> Drafted:
    if col.multi or col.qtype == "multi_flag":
        return Drafted("skip", col, notes=["多选题，不计分"])
    if _coded_rating(col) or rating_scale(col.labels):
        return Drafted("item", col)
    key = _ident_key(col, taken)
    if key:
        taken.add(key)
        return Drafted("ident", col, key=key)
    if not col.distinct:
        return Drafted("skip", col, notes=["导出中无人作答，无法判断题型"])
    if re.search(FREE_WORDS, col.text) or col.distinct > MAX_CHOICES or col.longest > 20:
        return Drafted("free", col)
    return Drafted("skip", col, notes=["选择题（非满意度评价），不计分"])


def _coded_rating(col: Column) -> bool:
    """A code export's column taken as a 5-point satisfaction question: option numbers up
    to 5 plus the shipped scale's 3 missing options, and a matrix row or 满意/评价 wording."""
    if not col.codes or max(col.codes) > 5 + len(DEFAULT_MISSING):
        return False
    return bool(col.row or re.search(RATING_WORDS, col.text))


def _fallback_items(drafted: list[Drafted]) -> None:
    """No rating question recognised: the single-choice questions become items."""
    for d in drafted:
        plain = not d.col.multi and d.col.qtype != "multi_flag"
        if d.kind == "skip" and plain and (d.col.labels or d.col.codes):
            d.kind, d.notes = "item", ["未识别出满意度评价题：本题按导出中出现的选项暂列为评价题"]


def _mark_overall(items: list[Drafted]) -> None:
    if not items:
        return
    wording = [d for d in items if re.search(OVERALL_WORDS, d.col.row or d.col.text)]
    chosen = (wording or items)[-1 if not wording else 0]
    chosen.overall = True
    if not wording:
        chosen.notes.append("未找到「总体/整体/综合」字样：暂以最后一道评价题为总体评价题")


# --------------------------------------------------------------------------- scales


def assign_scales(drafted: list[Drafted]) -> dict[str, Scale]:
    """Each item's scale: one known scale for all rating items when one covers every
    answer seen, else each its own; items of one matrix share their scale."""
    items = [d for d in drafted if d.kind == "item"]
    seen = {label for d in items for label in d.col.labels}
    common = rating_scale(sorted(seen)) if seen else None
    scales: dict[str, Scale] = {}
    for d in items:
        known = common if common and set(d.col.labels) <= set(common[1]) else None
        known = known or rating_scale(d.col.labels)
        if known is None and _coded_rating(d.col):
            known = KNOWN_SCALES[0]
            d.notes.append("按序号导出看不到选项文字：假定选项依次为 非常满意…非常不满意")
        scale = _known_scale(known, d) if known else _own_scale(d)
        same = next((n for n, sc in scales.items() if sc.options == scale.options), None)
        existing = scales.setdefault(same or scale.name, scale)
        existing.missing += [m for m in scale.missing if m not in existing.missing]
        d.scale = existing.name
    _same_scale_in_matrices(items, scales)
    return scales


def _known_scale(known: tuple[str, tuple[str, ...], tuple[str, ...]], d: Drafted) -> Scale:
    name, options, satisfied = known
    k = len(options)
    points = DEFAULT_POINTS.get(name, [round(100 * (k - 1 - i) / (k - 1), 1) for i in range(k)])
    missing = [*DEFAULT_MISSING, *(m for m in d.col.missing if m not in DEFAULT_MISSING)]
    return Scale(name, list(options), list(satisfied), list(points), missing)


def _own_scale(d: Drafted) -> Scale:
    """A question's own scale from what was seen; its satisfied option undecided."""
    col = d.col
    if col.labels:
        options = col.labels
        order = "" if col.ordered else "选项顺序取自导出中出现的先后，请按问卷中的顺序调整"
    else:
        options = [f"选项{k}" for k in range(1, max(col.codes) + 1)]
        order = "按序号导出看不到选项文字：请按问卷中的选项依次改写 options"
    if len(options) < 2:
        options = [*options, "其他"]
    k = len(options)
    name = f"q{col.number}" if col.number is not None else f"q_{len(options)}"
    notes = [n for n in (order, "满意选项无法判断：暂以第一个选项计为满意，请按评估方案修改") if n]
    d.notes += notes
    points = [round(100 * (k - 1 - i) / (k - 1), 1) for i in range(k)]
    return Scale(name, options, options[:1], points, list(col.missing))


def _same_scale_in_matrices(items: list[Drafted], scales: dict[str, Scale]) -> None:
    """Rows of one matrix use one scale: the one of most of its rows."""
    by_matrix: dict[int, list[Drafted]] = {}
    for d in items:
        if d.col.row and d.col.number is not None:
            by_matrix.setdefault(d.col.number, []).append(d)
    for rows in by_matrix.values():
        names = pd.Series([d.scale for d in rows])
        chosen = str(names.mode().iloc[0])
        for d in rows:
            if d.scale != chosen and set(d.col.labels) <= set(scales[chosen].options):
                d.scale = chosen


# --------------------------------------------------------------------------- writing


def draft_questionnaire(paths: Sequence[str | Path], *, title: str | None = None) -> str:
    """The drafted questionnaire TOML for the export(s) ``paths`` (see module docstring);
    checked to load before it is returned."""
    columns, info = read_columns(paths)
    drafted = classify(columns)
    _number_unnumbered(drafted)
    scales = assign_scales(drafted)
    _dimensions(drafted)
    text = _toml(drafted, scales, info, title)
    import tomllib

    try:
        questionnaire_from_dict(tomllib.loads(text), source="draft")
    except WuyeError as exc:  # a draft that cannot load is a bug here, never the user's
        raise WuyeError(
            Problem(
                f"无法为该导出生成可用的问卷定义：{exc}",
                "检查导出文件是否为答卷数据，或手工编写问卷定义（见默认问卷）",
                file=info.file,
            )
        ) from exc
    return text


def write_draft(
    paths: Sequence[str | Path], output: str | Path, *, title: str | None = None
) -> Path:
    """Write :func:`draft_questionnaire` to ``output`` (atomically); refuses to overwrite."""
    output = Path(output)
    if output.exists():
        raise WuyeError(
            Problem(
                "问卷定义文件已存在，不会覆盖", "换一个文件名，或先把原文件移走", file=str(output)
            )
        )
    text = draft_questionnaire(paths, title=title)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return output


def _number_unnumbered(drafted: list[Drafted]) -> None:
    """Items need a number: columns without one (Kobo names) get the next free numbers and
    are matched by their name."""
    used = [d.col.number for d in drafted if d.col.number is not None]
    nxt = max(used, default=0) + 1
    for d in drafted:
        if d.kind == "item" and d.col.number is None:
            d.col.number, nxt = nxt, nxt + 1
            d.notes.append("导出中本题没有题号：题号为自动编排，导入时按列名匹配")


def _dimensions(drafted: list[Drafted]) -> None:
    for d in drafted:
        if d.kind != "item":
            continue
        wording = d.col.row or d.col.text
        found = OVERALL_DIMENSION if d.overall else dimension_of(wording)
        if found is None:
            found = d.col.row or _short(d.col.text)
            if not d.col.row:
                d.notes.append("维度无法判断：暂以题干为维度名")
        d.dimension = found


def _short(text: str) -> str:
    text = re.sub(r"[?？。！!]+$", "", text)
    return text if len(text) <= 12 else text[:12]


def _q(text: str) -> str:
    """A TOML basic string."""
    return json.dumps(text, ensure_ascii=False)


def _toml(
    drafted: list[Drafted], scales: dict[str, Scale], info: ExportInfo, title: str | None
) -> str:
    lines = [
        f"# 问卷定义草稿：由 wuye-eval questionnaire draft 根据 {info.file} 生成。",
        "# 「待确认」注释处是程序无法确定的内容，请核对后删除注释；其余内容可直接使用。",
        f"# 导出平台：{info.platform}；导出方式：{'按选项序号' if info.kind == 'code' else '按选项文本'}。",
        "",
        "[questionnaire]",
        f"id = {_q('draft-' + re.sub(r'[^0-9A-Za-z]+', '-', Path(info.file).stem).strip('-'))}",
        f"title = {_q(title or '物业服务满意度调查问卷')}",
        "",
    ]
    for scale in scales.values():
        lines += _scale_lines(scale)
    lines += _section("identification", [d for d in drafted if d.kind == "ident"])
    lines += _section("free_text", [d for d in drafted if d.kind == "free"])
    if not any(d.kind == "ident" and d.key == "estate" for d in drafted):
        lines.insert(
            -1,
            "# 待确认：未找到小区名称题；一个导出文件只含一个小区时，导入时可按文件指定小区。",
        )
    for i, d in enumerate([d for d in drafted if d.kind == "item"], start=1):
        lines += _item_lines(i, d)
    skipped = {_skip_label(d): "；".join(d.notes) for d in drafted if d.kind == "skip"}
    if skipped:
        lines.append("# 以下各题未写入（不计分）：")
        lines += [f"#   {label}：{why}" for label, why in skipped.items()]
    return "\n".join(lines).rstrip() + "\n"


def _skip_label(d: Drafted) -> str:
    if d.col.qtype == "multi_flag" and d.col.number is not None:
        return f"第{d.col.number}题（按选项分列的多选题）"
    return scrub_text(d.col.column)


def _scale_lines(scale: Scale) -> list[str]:
    points = ", ".join(f"{p:g}" for p in scale.points)
    return [
        f"[scales.{scale.name}]",
        f"options = [{', '.join(_q(o) for o in scale.options)}]",
        f"points = [{points}]",
        f"satisfied = [{', '.join(_q(o) for o in scale.satisfied)}]",
        f"missing = [{', '.join(_q(o) for o in scale.missing)}]",
        "",
    ]


def _question(d: Drafted) -> str:
    number = f"number = {d.col.number}, " if d.col.number is not None else ""
    text = (
        d.col.text
        if d.col.number is not None
        else scrub_text(normalise_text(d.col.column.split("/")[-1]))
    )
    return f"{{ {number}text = {_q(text)} }}"


def _section(name: str, rows: list[Drafted]) -> list[str]:
    lines = [f"[{name}]"]
    keys: set[str] = set()
    for d in rows:
        key = d.key or ("comment" if "comment" not in keys else f"q{d.col.number or len(keys)}")
        keys.add(key)
        lines.append(f"{key} = {_question(d)}")
    return [*lines, ""]


def _item_lines(i: int, d: Drafted) -> list[str]:
    col = d.col
    lines = ["[[items]]", f"id = {_q(f'S{i:02d}')}", f"number = {col.number}"]
    if col.row:
        lines.append(f"row = {_q(col.row)}")
        if col.stem:
            lines.append(f"stem = {_q(col.stem)}")
    else:
        lines.append(f"text = {_q(col.text)}")
    lines += [f"dimension = {_q(d.dimension)}", f"scale = {_q(d.scale)}"]
    if d.overall:
        lines.append("overall = true")
    lines += [f"# 待确认：{note}" for note in dict.fromkeys(d.notes)]
    return [*lines, ""]
