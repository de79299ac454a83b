"""``wuye-eval init``: a new round folder a user can fill in.

It holds a commented ``round.toml`` (every section with its defaults, from the package's
``round_template/round.toml``), an empty 台账 template ``台账.xlsx`` (the Chinese headers,
a drop-down list for 服务等级 and 是/否 columns, one example row to replace), a copy of the
default questionnaire ``问卷.toml`` to edit, and an empty ``fieldwork/`` folder for the
exports. An existing round is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from importlib import resources
from pathlib import Path
from string import Template

from evaluation.questionnaire import default_path
from evaluation.round import PERIOD_PATTERN, REGISTER_LABELS
from wuye_common.errors import Problem, WuyeError
from wuye_common.files import atomic_path
from wuye_common.resources import package_file
from wuye_common.vocabulary import RESETTLEMENT_TIER, TIERS

REGISTER_NAME = "台账.xlsx"
QUESTIONNAIRE_NAME = "问卷.toml"
#: the 台账 template's example row (to be replaced by the user)
EXAMPLE_ROW: dict[str, object] = {
    "estate_id": "示例001",
    "estate_name": "示例小区（请替换为实际小区）",
    "community": "示例社区",
    "firm": "示例物业服务有限公司",
    "tier": "二级",
    "households": 500,
    "complaints": 0,
    "credit_score": 85,
    "red_property": "否",
    "professional": "是",
    "committee": "否",
    "committee_party_share": "",
    "firm_revenue": "",
}
REGISTER_NOTES: dict[str, str] = {
    "estate_id": "必填。每个小区唯一、历次不变的编号，如 GD001",
    "estate_name": "必填。小区名称（与问卷中填写的名称一致，便于匹配）",
    "community": "必填。所属社区",
    "firm": "必填。物业服务企业全称",
    "tier": f"必填。下拉选择：{'、'.join(TIERS)}",
    "households": "必填。总户数（正整数）",
    "complaints": "选填。本期投诉件数",
    "credit_score": "选填。企业信用积分（0–100）",
    "red_property": "选填。是否创建红色物业（是/否）",
    "professional": "选填。是否为专业物业服务（是/否）",
    "committee": "选填。是否成立业委会（是/否）",
    "committee_party_share": "选填。业委会中党员比例（0–1 的小数）",
    "firm_revenue": "选填。企业年营收（万元）",
}
ROWS = 5000  # rows of the 台账 template that carry the data validation


def current_period(today: dt.date | None = None) -> str:
    """The half-year of ``today``: ``2026H1`` for January–June, ``2026H2`` otherwise."""
    today = today or dt.date.today()
    return f"{today.year}H{1 if today.month <= 6 else 2}"


def init_round(
    folder: str | Path,
    *,
    district: str = "某某区",
    period: str | None = None,
    seed: int | None = None,
) -> list[Path]:
    """Create the round folder ``folder`` (see the module docstring); returns the files
    written. Refuses (:class:`WuyeError`) a folder that already holds any of them."""
    folder = Path(folder)
    period = period or current_period()
    _check_values(district, period)
    targets = [folder / "round.toml", folder / REGISTER_NAME, folder / QUESTIONNAIRE_NAME]
    existing = [p.name for p in targets if p.exists()]
    if existing:
        raise WuyeError(
            Problem(
                f"该文件夹已有评估轮次文件：{'、'.join(existing)}，不会覆盖",
                "换一个新的文件夹名，或先把原文件移走",
                file=str(folder),
            )
        )
    if folder.exists() and not folder.is_dir():
        raise WuyeError(Problem("同名文件已存在，不是文件夹", "换一个名称", file=str(folder)))
    (folder / "fieldwork").mkdir(parents=True, exist_ok=True)
    template = package_file(resources.files("evaluation") / "round_template" / "round.toml")
    text = Template(template.read_text(encoding="utf-8")).substitute(
        district=district,
        period=period,
        seed=seed if seed is not None else 10_000_000 + secrets.randbelow(89_999_999),
    )
    with atomic_path(targets[0]) as tmp:
        tmp.write_text(text, encoding="utf-8")
    write_register_template(targets[1], resettlement=period[4] == "Q")
    header = (
        "# 本轮问卷定义：由内置问卷复制而来，请按实际问卷修改（题号、题干、选项、维度）。\n"
        "# 也可以用 wuye-eval questionnaire draft 导出文件 -o 问卷.toml 从问卷平台的导出文件生成。\n"
    )
    with atomic_path(targets[2]) as tmp:
        tmp.write_text(header + default_path().read_text(encoding="utf-8"), encoding="utf-8")
    return targets


def _check_values(district: str, period: str) -> None:
    """District and period as ``round.toml`` needs them, or a located error."""
    problems = []
    if not district.strip() or re.search(r'["\\\x00-\x1f\x7f]', district):
        problems.append(
            Problem(
                f"区名 {district!r} 不能为空，也不能含引号、反斜杠或换行",
                '例如 --district "葛店经开区"',
            )
        )
    m = PERIOD_PATTERN.match(period)
    if not m or int(m["part"]) not in ((1, 2) if m["kind"] == "H" else (1, 2, 3, 4)):
        problems.append(
            Problem(
                f"评估期 {period!r} 无法识别",
                "写成 2026H1（上半年）、2026H2（下半年）或 2026Q3（季度，仅还建社区）",
            )
        )
    if problems:
        raise WuyeError(problems)


def write_register_template(path: Path, *, resettlement: bool = False) -> Path:
    """The empty 台账 workbook: headers, the example row (a 还建社区 for a quarterly round,
    which covers only those), drop-down lists, a notes sheet."""
    import xlsxwriter

    columns = list(REGISTER_LABELS)
    example = {**EXAMPLE_ROW, "tier": RESETTLEMENT_TIER} if resettlement else EXAMPLE_ROW
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"strings_to_numbers": False})
        try:
            sheet = book.add_worksheet("台账")
            head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
            grey = book.add_format({"font_color": "#808080", "italic": True})
            sheet.write_row(0, 0, [REGISTER_LABELS[c] for c in columns], head)
            sheet.write_row(1, 0, [example[c] for c in columns], grey)
            sheet.freeze_panes(1, 0)
            sheet.set_column(0, len(columns) - 1, 16)
            sheet.set_column(1, 1, 30)
            _validations(sheet, columns)
            notes = book.add_worksheet("填写说明")
            notes.write_row(0, 0, ["列名", "说明"], head)
            for r, c in enumerate(columns, start=1):
                notes.write_row(r, 0, [REGISTER_LABELS[c], REGISTER_NOTES[c]])
            notes.write_row(
                len(columns) + 2,
                0,
                ["示例行", "第 2 行是示例（灰色斜体），填写时请删除或覆盖它。"],
            )
            notes.set_column(0, 0, 18)
            notes.set_column(1, 1, 60)
        finally:
            book.close()
    return path


def _validations(sheet: object, columns: list[str]) -> None:
    """Drop-down lists (服务等级, 是/否) and number checks on the template's data rows."""

    def col(name: str) -> int:
        return columns.index(name)

    def validate(name: str, spec: dict[str, object]) -> None:
        sheet.data_validation(1, col(name), ROWS, col(name), spec)  # type: ignore[attr-defined]

    validate(
        "tier",
        {
            "validate": "list",
            "source": list(TIERS),
            "error_title": "服务等级",
            "error_message": f"只能是 {'、'.join(TIERS)}",
        },
    )
    validate(
        "households",
        {
            "validate": "integer",
            "criteria": ">=",
            "value": 1,
            "error_title": "户数",
            "error_message": "户数应为正整数",
        },
    )
    for name in ("red_property", "professional", "committee"):
        validate(name, {"validate": "list", "source": ["是", "否"]})
    validate(
        "credit_score",
        {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 100},
    )
