"""The round model: ``round.toml`` plus the estate register (台账), validated on load.

A round is a folder holding ``round.toml`` and its inputs. :func:`load_round` reads and
checks everything and reports *all* problems at once, each naming the file, row, field
and a fix, as a :class:`~wuye_common.errors.WuyeError`.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.ingest.quality.config import QualityConfig, quality_from_table
from evaluation.questionnaire import Questionnaire, load_questionnaire
from evaluation.ranking.rules import Rules, parse_rules
from sampling.config import SamplingConfig
from sampling.tables import read_table, rename_columns
from wuye_common.errors import Problem, WuyeError
from wuye_common.vocabulary import DEFAULT_THRESHOLDS, RESETTLEMENT_TIER, TIER_ALIASES, TIERS

CONTROL_CHARS = r"[\x00-\x1f\x7f]"
PERIOD_PATTERN = re.compile(r"^(?P<year>\d{4})(?P<kind>[HQ])(?P<part>\d)$")

REGISTER_COLUMNS: dict[str, str] = {
    "estate_id": "estate_id",
    "小区编号": "estate_id",
    "编号": "estate_id",
    "estate_name": "estate_name",
    "小区名称": "estate_name",
    "小区": "estate_name",
    "community": "community",
    "社区": "community",
    "所属社区": "community",
    "firm": "firm",
    "物业企业": "firm",
    "物业服务企业": "firm",
    "物业公司": "firm",
    "tier": "tier",
    "服务等级": "tier",
    "物业服务等级": "tier",
    "等级": "tier",
    "households": "households",
    "户数": "households",
    "总户数": "households",
    "complaints": "complaints",
    "投诉件数": "complaints",
    "投诉数": "complaints",
    "credit_score": "credit_score",
    "信用积分": "credit_score",
    "red_property": "red_property",
    "红色物业": "red_property",
    "professional": "professional",
    "专业物业": "professional",
    "committee": "committee",
    "业委会": "committee",
    "已成立业委会": "committee",
    "committee_party_share": "committee_party_share",
    "业委会党员比例": "committee_party_share",
    "firm_revenue": "firm_revenue",
    "企业年营收(万元)": "firm_revenue",
    "企业年营收": "firm_revenue",
}
REQUIRED_REGISTER = ("estate_id", "estate_name", "community", "firm", "tier", "households")
REGISTER_LABELS = {
    "estate_id": "小区编号",
    "estate_name": "小区名称",
    "community": "所属社区",
    "firm": "物业企业",
    "tier": "服务等级",
    "households": "户数",
    "complaints": "投诉件数",
    "credit_score": "信用积分",
    "red_property": "红色物业",
    "professional": "专业物业",
    "committee": "业委会",
    "committee_party_share": "业委会党员比例",
    "firm_revenue": "企业年营收(万元)",
}
OPTIONAL_NUMERIC = ("complaints", "credit_score", "committee_party_share", "firm_revenue")
OPTIONAL_BOOL = ("red_property", "professional", "committee")
TRUE_WORDS = {"是", "有", "已", "已成立", "y", "yes", "true", "1", "√", "✓"}
FALSE_WORDS = {"否", "无", "未", "未成立", "n", "no", "false", "0", "×", ""}


REPORT_KEYS = ("notebooks", "notebook_estates", "font")
"""Keys of ``[report]``: ``notebooks`` (bool, default true), ``notebook_estates`` (estate ids
given their own notebook; default the black-listed ones), ``font`` (a system font for the
PDFs)."""


@dataclass(frozen=True)
class IngestConfig:
    """Ingest parameters (``[ingest]``)."""

    min_duration_s: float = 60.0
    match_cutoff: float = 90.0
    estate_question: str | None = None
    building_question: str | None = None
    room_question: str | None = None


@dataclass
class Round:
    """A loaded, validated round. See ``docs/architecture.md`` for the contract.

    ``questionnaire`` is the loaded :class:`~evaluation.questionnaire.Questionnaire` (its
    file: ``questionnaire_path``, ``"default"`` for the shipped one), ``rules`` the parsed
    ``[rules]``, ``report`` the checked ``[report]`` table. ``register`` holds the estates
    the round covers; ``all_estate_ids`` every estate of the 台账 (quarterly rounds cover
    only its 还建社区).
    """

    root: Path
    round_id: str
    district: str
    period: str
    year: int
    kind: str
    part: int
    seed: int
    confidence: float
    thresholds: dict[str, float]
    sampling: SamplingConfig
    ingest: IngestConfig
    questionnaire: Questionnaire
    register: pd.DataFrame
    paths: dict[str, Any]
    output_dir: Path
    database: Path
    secret_path: Path
    rules: Rules = field(default_factory=Rules)
    report: dict[str, Any] = field(default_factory=dict)
    quality: QualityConfig = field(default_factory=QualityConfig)
    interval_method: str = "beta"
    questionnaire_path: str = "default"
    all_estate_ids: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Human label such as ``葛店经开区 2025年上半年``."""
        return f"{self.district} {period_label(self.period)}"


def period_label(period: str) -> str:
    """``2025H1`` → ``2025年上半年``; ``2025Q3`` → ``2025年第三季度``."""
    m = PERIOD_PATTERN.match(period)
    if not m:
        return period
    year, kind, part = m["year"], m["kind"], int(m["part"])
    if kind == "H":
        return f"{year}年{'上' if part == 1 else '下'}半年"
    return f"{year}年第{'一二三四'[part - 1]}季度"


def previous_period(period: str) -> str:
    """The period before ``period`` of the same kind: 2025H1 → 2024H2, 2025Q1 → 2024Q4."""
    m = PERIOD_PATTERN.match(period)
    if not m:
        raise WuyeError(Problem(f"无法识别的评估期 {period!r}", "写成 2025H1 或 2025Q3 这样的格式"))
    year, kind, part = int(m["year"]), m["kind"], int(m["part"])
    parts = 2 if kind == "H" else 4
    if part == 1:
        return f"{year - 1}{kind}{parts}"
    return f"{year}{kind}{part - 1}"


def load_round(path: str | Path) -> Round:
    """Load and validate a round folder (or its ``round.toml``).

    Reports every problem found in ``round.toml`` (its questionnaire and ``[rules]``
    included) and the 台账 together. Quarterly rounds (``Qn``) keep only 还建社区 estates;
    half-year rounds (``Hn``) keep all.
    """
    toml = _read_toml(Path(path))
    fields = _round_section(toml)
    _check_tables(toml)
    thresholds = _thresholds_section(toml)
    sampling = _sampling_section(toml)
    ingest = _ingest_section(toml)
    paths = _inputs_section(toml)
    output_dir, database, secrets = _output_section(toml, fields["round_id"])
    questionnaire, questionnaire_path = _questionnaire_section(toml)
    rules = _rules_section(toml)
    report = _report_section(toml)
    quality = _quality_section(toml)
    register = _register_section(toml, paths, thresholds)
    if toml.problems or questionnaire is None:
        raise WuyeError(toml.problems)
    return Round(
        root=toml.root,
        **fields,
        thresholds=thresholds,
        sampling=sampling,
        ingest=ingest,
        questionnaire=questionnaire,
        questionnaire_path=questionnaire_path,
        register=_covered_estates(register, fields["kind"], paths["register"]),
        all_estate_ids=tuple(register["estate_id"].tolist()),
        paths=paths,
        output_dir=output_dir,
        database=database,
        secret_path=secrets / f"{fields['round_id']}.key",
        rules=rules,
        report=report,
        quality=quality,
    )


@dataclass
class _Toml:
    """``round.toml`` being read: its tables, the round folder, and the problems so far."""

    config: dict[str, Any]
    root: Path
    where: str
    problems: list[Problem] = field(default_factory=list)

    def bad(self, message: str, fix: str, column: str | None = None) -> None:
        """Record a problem located in ``round.toml`` (``column``: ``section.key``)."""
        self.problems.append(Problem(message, fix, file=self.where, column=column))

    def table(self, name: str) -> dict[str, Any]:
        """The table ``[name]`` (empty when absent or not a table)."""
        table = self.config.get(name, {})
        return table if isinstance(table, dict) else {}

    def get(self, section: str, key: str, default: Any, kind: type | tuple[type, ...]) -> Any:
        """``[section] key`` of type ``kind``; ``default`` when absent or of another type."""
        table = self.config.get(section, {})
        if not isinstance(table, dict):
            self.problems.append(
                Problem(f"[{section}] 应是一个表", f"写成 [{section}] 小节", file=self.where)
            )
            return default
        value = table.get(key, default)
        if value is None:
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.bad(
                f"[{section}] {key} 的值 {value!r} 类型不对",
                f"应为 {_kind_name(kind)}",
                f"{section}.{key}",
            )
            return default
        return value

    def text(self, section: str, key: str, value: Any) -> str | None:
        """A path written as text (``None``, and a problem, for anything else)."""
        if isinstance(value, str) and value and "\x00" not in value:
            return value
        self.bad(
            f"[{section}] {key} 的值 {value!r} 应为带引号的路径文字",
            f'例如 {key} = "文件名"',
            f"{section}.{key}",
        )
        return None


def _read_toml(path: Path) -> _Toml:
    """Parse ``round.toml`` (``path`` is the round folder or the file itself)."""
    toml_path = path / "round.toml" if path.is_dir() else path
    root = toml_path.parent.resolve()
    if not toml_path.exists():
        raise WuyeError(
            Problem(
                "找不到 round.toml",
                "在评估轮次文件夹中创建 round.toml（见 README）",
                file=str(toml_path),
            )
        )
    try:
        config = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WuyeError(
            Problem(
                f"round.toml 格式错误：{exc}",
                "按 TOML 语法修正（字符串加引号，键值用 =）",
                file=toml_path.name,
            )
        ) from exc
    return _Toml(config, root, toml_path.name)


def _round_section(toml: _Toml) -> dict[str, Any]:
    """``[round]``: district, period (with its year, kind and part), id, seed, confidence
    and interval method, as :class:`Round` fields."""
    from evaluation.scoring.estimation import METHODS

    district = toml.get("round", "district", "", str)
    if not district:
        toml.bad("缺少 [round] district（区名）", '例如 district = "葛店经开区"', "round.district")
    period = toml.get("round", "period", "", str)
    m = PERIOD_PATTERN.match(period or "")
    if (
        not m
        or (m["kind"] == "H" and int(m["part"]) not in (1, 2))
        or (m["kind"] == "Q" and int(m["part"]) not in (1, 2, 3, 4))
    ):
        toml.bad(
            f"评估期 period = {period!r} 无法识别",
            '写成 "2025H1"（半年）或 "2025Q3"（季度，仅还建社区）',
            "round.period",
        )
        m = None
    round_id = toml.get("round", "id", period or "round", str)
    if not re.fullmatch(r"[\w\-.]+", round_id or "") or round_id in {".", ".."}:
        toml.bad(
            f"轮次编号 id = {round_id!r} 不能作为文件夹名",
            "只用字母、数字、下划线、连字符",
            "round.id",
        )
    seed = toml.get("round", "seed", 20240906, int)
    confidence = toml.get("round", "confidence", 0.95, (int, float))
    if not 0 < confidence < 1:
        toml.bad(
            f"置信水平 confidence = {confidence} 应在 0 与 1 之间",
            "通常写 0.95",
            "round.confidence",
        )
    interval_method = toml.get("round", "interval_method", "beta", str)
    if interval_method not in METHODS:
        toml.bad(
            f"区间方法 interval_method = {interval_method!r} 未知",
            f"可选：{'、'.join(METHODS)}（默认 beta）",
            "round.interval_method",
        )
    return {
        "district": district,
        "period": period,
        "year": int(m["year"]) if m else 0,
        "kind": m["kind"] if m else "",
        "part": int(m["part"]) if m else 0,
        "round_id": round_id,
        "seed": seed,
        "confidence": float(confidence),
        "interval_method": interval_method,
    }


def _check_tables(toml: _Toml) -> None:
    """Sections that must be tables; one that is not is reported and read as empty."""
    config = toml.config
    for name in (
        "thresholds",
        "inputs",
        "output",
        "questionnaire",
        "rules",
        "report",
        "quality",
    ):
        if name in config and not isinstance(config[name], dict):
            toml.bad(
                f"[{name}] 应是一个表，而不是 {config[name]!r}",
                f"写成 [{name}] 小节，下面每行一个 键 = 值",
                name,
            )
            config[name] = {}


def _thresholds_section(toml: _Toml) -> dict[str, float]:
    """``[thresholds]``: satisfaction thresholds per tier over the defaults."""
    thresholds = dict(DEFAULT_THRESHOLDS)
    for tier, value in (toml.config.get("thresholds") or {}).items():
        if tier not in TIERS:
            toml.bad(f"未知的服务等级 {tier!r}", f"只能是 {'、'.join(TIERS)}", f"thresholds.{tier}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            toml.bad(
                f"满意率门槛 {tier} = {value!r} 应是 0 与 1 之间的小数",
                "例如 0.9 表示 90%",
                f"thresholds.{tier}",
            )
        else:
            thresholds[tier] = float(value)
    return thresholds


def _sampling_section(toml: _Toml) -> SamplingConfig:
    """``[sampling]``: :class:`SamplingConfig`, each value in its range."""
    sampling = _section(toml.config, "sampling", SamplingConfig, toml.where, toml.problems)
    if (isinstance(sampling.planning_p, str) and sampling.planning_p != "threshold") or (
        not isinstance(sampling.planning_p, str) and not 0 < sampling.planning_p < 1
    ):
        toml.bad(
            f"planning_p = {sampling.planning_p!r} 无效",
            '写 "threshold"（按等级门槛）或 0 与 1 之间的小数，如 0.5',
            "sampling.planning_p",
        )
    if not 0 < sampling.margin < 1:
        toml.bad(f"margin = {sampling.margin} 应在 0 与 1 之间", "例如 0.08", "sampling.margin")
    if not 0 < sampling.response_rate <= 1:
        toml.bad(
            f"response_rate = {sampling.response_rate} 应在 (0, 1] 内",
            "例如 0.85",
            "sampling.response_rate",
        )
    checks = (
        ("minimum", sampling.minimum >= 1, "至少 1，通常 30"),
        (
            "maximum",
            sampling.maximum is None
            or (isinstance(sampling.maximum, int) and sampling.maximum >= sampling.minimum),
            "不小于 minimum 的整数，或删除该行",
        ),
        ("deff", sampling.deff > 0, "正数，通常 1.0"),
        ("reserve_ratio", sampling.reserve_ratio >= 0, "不小于 0，例如 0.5"),
    )
    for key, ok, fix in checks:
        if not ok:
            toml.bad(
                f"[sampling] {key} = {getattr(sampling, key)!r} 无效",
                f"应为 {fix}",
                f"sampling.{key}",
            )
    if sampling.method not in ("srs", "systematic"):
        toml.bad(
            f"抽样方法 method = {sampling.method!r} 未知",
            '写 "srs" 或 "systematic"',
            "sampling.method",
        )
    return sampling


def _ingest_section(toml: _Toml) -> IngestConfig:
    """``[ingest]``: :class:`IngestConfig`, each value in its range."""
    ingest = _section(toml.config, "ingest", IngestConfig, toml.where, toml.problems)
    if ingest.min_duration_s < 0:
        toml.bad(
            f"[ingest] min_duration_s = {ingest.min_duration_s} 不能为负",
            "填写秒数，如 60",
            "ingest.min_duration_s",
        )
    if not 0 <= ingest.match_cutoff <= 100:
        toml.bad(
            f"[ingest] match_cutoff = {ingest.match_cutoff} 应在 0 与 100 之间",
            "通常写 90",
            "ingest.match_cutoff",
        )
    return ingest


def _inputs_section(toml: _Toml) -> dict[str, Any]:
    """``[inputs]``: the 台账, frame and firm register resolved against the round folder,
    and the export globs (``responses``, as text)."""
    inputs = toml.table("inputs")
    paths: dict[str, Any] = {}
    for key in ("register", "frame", "firms"):
        if key in inputs and (value := toml.text("inputs", key, inputs[key])) is not None:
            paths[key] = (toml.root / value).resolve()
    responses = inputs.get("responses", [])
    responses = [responses] if isinstance(responses, str) else responses
    if not isinstance(responses, list):
        toml.bad(
            f"[inputs] responses 的值 {responses!r} 应为路径或路径列表",
            '例如 responses = ["fieldwork/*.xlsx"]',
            "inputs.responses",
        )
        responses = []
    responses = [r for r in responses if toml.text("inputs", "responses", r) is not None]
    paths["responses"] = [str(toml.root / r) for r in responses]
    if "register" not in paths:
        toml.bad("缺少台账路径 [inputs] register", '例如 register = "台账.xlsx"', "inputs.register")
    return paths


def _output_section(toml: _Toml, round_id: str) -> tuple[Path, Path, Path]:
    """``[output]``: the output folder, the workspace database and the secrets folder
    (defaults beside the round folder); the secrets never inside the outputs."""
    output = {
        k: v
        for k, v in toml.table("output").items()
        if k not in ("dir", "database", "secrets") or toml.text("output", k, v) is not None
    }
    root, workspace = toml.root, toml.root.parent
    output_dir = (
        (root / output["dir"]).resolve() if "dir" in output else (workspace / "reports" / round_id)
    )
    database = (
        (root / output["database"]).resolve()
        if "database" in output
        else (workspace / "wuye.sqlite")
    )
    secrets = (
        (root / output["secrets"]).resolve() if "secrets" in output else (workspace / ".secrets")
    )
    if secrets == output_dir or secrets.is_relative_to(output_dir):
        toml.bad(
            "假名化密钥文件夹不能放在报告输出文件夹内（报告会对外发送）",
            "把 [output] secrets 改到输出文件夹之外，例如默认的 ../.secrets",
            "output.secrets",
        )
    return output_dir, database, secrets


def _questionnaire_section(toml: _Toml) -> tuple[Questionnaire | None, str]:
    """``[questionnaire] path``: the loaded questionnaire (``None`` when it has problems,
    which are recorded) and its path (``"default"``: the shipped one)."""
    table = toml.table("questionnaire")
    path = "default"
    if "path" in table:
        given = toml.text("questionnaire", "path", table["path"])
        if given is None:
            return None, path
        path = given if given == "default" else str((toml.root / given).resolve())
    try:
        return load_questionnaire(path), path
    except WuyeError as exc:
        toml.problems.extend(exc.problems)
        return None, path


def _rules_section(toml: _Toml) -> Rules:
    """``[rules]``: the parsed 红黑榜 rules (:func:`~evaluation.ranking.rules.parse_rules`)."""
    try:
        return parse_rules(toml.table("rules"), file=toml.where)
    except WuyeError as exc:
        toml.problems.extend(exc.problems)
        return Rules()


def _quality_section(toml: _Toml) -> QualityConfig:
    """``[quality]``: the fieldwork-quality rules, their actions and thresholds
    (:mod:`evaluation.ingest.quality.config`)."""
    return quality_from_table(toml.table("quality"), toml.problems, file=toml.where)


def _report_section(toml: _Toml) -> dict[str, Any]:
    """``[report]``: its keys (:data:`REPORT_KEYS`) checked, the table returned as is."""
    report = dict(toml.table("report"))
    for key, value in report.items():
        if key == "notebooks" and not isinstance(value, bool):
            toml.bad(
                f"[report] notebooks = {value!r} 应为 true 或 false",
                "写 notebooks = false 可跳过笔记本",
                "report.notebooks",
            )
        elif key == "notebook_estates" and not (
            isinstance(value, list) and all(isinstance(e, str) for e in value)
        ):
            toml.bad(
                f"[report] notebook_estates 的值 {value!r} 应为小区编号列表",
                '例如 notebook_estates = ["GD001", "GD002"]',
                "report.notebook_estates",
            )
        elif key == "font" and not (isinstance(value, str) and "\x00" not in value):
            toml.bad(
                f"[report] font 的值 {value!r} 应为带引号的字体名称",
                '例如 font = "Microsoft YaHei"，或删除该行使用内置字体',
                "report.font",
            )
        elif key not in REPORT_KEYS:
            toml.bad(
                f"[report] 中有未知的键 {key!r}",
                f"检查拼写或删除该行（可用：{'、'.join(REPORT_KEYS)}）",
                f"report.{key}",
            )
    return report


def _register_section(
    toml: _Toml, paths: dict[str, Any], thresholds: dict[str, float]
) -> pd.DataFrame:
    """The 台账 of ``[inputs] register``, read when ``round.toml`` has no problems."""
    if "register" not in paths or toml.problems:
        return pd.DataFrame()
    try:
        return load_register(paths["register"], thresholds, toml.problems)
    except WuyeError as exc:
        toml.problems.extend(exc.problems)
        return pd.DataFrame()


def _covered_estates(register: pd.DataFrame, kind: str, path: Path) -> pd.DataFrame:
    """The estates a round covers: quarterly rounds only the 还建社区 of the 台账."""
    if kind != "Q":
        return register
    covered = register[register["tier"] == RESETTLEMENT_TIER].reset_index(drop=True)
    if covered.empty:
        raise WuyeError(
            Problem(
                "季度轮次只评估还建社区，但台账中没有还建社区",
                "检查台账的服务等级列，或把评估期改为半年（如 2025H1）",
                file=path.name,
            )
        )
    return covered


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "整数", float: "小数", str: "带引号的文字", bool: "true/false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return "或".join(names.get(k, k.__name__) for k in kinds)


def _section(config: dict, name: str, cls: type, where: str, problems: list[Problem]) -> Any:
    """Build a config dataclass from ``[name]``, checking unknown keys and value types."""
    table = config.get(name, {})
    if not isinstance(table, dict):
        problems.append(Problem(f"[{name}] 应是一个表", f"写成 [{name}] 小节", file=where))
        return cls()
    defaults = cls()
    values = {}
    for key, value in table.items():
        if not hasattr(defaults, key):
            problems.append(
                Problem(
                    f"[{name}] 中有未知的键 {key!r}",
                    "检查拼写或删除该行",
                    file=where,
                    column=f"{name}.{key}",
                )
            )
            continue
        default = getattr(defaults, key)
        expected: tuple[type, ...]
        if isinstance(default, bool):
            expected = (bool,)
        elif isinstance(default, (int, float)) and default is not None:
            expected = (int, float)
        else:
            expected = (str, int, float)
        if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
            problems.append(
                Problem(
                    f"[{name}] {key} 的值 {value!r} 类型不对",
                    f"应为 {_kind_name(expected)}",
                    file=where,
                    column=f"{name}.{key}",
                )
            )
            continue
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            if not value.is_integer():
                problems.append(
                    Problem(
                        f"[{name}] {key} = {value} 应为整数",
                        "去掉小数部分",
                        file=where,
                        column=f"{name}.{key}",
                    )
                )
                continue
            value = int(value)
        values[key] = value
    return cls(**values)


def load_register(
    path: Path, thresholds: dict[str, float], problems: list[Problem] | None = None
) -> pd.DataFrame:
    """Read and validate the 台账; returns the contract columns plus ``threshold``.

    Problems are appended to ``problems`` (raised as one :class:`WuyeError` when not given).
    """
    own = problems is None
    problems = [] if problems is None else problems
    raw = read_table(path, what="台账")
    name = Path(path).name
    frame = rename_columns(raw, REGISTER_COLUMNS)
    rows = np.asarray(raw.attrs["source_rows"])
    missing = [c for c in REQUIRED_REGISTER if c not in frame.columns]
    if missing:
        labels = "、".join(f"{REGISTER_LABELS[c]}（{c}）" for c in missing)
        problems.append(
            Problem(
                f"台账缺少列：{labels}",
                f"在第一行加上这些列名；现有列：{'、'.join(map(str, raw.columns))}",
                file=name,
                row=1,
            )
        )
        if own:
            raise WuyeError(problems)
        return pd.DataFrame(columns=[*REQUIRED_REGISTER, "threshold"])

    keep = [c for c in frame.columns if c in set(REGISTER_COLUMNS.values())]
    frame = frame[keep].copy()
    for col in frame.columns:
        frame[col] = frame[col].astype("string").str.strip()
    start = len(problems)

    def report(mask: pd.Series, column: str, message: str, fix: str) -> None:
        for row, value in zip(rows[mask.to_numpy()], frame.loc[mask, column], strict=True):
            text = "" if pd.isna(value) else re.sub(CONTROL_CHARS, "\ufffd", str(value))
            shown = f"「{text[:40]}{'…' if len(text) > 40 else ''}」" if text else ""
            problems.append(
                Problem(
                    f"{message}{shown}",
                    fix,
                    file=name,
                    row=int(row),
                    column=REGISTER_LABELS.get(column, column),
                )
            )

    # the same NFKC form the frame and the exports are read in (full-width letters, é)
    frame["estate_id"] = frame["estate_id"].map(
        lambda t: unicodedata.normalize("NFKC", t).strip() if isinstance(t, str) else t
    )
    for col in ("estate_id", "estate_name", "community", "firm", "tier"):
        report(frame[col].isna() | (frame[col] == ""), col, "不能为空", "补上该单元格")
        # ids name files and join tables: no control characters; names may hold a line
        # break (Alt+Enter in Excel) but never NUL, which no workbook can store
        control = frame[col].str.contains(
            CONTROL_CHARS if col == "estate_id" else "\x00", regex=True, na=False
        )
        report(
            control, col, "含有控制字符（换行、制表符、NUL 等）", "删除单元格中的换行和不可见字符"
        )
    dup = frame["estate_id"].duplicated(keep="first") & frame["estate_id"].notna()
    report(dup, "estate_id", "小区编号重复", "每个小区编号只能出现一次")

    tier = frame["tier"].map(lambda t: TIER_ALIASES.get(t, t) if isinstance(t, str) else t)
    bad_tier = tier.notna() & ~tier.isin(TIERS)
    report(bad_tier, "tier", "未知的服务等级", f"只能是 {'、'.join(TIERS)}")
    frame["tier"] = tier

    households = pd.to_numeric(frame["households"], errors="coerce")
    bad = households.isna() | (households < 1) | (households != np.floor(households))
    report(bad, "households", "户数应为正整数", "填写该小区的总户数，如 560")
    frame["households"] = households.fillna(0).astype("int64")

    for col in OPTIONAL_NUMERIC:
        if col in frame.columns:
            values = pd.to_numeric(frame[col], errors="coerce")
            bad = frame[col].notna() & (values.isna() | (values < 0))
            report(bad, col, "应为非负数", "填写数字或留空")
            frame[col] = values
    for col in OPTIONAL_BOOL:
        if col in frame.columns:
            text = frame[col].fillna("").str.lower()
            bad = ~text.isin(TRUE_WORDS | FALSE_WORDS)
            report(bad, col, "应为 是/否", "填写 是 或 否")
            frame[col] = text.isin(TRUE_WORDS)

    if own and len(problems) > start:
        raise WuyeError(problems)
    frame["threshold"] = frame["tier"].map(thresholds).astype(float)
    for col in ("estate_id", "estate_name", "community", "firm", "tier"):
        frame[col] = frame[col].astype(str)
    return frame.reset_index(drop=True)
