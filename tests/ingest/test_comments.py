"""Comment cleaning in one pass over a round's distinct comments gives exactly what each
comment cleaned alone gives: the same scrubbed text (phone numbers, addresses, names) and the
same themes in the same order."""

from __future__ import annotations

import re
import sys

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.ingest import person_names as names
from evaluation.ingest.comments import (
    END_STRIP,
    NO_CONTENT,
    OTHER,
    THEMES,
    _segmenter,
    clean_comments,
    theme_keywords,
)
from wuye_common.scrub import scrub_text

_END_PUNCT = re.compile(r"^[\s。，,.!！?？~～]+|[\s。，,.!！?？~～]+$")


def one_by_one(texts: list[str | None], extra=None) -> pd.DataFrame:
    """The reference: each comment stripped, scrubbed, tagged, searched for names and theme
    keywords on its own."""
    themes = theme_keywords(extra)
    keyword_theme = {w: name for name, words in themes.items() for w in words}
    pattern = re.compile(
        "|".join(re.escape(w) for w in sorted(keyword_theme, key=len, reverse=True))
    )
    seg = _segmenter(tuple(sorted(keyword_theme)))
    rows = []
    for text in texts:
        stripped = None if text is None else _END_PUNCT.sub("", text)
        if stripped is None or stripped in NO_CONTENT or stripped == "":
            rows.append((None, None))
            continue
        text = " ".join(scrub_text(text).split())
        tagged = seg.tag(text, True)
        words = "\x1f".join(w for w, _ in tagged)
        found = dict.fromkeys(keyword_theme[m.group()] for m in pattern.finditer(words))
        rows.append((names.scrub_names(text, tagged, seg.has_word), ";".join(found) or OTHER))
    return pd.DataFrame(rows, columns=["comment", "theme"]).astype("string")


_PIECES = [
    *names.SURNAMES[:60],
    *names.COMPOUND_SURNAMES[:4],
    *names.TITLES,
    *names.CUES,
    *sorted(names.PERSON_BEFORE),
    *sorted(names.PERSON_AFTER),
    *sorted(names.NOT_NAMES)[:20],
    *[w for words in THEMES.values() for w in words[:3]],
    *"小老伟芳娜秀英建国：:，。！ \t\n\u3000\x1e\x1f\x00～",
    *sorted(NO_CONTENT)[:8],
    "138 1234 5678",
    "3栋1单元502",
    "（123号）",
]


@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=10).map("".join), max_size=40))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_one_pass_is_each_comment_cleaned_alone(texts: list[str]) -> None:
    values = pd.Series([*texts, None], dtype=object)
    got = clean_comments(values).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, one_by_one([*texts, None]))


def test_extra_themes_and_keyword_order_as_alone() -> None:
    texts = ["快递乱放，电梯坏了", "电梯快递", "王师傅说停车难", "装修\x1e声音大", "无。"]
    extra = {"快递": ("快递",), "电梯": ("升降",), "怪": ("装修\x1e声",)}
    got = clean_comments(pd.Series(texts), extra)
    pd.testing.assert_frame_equal(got, one_by_one(texts, extra))
    assert got["theme"].tolist()[:2] == ["快递;电梯;维修", "电梯;快递"]


def test_whitespace_stripped_from_comment_ends_is_all_of_it() -> None:
    """END_STRIP holds every whitespace character (all lie below U+3001)."""
    assert not any(chr(c).isspace() for c in range(0x3001, sys.maxunicode + 1))
    assert all(chr(c) in END_STRIP for c in range(0x3001) if chr(c).isspace())
