"""The integer group helpers of the quality checks and the duplicate rule's choice of the
answer it keeps, against plain pandas group-bys and sorts."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd

from evaluation.ingest import ingest
from evaluation.ingest.groups import group_sizes, rank_within


def test_group_sizes_count_each_combination_of_keys() -> None:
    rng = np.random.default_rng(1)
    a, b, c = rng.integers(0, 7, 500), rng.integers(0, 3, 500), rng.integers(0, 40, 500)
    frame = pd.DataFrame({"a": a, "b": b, "c": c})
    expected = frame.groupby(["a", "b", "c"])["a"].transform("size").to_numpy()
    assert np.array_equal(group_sizes(a, b, c), expected)
    assert np.array_equal(group_sizes(a), np.bincount(a)[a])
    assert np.array_equal(group_sizes(np.array([5]), np.array([2**40])), [1])


def test_rank_within_orders_each_group_by_its_own_order() -> None:
    rng = np.random.default_rng(2)
    group = rng.integers(0, 25, 400)
    order = rng.permutation(400)
    expected = pd.Series(order).groupby(group).rank(method="first").to_numpy() - 1
    assert np.array_equal(rank_within(group, order), expected.astype(np.int64))
    assert len(rank_within(np.zeros(0, np.int64), np.zeros(0, np.int64))) == 0


def _duplicates(times: list[str | None], files: list[int], rows: list[int], keys: list) -> list:
    n = len(times)
    table = pd.DataFrame(
        {
            "file_order": files,
            "source_row": rows,
            "source_file": [f"导出{f}.xlsx" for f in files],
        }
    )
    flags = ingest._Flags(n)
    household = pd.Series(keys, dtype="string")
    none = pd.Series([pd.NA] * n, dtype="string")
    quality = types.SimpleNamespace(action=lambda rule: "quarantine")
    ingest._flag_duplicates(
        table,
        flags,
        pd.Series(["E1"] * n, dtype="string"),
        ingest._Keys(room=none, phone=none, household=household, sample=None),
        pd.Series(pd.to_datetime(times), dtype="datetime64[ns]"),
        types.SimpleNamespace(quality=quality),
    )
    return [text or None for text in flags.detail]


def test_the_latest_answer_of_a_household_is_kept_then_the_later_file_and_row() -> None:
    found = _duplicates(
        ["2025-06-02", None, "2025-06-01", "2025-06-01", "2025-06-01", None, "2025-06-03"],
        [1, 1, 1, 2, 2, 1, 1],
        [2, 3, 4, 2, 3, 5, 6],
        ["h1", "h1", "h2", "h2", "h2", None, "h3"],
    )
    assert found == [
        None,  # h1: the dated answer wins over the undated one
        "保留 导出1.xlsx 第 2 行的答卷",
        "保留 导出2.xlsx 第 3 行的答卷",  # h2: same time: the later file, then the later row
        "保留 导出2.xlsx 第 3 行的答卷",
        None,
        None,  # no household key: never a duplicate
        None,  # h3: one answer
    ]


def test_duplicate_codes_from_the_sample_group_rows_as_their_keys_do() -> None:
    """Rows linked to the sample take their household's code there; the others are coded
    by room, then estate + phone, as the keys themselves would group them (a sample that
    lists one household twice, or a household without a key, included)."""
    sample = pd.Series(["hA", "hB", "hA", pd.NA, "hC"], dtype="string")
    at = np.array([0, 2, 1, -1, -1, 3, -1, -1, -1, 4])
    household = pd.Series(sample.array.take(at, allow_fill=True), dtype="string")
    room = pd.Series(["r1", "r2", "r3", "r9", "r9", "r5", None, None, None, "r6"], dtype="string")
    phone = pd.Series([None] * 6 + ["p1", "p1", "p2", None], dtype="string")
    estate = pd.Series(["E1"] * 10, dtype="string")
    keys = ingest._Keys(room, phone, household, sample, sample_row=at)
    codes = ingest._duplicate_codes(estate, keys)
    plain = pd.factorize(ingest._duplicate_keys(estate, keys))[0]
    assert np.array_equal(codes < 0, plain < 0)
    assert np.array_equal(pd.factorize(codes)[0], pd.factorize(plain)[0])
    assert codes[0] == codes[1] and codes[2] != codes[9] and codes[3] == codes[4]
    assert codes[6] == codes[7] != codes[8]
