"""The 红黑榜 rules: ``[rules]`` in ``round.toml``, parsed and validated with documented defaults.

Every key is optional; an empty ``[rules]`` gives the defaults below. Example::

    [rules]
    tie_break = ["composite", "margin_low", "n"] # 名次并列时依次比较（均为越大越好，投诉越少越好；
                                                 # margin_low = 满意率下限 − 达标线）
    escalation_count = 2        # 连续 2 轮黑榜 → 退出预警
    commendation_count = 2      # 连续 2 轮红榜 → 推荐表彰

    allow_nonprobability = false  # 无抽样记录且未写 [sampling] design 的小区（非概率样本）可否上榜

    [rules.weights]             # 综合得分 = Σ 权重 × 分项得分（0–100）/ Σ 权重（缺项的权重不计）
    compliance = 0.8            # 相对达标线的满意率：50 + 50·h/compliance_scale，截在 0–100，
                                # h = 2·arcsin√p̂ − 2·arcsin√T（Cohen h，方差稳定，各等级可比）
    index = 0.0                 # 满意度指数（0–100；不相对达标线，默认不计）
    verdict = 0.0               # 判定：达标 100、临界 50、未达标 0
    credit = 0.1                # 企业信用积分（台账 credit_score，0–100）
    complaints = 0.1            # 每百户投诉：0 件 100 分，≥ complaints_cap 件 0 分，线性
    inspection = 0.0            # 检查考评得分（inspection_column 所指的台账列，0–100）
    compliance_scale = 1.0      # h = ±compliance_scale 记 100 / 0 分
    complaints_cap = 10.0
    inspection_column = "inspection_score"

    [rules.eligibility]         # 不满足者不参与排名、不上榜（理由中写明）；评分的提示用同一标准
    min_n = 30                  # 有效样本下限（评分提示「样本量不足」用同一个数）
    min_response_rate = 0.5     # AAPOR RR1 应答率下限，缺失时不检查
    nr_odds_ratio = 8.0         # 满意/不满意住户应答几率相差不超过该倍数即可改变判定 → 应答偏差敏感；
                                # 高于/低于达标线的检验也按该范围内最不利的情形计算

    [rules.red]                 # 红榜：判定属于 verdicts、高于达标线的检验 q ≤ fdr，
                                # 名次在前 top_k 名或前 top_share 之内，且进入该范围的
                                # 概率 p_top ≥ 50%（多半确在前列）
    verdicts = ["达标"]
    fdr = 0.05                  # 全轮错误发现率（Benjamini–Hochberg）
    top_k = 0                   # 0 = 不按名次数
    top_share = 0.10            # 0 = 不按比例；名次 ≤ ceil(top_share × 参评数)
    mode = "either"             # either：满足其一；both：两者都满足

    [rules.black]               # 黑榜：满足任一条即上榜
    verdicts = ["未达标"]         # 且低于达标线的检验 q ≤ fdr
    fdr = 0.05
    bottom_k = 0                # 判定属于 bottom_among 的小区中综合得分最低的 bottom_k 个（名次区间须支持）
    bottom_among = ["临界", "未达标"]
    credit_grades = ["C"]       # 信用等级（烟台/山东：AAA ≥ 85，AA ≥ 80，A ≥ 70，B ≥ 60，C < 60）

    [rules.credit_bands]        # 可改：等级 = 下限（含），从高到低
    AAA = 85
    AA = 80
    A = 70
    B = 60
    C = 0

    [rules.firms]               # 企业层面（以各小区为层的分层估计，按户数加权）
    min_estates = 1             # 参评小区少于该数的企业不上榜
    red_top_share = 0.2
    red_top_k = 0
    red_requires_no_black = true   # 旗下有黑榜小区的企业不能上红榜
    black_verdicts = ["未达标"]     # 企业加权满意率判定（且 q ≤ [rules.black] fdr）
    black_estate_share = 0.5       # 旗下因测评结果（q 通过）上黑榜的小区户数占比 ≥ 该值 → 企业黑榜；0 = 不用
    credit_grades = ["C"]

Bands follow 《烟台市物业服务企业信用信息管理办法》(烟建住房〔2022〕13号) and the Shandong
scheme. Unknown keys, wrong types and negative weights raise :class:`WuyeError` naming the key.
The statistics behind ``compliance``, ``fdr``, the rank intervals and ``nr_odds_ratio``
are documented in :mod:`evaluation.ranking.composite`, :mod:`evaluation.scoring.pvalues`,
:mod:`evaluation.ranking.uncertainty` and :mod:`evaluation.scoring.nonresponse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wuye_common.domains import COUNT, SCORE, Domain
from wuye_common.errors import Problem, WuyeError, shown
from wuye_common.vocabulary import FDR, MIN_N, MIN_RESPONSE_RATE, NR_ODDS_RATIO

VERDICTS: tuple[str, ...] = ("达标", "临界", "未达标")
VERDICT_POINTS: dict[str, float] = {"达标": 100.0, "临界": 50.0, "未达标": 0.0}

#: tie-break keys → (column, ascending, Chinese label)
TIE_KEYS: dict[str, tuple[bool, str]] = {
    "composite": (False, "综合得分"),
    "index": (False, "满意度指数"),
    "rate": (False, "满意率"),
    "rate_low": (False, "满意率下限"),
    "margin_low": (False, "满意率下限超出达标线"),
    "credit_score": (False, "信用积分"),
    "complaints_per_100": (True, "每百户投诉"),
    "n": (False, "样本量"),
    "households": (False, "户数"),
    "response_rate": (False, "应答率"),
}
DEFAULT_BANDS: dict[str, float] = {"AAA": 85.0, "AA": 80.0, "A": 70.0, "B": 60.0, "C": 0.0}


@dataclass(frozen=True)
class Weights:
    """Composite weights; each component is on a 0–100 scale (see module docstring)."""

    compliance: float = 0.8
    index: float = 0.0
    verdict: float = 0.0
    credit: float = 0.1
    complaints: float = 0.1
    inspection: float = 0.0
    compliance_scale: float = 1.0
    complaints_cap: float = 10.0
    inspection_column: str = "inspection_score"


@dataclass(frozen=True)
class Eligibility:
    """Who takes part in the ranking (the same minimum scoring's flags use)."""

    min_n: int = MIN_N
    min_response_rate: float = MIN_RESPONSE_RATE
    nr_odds_ratio: float = NR_ODDS_RATIO


@dataclass(frozen=True)
class RedRule:
    """Red list: verdict in ``verdicts``, q ≤ ``fdr`` for H0: rate < T, and the point rank
    inside the top ``top_k`` and/or ``top_share`` with a chance of that cut (``p_top``) of
    at least :data:`~evaluation.ranking.listing.P_TOP_MIN`."""

    verdicts: tuple[str, ...] = ("达标",)
    fdr: float = FDR
    top_k: int = 0
    top_share: float = 0.10
    mode: str = "either"


@dataclass(frozen=True)
class BlackRule:
    """Black list: any of verdict (with q ≤ ``fdr`` for H0: rate ≥ T), bottom k among
    ``bottom_among`` (supported by the rank interval), credit grade."""

    verdicts: tuple[str, ...] = ("未达标",)
    fdr: float = FDR
    bottom_k: int = 0
    bottom_among: tuple[str, ...] = ("临界", "未达标")
    credit_grades: tuple[str, ...] = ("C",)


@dataclass(frozen=True)
class FirmRule:
    """Firm-level lists (estates rolled up by households)."""

    min_estates: int = 1
    red_top_share: float = 0.2
    red_top_k: int = 0
    red_requires_no_black: bool = True
    black_verdicts: tuple[str, ...] = ("未达标",)
    black_estate_share: float = 0.5
    credit_grades: tuple[str, ...] = ("C",)


@dataclass(frozen=True)
class Rules:
    """Validated ranking rules of a round."""

    weights: Weights = field(default_factory=Weights)
    eligibility: Eligibility = field(default_factory=Eligibility)
    red: RedRule = field(default_factory=RedRule)
    black: BlackRule = field(default_factory=BlackRule)
    firms: FirmRule = field(default_factory=FirmRule)
    credit_bands: tuple[tuple[str, float], ...] = tuple(DEFAULT_BANDS.items())
    tie_break: tuple[str, ...] = ("composite", "margin_low", "n")
    escalation_count: int = 2
    commendation_count: int = 2
    allow_nonprobability: bool = False


def parse_rules(raw: dict[str, Any] | Rules | None, *, file: str = "round.toml") -> Rules:
    """Parse ``[rules]`` (a dict from TOML) into :class:`Rules`; report every problem at once.

    Parsed :class:`Rules` (e.g. a loaded round's ``rules``) are returned as they are."""
    if isinstance(raw, Rules):
        return raw
    raw = dict(raw or {})
    problems: list[Problem] = []

    def bad(key: str, message: str, fix: str) -> None:
        problems.append(Problem(message, fix, file=file, column=f"rules.{key}"))

    sections = {
        "weights": Weights,
        "eligibility": Eligibility,
        "red": RedRule,
        "black": BlackRule,
        "firms": FirmRule,
    }
    parsed: dict[str, Any] = {}
    for name, cls in sections.items():
        table = raw.pop(name, {})
        if not isinstance(table, dict):
            bad(name, f"[rules.{name}] 应是一个表", f"写成 [rules.{name}] 小节")
            table = {}
        parsed[name] = _section(name, table, cls, bad)

    bands = _credit_bands(raw.pop("credit_bands", None), bad)
    tie_break = _tie_break(raw.pop("tie_break", list(Rules.tie_break)), bad)
    counts = {}
    for key in ("escalation_count", "commendation_count"):
        value = raw.pop(key, getattr(Rules, key))
        if not isinstance(value, int) or not Domain(1, 100, integer=True).contains(value):
            bad(key, f"{key} = {shown(value)} 应为 1 至 100 的整数", "例如 2")
            value = getattr(Rules, key)
        counts[key] = value
    allow = raw.pop("allow_nonprobability", False)
    if not isinstance(allow, bool):
        bad(
            "allow_nonprobability",
            f"allow_nonprobability = {allow!r} 应为 true 或 false",
            "写 true 或 false",
        )
        allow = False

    for key in raw:
        bad(key, f"[rules] 中有未知的键 {key!r}", "检查拼写或删除该行")
    _check_vocabulary(parsed, bands, bad)
    _check_ranges(parsed, bad)
    if problems:
        raise WuyeError(problems)
    return Rules(
        credit_bands=bands,
        tie_break=tie_break,
        allow_nonprobability=allow,
        **parsed,
        **counts,
    )


def _credit_bands(bands_raw: Any, bad: Any) -> tuple[tuple[str, float], ...]:
    """``[rules.credit_bands]`` (grade = lower bound), highest bound first; the default
    bands when absent."""
    bands = tuple(DEFAULT_BANDS.items())
    if bands_raw is None:
        return bands
    if not isinstance(bands_raw, dict) or not bands_raw:
        bad("credit_bands", "[rules.credit_bands] 应是 等级 = 下限 的表", "例如 AAA = 85")
        return bands
    items = []
    for grade, low in bands_raw.items():
        if not SCORE.contains(low):
            bad(
                f"credit_bands.{grade}",
                f"信用等级 {grade} 的下限 {shown(low)} 应为 {SCORE.describe()}",
                "例如 AAA = 85",
            )
        else:
            items.append((str(grade), float(low)))
    return tuple(sorted(items, key=lambda kv: -kv[1]))


def _tie_break(tie_break: Any, bad: Any) -> tuple[str, ...]:
    """``tie_break``: known keys of :data:`TIE_KEYS` (unknown ones reported and dropped)."""
    if isinstance(tie_break, str):
        tie_break = [tie_break]
    if not isinstance(tie_break, list) or not tie_break:
        bad(
            "tie_break",
            f"tie_break = {tie_break!r} 应是列表",
            '例如 ["composite", "margin_low", "n"]',
        )
        tie_break = list(Rules.tie_break)
    unknown = [k for k in tie_break if not isinstance(k, str) or k not in TIE_KEYS]
    if unknown:
        bad(
            "tie_break",
            f"tie_break 中有未知的比较项 {'、'.join(shown(k) for k in unknown)}",
            f"只能用 {'、'.join(TIE_KEYS)}",
        )
        tie_break = [k for k in tie_break if k not in unknown] or list(Rules.tie_break)
    return tuple(tie_break)


def _check_vocabulary(
    parsed: dict[str, Any], bands: tuple[tuple[str, float], ...], bad: Any
) -> None:
    """Verdicts and credit grades named in the rules exist; ``red.mode`` is known."""
    for name in ("red", "black"):
        rule = parsed[name]
        for verdict in rule.verdicts:
            if verdict not in VERDICTS:
                bad(f"{name}.verdicts", f"未知的判定 {verdict!r}", f"只能是 {'、'.join(VERDICTS)}")
    for verdict in (*parsed["black"].bottom_among, *parsed["firms"].black_verdicts):
        if verdict not in VERDICTS:
            bad("black", f"未知的判定 {verdict!r}", f"只能是 {'、'.join(VERDICTS)}")
    grades = {g for g, _ in bands}
    for grade in (*parsed["black"].credit_grades, *parsed["firms"].credit_grades):
        if grade not in grades:
            bad("black.credit_grades", f"未知的信用等级 {grade!r}", f"只能是 {'、'.join(grades)}")
    if parsed["red"].mode not in ("either", "both"):
        bad("red.mode", f"mode = {parsed['red'].mode!r} 无效", '写 "either"（满足其一）或 "both"')


def _check_ranges(parsed: dict[str, Any], bad: Any) -> None:
    """Shares between 0 and 1; some positive weight; a positive complaints cap."""
    for name, attr in (
        ("red", "top_share"),
        ("firms", "red_top_share"),
        ("firms", "black_estate_share"),
        ("eligibility", "min_response_rate"),
    ):
        value = getattr(parsed[name], attr)
        if not 0 <= value <= 1:
            bad(f"{name}.{attr}", f"{attr} = {value} 应在 0 与 1 之间", "例如 0.1 表示 10%")
    for name in ("red", "black"):
        if not 0 < parsed[name].fdr <= 1:
            bad(
                f"{name}.fdr",
                f"fdr = {parsed[name].fdr} 应大于 0、不超过 1",
                "例如 0.05（错误发现率 5%）",
            )
    if parsed["eligibility"].nr_odds_ratio < 1:
        bad(
            "eligibility.nr_odds_ratio",
            f"nr_odds_ratio = {parsed['eligibility'].nr_odds_ratio} 应不小于 1",
            "例如 8（应答几率相差 8 倍以内视为可能）；1 = 不考虑",
        )
    w = parsed["weights"]
    if w.compliance + w.index + w.verdict + w.credit + w.complaints + w.inspection <= 0:
        bad("weights", "综合得分的权重之和为 0", "至少给一个分项正的权重，例如 compliance = 1")
    if w.compliance_scale <= 0:
        bad(
            "weights.compliance_scale",
            "compliance_scale 应大于 0",
            "例如 1（h = ±1 记满分 / 0 分）",
        )
    if w.complaints_cap <= 0:
        bad(
            "weights.complaints_cap",
            "complaints_cap 应大于 0",
            "例如 10（每百户 10 件投诉记 0 分）",
        )


_INVALID = object()
"""What :func:`_checked_value` returns for a value it reported."""


def _section(name: str, table: dict[str, Any], cls: type, bad: Any) -> Any:
    """Build a frozen rule dataclass from a TOML table, checking names, types and signs."""
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in table.items():
        if not hasattr(defaults, key):
            bad(f"{name}.{key}", f"[rules.{name}] 中有未知的键 {key!r}", "检查拼写或删除该行")
            continue
        checked = _checked_value(name, key, value, getattr(defaults, key), bad)
        if checked is not _INVALID:
            values[key] = checked
    return cls(**values)


def _checked_value(name: str, key: str, value: Any, default: Any, bad: Any) -> Any:
    """``value`` of ``[rules.<name>] key`` in the type of its default (a text list, a
    boolean, a non-negative integer or number, a text), or :data:`_INVALID` (reported)."""
    where = f"{name}.{key}"
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            bad(where, f"{key} = {value!r} 应是文字列表", '例如 ["未达标"]')
            return _INVALID
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            bad(where, f"{key} = {value!r} 应为 true 或 false", "写 true 或 false")
            return _INVALID
        return value
    if isinstance(default, int):
        return _count_value(where, key, value, bad)
    if isinstance(default, float):
        return _number_value(name, where, key, value, bad)
    if isinstance(default, str) and not isinstance(value, str):
        bad(where, f"{key} = {value!r} 应为带引号的文字", '例如 "either"')
        return _INVALID
    return value


def _count_value(where: str, key: str, value: Any, bad: Any) -> Any:
    """A count: an integer 0 … :data:`~wuye_common.domains.MAX_COUNT`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        bad(where, f"{key} = {shown(value)} 应为整数", "例如 2")
        return _INVALID
    if value < 0:
        bad(where, f"{key} = {shown(value)} 不能为负数", "改为 0 或正整数")
        return _INVALID
    if not COUNT.contains(value):
        bad(where, f"{key} = {shown(value)} 应为 {COUNT.describe()}", "例如 2")
        return _INVALID
    return int(value)


RULE_NUMBER = Domain(0, 1e6)
"""Weights, caps and shares of ``[rules]``: finite, non-negative, at most a million."""


def _number_value(name: str, where: str, key: str, value: Any, bad: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        bad(where, f"{key} = {shown(value)} 应为数字", "例如 0.2")
        return _INVALID
    if value < 0:
        what = "权重" if name == "weights" else "取值"
        bad(where, f"{what} {key} = {shown(value)} 不能为负数", "改为 0（不计）或正数")
        return _INVALID
    if not RULE_NUMBER.contains(value):
        bad(where, f"{key} = {shown(value)} 应为 {RULE_NUMBER.describe()}", "例如 0.2")
        return _INVALID
    return float(value)


def credit_grade(
    scores: Any, bands: tuple[tuple[str, float], ...] = tuple(DEFAULT_BANDS.items())
) -> Any:
    """Credit grade per score (vectorised): the highest band whose lower bound ≤ score.

    Bands default to Yantai/Shandong (AAA ≥ 85, AA ≥ 80, A ≥ 70, B ≥ 60, C < 60); missing
    scores give ``""``. Accepts a pandas Series and returns a Series of str.
    """
    import numpy as np
    import pandas as pd

    s = pd.to_numeric(pd.Series(scores), errors="coerce")
    ordered = sorted(bands, key=lambda kv: -kv[1])
    conditions = [s.to_numpy() >= low for _, low in ordered]
    lowest = ordered[-1][0]
    out = np.select(conditions, [g for g, _ in ordered], default=lowest)
    out = np.where(s.isna().to_numpy(), "", out)
    return pd.Series(out, index=s.index, dtype=str)
