"""Numeric domains (wuye_common.domains): text is a number only when written as one, and no
value outside a domain passes its check — whatever its size (no int64 overflow, no inf)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wuye_common.domains import (
    COUNT,
    HOUSEHOLDS,
    QUESTION_NUMBER,
    SHARE,
    Domain,
    number_values,
    share_values,
    to_number,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("560", 560.0),
        (" 560 ", 560.0),
        ("５６０", 560.0),
        ("560.0", 560.0),
        ("-3", -3.0),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("1e309", None),
        ("inf", None),
        ("-Infinity", None),
        ("nan", None),
        ("1_000", None),
        ("1,000", None),
        ("9" * 60, None),
        ("0x10", None),
        ("", None),
        ("十", None),
    ],
)
def test_text_is_a_number_only_when_written_as_one(text: str, value: float | None) -> None:
    got = to_number(text)
    assert (math.isnan(got) and value is None) or got == value


def test_households_domain_refuses_the_issue_examples() -> None:
    values = number_values(pd.Series(["inf", "1e309", "1e19", "560", "0", "200001", "3.5"]))
    assert HOUSEHOLDS.mask(values).tolist() == [False, False, False, True, False, False, False]
    assert not HOUSEHOLDS.contains(10**30) and not HOUSEHOLDS.contains(float("nan"))
    assert not HOUSEHOLDS.contains(True) and HOUSEHOLDS.contains(200_000)


def test_shares_say_which_they_read() -> None:
    got = share_values(pd.Series(["0.35", "35%", "３５％", "", None, "x%", "120%"]))
    np.testing.assert_allclose(got[:3], [0.35, 0.35, 0.35])
    assert np.isnan(got[3:6]).all() and got[6] == pytest.approx(1.2)
    assert SHARE.mask(got).tolist() == [True] * 3 + [False] * 4


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=50),
        st.none(),
        st.booleans(),
    ),
    st.sampled_from([HOUSEHOLDS, COUNT, SHARE, QUESTION_NUMBER, Domain(-1.5, 2.5)]),
)
def test_whatever_comes_in_only_domain_values_pass(value: object, domain: Domain) -> None:
    """Any Python value or text: ``contains``/``mask`` never raise, and what passes is a
    finite number inside the interval (an integer for integer domains)."""
    parsed = number_values(pd.Series([value], dtype=object))
    ok = domain.mask(parsed)
    if ok[0]:
        assert math.isfinite(parsed[0]) and domain.low <= parsed[0] <= domain.high
        assert not domain.integer or float(parsed[0]).is_integer()
    if domain.contains(value):
        assert isinstance(value, (int, float)) and not isinstance(value, bool)
        assert domain.low <= value <= domain.high


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(-(10**6), 10**6), st.sampled_from(["{}", " {} ", "{}.0", "+{}"]))
def test_written_integers_read_back_exactly(n: int, layout: str) -> None:
    text = layout.format(n) if not (layout.startswith("+") and n < 0) else str(n)
    assert to_number(text) == n
