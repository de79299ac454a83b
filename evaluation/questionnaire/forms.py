"""The questionnaire onto survey platforms, so that fieldwork asks exactly what the scoring
expects (``wuye-eval questionnaire export``).

- 问卷星 文本导入 text (:func:`wjx_text`, parsed back by :func:`parse_wjx_text`): the title on
  the first line; then one block per question, blocks separated by a blank line; a block's
  first line is ``N. 题干[题型]``. ``[单选题]``: one option per line; ``[矩阵单选题]``: the
  options on the second line separated by spaces, then one row label per line;
  ``[填空题]``: nothing more. (This is the syntax 问卷星's 批量添加题目/文本导入 reads: a
  matrix's first line after the title holds its columns split on spaces and tabs, each
  further line is a row.)
- XLSForm (:func:`write_xlsform`) for KoboToolbox and ODK: ``survey`` / ``choices`` /
  ``settings`` sheets; each item a ``select_one`` named by its id (ingest finds a Kobo or
  ODK export's column by that name), a matrix a ``field-list`` group of its rows, choice
  names the option codes, so a code export decodes as the questionnaire numbers options.

Options on the platform are the scale's answer options followed by its missing options up
to (not including) ``跳过``: a skipped question is recorded by the platform itself, and
the numbering stays the questionnaire's (answer options 1..k, 不清楚 k+1, …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation.questionnaire import Questionnaire
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import atomic_path

FORMATS = ("wjx", "xlsform")
WJX_KIND = {"single": "[单选题]", "matrix": "[矩阵单选题]", "text": "[填空题]"}
MATRIX_STEM = "请您对以下各项进行评价"
IDENT_LABELS = {
    "estate": "您居住的小区名称",
    "building": "您居住的楼栋号",
    "unit": "您居住的单元号",
    "room": "您的房号",
    "phone": "您的联系电话",
    "name": "您的姓名",
}
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_WJX_TITLE = re.compile(r"^(\d{1,4})\s*[.、．]\s*(.*?)\s*(\[[^\]]+\])?\s*$")


@dataclass(frozen=True)
class PlatformQuestion:
    """One question as a platform shows it (``kind``: ``single``, ``matrix``, ``text``);
    ``names`` are the questionnaire's names for it (item ids of a single question or of a
    matrix's rows; the identification or free-text key)."""

    number: int
    title: str
    kind: str
    options: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    scale: str = ""
    required: bool = False


def platform_options(q: Questionnaire, scale: str) -> tuple[str, ...]:
    """The options shown for ``scale`` (see the module docstring)."""
    table = q.scale_options(scale)
    answers = table.loc[~table["missing"], "label"].tolist()
    missing = table.loc[table["missing"], "label"].tolist()
    shown = []
    for label in missing:
        if label == "跳过":
            break
        shown.append(label)
    return tuple(answers + shown)


def platform_questions(q: Questionnaire) -> list[PlatformQuestion]:
    """Every question of ``q`` in question-number order (questions without a number last),
    a matrix once with its rows."""
    out: list[PlatformQuestion] = []
    for key, question in q.identification.items():
        title = question.text or IDENT_LABELS.get(key, key)
        out.append(PlatformQuestion(question.number or 0, title, "text", names=(key,)))
    for key, question in q.free_text.items():
        out.append(
            PlatformQuestion(question.number or 0, question.text or key, "text", names=(key,))
        )
    seen: set[int] = set()
    for item in q.items.itertuples(index=False):
        number = int(item.number) if pd.notna(item.number) else 0
        if item.row:
            if number in seen:
                continue
            seen.add(number)
            rows = q.items[(q.items["number"] == number) & (q.items["row"] != "")]
            out.append(
                PlatformQuestion(
                    number,
                    q.matrices.get(number) or MATRIX_STEM,
                    "matrix",
                    platform_options(q, item.scale),
                    tuple(rows["row"]),
                    tuple(rows["item_id"]),
                    item.scale,
                    bool(rows["required"].any()),
                )
            )
        else:
            options = platform_options(q, item.scale)
            out.append(
                PlatformQuestion(
                    number,
                    item.text,
                    "single",
                    options,
                    (),
                    (item.item_id,),
                    item.scale,
                    item.required,
                )
            )
    return sorted(out, key=lambda p: (p.number == 0, p.number))


# --------------------------------------------------------------------------- 问卷星


def wjx_text(q: Questionnaire) -> str:
    """The 问卷星 文本导入 text of ``q`` (see the module docstring)."""
    blocks = [q.title]
    for i, p in enumerate(platform_questions(q), start=1):
        number = p.number or i
        head = f"{number}. {_one_line(p.title)}{WJX_KIND[p.kind]}"
        if p.kind == "single":
            blocks.append("\n".join([head, *p.options]))
        elif p.kind == "matrix":
            spaced = [o for o in p.options if re.search(r"\s", o)]
            if spaced:
                raise WuyeError(
                    Problem(
                        f"矩阵题 {p.number} 的选项含空格：{'、'.join(spaced)}",
                        "问卷星文本导入以空格分隔矩阵题的选项：去掉选项文字中的空格",
                    )
                )
            blocks.append("\n".join([head, " ".join(p.options), *p.rows]))
        else:
            blocks.append(head)
    return "\n\n".join(blocks) + "\n"


def parse_wjx_text(text: str) -> tuple[str, list[PlatformQuestion]]:
    """``(title, questions)`` of a 问卷星 文本导入 text (the syntax :func:`wjx_text` writes);
    ``names`` stay empty."""
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    title = ""
    if blocks and not _WJX_TITLE.match(blocks[0].splitlines()[0]):
        title = blocks.pop(0).strip()
    questions = []
    for block in blocks:
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        m = _WJX_TITLE.match(lines[0])
        if m is None:
            raise WuyeError(
                Problem(f"无法识别的题目行：{lines[0]}", "题目行写成「1. 题干[单选题]」")
            )
        kind = {v: k for k, v in WJX_KIND.items()}.get(m[3] or "[单选题]", "single")
        number, head, rest = int(m[1]), m[2], lines[1:]
        if kind == "matrix":
            options = tuple(rest[0].split()) if rest else ()
            questions.append(PlatformQuestion(number, head, kind, options, tuple(rest[1:])))
        else:
            questions.append(PlatformQuestion(number, head, kind, tuple(rest)))
    return title, questions


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- XLSForm


def xlsform_tables(q: Questionnaire) -> dict[str, pd.DataFrame]:
    """The ``survey``, ``choices`` and ``settings`` sheets of ``q``'s XLSForm."""
    survey: list[dict[str, str]] = []
    scales: list[str] = []
    for p in platform_questions(q):
        if p.kind == "text":
            name = _xml_name(p.names[0], f"q{p.number}_text")
            required = "yes" if p.names[0] == "estate" else ""
            survey.append({"type": "text", "name": name, "label": p.title, "required": required})
            continue
        scales += [p.scale] if p.scale not in scales else []
        required = "yes" if p.required else ""
        if p.kind == "single":
            survey.append(_select(p.scale, p.names[0], p.title, required))
            continue
        survey.append(
            {"type": "begin_group", "name": f"m{p.number}", "label": p.title,
             "appearance": "field-list"}
        )  # fmt: skip
        survey += [_select(p.scale, n, r, required) for n, r in zip(p.names, p.rows, strict=True)]
        survey.append({"type": "end_group", "name": f"m{p.number}"})
    choices = [
        {"list_name": scale, "name": str(code), "label": label}
        for scale in scales
        for code, label in enumerate(platform_options(q, scale), start=1)
    ]
    settings = [{"form_title": q.title, "form_id": _xml_name(q.id, "wuye_form"), "version": "1"}]
    columns = ["type", "name", "label", "required", "appearance"]
    return {
        "survey": pd.DataFrame(survey, columns=columns).astype(object).fillna(""),
        "choices": pd.DataFrame(choices, columns=["list_name", "name", "label"]),
        "settings": pd.DataFrame(settings),
    }


def _select(scale: str, name: str, label: str, required: str) -> dict[str, str]:
    return {
        "type": f"select_one {scale}",
        "name": _xml_name(name, None),
        "label": label,
        "required": required,
    }


def _xml_name(name: str, fallback: str | None) -> str:
    """``name`` when XLSForm accepts it as a question name; else ``fallback`` or an error."""
    if _XML_NAME.match(name):
        return name
    if fallback is not None:
        return re.sub(r"[^A-Za-z0-9_]", "_", fallback)
    raise WuyeError(
        Problem(
            f"题目 id {name!r} 不能用作 XLSForm 的题目名称",
            "把问卷文件中的 id 改为以字母开头、只含字母数字和下划线的名称，如 S01",
        )
    )


def write_xlsform(q: Questionnaire, path: str | Path) -> Path:
    """Write ``q``'s XLSForm workbook to ``path`` (atomically)."""
    path = Path(path)
    tables = xlsform_tables(q)
    with atomic_path(path) as tmp, pd.ExcelWriter(tmp, engine="xlsxwriter") as writer:
        for sheet, frame in tables.items():
            frame.to_excel(writer, sheet_name=sheet, index=False)
    return path


def export_questionnaire(q: Questionnaire, fmt: str, output: str | Path) -> Path:
    """Write ``q`` for a platform: ``wjx`` (文本导入 text, UTF-8) or ``xlsform`` (.xlsx)."""
    output = Path(output)
    if fmt not in FORMATS:
        raise WuyeError(Problem(f"未知的导出格式 {fmt!r}", f"可选：{'、'.join(FORMATS)}"))
    if fmt == "xlsform" and output.suffix.lower() != ".xlsx":
        raise WuyeError(
            Problem(
                "XLSForm 应保存为 .xlsx 文件", "把 -o 的文件名改为以 .xlsx 结尾", file=str(output)
            )
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsform":
        return write_xlsform(q, output)
    text = wjx_text(q)
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return output
