"""Ranking stage: the 红黑榜 rules, the estate and firm lists with reasons, changes between
rounds, escalation over rounds (退出预警) and the district plan's indicators.

Imports: the scoring stage's outputs (as DataFrames), the round model, the history reader
and ``wuye_common``.
"""

from wuye_common.lazy import lazy_exports

_WHERE = {
    "Rules": "evaluation.ranking.rules",
    "parse_rules": "evaluation.ranking.rules",
    "Ranking": "evaluation.ranking.lists",
    "rank_round": "evaluation.ranking.lists",
    "firm_rollup": "evaluation.ranking.firms",
    "compare_rounds": "evaluation.ranking.change",
    "compare_firms": "evaluation.ranking.change",
    "district_indicators": "evaluation.ranking.indicators",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
