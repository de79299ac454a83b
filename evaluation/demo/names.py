"""Name lists for the demo district (estates, 社区, firms, comments); fictitious but realistic."""

from __future__ import annotations

DISTRICT = "葛店经开区"

# Hand-picked names used first (in this order), then generated combinations.
ESTATE_NAMES: tuple[str, ...] = (
    "葛店花园", "融创城", "华中家园", "东湖春晓", "星光苑", "凤凰城", "锦绣华府", "滨湖名都",
    "阳光雅居", "金地城A区", "翠湖苑", "光谷新城", "碧水蓝天", "长江国际", "紫荆花园",
    "御景湾", "桂花园", "新港佳园", "楚天名居", "和谐家园", "香樟苑", "丽岛公馆", "康居小区",
    "梧桐郡", "湖畔花城", "盛世华庭", "幸福里", "书香门第", "枫林晚", "江南春城", "聚贤苑",
    "悦湖湾3期",
)
RESETTLEMENT_NAMES: tuple[str, ...] = (
    "葛店还建小区", "新城还建一区", "宏伟安置小区", "杨家湾还建点", "大城还建新村",
    "窑头还建小区", "沙窝安置小区", "严家湾还建点", "高新还建二区",
)
# Building blocks for generated names beyond the hand-picked ones.
PLACES: tuple[str, ...] = (
    "葛店", "华中", "东湖", "星光", "光谷", "凤凰", "锦绣", "滨湖", "阳光", "金地", "翠湖",
    "碧水", "长江", "紫荆", "御景", "桂花", "新港", "楚天", "和谐", "香樟", "丽岛", "康居",
    "梧桐", "湖畔", "盛世", "书香", "枫林", "江南", "聚贤", "悦湖", "红莲", "白沙", "青山",
    "鸿福", "恒泰", "福星", "龙腾", "万象", "中天", "金桥", "银湖", "玉兰", "海棠", "牡丹",
    "荷塘", "松涛", "竹园", "梅岭", "泰和", "永安", "瑞丰", "嘉禾", "华信", "天骄", "明珠",
    "晨曦", "朝阳", "宏伟", "大城", "新城", "杨家湾", "窑头", "沙窝", "严家湾", "樊口",
    "燕矶", "华容", "庙岭", "段店", "临江",
)
SUFFIXES: tuple[str, ...] = (
    "花园", "家园", "城", "苑", "小区", "公馆", "名都", "华府", "春晓", "雅居", "新村", "佳园",
    "华庭", "名居", "国际", "郡", "湾", "府", "里", "雅苑", "新城", "广场", "山庄", "尚城",
)
RESETTLEMENT_SUFFIXES: tuple[str, ...] = ("还建小区", "安置小区", "还建点", "还建新村")
# Suffixes a respondent may leave off ("葛店花园" → "葛店"); longest first.
DROPPABLE_SUFFIXES: tuple[str, ...] = tuple(sorted(
    {*SUFFIXES, *RESETTLEMENT_SUFFIXES, "一区", "二区", "A区", "3期"}, key=len, reverse=True))
# One-character typos a respondent makes (similar sound or shape).
TYPOS: dict[str, str] = {
    "园": "源", "苑": "园", "华": "化", "城": "成", "家": "佳", "湖": "糊", "店": "点",
    "光": "广", "星": "兴", "凤": "风", "锦": "景", "府": "付", "都": "督", "居": "局",
    "晓": "小", "春": "椿", "东": "冬", "中": "忠", "花": "华", "新": "心", "安": "按",
    "置": "制", "还": "环", "建": "健", "翠": "萃", "港": "巷", "名": "明", "里": "理",
}
# Estate names of no estate in the register (a respondent from a neighbouring district).
UNKNOWN_ESTATES: tuple[str, ...] = ("南湖名邸", "武昌府", "金色港湾", "测试小区", "红山花园")

COMMUNITIES: tuple[str, ...] = (
    "葛店社区", "宏伟社区", "大城社区", "光谷社区", "新城社区", "还建一社区",
)
FIRM_BRANDS: tuple[str, ...] = (
    "华宇", "鸿泰", "金盾", "恒信", "楚天", "长江", "葛华", "凤凰", "东方", "安居", "正荣",
    "嘉禾", "明珠", "福瑞", "宏图", "兴业", "万家", "佳美", "鑫源", "德润", "中联", "永兴",
    "和顺", "瑞祥", "汇丰", "天宇", "新世纪", "金科", "博雅", "康泰", "宜居", "惠民", "诚信",
    "宏达", "东升", "盛达", "同心", "融汇", "昌盛", "乐居",
)
FIRM_CITIES: tuple[str, ...] = ("鄂州", "武汉", "湖北", "黄石", "黄冈")
FIRM_FORMS: tuple[str, ...] = ("物业服务有限公司", "物业管理有限公司")

COMMENTS: tuple[str, ...] = (
    "希望加强小区门禁管理", "电梯经常出故障，维修太慢", "垃圾清运不及时，夏天有异味",
    "保安态度很好，谢谢", "停车太乱，消防通道被占", "绿化修剪得不错", "物业费收支请公开",
    "楼道灯坏了很久没人修", "报修响应及时，点赞", "希望增加充电桩", "外来车辆随便进出",
    "总体满意，继续保持", "下水道经常堵", "希望多组织社区活动", "无", "没有意见",
    "快递乱堆放，希望规范", "晚上广场舞噪音大",
)
# The one comment that looks like a spreadsheet formula (tests formula safety downstream).
FORMULA_COMMENT = "=电梯坏了一个月没人修"
