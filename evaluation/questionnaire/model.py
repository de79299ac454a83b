"""Questionnaire definitions: items, dimensions, answer scales, loaded from TOML.

A questionnaire TOML (see ``evaluation/questionnaire/default.toml``) has:

- ``[questionnaire]`` ``id`` and ``title``;
- ``[scales.<name>]``: ``options`` (in the order shown, code 1 = first), ``points`` (0–100
  per option, for the index), ``satisfied`` (options counted as satisfied), ``missing``
  (options meaning "no answer", e.g. 不清楚/不适用/跳过 — missing, never dissatisfied);
- ``[identification]``: ``estate``, ``building``, ``unit``, ``room``, ``phone``, ``name``
  and ``surveyor`` (调查员/访问员, for forms filled in by interviewers) questions as
  ``{ number = N, text = "..." }``;
- ``[free_text]``: free-text questions (never scored; kept only after personal data is
  scrubbed, see :mod:`evaluation.ingest.comments`);
- ``[themes]``: extra keywords of the comment themes, ``主题 = ["关键词", …]`` — added to
  the built-in dictionary (:data:`evaluation.ingest.comments.THEMES`), a new theme name adds a
  theme;
- ``[[items]]``: ``id``, ``number``, ``text``, ``dimension``, optional ``scale`` (default
  ``"five"``), ``overall = true`` for the 总体评价 item, optional ``required`` (default:
  true for the overall item, false otherwise).

Matrix questions (问卷星 矩阵单选题: one stem, one row per rated aspect, one scale for all
rows): each row is an item with the matrix's ``number`` and its ``row`` label as the export
shows it, e.g. ``number = 4, row = "秩序维护"``; ``text`` defaults to the row label and the
optional ``stem`` is the matrix's 题干 (the rows of a matrix may not disagree on it). Items of
one number must all be rows with distinct labels and one scale; any other repeated number is
an error.

Option codes: the answer options get codes 1..k; the ``missing`` options follow as
k+1, k+2, … (the order 问卷星 numbers them when 不清楚 is shown as an extra option).

Domains (:mod:`wuye_common.domains`): question numbers are integers 1 … 9999 (export
headers carry at most four digits), a scale has at most 30 options with its ``missing``
ones (codes 1 … 30), points are numbers 0 … 100, ``overall``/``required`` are booleans,
item ids are at most 40 letters, digits, ``_`` or ``-``. Texts shown in reports (title, 题干,
dimensions) are scrubbed of personal data; an option or id holding some is refused.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from wuye_common.domains import MAX_OPTIONS, QUESTION_NUMBER
from wuye_common.errors import Problem, WuyeError, shown
from wuye_common.resources import package_file
from wuye_common.scrub import personal_data_kinds, scrub_text
from wuye_common.sheets import require_file

DEFAULT_SCALE = "five"
IDENTIFICATION_KEYS = ("estate", "building", "unit", "room", "phone", "name", "surveyor")
ITEM_COLUMNS = [
    "item_id",
    "number",
    "text",
    "dimension",
    "scale",
    "is_overall",
    "required",
    "row",
    "stem",
]


def default_path() -> Path:
    """The shipped default questionnaire (package data, found through importlib.resources)."""
    return package_file(resources.files("evaluation.questionnaire") / "default.toml")


@dataclass(frozen=True)
class Question:
    """A non-scored question (identification or free text): number and text."""

    number: int | None
    text: str


@dataclass
class Questionnaire:
    """A loaded questionnaire.

    ``items``: ``item_id, number, text, dimension, scale, is_overall, required, row, stem``
    (``row``: the matrix row label, ``""`` for an item that is a question of its own;
    ``stem``: the matrix's 题干, ``""`` when not given).
    ``options``: ``scale, code, label, satisfied, points, missing`` (one row per option of
    each scale, missing options included with ``missing=True`` and ``points`` NaN).
    """

    id: str
    title: str
    items: pd.DataFrame
    options: pd.DataFrame
    identification: dict[str, Question] = field(default_factory=dict)
    free_text: dict[str, Question] = field(default_factory=dict)
    themes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Comment-theme keywords the questionnaire adds (``[themes]``)."""
    overall_item: str = ""
    source: str = "default"

    @property
    def dimensions(self) -> list[str]:
        """Dimensions in questionnaire order."""
        return list(dict.fromkeys(self.items["dimension"]))

    @property
    def matrices(self) -> dict[int, str]:
        """Matrix questions (numbers whose items carry row labels) → their stem (may be "")."""
        rows = self.items[self.items["row"] != ""]
        return {
            int(n): next((s for s in group["stem"] if s), "")
            for n, group in rows.groupby("number", sort=True)
        }

    def scoring_fingerprint(self) -> str:
        """SHA-256 of what turns stored answer codes into scores: each item's dimension and
        scale, and each option's code, satisfied flag, points and missing flag. Stored with
        an ingest, so a round is never re-scored with a questionnaire edited since."""
        import hashlib
        import json

        items = self.items[["item_id", "dimension", "scale", "is_overall"]].astype(str)
        options = self.options[["scale", "code", "satisfied", "points", "missing"]].astype(str)
        text = json.dumps(
            [items.to_numpy().tolist(), options.to_numpy().tolist()], ensure_ascii=False
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def scale_options(self, scale: str) -> pd.DataFrame:
        """The option table of one scale."""
        return self.options[self.options["scale"] == scale].reset_index(drop=True)

    def satisfied_labels(self, scale: str = DEFAULT_SCALE) -> list[str]:
        """Labels counted as satisfied on ``scale``."""
        table = self.scale_options(scale)
        return table.loc[table["satisfied"], "label"].tolist()


def load_questionnaire(
    path_or_default: str | Path | Questionnaire = "default",
    *,
    satisfied: Iterable[str] | None = None,
) -> Questionnaire:
    """Load and validate a questionnaire TOML (``"default"`` = the shipped one).

    An already loaded :class:`Questionnaire` (e.g. a loaded round's ``questionnaire``) is
    returned as it is; with ``satisfied`` it is loaded again from its ``source``.
    ``satisfied`` overrides, for every scale, which option labels count as satisfied
    (e.g. ``["非常满意", "满意", "基本满意"]``); each label must exist in some scale.
    Raises :class:`WuyeError` listing every problem found.
    """
    if isinstance(path_or_default, Questionnaire):
        if satisfied is None:
            return path_or_default
        path_or_default = path_or_default.source
    path = default_path() if str(path_or_default) == "default" else Path(path_or_default)
    require_file(path, "问卷定义", "检查 round.toml 中 [questionnaire] path")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:  # no permission
        raise WuyeError(
            Problem(
                f"无法读取问卷定义文件：{exc.strerror or exc}",
                "检查 round.toml 中 [questionnaire] path 指向可读取的 .toml 文件",
                file=str(path),
            )
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "嵌套层数过多" if isinstance(exc, RecursionError) else str(exc)
        raise WuyeError(
            Problem(
                f"问卷定义格式错误：{reason}", "按 TOML 语法修正（字符串加引号）", file=path.name
            )
        ) from exc
    return questionnaire_from_dict(
        config, source=str(path_or_default), file=path.name, satisfied=satisfied
    )


def questionnaire_from_dict(
    config: dict[str, Any],
    *,
    source: str = "",
    file: str | None = None,
    satisfied: Iterable[str] | None = None,
) -> Questionnaire:
    """Build a :class:`Questionnaire` from a parsed TOML dict (see module docstring)."""
    problems: list[Problem] = []

    def bad(message: str, fix: str, column: str | None = None) -> None:
        problems.append(Problem(message, fix, file=file, column=column))

    meta = config.get("questionnaire", {})
    meta = meta if isinstance(meta, dict) else {}
    scales_cfg = config.get("scales", {})
    if not isinstance(scales_cfg, dict) or not scales_cfg:
        bad(
            "缺少答案量表 [scales.<名称>]", '例如 [scales.five] options = ["非常满意", …]', "scales"
        )
        scales_cfg = {}
    override = None if satisfied is None else [str(s).strip() for s in satisfied]
    option_rows: list[dict[str, Any]] = []
    for scale, spec in scales_cfg.items():
        option_rows += _scale_options(scale, spec, override, bad)
    options_df = pd.DataFrame(
        option_rows, columns=["scale", "code", "label", "satisfied", "points", "missing"]
    )
    if override is not None:
        known = set(options_df["label"])
        unknown = [s for s in override if s not in known]
        if unknown:
            bad(f"满意选项 {'、'.join(unknown)} 不在任何量表中", "检查轮次配置中的满意选项文字")
    items = _items_table(config.get("items", []), scales_cfg, bad)
    overall_ids = items.loc[items["is_overall"], "item_id"].tolist()
    if len(overall_ids) != 1 and len(items):
        bad(
            f"应有且只有一道总体评价题（overall = true），现有 {len(overall_ids)} 道",
            "在总体评价题下写 overall = true",
            "items",
        )
    identification = _questions(config.get("identification", {}), "identification", bad)
    unknown_keys = [k for k in identification if k not in IDENTIFICATION_KEYS]
    if unknown_keys:
        bad(
            f"[identification] 中有未知的键 {'、'.join(unknown_keys)}",
            f"只能是 {'、'.join(IDENTIFICATION_KEYS)}",
            "identification",
        )
    free_text = _questions(config.get("free_text", {}), "free_text", bad)
    used = [q.number for q in [*identification.values(), *free_text.values()] if q.number]
    clash = sorted(set(used) & set(items["number"].dropna().astype(int)))
    if clash:
        bad(f"题号 {'、'.join(map(str, clash))} 同时用于评价题和识别/开放题", "检查题号", "items")
    themes = _themes(config.get("themes", {}), bad)
    if problems:
        raise WuyeError(problems)
    return Questionnaire(
        id=scrub_text(str(meta.get("id", "custom"))),
        title=scrub_text(str(meta.get("title", "物业服务满意度调查问卷"))),
        items=items,
        options=options_df,
        identification=identification,
        free_text=free_text,
        themes=themes,
        overall_item=overall_ids[0],
        source=source,
    )


def _scale_options(
    scale: str, spec: Any, override: list[str] | None, bad: Any
) -> list[dict[str, Any]]:
    """The option rows of one ``[scales.<name>]`` (none when it cannot be read): answer
    options coded 1..k, then the ``missing`` options."""
    where = f"scales.{scale}"
    if not isinstance(spec, dict):
        bad(f"[{where}] 应是一个表", f"写成 [{where}] 小节", where)
        return []
    options = spec.get("options")
    if (
        not isinstance(options, list)
        or len(options) < 2
        or not all(isinstance(o, str) and o.strip() for o in options)
    ):
        bad(
            f"[{where}] options 应是至少两个选项文字的列表",
            '例如 options = ["满意", "不满意"]',
            f"{where}.options",
        )
        return []
    options = [o.strip() for o in options]
    missing_raw = spec.get("missing")
    if len(options) + (len(missing_raw) if isinstance(missing_raw, list) else 0) > MAX_OPTIONS:
        bad(
            f"[{where}] 选项过多（连同 missing 超过 {MAX_OPTIONS} 个）",
            f"一个量表最多 {MAX_OPTIONS} 个选项",
            f"{where}.options",
        )
        return []
    personal = [o for o in options if personal_data_kinds(o)]
    if personal:
        bad(
            f"[{where}] options 中有含个人信息的选项",
            "选项文字不要写电话、证件号等",
            f"{where}.options",
        )
        return []
    if len(set(options)) != len(options):
        bad(f"[{where}] options 有重复选项", "每个选项只写一次", f"{where}.options")
    points = spec.get("points")
    if points is None:
        k = len(options)
        points = [100 * (k - 1 - i) / (k - 1) for i in range(k)]
    if (
        not isinstance(points, list)
        or len(points) != len(options)
        or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 100
            for p in points
        )
    ):
        bad(
            f"[{where}] points 应与 options 一一对应，取值 0–100",
            "例如 points = [100, 50, 0]",
            f"{where}.points",
        )
        return []
    sat = _satisfied_options(where, spec, options, override, bad)
    missing = _missing_options(where, spec, options, bad)
    sat_set = {s.strip() for s in sat}
    rows = [
        {
            "scale": scale,
            "code": i + 1,
            "label": label,
            "satisfied": label in sat_set,
            "points": float(pts),
            "missing": False,
        }
        for i, (label, pts) in enumerate(zip(options, points, strict=True))
    ]
    rows += [
        {
            "scale": scale,
            "code": len(options) + j + 1,
            "label": label,
            "satisfied": False,
            "points": float("nan"),
            "missing": True,
        }
        for j, label in enumerate(m.strip() for m in missing)
    ]
    return rows


def _satisfied_options(
    where: str, spec: dict[str, Any], options: list[str], override: list[str] | None, bad: Any
) -> list[str]:
    """The scale's satisfied options (default: the first; ``override`` replaces them)."""
    sat = spec.get("satisfied", options[:1])
    if not isinstance(sat, list) or not all(isinstance(s, str) for s in sat):
        bad(
            f"[{where}] satisfied 应是选项文字的列表",
            '例如 satisfied = ["非常满意", "满意"]',
            f"{where}.satisfied",
        )
        sat = []
    unknown = [s for s in sat if s.strip() not in options]
    if unknown:
        bad(
            f"[{where}] satisfied 中的 {'、'.join(unknown)} 不在 options 中",
            "检查选项文字",
            f"{where}.satisfied",
        )
    if override is not None:
        sat = [s for s in override if s in options]
    return sat


def _missing_options(where: str, spec: dict[str, Any], options: list[str], bad: Any) -> list[str]:
    """The scale's "no answer" options (不清楚, 跳过, …), not among ``options``."""
    missing = spec.get("missing", [])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        bad(
            f"[{where}] missing 应是选项文字的列表", '例如 missing = ["不清楚"]', f"{where}.missing"
        )
        missing = []
    clash = [m for m in missing if m.strip() in options]
    if clash:
        bad(
            f"[{where}] {'、'.join(clash)} 同时出现在 options 和 missing 中",
            "「无回答」类选项只写在 missing 中",
            f"{where}.missing",
        )
    return missing


def _items_table(items_cfg: Any, scales_cfg: dict[str, Any], bad: Any) -> pd.DataFrame:
    """The ``[[items]]`` as :attr:`Questionnaire.items`; reports unreadable items, duplicate
    ids and numbers, and matrices whose rows disagree."""
    item_rows: list[dict[str, Any]] = []
    if not isinstance(items_cfg, list) or not items_cfg:
        bad(
            "问卷没有评价题 [[items]]",
            "至少写一道 [[items]]（id、number、text、dimension）",
            "items",
        )
        items_cfg = []
    for i, spec in enumerate(items_cfg, start=1):
        row = _item_row(i, spec, scales_cfg, bad)
        if row is not None:
            item_rows.append(row)
    items = pd.DataFrame(item_rows, columns=ITEM_COLUMNS)
    items["number"] = items["number"].astype("Int64")
    dup_ids = items.loc[items["item_id"].duplicated(), "item_id"].tolist()
    if dup_ids:
        bad(f"题目 id 重复：{'、'.join(dup_ids)}", "每道题的 id 唯一", "items")
    _check_numbers(items, bad)
    return items


def _check_numbers(items: pd.DataFrame, bad: Any) -> None:
    """A number shared by several items must be a matrix: every item of it a row (``row``
    given), the row labels distinct, one scale and at most one stem."""
    numbered = items[items["number"].notna()]
    shared = numbered[numbered["number"].duplicated(keep=False)]
    plain = shared[shared["row"] == ""]
    if len(plain):
        numbers = plain["number"].astype(str).tolist()
        bad(
            f"题号重复：{'、'.join(numbers)}",
            '每道题的题号唯一；矩阵题的各行用同一题号并写明行标签，如 number = 4, row = "秩序维护"',
            "items",
        )
    for number, group in numbered[numbered["row"] != ""].groupby("number", sort=True):
        labels = group["row"]
        if labels.duplicated().any():
            dup = "、".join(dict.fromkeys(labels[labels.duplicated()]))
            bad(f"矩阵题 {number} 的行标签重复：{dup}", "每行写导出中该行的标签，各不相同", "items")
        if group["scale"].nunique() > 1:
            bad(
                f"矩阵题 {number} 的各行用了不同的量表：{'、'.join(dict.fromkeys(group['scale']))}",
                "矩阵题各行共用一组选项：写同一个 scale",
                "items",
            )
        stems = [s for s in dict.fromkeys(group["stem"]) if s]
        if len(stems) > 1:
            bad(
                f"矩阵题 {number} 的各行题干 stem 不一致：{'、'.join(stems)}",
                "只在一行写 stem，或各行写同一题干",
                "items",
            )


def _item_row(i: int, spec: Any, scales_cfg: dict[str, Any], bad: Any) -> dict[str, Any] | None:
    """Item ``i`` (1-based) as a row of :attr:`Questionnaire.items`; ``None`` without an id."""
    where = f"items[{i}]"
    if not isinstance(spec, dict):
        bad(f"第 {i} 个 [[items]] 格式不对", "每道题写成一个 [[items]] 表", where)
        return None
    item_id, number = spec.get("id"), spec.get("number")
    row, stem = spec.get("row", ""), spec.get("stem", "")
    dimension = spec.get("dimension")
    scale = spec.get("scale", DEFAULT_SCALE)
    if not isinstance(item_id, str) or not item_id.strip():
        bad(f"第 {i} 道题缺少 id", '例如 id = "S01"', where)
        return None
    if not _plain_id(item_id):
        bad(
            f"第 {i} 道题的 id {shown(item_id)} 不可用",
            "id 用字母、数字、下划线或连字符（最多 40 个字符，不含个人信息），如 S01",
            f"{where}.id",
        )
        return None
    if not QUESTION_NUMBER.contains(number) or isinstance(number, float):
        bad(
            f"题目 {shown(item_id)} 的题号 number 应为 {QUESTION_NUMBER.describe()}，"
            f"而不是 {shown(number)}",
            "写问卷中的题号，如 number = 4",
            f"{where}.number",
        )
        number = None
    for key, value in (("row", row), ("stem", stem)):
        if not isinstance(value, str):
            bad(f"题目 {item_id} 的 {key} 应为带引号的文字", f'例如 {key} = "秩序维护"', where)
    row = row.strip() if isinstance(row, str) else ""
    stem = stem.strip() if isinstance(stem, str) else ""
    text = spec.get("text", row)
    if not isinstance(text, str) or not text.strip():
        bad(f"题目 {item_id} 缺少题干 text", "写问卷上的题干文字（矩阵题的行可只写 row）", where)
        text = ""
    if not isinstance(dimension, str) or not dimension.strip():
        bad(
            f"题目 {item_id} 缺少维度 dimension",
            '例如 dimension = "环境卫生"',
            f"{where}.dimension",
        )
        dimension = ""
    if not isinstance(scale, str) or scale not in scales_cfg:
        bad(
            f"题目 {item_id} 的量表 {shown(scale)!r} 未定义",
            f"可用量表：{'、'.join(scales_cfg) or '（无）'}",
            f"{where}.scale",
        )
    overall = spec.get("overall", False)
    required = spec.get("required", overall)
    for key, value in (("overall", overall), ("required", required)):
        if not isinstance(value, bool):
            bad(f"题目 {item_id} 的 {key} 应为 true 或 false", f"写 {key} = true", f"{where}.{key}")
    return {
        "item_id": item_id.strip(),
        "number": number,
        "text": scrub_text(text.strip()),
        "dimension": scrub_text(dimension.strip()),
        "scale": scale,
        "is_overall": overall is True,
        "required": required is True,
        "row": row,
        "stem": stem,
    }


def _plain_id(text: str) -> bool:
    """An item id usable as a column name: word characters and ``-``, at most 40, and no
    personal data (ids are stored as ``q:<id>`` column names)."""
    return (
        len(text.strip()) <= 40
        and all(c.isalnum() or c in "_-" for c in text.strip())
        and not personal_data_kinds(text)
    )


def _questions(table: Any, section: str, bad: Any) -> dict[str, Question]:
    out: dict[str, Question] = {}
    if not isinstance(table, dict):
        bad(f"[{section}] 应是一个表", f"写成 [{section}] 小节", section)
        return out
    for key, spec in table.items():
        if isinstance(spec, str):
            spec = {"text": spec}
        if not isinstance(spec, dict):
            bad(
                f'[{section}] {key} 应写成 {{ number = N, text = "…" }}',
                "见默认问卷",
                f"{section}.{key}",
            )
            continue
        number, text = spec.get("number"), spec.get("text", "")
        if number is not None and (
            not QUESTION_NUMBER.contains(number) or isinstance(number, float)
        ):
            bad(
                f"[{section}] {key} 的题号应为 {QUESTION_NUMBER.describe()}，而不是 {shown(number)}",
                "如 number = 1",
                f"{section}.{key}",
            )
            number = None
        if not isinstance(text, str):
            bad(
                f"[{section}] {key} 的 text 应为文字",
                '如 text = "您居住的小区名称"',
                f"{section}.{key}",
            )
            text = ""
        out[key] = Question(number, scrub_text(text.strip()))
    return out


def _themes(table: Any, bad: Any) -> dict[str, tuple[str, ...]]:
    """``[themes]``: theme name → extra keywords (non-empty texts)."""
    if not isinstance(table, dict):
        bad("[themes] 应是一个表", '写成 [themes] 小节，如 电梯 = ["轿厢", "困人"]', "themes")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for theme, words in table.items():
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            bad(
                f"[themes] {theme} 应是关键词列表",
                f'例如 {theme} = ["关键词1", "关键词2"]',
                f"themes.{theme}",
            )
            continue
        out[str(theme).strip()] = tuple(w.strip() for w in words)
    return out
