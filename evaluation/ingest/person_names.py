"""Personal names in residents' comments: found and replaced by ``〔姓名〕`` at ingest.

Word segmentation and part-of-speech tags come from jieba (its Rust port ``rjieba``: the
same dictionary, HMM and tag set as jieba's ``posseg``, about a hundred times faster —
:mod:`evaluation.ingest.comments`). jieba's ``nr`` tag alone is not enough: its dictionary
tags common words as names (谢谢, 文明, 温馨, 张贴 …) and it splits some names it does not
know (孙 + 秀英). A span is a name when one of these rules finds it (:func:`name_spans`):

1. **surname + title** — 王师傅, 陈先生, 刘阿姨, 李经理 (:data:`TITLES`);
2. **小/老 + surname** before a particle, verb or punctuation — 小刘很好, 老王家, 小张和;
3. **a cue + surname + given name** — 业主张伟反映, 我叫张三, 姓名：王建国, 保洁员孙秀英:
   the given name is one or two characters, one when the second starts a dictionary word
   (张伟|反映); a surname + character that is itself a common word (业主高度评价) is not a name;
4. **a token tagged ``nr``/``nrt``/``nrfg``** of 2–4 characters beginning with a common surname,
   not in :data:`NOT_NAMES`, either a word the dictionary does not know (the HMM found it:
   张伟, 王芳) or a known one next to a person cue (找王建国, 李秀英说);
5. **a surname token followed by a name token** of one or two characters — 孙 + 秀英,
   欧阳 + 娜娜.

Surnames: the common single surnames (:data:`SURNAMES`, together about 85% of the population)
and the compound ones (:data:`COMPOUND_SURNAMES`). The rules favour recall: an occasional
ordinary word scrubbed is a lesser harm than a resident's name published.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

#: common single-character surnames (《百家姓》 by modern frequency; 区 and 时 left out: 小区, 小时)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰"
    "焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲"
    "房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟"
    "应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "夏侯",
    "长孙",
    "宇文",
    "司徒",
    "端木",
    "独孤",
)
#: forms of address after a surname (王师傅, 陈先生)
TITLES = (
    "先生",
    "女士",
    "小姐",
    "师傅",
    "阿姨",
    "大妈",
    "大爷",
    "大姐",
    "大哥",
    "大叔",
    "大娘",
    "叔叔",
    "伯伯",
    "奶奶",
    "爷爷",
    "老师",
    "经理",
    "主任",
    "书记",
    "管家",
    "队长",
    "班长",
    "姐",
    "哥",
)
#: words before a name (业主张伟, 我叫张三, 姓名：王建国)
CUES = (
    "姓名",
    "名字",
    "联系人",
    "名叫",
    "叫做",
    "我叫",
    "他叫",
    "她叫",
    "我是",
    "业主",
    "住户",
    "租户",
    "保洁员",
    "保洁",
    "保安员",
    "保安",
    "管家",
    "员工",
    "工作人员",
    "维修工",
    "电工",
    "客服",
)
#: words next to a dictionary name that make it a person (找王建国, 李秀英说)
PERSON_BEFORE = frozenset(
    [
        "找",
        "叫",
        "问",
        "给",
        "请",
        "让",
        "和",
        "跟",
        "与",
        "同",
        "向",
        "对",
        "感谢",
        "谢谢",
        "表扬",
        "投诉",
        "举报",
        "业主",
        "住户",
        "保安",
        "保洁",
        "管家",
        "师傅",
        "员工",
        "姓名",
        "名字",
        "联系人",
        "是",
    ]
)
PERSON_AFTER = frozenset(
    [
        "说",
        "讲",
        "反映",
        "投诉",
        "表示",
        "认为",
        "告诉",
        "答应",
        "态度",
        "服务",
        "负责",
        "师傅",
        "阿姨",
        "先生",
        "女士",
        "很",
        "非常",
        "特别",
        "都",
        "也",
        "就",
        "是",
        "的",
        "在",
        "和",
        "跟",
        "不",
        "没",
        "没有",
        "经常",
        "总是",
        "一直",
        "每次",
        "，",
        "。",
        ",",
        ".",
        "！",
        "!",
        "？",
        "?",
        "、",
    ]
)
#: common words jieba's dictionary tags as names (never scrubbed by rule 4)
NOT_NAMES = frozenset(
    [
        "谢谢",
        "文明",
        "温馨",
        "张贴",
        "黄金周",
        "林荫",
        "林荫道",
        "高峰",
        "田野",
        "顾问",
        "顾客",
        "周到",
        "周转",
        "周边",
        "许可",
        "陈述",
        "胡说",
        "向阳",
        "黎明",
        "金刚",
        "白领",
        "雷达",
        "雷雨",
        "武林",
        "王朝",
        "王牌",
        "高潮",
        "高明",
        "石英",
        "陆军",
        "华丽",
        "宋体",
        "汤圆",
        "马匹",
        "陈列",
        "林立",
        "梁山",
        "秦岭",
        "白雪",
        "叶子",
        "胡子",
        "孙子",
        "王子",
        "金额",
        "金属",
        "江边",
        "于是",
        "方便",
        "安全",
        "常常",
        "明显",
        "和谐",
        "向前",
        "时时",
        "白天",
        "夏天",
        "万一",
        "任何",
        "成本",
        "包括",
        "戴着",
        "房东",
        "高层",
        "龙头",
        "石头",
        "毛病",
        "钟点",
        "田地",
    ]
)
#: characters after 小/老 + surname that make it a person (小刘很好, 老王家)
_DIMINUTIVE_NEXT = "说讲和跟与同很都也就还的是在把给对帮来去家人等不没"
_CJK = "\u4e00-\u9fff"
#: the tags jieba gives personal names
NAME_TAGS = frozenset({"nr", "nrt", "nrfg"})
TAG = "〔姓名〕"
_JOIN = "\x00"  # joins texts for one search: no pattern consumes it, and it is not CJK

_SURNAME = "(?:" + "|".join(COMPOUND_SURNAMES) + f"|[{SURNAMES}])"
_TITLE_RE = re.compile(_SURNAME + "(?:" + "|".join(sorted(TITLES, key=len, reverse=True)) + ")")
_DIMINUTIVE_RE = re.compile(
    f"[小老][{SURNAMES.replace('于', '')}](?=[{_DIMINUTIVE_NEXT}]|[^{_CJK}]|$)"
)
_CUE_RE = re.compile(
    "(?:"
    + "|".join(sorted(CUES, key=len, reverse=True))
    + f")[:：\\s]*({_SURNAME})([{_CJK}]{{1,2}})"
)

Tagged = Sequence[tuple[str, str]]


def name_spans(text: str, tagged: Tagged, known: Callable[[str], bool]) -> list[tuple[int, int]]:
    """``(start, end)`` of every personal name in ``text`` (rules of the module doc), merged.

    ``tagged``: the segmenter's ``(word, tag)`` pairs covering ``text`` in order;
    ``known(word)``: whether the dictionary holds ``word``."""
    spans = [m.span() for m in _TITLE_RE.finditer(text)]
    spans += [m.span() for m in _DIMINUTIVE_RE.finditer(text)]
    spans += [span for m in _CUE_RE.finditer(text) if (span := _cued_name(m, text, known))]
    spans += _tagged_names(tagged, known)
    return _merged(spans)


def scrub_names(text: str, tagged: Tagged, known: Callable[[str], bool]) -> str:
    """``text`` with each name of :func:`name_spans` replaced by :data:`TAG`."""
    spans = name_spans(text, tagged, known)
    if not spans:
        return text
    parts, at = [], 0
    for start, end in spans:
        parts += [text[at:start], TAG]
        at = end
    parts.append(text[at:])
    return "".join(parts)


def may_hold_names(texts: Sequence[str]) -> set[int]:
    """Positions of the texts where a regex of rules 1–3 matches: searched once over the texts
    joined by a character no pattern consumes, which ends a match as a text's end does. A
    text outside them holds a name only if one of its tokens is tagged as one
    (:data:`NAME_TAGS`: rules 4 and 5 start from such a token)."""
    joined = _JOIN.join(texts)
    if joined.count(_JOIN) != len(texts) - 1:  # a text holds the separator itself
        return set(range(len(texts)))
    starts = np.cumsum([0] + [len(t) + 1 for t in texts])
    found = [m.start() for rx in (_TITLE_RE, _DIMINUTIVE_RE, _CUE_RE) for m in rx.finditer(joined)]
    return set((np.searchsorted(starts, found, side="right") - 1).tolist())


def _cued_name(m: re.Match[str], text: str, known: Callable[[str], bool]) -> tuple[int, int] | None:
    """Rule 3: the surname and a one- or two-character given name after a cue."""
    surname, given = m.group(1), m.group(2)
    start = m.start(1)
    if known(surname + given[0]):
        return None  # 业主高度评价: 高度 is a word (a known name is rule 4's)
    rest = text[m.start(2) + 1 : m.start(2) + 4]
    if len(given) == 2 and rest and any(known(rest[:k]) for k in (2, 3) if len(rest) >= k):
        given = given[0]  # 张伟|反映: the second character starts a word
    return start, m.start(2) + len(given)


def _tagged_names(tagged: Tagged, known: Callable[[str], bool]) -> list[tuple[int, int]]:
    """Rules 4 and 5 over the segmenter's tokens."""
    spans: list[tuple[int, int]] = []
    if NAME_TAGS.isdisjoint([tag for _, tag in tagged]):
        return spans  # most comments: no name token at all
    words = [w for w, _ in tagged]
    starts = [0]
    for w in words:
        starts.append(starts[-1] + len(w))
    for i, (word, tag) in enumerate(tagged):
        nxt = tagged[i + 1] if i + 1 < len(tagged) else ("", "")
        if _surname_of(word) == word and nxt[1] in NAME_TAGS and 1 <= len(nxt[0]) <= 2:
            spans.append((starts[i], starts[i + 2]))  # rule 5: 孙 + 秀英
            continue
        if tag not in NAME_TAGS or not 2 <= len(word) <= 4 or word in NOT_NAMES:
            continue
        surname = _surname_of(word)
        if not surname or len(word) == len(surname):
            continue
        before = words[i - 1] if i > 0 else ""
        after = nxt[0]
        if not known(word) or before in PERSON_BEFORE or after in PERSON_AFTER or not after:
            spans.append((starts[i], starts[i + 1]))
    return spans


def _surname_of(word: str) -> str:
    """The surname ``word`` begins with ("" when none)."""
    if word[:2] in COMPOUND_SURNAMES:
        return word[:2]
    return word[:1] if word[:1] and word[0] in SURNAMES else ""


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping and touching spans joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
