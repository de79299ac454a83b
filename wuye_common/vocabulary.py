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
