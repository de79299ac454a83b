"""The round model: ``round.toml`` plus the estate register (台账), validated on load.

A round is a folder holding ``round.toml`` and its inputs. :func:`load_round` reads and
checks everything and reports *all* problems at once, each naming the file, row, field
and a fix, as a :class:`~wuye_common.errors.WuyeError`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.ingest.quality.config import QualityConfig, quality_from_table
from evaluation.questionnaire import Questionnaire, load_questionnaire
from evaluation.ranking.rules import Rules, parse_rules
from sampling.config import EXTERNAL_DESIGNS, SIZINGS, SamplingConfig
from sampling.config import METHODS as SAMPLING_METHODS
from sampling.tables import read_table, rename_columns
from wuye_common.domains import (
    COUNT,
    HOUSEHOLDS,
    MAX_HOUSEHOLDS,
    MONEY,
    SCORE,
    SEED,
    SHARE,
    Domain,
    number_values,
    share_values,
)
from wuye_common.errors import Problem, WuyeError, shown
from wuye_common.scrub import personal_data_kinds, scrub_text, scrub_values, scrubbed_logger
from wuye_common.sheets import DEFAULT_MAX_CELLS, DEFAULT_MAX_ROWS, path_kind, require_file
from wuye_common.vocabulary import DEFAULT_THRESHOLDS, RESETTLEMENT_TIER, TIER_ALIASES, TIERS

CONTROL_CHARS = r"[\x00-\x1f\x7f]"
log = scrubbed_logger("wuye.round")
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
OPTIONAL_BOOL = ("red_property", "professional", "committee")
TRUE_WORDS = {"是", "有", "已", "已成立", "y", "yes", "true", "1", "√", "✓"}
FALSE_WORDS = {"否", "无", "未", "未成立", "n", "no", "false", "0", "×", ""}


SCORING_KEYS = ("small_area",)
"""Keys of ``[scoring]``: ``small_area`` (bool, default false): judge each estate on its
small-area (Fay–Herriot) interval instead of the direct one."""

REPORT_KEYS = ("notebooks", "notebook_estates", "font")
#: keys of ``[output]``
OUTPUT_KEYS = ("dir", "database", "secrets", "executor", "scheduler")
#: where the per-file ingest and the report fan-out run (``[output] executor``)
EXECUTORS = ("local", "dask")
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
    max_rows: int = DEFAULT_MAX_ROWS
    """Ceiling of non-blank rows per export and of the household frame
    (:class:`wuye_common.sheets.Limits`)."""
    max_cells: int = DEFAULT_MAX_CELLS
    """Ceiling of cells (rows × columns holding data) per export and of the frame."""


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
    scoring: dict[str, Any] = field(default_factory=dict)
    interval_method: str = "exact"
    questionnaire_path: str = "default"
    all_estate_ids: tuple[str, ...] = ()
    executor: str = "local"
    """``[output] executor``: ``local`` (this machine) or ``dask`` (a Dask distributed
    cluster at ``scheduler``)."""
    scheduler: str | None = None
    """``[output] scheduler``: the Dask scheduler's address (``tcp://host:8786``)."""

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
    sampling = _sampling_section(toml, thresholds, fields["confidence"])
    ingest = _ingest_section(toml)
    paths = _inputs_section(toml)
    output = _output_section(toml, fields["round_id"])
    questionnaire, questionnaire_path = _questionnaire_section(toml)
    rules = _rules_section(toml)
    report = _report_section(toml)
    quality = _quality_section(toml)
    scoring = _scoring_section(toml)
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
        output_dir=output.dir,
        database=output.database,
        secret_path=output.secrets / f"{fields['round_id']}.key",
        executor=output.executor,
        scheduler=output.scheduler,
        rules=rules,
        report=report,
        quality=quality,
        scoring=scoring,
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
    toml_path = path / "round.toml" if path_kind(path) == "dir" else path
    root = toml_path.parent.resolve()
    require_file(toml_path, "round.toml ", "在评估轮次文件夹中创建 round.toml（见 README）")
    config = read_toml_file(toml_path, "round.toml", "按 TOML 语法修正（字符串加引号，键值用 =）")
    return _Toml(config, root, toml_path.name)


def read_toml_file(path: Path, what: str, fix: str) -> dict[str, Any]:
    """A TOML file parsed; a located :class:`WuyeError` for bad syntax or encoding, an
    unreadable file, or nesting too deep to parse (``[[[[…`` thousands deep)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WuyeError(
            Problem(f"无法读取{what}：{exc.strerror or exc}", "检查文件权限", file=str(path))
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "嵌套层数过多" if isinstance(exc, RecursionError) else str(exc)
        raise WuyeError(Problem(f"{what} 格式错误：{reason}", fix, file=path.name)) from exc


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
    if (
        not re.fullmatch(r"[\w\-.]{1,64}", round_id or "")
        or round_id in {".", ".."}
        or personal_data_kinds(round_id)
    ):
        toml.bad(
            f"轮次编号 id = {shown(round_id)} 不能作为文件夹名",
            "只用字母、数字、下划线、连字符，最多 64 个字符，不含电话等个人信息",
            "round.id",
        )
    seed = toml.get("round", "seed", 20240906, int)
    if not SEED.contains(seed):
        toml.bad(
            f"随机种子 seed = {shown(seed)} 应为 {SEED.describe()}",
            "例如 seed = 20260101",
            "round.seed",
        )
        seed = 20240906
    confidence = toml.get("round", "confidence", 0.95, (int, float))
    if not Domain(0, 1).contains(confidence) or confidence in (0, 1):
        toml.bad(
            f"置信水平 confidence = {shown(confidence)} 应在 0 与 1 之间",
            "通常写 0.95",
            "round.confidence",
        )
        confidence = 0.95
    interval_method = toml.get("round", "interval_method", "exact", str)
    if interval_method not in ("exact", *METHODS):
        toml.bad(
            f"区间方法 interval_method = {interval_method!r} 未知",
            f"可选：exact（默认：全小区简单随机抽样的小区用精确区间，其余用 beta）、"
            f"{'、'.join(METHODS)}",
            "round.interval_method",
        )
    return {
        "district": scrub_text(district),  # names the workbook and every report
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
        "scoring",
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


def _report_invalid(toml: _Toml, sampling: SamplingConfig, checks: tuple) -> None:
    """One located problem per ``(key, ok, fix)`` check of ``[sampling]`` that failed."""
    for key, ok, fix in checks:
        if not ok:
            toml.bad(
                f"[sampling] {key} = {shown(getattr(sampling, key))} 无效",
                f"应为 {fix}",
                f"sampling.{key}",
            )


def _sampling_section(
    toml: _Toml, thresholds: dict[str, float], confidence: float
) -> SamplingConfig:
    """``[sampling]``: :class:`SamplingConfig`, each value in its range (the power keys
    against the thresholds and the confidence level)."""
    sampling = _section(toml.config, "sampling", SamplingConfig, toml.where, toml.problems)
    _power_keys(toml, sampling, thresholds, confidence)
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
        (
            "minimum",
            HOUSEHOLDS.contains(sampling.minimum),
            f"1 至 {MAX_HOUSEHOLDS} 的整数，通常 30",
        ),
        (
            "maximum",
            sampling.maximum is None
            or (
                HOUSEHOLDS.contains(sampling.maximum)
                and isinstance(sampling.maximum, int)
                and sampling.maximum >= sampling.minimum
            ),
            f"不小于 minimum、不大于 {MAX_HOUSEHOLDS} 的整数，或删除该行",
        ),
        (
            "deff",
            Domain(0, 100).contains(sampling.deff) and sampling.deff > 0,
            "0 至 100 的正数，通常 1.0",
        ),
        ("reserve_ratio", Domain(0, 10).contains(sampling.reserve_ratio), "0 至 10 的数，例如 0.5"),
    )
    _report_invalid(toml, sampling, checks)
    if sampling.design is not None and sampling.design not in EXTERNAL_DESIGNS:
        toml.bad(
            f"[sampling] design = {sampling.design!r} 未知",
            f"写外部抽样设计 {'、'.join(map(repr, EXTERNAL_DESIGNS))}，或删除该行"
            "（删除后无抽样记录的答卷按非概率样本处理）",
            "sampling.design",
        )
    if sampling.method not in SAMPLING_METHODS:
        toml.bad(
            f"抽样方法 method = {sampling.method!r} 未知",
            '写 "simple"（全小区简单随机，默认）、"srs"（按楼栋分层）或 "systematic"（等距）',
            "sampling.method",
        )
    return sampling


def _power_keys(
    toml: _Toml, sampling: SamplingConfig, thresholds: dict[str, float], confidence: float
) -> None:
    """``sizing``, ``delta``, ``power``, ``budget``, ``waves``, ``first_share``."""
    lowest = min(thresholds.values(), default=1.0)
    half = (1 - confidence) / 2 if 0 < confidence < 1 else 0.025
    budget = sampling.budget
    checks = (
        ("sizing", sampling.sizing in SIZINGS, '"power"（按检验功效，默认）或 "margin"（按误差）'),
        (
            "delta",
            isinstance(sampling.delta, (int, float)) and 0 < sampling.delta < lowest,
            f"大于 0 且小于最低的达标线 {lowest:g} 的小数，例如 0.05（5 个百分点）",
        ),
        (
            "power",
            isinstance(sampling.power, (int, float)) and half < sampling.power < 1,
            f"大于单侧误差 {half:g} 且小于 1 的小数，例如 0.8",
        ),
        (
            "budget",
            budget is None
            or (isinstance(budget, int) and Domain(1, 10**9, integer=True).contains(budget)),
            "1 至 1000000000 的整数（全部小区合计入户数），或删除该行",
        ),
        ("waves", sampling.waves in (1, 2), "1（一轮）或 2（首轮后对临界小区补充调查）"),
        (
            "first_share",
            isinstance(sampling.first_share, (int, float)) and 0 < sampling.first_share < 1,
            "0 与 1 之间的小数，例如 0.6（首轮入户数占一轮方案的六成）",
        ),
        (
            "topup_share",
            isinstance(sampling.topup_share, (int, float)) and 0 < sampling.topup_share <= 2,
            "大于 0、不超过 2 的小数，例如 0.8（补充调查入户数占一轮方案的八成）",
        ),
    )
    _report_invalid(toml, sampling, checks)
    if sampling.waves == 2 and sampling.method != "simple":
        toml.bad(
            "两轮设计（waves = 2）的序贯判定只对全小区简单随机抽样精确成立",
            '在 [sampling] 中写 method = "simple"，或改回 waves = 1',
            "sampling.waves",
        )


def _ingest_section(toml: _Toml) -> IngestConfig:
    """``[ingest]``: :class:`IngestConfig`, each value in its range."""
    ingest = _section(toml.config, "ingest", IngestConfig, toml.where, toml.problems)
    checks = (
        ("min_duration_s", Domain(0, 86_400), "填写秒数，如 60"),
        ("match_cutoff", Domain(0, 100), "通常写 90"),
        ("max_rows", Domain(1, 10**8, integer=True), f"默认 {DEFAULT_MAX_ROWS}"),
        ("max_cells", Domain(1, 10**10, integer=True), f"默认 {DEFAULT_MAX_CELLS}"),
    )
    for key, domain, fix in checks:
        value = getattr(ingest, key)
        if not domain.contains(value):
            toml.bad(
                f"[ingest] {key} = {shown(value)} 应为 {domain.describe()}", fix, f"ingest.{key}"
            )
    return ingest


def _inputs_section(toml: _Toml) -> dict[str, Any]:
    """``[inputs]``: the 台账, frame and firm register resolved against the round folder,
    and the globs (as text) of the exports (``responses``) and of the filled field sheets
    (``visits``: the recorded visit outcomes, read back for the dispositions)."""
    inputs = toml.table("inputs")
    paths: dict[str, Any] = {}
    for key in ("register", "frame", "firms"):
        if key in inputs and (value := toml.text("inputs", key, inputs[key])) is not None:
            paths[key] = (toml.root / value).resolve()
    for key, example in (("responses", "fieldwork/*.xlsx"), ("visits", "fieldwork/入户表/*.xlsx")):
        globs = inputs.get(key, [])
        globs = [globs] if isinstance(globs, str) else globs
        if not isinstance(globs, list):
            toml.bad(
                f"[inputs] {key} 的值 {globs!r} 应为路径或路径列表",
                f'例如 {key} = ["{example}"]',
                f"inputs.{key}",
            )
            globs = []
        globs = [r for r in globs if toml.text("inputs", key, r) is not None]
        paths[key] = [str(toml.root / r) for r in globs]
    if "register" not in paths:
        toml.bad("缺少台账路径 [inputs] register", '例如 register = "台账.xlsx"', "inputs.register")
    return paths


@dataclass(frozen=True)
class _Output:
    """The ``[output]`` section read: folders, database, and where fan-out work runs."""

    dir: Path
    database: Path
    secrets: Path
    executor: str = "local"
    scheduler: str | None = None


def _output_section(toml: _Toml, round_id: str) -> _Output:
    """``[output]``: the output folder, the workspace database and the secrets folder
    (defaults beside the round folder; the secrets never inside the outputs), and the
    executor of the per-file ingest and the report fan-out (``executor = "dask"`` needs
    ``scheduler``, the address of a Dask scheduler)."""
    table = toml.table("output")
    output = {
        k: v
        for k, v in table.items()
        if k in ("dir", "database", "secrets") and toml.text("output", k, v) is not None
    }
    for key in table:
        if key not in OUTPUT_KEYS:
            toml.bad(
                f"[output] 中有未知的键 {key!r}",
                f"检查拼写或删除该行（可用：{'、'.join(OUTPUT_KEYS)}）",
                f"output.{key}",
            )
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
    for key, path, want in (
        ("dir", output_dir, ("dir", "missing")),
        ("secrets", secrets, ("dir", "missing")),
        ("database", database, ("file", "missing")),
    ):
        kind = path_kind(path)
        if kind not in want:
            what = "文件夹" if want[0] == "dir" else "数据库文件"
            toml.bad(
                f"[output] {key} 应是{what}，但该路径{_KIND_WORDS.get(kind, '无法使用')}",
                f"把 [output] {key} 改为可用的{what}路径，或移走该路径上的东西",
                f"output.{key}",
            )
    executor, scheduler = _executor_keys(toml, table)
    return _Output(output_dir, database, secrets, executor, scheduler)


def _executor_keys(toml: _Toml, table: dict[str, Any]) -> tuple[str, str | None]:
    """``[output] executor`` (``local``/``dask``) and ``scheduler`` (the Dask scheduler's
    address, required with ``dask``; ``local`` ignores it)."""
    executor = table.get("executor", "local")
    if executor not in EXECUTORS:
        toml.bad(
            f"[output] executor = {executor!r} 未知",
            '写 executor = "local"（本机）或 executor = "dask"（Dask 集群，同时写 scheduler）',
            "output.executor",
        )
        executor = "local"
    scheduler = table.get("scheduler")
    if scheduler is not None and not (
        isinstance(scheduler, str) and scheduler.strip() and "\x00" not in scheduler
    ):
        toml.bad(
            f"[output] scheduler 的值 {scheduler!r} 应为带引号的调度器地址",
            '例如 scheduler = "tcp://10.0.0.5:8786"',
            "output.scheduler",
        )
        scheduler = None
    if executor == "dask" and scheduler is None:
        toml.bad(
            '[output] executor = "dask" 需要 Dask 调度器地址 scheduler',
            '加上 scheduler = "tcp://调度器主机:8786"（dask scheduler 启动时打印的地址）',
            "output.scheduler",
        )
    return executor, (scheduler.strip() if isinstance(scheduler, str) else None)


_KIND_WORDS = {
    "file": "是一个文件",
    "dir": "是一个文件夹",
    "other": "是设备或管道",
    "unusable": "无法使用（名称过长、含非法字符或无权访问）",
}


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


def _scoring_section(toml: _Toml) -> dict[str, Any]:
    """``[scoring]``: its keys (:data:`SCORING_KEYS`) checked, the table returned as is."""
    scoring = dict(toml.table("scoring"))
    for key, value in scoring.items():
        if key == "small_area" and not isinstance(value, bool):
            toml.bad(
                f"[scoring] small_area = {value!r} 应为 true 或 false",
                "写 small_area = true 按小区域估计的区间判定，默认 false（按直接估计）",
                "scoring.small_area",
            )
        elif key not in SCORING_KEYS:
            toml.bad(
                f"[scoring] 中有未知的键 {key!r}",
                f"检查拼写或删除该行（可用：{'、'.join(SCORING_KEYS)}）",
                f"scoring.{key}",
            )
    return scoring


COVER_KEYS = {
    "client": "委托单位",
    "agency": "测评机构",
    "report_number": "报告编号",
    "survey_period": "调查时间",
    "basis": "依据文件",
}
"""``[report]`` keys printed on the district report's cover (key → the cover's label);
``basis`` may be one text or a list of texts (the plan, the 考评办法)."""
COVER_MAX = 200  # characters of one cover text


def _report_section(toml: _Toml) -> dict[str, Any]:
    """``[report]``: its keys (:data:`REPORT_KEYS`) checked; cover texts scrubbed of
    personal data (``basis`` always a list)."""
    report = dict(toml.table("report"))
    for key, value in report.items():
        if key in COVER_KEYS:
            report[key] = _cover_value(toml, key, value)
        elif key not in REPORT_KEYS:
            toml.bad(
                f"[report] 中有未知的键 {key!r}",
                f"检查拼写或删除该行（可用：{'、'.join((*REPORT_KEYS, *COVER_KEYS))}）",
                f"report.{key}",
            )
        else:
            _report_option(toml, key, value)
    return report


def _report_option(toml: _Toml, key: str, value: Any) -> None:
    """One of ``notebooks``, ``notebook_estates``, ``font`` checked."""
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


def _cover_value(toml: _Toml, key: str, value: Any) -> Any:
    """A cover text (``basis``: a list of texts), scrubbed; a problem for anything else."""
    texts = value if key == "basis" and isinstance(value, list) else [value]
    ok = all(
        isinstance(t, str) and "\x00" not in t and 0 < len(t.strip()) <= COVER_MAX for t in texts
    )
    if not ok or not texts:
        example = '["《……满意度测评工作方案》", "《……考评办法》"]' if key == "basis" else '"……"'
        toml.bad(
            f"[report] {key}（{COVER_KEYS[key]}）的值 {shown(value)} 应为不超过 {COVER_MAX} 字的文字",
            f"例如 {key} = {example}，或删除该行",
            f"report.{key}",
        )
        return [] if key == "basis" else ""
    cleaned = [scrub_text(t.strip()) for t in texts]
    return cleaned if key == "basis" else cleaned[0]


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

    Every cell is checked against its column's domain (:mod:`wuye_common.domains`): ids
    and names present and free of control characters, ids unique and free of personal
    data, a known tier, 户数 an integer 1 … 200,000, counts, scores, shares and money in
    their ranges. Free-text names (小区名称, 所属社区, 物业企业) are scrubbed of personal
    data. Problems are appended to ``problems`` (raised as one :class:`WuyeError` when not
    given); two columns mapping to one field are refused at once.
    """
    own = problems is None
    problems = [] if problems is None else problems
    frame, cells = _register_cells(path, problems)
    if frame is None:
        if own:
            raise WuyeError(problems)
        return pd.DataFrame(columns=[*REQUIRED_REGISTER, "threshold"])
    start = len(problems)
    _check_register_text(frame, cells)
    frame["tier"] = _register_tiers(frame, cells)
    frame["households"] = _register_numbers(frame, "households", HOUSEHOLDS, cells)
    for col, domain in OPTIONAL_DOMAINS.items():
        if col in frame.columns:
            frame[col] = _register_numbers(frame, col, domain, cells)
    if "committee_party_share" in frame.columns:
        frame["committee_party_share"] = _register_shares(frame, cells)
    for col in OPTIONAL_BOOL:
        if col in frame.columns:
            frame[col] = _register_bools(frame, col, cells)
    if own and len(problems) > start:
        raise WuyeError(problems)
    frame["threshold"] = frame["tier"].map(thresholds).astype(float)
    for col in ("estate_id", "estate_name", "community", "firm", "tier"):
        frame[col] = frame[col].astype(str)
    for col in ("estate_name", "community", "firm"):  # names are printed in every report
        frame[col] = scrub_values(frame[col])
    return frame.reset_index(drop=True)


OPTIONAL_DOMAINS = {"complaints": COUNT, "credit_score": SCORE, "firm_revenue": MONEY}
"""Numeric 台账 columns and their domains (``committee_party_share``: a share, read by
:func:`_register_shares`)."""
MAX_CELL_PROBLEMS = 50
"""Problems reported per column and kind; the rest are counted in one more problem."""


@dataclass
class _Cells:
    """Problems found in the 台账's cells: the file, each row's number in it, the list the
    problems go to."""

    name: str
    rows: np.ndarray
    problems: list[Problem]

    def report(
        self,
        mask: pd.Series | np.ndarray,
        column: str,
        message: str,
        fix: str,
        values: pd.Series | None = None,
    ) -> None:
        """One located problem per row of ``mask`` (the value quoted from ``values``), the
        first :data:`MAX_CELL_PROBLEMS`, then one counting the rest."""
        hits = np.flatnonzero(np.asarray(mask, dtype=bool))
        label = REGISTER_LABELS.get(column, column)
        for i in hits[:MAX_CELL_PROBLEMS].tolist():
            value = None if values is None else values.iloc[i]
            quoted = (
                ""
                if value is None or pd.isna(value) or value == ""
                else f"，现为「{shown(value)}」"
            )
            self.problems.append(
                Problem(
                    f"{message}{quoted}", fix, file=self.name, row=int(self.rows[i]), column=label
                )
            )
        if len(hits) > MAX_CELL_PROBLEMS:
            self.problems.append(
                Problem(
                    f"另有 {len(hits) - MAX_CELL_PROBLEMS} 行同样{message}",
                    fix,
                    file=self.name,
                    column=label,
                )
            )


def _register_cells(path: Path, problems: list[Problem]) -> tuple[pd.DataFrame | None, _Cells]:
    """The 台账's contract columns as stripped text (``None`` when a required column is
    missing, which is reported), and where its rows are."""
    raw = read_table(path, what="台账")
    name = raw.attrs["file"]  # scrubbed of personal data
    rows = np.asarray(raw.attrs["source_rows"])
    cells = _Cells(name, rows, problems)
    frame = rename_columns(raw, REGISTER_COLUMNS, REGISTER_LABELS)
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
        return None, cells
    keep = [c for c in frame.columns if c in set(REGISTER_COLUMNS.values())]
    frame = frame[keep].copy()
    frame.attrs = {}
    for col in frame.columns:
        frame[col] = frame[col].astype("string").str.strip()
    # the same NFKC form the frame and the exports are read in (full-width letters, é)
    frame["estate_id"] = frame["estate_id"].str.normalize("NFKC").str.strip()
    return frame, cells


def _check_register_text(frame: pd.DataFrame, cells: _Cells) -> None:
    """Ids and names: present, no control characters (ids) or NUL (names), unique ids,
    ids without personal data (an id names files and joins tables: it is never scrubbed)."""
    for col in ("estate_id", "estate_name", "community", "firm", "tier"):
        cells.report(frame[col].isna() | (frame[col] == ""), col, "不能为空", "补上该单元格")
        # names may hold a line break (Alt+Enter in Excel) but never NUL, which no
        # workbook can store
        control = frame[col].str.contains(
            CONTROL_CHARS if col == "estate_id" else "\x00", regex=True, na=False
        )
        cells.report(
            control,
            col,
            "含有控制字符（换行、制表符、NUL 等）",
            "删除单元格中的换行和不可见字符",
            frame[col],
        )
    ids = frame["estate_id"]
    dup = ids.duplicated(keep="first") & ids.notna()
    cells.report(dup, "estate_id", "小区编号重复", "每个小区编号只能出现一次", ids)
    personal = scrub_values(ids.fillna("")) != ids.fillna("")
    cells.report(
        personal,
        "estate_id",
        "小区编号中含有个人信息（电话、证件号、门牌等）",
        "改用不含个人信息的编号，如 GD001",
        ids,
    )


def _register_tiers(frame: pd.DataFrame, cells: _Cells) -> pd.Series:
    """服务等级 as one of :data:`TIERS` (aliases mapped); others reported."""
    tier = frame["tier"].map(lambda t: TIER_ALIASES.get(t, t) if isinstance(t, str) else t)
    bad = tier.notna() & ~tier.isin(TIERS)
    cells.report(bad, "tier", "未知的服务等级", f"只能是 {'、'.join(TIERS)}", frame["tier"])
    return tier


def _register_numbers(frame: pd.DataFrame, col: str, domain: Domain, cells: _Cells) -> pd.Series:
    """A numeric column checked against ``domain`` (``households`` is required; optional
    columns may be blank, NaN); integer domains give ``int64`` when nothing is blank."""
    values = number_values(frame[col])
    blank = frame[col].isna().to_numpy() | (frame[col] == "").fillna(False).to_numpy()
    bad = ~domain.mask(values) & (~blank if col != "households" else True)
    label = REGISTER_LABELS[col]
    what = "户数应为" if col == "households" else f"{label}应为"
    fix = "填写该小区的总户数，如 560" if col == "households" else "填写数字或留空"
    cells.report(bad, col, f"{what} {domain.describe()}", fix, frame[col])
    out = np.where(domain.mask(values), values, np.nan)
    if col == "households":
        return pd.Series(np.nan_to_num(out, nan=0).astype(np.int64), index=frame.index)
    return pd.Series(out, index=frame.index, dtype=float)


def _register_shares(frame: pd.DataFrame, cells: _Cells) -> pd.Series:
    """业委会党员比例 as a share in [0, 1]: ``35%`` is a percent; bare numbers are shares
    when every one is at most 1, else the column's bare numbers are read as percents (and
    a warning says so). Out of range or unreadable: reported."""
    col = "committee_party_share"
    text = frame[col]
    blank = text.isna().to_numpy() | (text == "").fillna(False).to_numpy()
    values = share_values(text)
    bare = ~text.str.normalize("NFKC").str.strip().str.endswith("%").fillna(False).to_numpy()
    if (bare & ~blank & (values > 1)).any():
        log.warning("%s：「%s」中有大于 1 的数，按百分数读取", cells.name, REGISTER_LABELS[col])
        values = np.where(bare, values / 100.0, values)
    bad = ~blank & ~SHARE.mask(values)
    cells.report(
        bad,
        col,
        "业委会党员比例应为 0 至 1 的比例（如 0.35）或百分数（如 35%）",
        "填写比例或留空",
        text,
    )
    return pd.Series(np.where(SHARE.mask(values), values, np.nan), index=frame.index)


def _register_bools(frame: pd.DataFrame, col: str, cells: _Cells) -> pd.Series:
    """A 是/否 column as booleans (blank: 否); other words reported."""
    text = frame[col].fillna("").str.lower()
    bad = ~text.isin(TRUE_WORDS | FALSE_WORDS)
    cells.report(bad, col, "应为 是/否", "填写 是 或 否", frame[col])
    return text.isin(TRUE_WORDS)
