"""``[quality]`` in ``round.toml``: which fieldwork-quality rules run, what each does with the
forms it finds, and their thresholds — parsed and validated with documented defaults.

Every rule is on by default; ``action`` is ``"flag"`` (the form stays accepted and carries
the rule's code and a Chinese reason), ``"quarantine"`` (the form goes to the quarantine
with that reason, as exact duplicates and speeders always did) or ``"off"``. Example with
the defaults::

    [quality]
    backcheck_share = 0.10      # 回访名单：抽取已接受问卷的比例（按风险加权，每名调查员至少 1 份）
    min_surveyors = 5           # 调查员少于此数时只给出造假风险分，不据此标记

    [quality.speeder]           # 用时低于 [ingest] min_duration_s
    action = "quarantine"
    [quality.duplicate]         # 同一户多份答卷：保留最后一份
    action = "quarantine"
    [quality.straightline]      # 所有评价题答案相同，或全部落在量表两端，且答得比本小区通常快
    action = "flag"
    min_items = 8               # 至少作答这么多道评价题才判断
    max_z = -1.0                # 用时稳健 z 低于此值（或无用时）才标记；写 99 则只看答案
    [quality.one_source]        # 同一 IP / 设备 / 电话提交的答卷多于一户可能提交的份数
    action = "flag"
    max_ip = 3                  # 同一小区同一 IP 最多 3 份（有调查员列的问卷不查 IP 与设备）
    max_device = 3
    max_phone = 1               # 同一电话只能代表一户
    [quality.burst]             # 同一来源（IP、设备或调查员）在 minutes 分钟内提交 forms 份
    action = "flag"
    forms = 4
    minutes = 10
    [quality.near_duplicate]    # 同一小区内完全相同的答案组合，超出按本小区答案分布的期望份数
    action = "flag"
    min_items = 8
    alpha = 0.001               # 泊松上尾概率低于此值才算超出偶然
    [quality.timing]            # 用时相对本小区的稳健 z 值（对数用时，中位数与 MAD）
    action = "flag"
    robust_z = 3.5              # z < -3.5（Iglewicz–Hoaglin 的离群界限）
    min_forms = 10              # 小区有效用时少于此数时用全轮分布
    [quality.hours]             # 提交时间不在 start–end 点之间
    action = "flag"
    start = 6
    end = 23
    [quality.household]         # 有住户清册时，楼栋房号不在清册中
    action = "flag"
    [quality.surveyor_effect]   # 调查员满意率与同小区其他调查员差异超出偶然（CMH 检验，BH 校正）
    action = "flag"
    alpha = 0.01
    min_forms = 10
    [quality.fabrication]       # 调查员造假风险分（多项指标的稳健 z 合成）超过阈值
    action = "flag"
    threshold = 3.0
    min_forms = 10

Unknown rules or keys, a wrong type or an out-of-range value are reported by
:func:`parse_quality` as :class:`~wuye_common.errors.Problem` s naming ``quality.<rule>.<key>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wuye_common.errors import Problem, WuyeError

ACTIONS: tuple[str, ...] = ("flag", "quarantine", "off")

#: rule → its settings and defaults (``action`` first)
RULES: dict[str, dict[str, Any]] = {
    "speeder": {"action": "quarantine"},
    "duplicate": {"action": "quarantine"},
    "straightline": {"action": "flag", "min_items": 8, "max_z": -1.0},
    "one_source": {"action": "flag", "max_ip": 3, "max_device": 3, "max_phone": 1},
    "burst": {"action": "flag", "forms": 4, "minutes": 10.0},
    "near_duplicate": {"action": "flag", "min_items": 8, "alpha": 0.001},
    "timing": {"action": "flag", "robust_z": 3.5, "min_forms": 10},
    "hours": {"action": "flag", "start": 6, "end": 23},
    "household": {"action": "flag"},
    "surveyor_effect": {"action": "flag", "alpha": 0.01, "min_forms": 10},
    "fabrication": {"action": "flag", "threshold": 3.0, "min_forms": 10},
}
#: top-level keys of ``[quality]`` and their defaults
GLOBALS: dict[str, Any] = {"backcheck_share": 0.10, "min_surveyors": 5}

#: ranges of numeric settings: (low, high, inclusive low) and the Chinese hint
_RANGES: dict[str, tuple[float, float, str]] = {
    "backcheck_share": (0.0, 1.0, "0 与 1 之间的比例，如 0.1"),
    "min_surveyors": (2, 10_000, "不小于 2 的整数，如 5"),
    "min_items": (2, 1_000, "不小于 2 的整数，如 8"),
    "max_ip": (1, 100_000, "不小于 1 的整数"),
    "max_device": (1, 100_000, "不小于 1 的整数"),
    "max_phone": (1, 100_000, "不小于 1 的整数"),
    "forms": (2, 100_000, "不小于 2 的整数，如 4"),
    "minutes": (0.1, 10_000, "正数（分钟），如 10"),
    "alpha": (1e-12, 0.5, "0 与 0.5 之间的小数，如 0.01"),
    "robust_z": (0.5, 100, "正数，如 3.5"),
    "max_z": (-100, 100, "-100 与 100 之间的数，如 -1"),
    "min_forms": (1, 100_000, "不小于 1 的整数，如 10"),
    "start": (0, 23, "0 至 23 的整点"),
    "end": (1, 24, "1 至 24 的整点"),
    "threshold": (0.1, 100, "正数，如 3"),
}
_INTEGER_KEYS = frozenset(
    {"min_surveyors", "min_items", "max_ip", "max_device", "max_phone", "forms", "min_forms"}
    | {"start", "end"}
)


@dataclass(frozen=True)
class QualityConfig:
    """The parsed ``[quality]``: ``rules`` maps each rule of :data:`RULES` to its settings
    (``action`` and thresholds, defaults filled in); ``backcheck_share`` and
    ``min_surveyors`` as in :data:`GLOBALS`."""

    rules: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: dict(spec) for name, spec in RULES.items()}
    )
    backcheck_share: float = GLOBALS["backcheck_share"]
    min_surveyors: int = GLOBALS["min_surveyors"]

    def action(self, rule: str) -> str:
        """``flag``, ``quarantine`` or ``off`` for ``rule``."""
        return str(self.rules[rule]["action"])

    def on(self, rule: str) -> bool:
        """Whether ``rule`` runs at all."""
        return self.action(rule) != "off"

    def get(self, rule: str, key: str) -> Any:
        """A threshold of ``rule``."""
        return self.rules[rule][key]


def parse_quality(table: Any, *, file: str | None = None) -> QualityConfig:
    """``[quality]`` as a :class:`QualityConfig`; raises :class:`WuyeError` listing every
    problem (unknown rule or key, wrong type, value out of range)."""
    problems: list[Problem] = []
    config = quality_from_table(table, problems, file=file)
    if problems:
        raise WuyeError(problems)
    return config


def quality_from_table(
    table: Any, problems: list[Problem], *, file: str | None = None
) -> QualityConfig:
    """:func:`parse_quality` appending problems to ``problems`` (defaults kept where a value
    is bad)."""

    def bad(message: str, fix: str, column: str) -> None:
        problems.append(Problem(message, fix, file=file, column=column))

    if table is None:
        return QualityConfig()
    if not isinstance(table, dict):
        bad("[quality] 应是一个表", "写成 [quality] 小节", "quality")
        return QualityConfig()
    rules = {name: dict(spec) for name, spec in RULES.items()}
    globals_ = dict(GLOBALS)
    for key, value in table.items():
        if key in RULES:
            _rule_table(key, value, rules[key], bad)
        elif key in GLOBALS:
            globals_[key] = _number(f"quality.{key}", key, value, globals_[key], bad)
        else:
            known = "、".join([*GLOBALS, *RULES])
            bad(
                f"[quality] 中有未知的键 {key!r}",
                f"检查拼写或删除该行（可用：{known}）",
                f"quality.{key}",
            )
    return QualityConfig(
        rules=rules,
        backcheck_share=float(globals_["backcheck_share"]),
        min_surveyors=int(globals_["min_surveyors"]),
    )


def _rule_table(rule: str, value: Any, settings: dict[str, Any], bad: Any) -> None:
    """Read ``[quality.<rule>]`` into ``settings`` (its defaults)."""
    where = f"quality.{rule}"
    if not isinstance(value, dict):
        bad(f"[{where}] 应是一个表", f'写成 [{where}] 小节，如 action = "flag"', where)
        return
    for key, given in value.items():
        column = f"{where}.{key}"
        if key not in settings:
            known = "、".join(settings)
            bad(f"[{where}] 中有未知的键 {key!r}", f"检查拼写或删除该行（可用：{known}）", column)
        elif key == "action":
            if given not in ACTIONS:
                bad(
                    f"[{where}] action = {given!r} 无效",
                    '写 "flag"（标记）、"quarantine"（隔离）或 "off"（关闭）',
                    column,
                )
            else:
                settings[key] = given
        else:
            settings[key] = _number(column, key, given, settings[key], bad)
    if rule == "hours" and settings["start"] >= settings["end"]:
        bad(f"[{where}] start 应小于 end", "例如 start = 6、end = 23", where)


def _number(column: str, key: str, value: Any, default: Any, bad: Any) -> Any:
    """A numeric setting checked against :data:`_RANGES` (the default when it is bad)."""
    low, high, hint = _RANGES[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        bad(f"{column} 的值 {value!r} 应为数字", f"应为 {hint}", column)
        return default
    if key in _INTEGER_KEYS and not float(value).is_integer():
        bad(f"{column} = {value} 应为整数", f"应为 {hint}", column)
        return default
    if not low <= value <= high:
        bad(f"{column} = {value} 超出范围", f"应为 {hint}", column)
        return default
    return int(value) if key in _INTEGER_KEYS else float(value)
