"""Number formatting and safe file names for the reports."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.report import format as fmt
from wuye_common.files import atomic_write_bytes, safe_filename


def test_percent_one_decimal() -> None:
    assert fmt.pct(0.852) == "85.2%"
    assert fmt.pct(1.0) == "100.0%"
    assert fmt.pct(0.0) == "0.0%"
    assert fmt.pct(0.12345) == "12.3%"


@pytest.mark.parametrize("missing", [None, math.nan, pd.NA, np.nan])
def test_missing_values_show_dash(missing: object) -> None:
    assert fmt.pct(missing) == "—"
    assert fmt.interval(missing, 0.1, 0.2) == "—"
    assert fmt.points(missing) == "—"


def test_interval_as_the_bureau_reads_it() -> None:
    assert fmt.interval(0.852, 0.81, 0.889) == "85.2%（81.0%～88.9%）"
    assert fmt.interval(0.852, None, 0.889) == "85.2%"
    assert fmt.index_interval(82.34, 79.0, 85.61) == "82.3（79.0～85.6）"


def test_points_signed() -> None:
    assert fmt.points(0.032) == "+3.2 个百分点"
    assert fmt.points(-0.0271) == "−2.7 个百分点"
    assert fmt.points(0.00001) == "0.0 个百分点"
    assert fmt.points_interval(0.023, -0.01, 0.056) == "+2.3 个百分点（−1.0～+5.6）"
    assert fmt.points_interval(0.023, None, 0.056) == "+2.3 个百分点"
    assert fmt.integer(35508) == "35,508"
    assert fmt.restyle("判为「未达标」，门槛 70.0%") == "判为“未达标”，达标线 70.0%"


def test_series_match_scalars() -> None:
    p = pd.Series([0.852, np.nan, 1.0, 0.0])
    lo = pd.Series([0.81, 0.1, np.nan, 0.0])
    hi = pd.Series([0.889, 0.2, 1.0, 0.05])
    got = fmt.interval_series(p, lo, hi).tolist()
    assert got == [fmt.interval(a, b, c) for a, b, c in zip(p, lo, hi, strict=True)]
    assert fmt.pct_series(p).tolist() == [fmt.pct(v) for v in p]
    assert fmt.points_series(pd.Series([0.032, np.nan])).tolist() == ["+3.2 个百分点", "—"]


def test_display_width_counts_wide_characters_twice() -> None:
    assert fmt.display_width("abc") == 3
    assert fmt.display_width("幸福家园") == 8
    assert fmt.display_width("（85%）") == 7


@pytest.mark.parametrize("key", ["../etc/passwd", 'a"b\nc', "..", "/", "", "CON", "E 01/2"])
def test_safe_filename(key: str) -> None:
    name = safe_filename(key)
    assert name and "/" not in name and "\\" not in name and "\n" not in name
    assert not name.startswith(".")
    assert name.upper() != "CON"


def test_safe_filename_keeps_plain_ids_and_stays_unique() -> None:
    assert safe_filename("E001") == "E001"
    assert safe_filename("a/b") != safe_filename("a_b")


def test_atomic_write_leaves_no_temporary(tmp_path) -> None:
    target = atomic_write_bytes(tmp_path / "x" / "f.bin", b"abc")
    assert target.read_bytes() == b"abc"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]
