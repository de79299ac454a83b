"""Residents' comments (意见和建议): kept, cleaned of personal data, and sorted into themes.

Cleaning happens at ingest, before anything is stored or logged: the scrubber of
:mod:`wuye_common.scrub` replaces phone numbers, ID numbers, e-mail and IP addresses and
dwelling addresses (``3栋1单元502``, ``5-2-301``) by tags such as ``〔电话〕``; then personal
names are replaced by ``〔姓名〕`` (:mod:`evaluation.ingest.person_names`). Answers that say
nothing (``无``, ``没有``, ``(空)``: :data:`NO_CONTENT`) are not kept.

Themes: each comment is segmented with jieba (its Rust port ``rjieba``: jieba's dictionary,
HMM and tags; jieba's own ``posseg`` costs about 0.35 ms per comment, ``rjieba`` about 3 µs,
which keeps comment cleaning inside the ingest's time budget) with every theme keyword added
to the dictionary, and a comment belongs to each theme one of whose keywords occurs within
one of its words (:data:`THEMES`; the questionnaire's ``[themes]`` add keywords or themes).
A comment without any is ``其他``. Work is done once per distinct text, and the searches run
once over all of them joined: the scrubber's (:func:`wuye_common.scrub.scrub_texts`), the name
rules' patterns (only texts they or a name tag point at are searched for names:
:func:`~evaluation.ingest.person_names.may_hold_names`) and the theme keywords'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from evaluation.ingest.person_names import NAME_TAGS, may_hold_names, scrub_names
from wuye_common.scrub import scrub_values

#: property-service themes and their keywords (the questionnaire's ``[themes]`` extend them)
THEMES: dict[str, tuple[str, ...]] = {
    "电梯": ("电梯", "轿厢", "困人", "关人", "升降梯", "扶梯", "梯控"),
    "停车": (
        "停车",
        "车位",
        "车库",
        "地库",
        "乱停",
        "占道",
        "充电桩",
        "外来车",
        "车辆",
        "电动车",
        "消防通道",
    ),
    "保洁/环境卫生": (
        "卫生",
        "保洁",
        "垃圾",
        "清洁",
        "打扫",
        "异味",
        "臭",
        "脏",
        "清运",
        "蚊虫",
        "老鼠",
        "蟑螂",
        "污水",
    ),
    "安保/秩序": (
        "保安",
        "门禁",
        "门岗",
        "安保",
        "巡逻",
        "监控",
        "外来人员",
        "陌生人",
        "小偷",
        "被盗",
        "失窃",
        "消防",
        "秩序",
        "安全",
    ),
    "绿化": ("绿化", "草坪", "草地", "绿地", "树木", "花草", "修剪", "树枝", "枯树"),
    "维修": (
        "维修",
        "报修",
        "修理",
        "故障",
        "坏了",
        "损坏",
        "漏水",
        "渗水",
        "路灯",
        "灯坏",
        "水管",
        "下水道",
        "堵塞",
        "没人修",
    ),
    "收费/公示": (
        "物业费",
        "收费",
        "乱收费",
        "涨价",
        "费用",
        "公示",
        "公开",
        "账目",
        "收支",
        "公共收益",
        "维修基金",
    ),
    "噪音": ("噪音", "噪声", "吵", "扰民", "广场舞", "装修声", "声音大"),
    "宠物": ("宠物", "狗", "猫", "犬", "遛狗", "牵绳", "拴绳"),
    "服务态度": (
        "态度",
        "热情",
        "礼貌",
        "耐心",
        "不耐烦",
        "推诿",
        "敷衍",
        "不理",
        "服务意识",
        "客服",
    ),
    "投诉处理": ("投诉", "反映", "回复", "没人管", "不管", "解决", "处理"),
}
OTHER = "其他"
THEME_SEPARATOR = ";"
#: answers that say nothing (after removing spaces and end punctuation)
NO_CONTENT = frozenset(
    [
        "无",
        "没有",
        "没",
        "暂无",
        "无意见",
        "没有意见",
        "没意见",
        "无建议",
        "没有建议",
        "没建议",
        "无其他意见",
        "没什么",
        "没啥",
        "不知道",
        "不清楚",
        "好",
        "很好",
        "挺好",
        "满意",
        "/",
        "-",
        "--",
        "—",
        ".",
        "。",
        "(空)",
        "（空）",
        "(跳过)",
        "（跳过）",
        "无。",
    ]
)
_WORDS, _TEXTS = "\x1f", "\x1e"  # join a comment's words, and the comments
#: stripped from both ends before comparing with :data:`NO_CONTENT`: end punctuation and
#: whitespace (every ``str.isspace`` character lies below U+3001)
END_STRIP = "。，,.!！?？~～" + "".join(c for c in map(chr, range(0x3001)) if c.isspace())


@lru_cache(maxsize=8)
def _segmenter(words: tuple[str, ...]) -> Any:
    """A jieba (rjieba) segmenter with ``words`` added to its dictionary (made once per set
    of theme keywords)."""
    import rjieba

    seg = rjieba.Jieba()
    for word in words:
        if len(word) > 1:
            seg.add_word(word, 2000, "n")
    return seg


def theme_keywords(extra: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, tuple]:
    """:data:`THEMES` with the questionnaire's ``[themes]`` added (keywords de-duplicated)."""
    themes = {name: tuple(words) for name, words in THEMES.items()}
    for name, words in (extra or {}).items():
        themes[name] = tuple(dict.fromkeys([*themes.get(name, ()), *words]))
    return themes


def clean_comments(
    values: pd.Series, extra_themes: Mapping[str, tuple[str, ...]] | None = None
) -> pd.DataFrame:
    """Each comment of ``values`` scrubbed and classified: ``comment`` (NA when empty or
    saying nothing) and ``theme`` (``;``-joined themes, ``其他`` without one), same index."""
    themes = theme_keywords(extra_themes)
    keyword_theme = {w: name for name, words in themes.items() for w in words}
    seg = _segmenter(tuple(sorted(keyword_theme)))
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    texts = pd.Series(np.asarray(uniques, dtype=object), dtype="string")
    stripped = texts.str.strip(END_STRIP)
    keep = ~(stripped.isin(NO_CONTENT) | stripped.fillna("").eq("")).to_numpy()
    scrubbed = [" ".join(str(t).split()) for t in scrub_values(texts[keep].astype(object))]
    named = may_hold_names(scrubbed)
    out_text, words = list(scrubbed), []
    for i, text in enumerate(scrubbed):
        tagged = seg.tag(text, True)
        tokens, tags = zip(*tagged, strict=True) if tagged else ((), ())
        words.append(_WORDS.join(tokens))
        if i in named or not NAME_TAGS.isdisjoint(tags):
            out_text[i] = scrub_names(text, tagged, seg.has_word)
    comment = np.full(len(texts) + 1, None, dtype=object)
    theme = np.full(len(texts) + 1, None, dtype=object)
    comment[np.flatnonzero(keep)] = out_text
    theme[np.flatnonzero(keep)] = _themes(words, keyword_theme)
    return pd.DataFrame(
        {
            "comment": pd.array(comment[codes], dtype="string"),
            "theme": pd.array(theme[codes], dtype="string"),
        },
        index=values.index,
    )


def _themes(words: list[str], keyword_theme: dict[str, str]) -> list[str]:
    """Each text's themes (``;``-joined in the order their first keyword occurs, ``其他``
    without one): the keywords found within one of its ``words`` (each text's words joined
    by ``\\x1f``), in one search over all texts, each closed by ``\\x1e`` (whitespace: in
    no word), which the search also finds."""
    keywords = [w for w in keyword_theme if _TEXTS not in w]  # others never match a word
    pattern = re.compile(
        "|".join(re.escape(w) for w in [_TEXTS, *sorted(keywords, key=len, reverse=True)])
    )
    out: list[str] = []
    found: dict[str, None] = {}
    for word in pattern.findall("".join([text + _TEXTS for text in words])):
        if word == _TEXTS:
            out.append(THEME_SEPARATOR.join(found) if found else OTHER)
            found = {}
        else:
            found[keyword_theme[word]] = None
    return out


def theme_table(comments: pd.DataFrame, respondents: pd.DataFrame) -> pd.DataFrame:
    """Per estate × theme: ``mentions`` (comments naming it), ``dissatisfied_mentions``
    (those by respondents dissatisfied on the overall item), ``dissatisfied`` (the estate's
    dissatisfied respondents) and ``share_dissatisfied`` (the theme's share among them).

    ``comments``: ``estate_id, response_id, theme``; ``respondents``: ``estate_id,
    response_id, dissatisfied`` (bool)."""
    columns = [
        "estate_id",
        "theme",
        "mentions",
        "dissatisfied_mentions",
        "dissatisfied",
        "share_dissatisfied",
    ]
    if comments.empty:
        return pd.DataFrame(columns=columns)
    # few distinct theme strings: split each once, then spread by code
    codes, labels = pd.factorize(comments["theme"].astype(str))
    split = pd.Series([t.split(THEME_SEPARATOR) for t in labels], dtype=object)
    long = comments[["estate_id", "response_id"]].assign(theme=split.to_numpy()[codes])
    long = long.explode("theme").drop_duplicates(["response_id", "theme"])
    unhappy = respondents.set_index("response_id")["dissatisfied"]
    long["unhappy"] = long["response_id"].map(unhappy).fillna(False).astype(bool)
    table = (
        long.groupby(["estate_id", "theme"], observed=True)
        .agg(mentions=("response_id", "size"), dissatisfied_mentions=("unhappy", "sum"))
        .reset_index()
    )
    base = respondents.groupby("estate_id", observed=True)["dissatisfied"].sum()
    table["dissatisfied"] = table["estate_id"].map(base).fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["share_dissatisfied"] = table["dissatisfied_mentions"] / table["dissatisfied"].where(
            table["dissatisfied"] > 0
        )
    table["dissatisfied_mentions"] = table["dissatisfied_mentions"].astype(np.int64)
    return table.sort_values(["estate_id", "mentions"], ascending=[True, False])[
        columns
    ].reset_index(drop=True)
