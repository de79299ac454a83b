"""The fast (categorical) reading path gives exactly the text of the plain path."""

from __future__ import annotations

import datetime as dt
import gc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.ingest.ingest import ingest_round
from evaluation.ingest.pseudonym import pseudonym, pseudonymise
from evaluation.ingest.readers import read_survey_export
from tests.ingest.test_ingest_round import HEADERS, make_round, messy_rows, row, write_export
from wuye_common.cells import text_frame
from wuye_common.errors import WuyeError

CELLS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "  x ", "1", "1.0", "非常满意", "(跳过)", "-3"]),
    st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
    st.integers(-5, 5).map(float),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
)


def _plain(frame: pd.DataFrame) -> list[list[object]]:
    return [
        [None if pd.isna(v) else str(v) for v in frame[c].astype(object)] for c in frame.columns
    ]


def _same(rows: list[list[object]]) -> None:
    plain = text_frame(rows, np.arange(len(rows)))
    cat = text_frame(rows, np.arange(len(rows)), categorical=True)
    assert list(plain.columns) == list(cat.columns) and len(plain) == len(cat)
    assert all(isinstance(cat[c].dtype, pd.CategoricalDtype) for c in cat.columns)
    assert _plain(plain) == _plain(cat)
    for c in cat.columns:  # categories are distinct, non-empty-string text
        cats = cat[c].cat.categories
        assert cats.is_unique and cats.dtype == "str"


def test_categorical_text_frame_matches_plain_on_awkward_cells() -> None:
    rows = [
        ["序号", "1、题", "2、题"],
        ["", 1.0, "1"],
        ["x", "1", 1.0],
        [None, "", " "],
        [dt.datetime(2025, 6, 1, 10, 0), True, 2.5],
        ["", "", ""],
        ["a", "a"],
    ]
    _same(rows)
    _same([["a", "b"], ["", "x"], ["", "y"]])  # string-only columns with blanks
    _same([["a"]])
    nums = [1.0, -0.0, 0.5, 1e15, 1e14 + 1, -3.0, float("inf"), float("nan"), 1e-300, 2.0**53]
    _same([["序号", "x"], *[[v, "y"] for v in nums]])  # a numbers-only column


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20))
def test_numbers_only_column_matches_plain(values: list[float]) -> None:
    _same([["序号"], *[[v] for v in values]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(CELLS, min_size=1, max_size=4), min_size=1, max_size=12))
def test_categorical_text_frame_matches_plain_property(rows: list[list[object]]) -> None:
    _same(rows)


def test_fast_pseudonymise_equals_reference_hmac() -> None:
    values = pd.Series(
        ["13800000000", " 13800000000 ", None, "", "1-101", "房号|1"] * 3, dtype="string"
    )
    for key in (b"k" * 32, b"x" * 100, b"short-key-16byte"):
        got = pseudonymise(values, key, "phone").tolist()
        want = [
            pseudonym(v.strip(), key, "phone") if isinstance(v, str) and v.strip() else pd.NA
            for v in values.tolist()
        ]
        assert got == want
        cat = pseudonymise(values.astype("category"), key, "phone")
        assert cat.fillna("-").tolist() == pd.Series(got, dtype="string").fillna("-").tolist()
        assert np.all(
            pseudonymise(values.astype(object), key, "phone").fillna("-").to_numpy()
            == np.array(pd.Series(got, dtype="string").fillna("-"))
        )


def test_several_files_ingest_like_each_file_alone(tmp_path) -> None:
    """Files of different kinds stacked (categorical columns united, a column missing in
    one file): the same rows, answers and quarantine as ingesting each file alone."""

    a = write_export(tmp_path / "a.xlsx", messy_rows())
    csv_rows = [
        row(20 + i, estate="阳光家园", room=f"2-{300 + i}", answer=ans, phone=f"1390000{i:04d}")
        for i, ans in enumerate(["非常满意", "不满意", "(跳过)", "满意"])
    ]
    b = tmp_path / "b.csv"
    pd.DataFrame(csv_rows, columns=HEADERS).to_csv(b, index=False, encoding="utf-8-sig")
    no_phone = [h for h in HEADERS if not h.startswith("17、")]
    c_rows = [
        [
            v
            for h, v in zip(
                HEADERS,
                row(40 + i, estate="阳光花园", room=f"5-{500 + i}", seconds=f"{30 * (i + 1)}秒"),
                strict=True,
            )
            if not h.startswith("17、")
        ]
        for i in range(4)
    ]
    c = write_export(tmp_path / "c.xlsx", c_rows, no_phone)
    rnd = make_round(tmp_path)
    together = ingest_round(rnd, [a, b, c])
    alone = [ingest_round(rnd, [f]) for f in (a, b, c)]
    for name in ("respondents", "answers", "quarantine"):
        # the quality checks look across files on purpose (one IP in two exports is one
        # source): their codes are the only thing that may differ
        want = pd.concat([_text(getattr(r, name)) for r in alone], ignore_index=True)
        got = _text(getattr(together, name))
        want, got = (f.drop(columns=["quality_rules"], errors="ignore") for f in (want, got))
        pd.testing.assert_frame_equal(got, want, check_dtype=True)
    total = together.counts.query("level == 'total'").iloc[0]
    assert total["read"] == len(messy_rows()) + 8 == total["accepted"] + total["quarantined"]


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns (the answers' ids) as text: files alone have other categories."""
    return frame.astype(
        {c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    )


def test_reader_restores_garbage_collector(tmp_path) -> None:
    bad = tmp_path / "坏.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    assert gc.isenabled()
    with pytest.raises(WuyeError):
        read_survey_export(bad)
    assert gc.isenabled()
    good = write_export(tmp_path / "好.xlsx", messy_rows())
    read_survey_export(good, categorical=True)
    assert gc.isenabled()
