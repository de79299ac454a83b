"""evaluation.codes: the shared array helpers give pandas' own results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.codes import by_estate, column_codes, factorize, is_tiled, narrow, runs, tiled_codes


@pytest.mark.parametrize("n", [0, 1, 126, 127, 128, 32766, 32767, 40000])
def test_narrow_is_the_dtype_pandas_keeps(n: int) -> None:
    codes = narrow(np.arange(n, dtype=np.intp) - 1, n)
    cat = pd.Categorical.from_codes(codes, categories=pd.Index(np.arange(n)), validate=False)
    assert cat.codes.dtype == codes.dtype
    np.testing.assert_array_equal(codes, np.arange(n) - 1)


def test_runs_with_and_without_na() -> None:
    np.testing.assert_array_equal(
        runs(np.array(["a", "a", "b", "b", "a"], dtype=object)), [0, 2, 4]
    )
    assert len(runs(np.array([], dtype=object))) == 0
    with_na = np.array(["a", "a", pd.NA, pd.NA], dtype=object)
    np.testing.assert_array_equal(runs(with_na), [0, 1, 2, 3])


@pytest.mark.parametrize("sort", [False, True])
def test_tiled_codes_equal_factorize(sort: bool) -> None:
    values = np.tile(np.array(["q3", "q1", "q2", "q1"], dtype=object), 5)
    got = tiled_codes(values, 4, sort=sort)
    assert got is not None
    want_codes, want_uniques = pd.factorize(values, sort=sort)
    np.testing.assert_array_equal(got[0], want_codes)
    assert list(got[1]) == list(want_uniques)
    broken = values.copy()
    broken[-1] = "q9"
    assert tiled_codes(broken, 4, sort=sort) is None
    assert not is_tiled(values, 3) and not is_tiled(values, 0)
    assert not is_tiled(np.array(["a", pd.NA, "a", pd.NA], dtype=object), 2)


def test_column_codes_categorical_and_plain() -> None:
    plain = pd.Series(["b", "a", None, "b"], dtype="str")
    codes, labels = column_codes(plain)
    np.testing.assert_array_equal(codes, [0, 1, -1, 0])
    assert list(labels) == ["b", "a"]
    codes, labels = column_codes(plain.astype("category"))
    np.testing.assert_array_equal(codes, [1, 0, -1, 1])
    assert list(labels) == ["a", "b"]
    assert factorize(np.array(["x"], dtype=object))[0].dtype == np.int8


def test_by_estate_first_row_per_estate_as_str() -> None:
    reg = pd.DataFrame({"estate_id": [1, 2, 1], "firm": ["A", "B", "C"]})
    out = by_estate(reg)
    assert list(out.index) == ["1", "2"]
    assert list(out["firm"]) == ["A", "B"]
