"""The domain's fixed words, defined once: service tiers, their default thresholds, and the
label of the overall satisfaction item."""

from __future__ import annotations

#: service tiers (服务等级), from the highest to 还建社区 (resettlement estates)
TIERS: tuple[str, ...] = ("一级", "二级", "三级", "四级", "还建社区")
RESETTLEMENT_TIER = "还建社区"
#: the district plan's satisfaction thresholds per tier (configurable in ``[thresholds]``)
DEFAULT_THRESHOLDS: dict[str, float] = {
    "一级": 0.90,
    "二级": 0.80,
    "三级": 0.70,
    "四级": 0.60,
    "还建社区": 0.50,
}
#: how registers write the tiers
TIER_ALIASES: dict[str, str] = {
    "1": "一级", "一": "一级", "一级物业": "一级", "一级服务": "一级",
    "2": "二级", "二": "二级", "二级物业": "二级", "二级服务": "二级",
    "3": "三级", "三": "三级", "三级物业": "三级", "三级服务": "三级",
    "4": "四级", "四": "四级", "四级物业": "四级", "四级服务": "四级",
    "还建": "还建社区", "还建小区": "还建社区",
}  # fmt: skip
#: the dimension of the overall item (总体评价), apart from the service dimensions
OVERALL_DIMENSION = "总体评价"

#: the one eligibility minimum: fewer valid answers than this and scoring flags 样本量不足
#: and ranking leaves the estate out (``[rules.eligibility] min_n``)
MIN_N = 30
#: below this AAPOR RR1 scoring flags 应答率偏低 and ranking leaves the estate out
#: (``[rules.eligibility] min_response_rate``)
MIN_RESPONSE_RATE = 0.5
#: a decided verdict that flips if satisfied and dissatisfied households' odds of answering
#: differed by this factor or less is 应答偏差敏感, and the tests against the threshold
#: allow for it (``[rules.eligibility] nr_odds_ratio``; :mod:`evaluation.scoring.nonresponse`)
NR_ODDS_RATIO = 8.0
#: the false-discovery rate the 红黑榜 keeps (``[rules.black] fdr``, ``[rules.red] fdr``)
FDR = 0.05
