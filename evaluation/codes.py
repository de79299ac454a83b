"""Small array helpers shared by ingest, scoring and drivers: integer codes for id columns
(−1 = missing), runs of equal consecutive values, and the 台账 looked up by estate.

Ingest gives answers as a respondent × item grid (each respondent's answers consecutive,
every respondent with the same items in the same order); these helpers use that layout
when it is there, and give the same codes as ``pandas.factorize`` whichever way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def narrow(codes: np.ndarray, n_labels: int) -> np.ndarray:
    """``codes`` (0..n_labels−1, −1) in the smallest signed integer type pandas keeps for a
    Categorical of ``n_labels`` categories (``n_labels < max``: no copy in ``from_codes``)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_labels < np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)


def runs(values: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal consecutive values (``pd.NA`` in an object
    array: every row its own run)."""
    change = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        try:
            np.not_equal(values[1:], values[:-1], out=change[1:])
        except TypeError:  # pd.NA cannot be compared
            change[1:] = True
    return np.flatnonzero(change)


def factorize(values: np.ndarray, *, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """``pandas.factorize`` with narrowed codes (:func:`narrow`) and the labels as an Index."""
    codes, uniques = pd.factorize(values, sort=sort)
    return narrow(codes, len(uniques)), pd.Index(uniques)


def column_codes(col: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A column's integer codes (−1 = missing) and labels: a Categorical's own codes and
    categories (no hashing), else :func:`factorize` of its values."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), pd.Index(col.cat.categories)
    return factorize(col.to_numpy())


def is_tiled(values: np.ndarray, period: int) -> bool:
    """Whether ``values`` is its first ``period`` values repeated (the respondent × item
    grid: every respondent's rows carry the same sequence)."""
    if not 0 < period <= len(values) or len(values) % period:
        return False
    try:
        with np.errstate(all="ignore"):
            return bool((values.reshape(-1, period) == values[:period]).all())
    except TypeError:  # pd.NA cannot be compared
        return False


def tiled_codes(
    values: np.ndarray, period: int, *, sort: bool = False
) -> tuple[np.ndarray, pd.Index] | None:
    """:func:`factorize` of a tiled array (:func:`is_tiled`): the first ``period`` values
    factorized and tiled (one comparison per row instead of one hash lookup); ``None``
    when ``values`` is not tiled."""
    if not is_tiled(values, period):
        return None
    codes, uniques = factorize(values[:period], sort=sort)
    return np.tile(codes, len(values) // period), uniques


def by_estate(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (the 台账, response rates …) indexed by ``estate_id`` as str, the first row
    of each estate."""
    return (
        frame.assign(estate_id=frame["estate_id"].astype(str))
        .drop_duplicates("estate_id")
        .set_index("estate_id")
    )
