"""The one personal-data scrubber (wuye_common.scrub): every planted form is replaced by its
tag, ordinary text (dates, times, bare buildings, amounts) is left alone, columns are cleaned
per distinct value, and hostile texts cost milliseconds (no backtracking)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wuye_common.scrub import TAGS, personal_data_kinds, scrub_text, scrub_texts, scrub_values

PLANTED = {
    "phone": [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "8613812345678",
        "１３８１２３４５６７８",
        "027-87654321",
        "(0711) 3456789",
        "0711 3456789",
        "010-6543-2100",
    ],
    "id_number": ["420102199003071234", "42010219900307123X", "420102900307123"],
    "email": ["zhang.san@qq.com", "li_si+wy@163.com.cn"],
    "ip": ["58.19.3.4", "2001:db8::1", "fe80::1ff:fe23:4567:890a"],
    "address": [
        "3栋1单元502",
        "5-2-301",
        "3号楼502室",
        "1单元502",
        "502室",
        "三栋一单元502",
        "12幢2单元1101",
        "7#1203",
    ],
}
HARMLESS = [
    "3栋电梯经常坏",
    "2025-12-03 10:20:30",
    "时间 12:30:45",
    "2025年12月3日",
    "第5题",
    "共12345678元",
    "停车难，保洁差",
    "满意度 92.5%",
    "1-2 个月",
    "20251203",
]


@pytest.mark.parametrize(
    ("kind", "value"), [(k, v) for k, values in PLANTED.items() for v in values]
)
def test_every_planted_form_is_replaced_inside_text(kind: str, value: str) -> None:
    text = f"业主反映{value}的问题，请处理"
    cleaned = scrub_text(text)
    assert TAGS[kind] in cleaned
    assert value not in cleaned
    assert personal_data_kinds(text) == [kind]


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text
    assert personal_data_kinds(text) == []


def test_column_cleaned_per_distinct_value_keeping_na_index_and_dtype() -> None:
    values = pd.Series(
        ["电话13812345678", None, "停车难", "电话13812345678", pd.NA],
        index=[5, 6, 7, 8, 9],
        dtype="string",
        name="意见",
    )
    out = scrub_values(values)
    assert out.dtype == values.dtype and out.name == "意见"
    assert out.index.tolist() == [5, 6, 7, 8, 9]
    assert out.tolist()[:4] == ["电话〔电话〕", pd.NA, "停车难", "电话〔电话〕"]
    assert out.isna().tolist() == [False, True, False, False, True]
    clean = pd.Series(["停车难", "很好"], dtype=object)
    assert scrub_values(clean) is clean  # nothing found: the same object back
    assert scrub_values(pd.Series([], dtype=object)).empty


@given(
    st.text(max_size=40),
    st.sampled_from([v for vs in PLANTED.values() for v in vs]),
    st.text(max_size=40),
)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_planted_value_never_survives_whatever_surrounds_it(
    before: str, value: str, after: str
) -> None:
    """Letters and CJK around a planted value do not hide it (digits glued to it may change
    what it is, e.g. a longer number: those are not asserted)."""
    if (before and before[-1].isalnum()) or (after and after[0].isalnum()):
        return
    assert value not in scrub_text(before + value + after)


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 5000,
        "a" * 10000,
        "a:" * 5000,
        "1-" * 5000,
        "1" * 10000,
        "a@" * 5000,
        "3栋" * 3000,
        "1." * 5000,
        "(0" * 5000,
        "8" * 9999 + "@x.cn",
        "１" * 10000,
    ],
)
def test_hostile_texts_cost_milliseconds(text: str) -> None:
    start = time.process_time()
    scrub_text(text)
    # a guard against catastrophic backtracking (minutes), not a speed goal: ~10 ms here
    assert time.process_time() - start < 1.0


def test_scrub_values_is_vectorised_over_distinct_texts() -> None:
    rng = np.random.default_rng(1)
    values = pd.Series(rng.choice(["停车难", "电话13812345678", "3栋1单元502漏水"], 50_000))
    out = scrub_values(values)
    assert set(out) == {"停车难", "电话〔电话〕", "〔门牌〕漏水"}


def test_id_numbers_next_to_letters_are_found() -> None:
    """A planted ID number glued to letters (``身份证ID420102199003071234``) is still one."""
    assert scrub_text("IDno420102199003071234x") == "IDno〔证件号〕x"


def test_log_records_are_scrubbed_before_any_handler(caplog) -> None:
    import logging

    from wuye_common.scrub import scrubbed_logger

    log = scrubbed_logger("wuye.test_scrub")
    assert scrubbed_logger("wuye.test_scrub") is log and len(log.filters) == 1
    with caplog.at_level(logging.INFO, logger="wuye.test_scrub"):
        log.info("读取 %s 第 %d 行", "问卷_13812345678.xlsx", 5)
        log.info("%s", ["58.19.3.4", "zhang.san@qq.com"])
    assert "13812345678" not in caplog.text and "58.19.3.4" not in caplog.text
    assert "问卷_〔电话〕.xlsx 第 5 行" in caplog.text and "〔邮箱〕" in caplog.text


def test_problems_clean_their_text() -> None:
    """Error messages are an edge too: personal data scrubbed, terminal control characters
    replaced, enormous values cut."""
    from wuye_common.errors import MAX_FIELD, Problem, shown

    p = Problem(
        f"小区名称「{shown('锦绣 13812345678' + 'x' * 1000)}」\x1b[2J",
        "改为 zhang.san@qq.com",
        file="/data/张三_110101199003074578/台账.xlsx",
        sheet="58.19.3.4",
        column="a\u202eb",
    )
    text = str(p)
    for raw in ("13812345678", "zhang.san@qq.com", "110101199003074578", "58.19.3.4"):
        assert raw not in text
    assert "\x1b" not in text and "\u202e" not in text and "〔电话〕" in text
    assert len(Problem("x" * 100_000).message) == MAX_FIELD
    assert len(shown("y" * 1000)) == 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("问卷_58.19.3.4.xlsx", "问卷_〔IP〕.xlsx"),  # a file extension after the address
        ("我的IP是58.19.3.4。", "我的IP是〔IP〕。"),
        ("IP: 58.19.3.4.", "IP: 〔IP〕."),
        ("问卷.13812345678.xlsx", "问卷.〔电话〕.xlsx"),
        ("3.13812345678", "3.13812345678"),  # a decimal number, not a phone
        ("v1.2.3.4.5", "v1.2.3.4.5"),  # five groups: a version, not an address
    ],
)
def test_dots_around_a_value_neither_hide_nor_invent_it(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


# pieces a pattern can start, end or be cut by: digits (ASCII, full-width, other scripts),
# separators, address words, letters, Chinese prose and the batch separator itself
_PIECES = [
    *"0123456789０１８٣²①.．-－:：()（）#＃@＠ +xXaF栋幢号楼座单元室房三十电梯，。\u00a0\u0301",
    *[v for vs in PLANTED.values() for v in vs],
    "\x00",
]


@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join), max_size=30))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_one_search_over_many_texts_is_each_text_scrubbed_alone(texts: list[str]) -> None:
    """scrub_texts joins the texts, normalises them at once and searches only the runs of
    characters a pattern can hold: exactly what scrub_text gives each text alone."""
    assert scrub_texts(texts) == [scrub_text(t) for t in texts]


def test_runs_without_a_risky_character_are_not_searched_but_near_misses_are() -> None:
    texts = ["（123号）门口", "电话138 1234 5678", "(0711)3456789", "58.19.3.4", "1号楼502"]
    assert scrub_texts(texts) == ["（123号）门口", "电话〔电话〕", "〔电话〕", "〔IP〕", "〔门牌〕"]
