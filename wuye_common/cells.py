"""Cell values as text, shared by every spreadsheet reader (:mod:`evaluation.ingest.readers`
via calamine, the streaming :mod:`evaluation.ingest.xlsx`, and :func:`sampling.tables.read_table`
through :mod:`wuye_common.sheets`), so that all give the same
frame: integral numbers without ``.0``, dates as ``YYYY-MM-DD HH:MM:SS``, blank text as NA,
and each column a ``Categorical`` converted once per distinct value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from pandas._libs import lib


def text_frame(
    rows: list[list[object]], index: np.ndarray, *, categorical: bool = False
) -> pd.DataFrame:
    """Calamine's cell values as text columns (``str`` dtype, NA for empty cells; with
    ``categorical``, ``category`` columns of the same text), rows labelled by ``index``;
    rows and columns without any text are left out (:func:`without_blanks`), columns
    labelled by their position.

    Each column is converted once per distinct value: integral numbers without ``.0``,
    dates as ``YYYY-MM-DD HH:MM:SS``. (This is what pandas' ``engine="calamine"`` reader
    does cell by cell in Python; doing it per distinct value is ~10× faster.)
    """
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max(initial=0))
    if (lengths != width).any():
        rows = [list(r) + [""] * (width - len(r)) for r in rows]
    if rows and width:
        table = lib.to_object_array(rows, min_width=width)
    else:
        table = np.empty((len(rows), width), dtype=object)
    labels = pd.Index(np.asarray(index, dtype=np.int64))
    if categorical:  # contiguous columns hash about twice as fast
        by_column = np.ascontiguousarray(table.T)
        frame = pd.DataFrame(
            {c: categorical_texts(by_column[c]) for c in range(width)}, index=labels
        )
        return without_blanks(frame)
    columns = {}
    for c in range(width):
        column = table[:, c]
        if lib.is_string_array(column, skipna=False):  # the usual case: text cells only
            column = column.copy()
            column[column == ""] = None
            columns[c] = pd.Series(column, dtype="str", index=labels)
            continue
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        texts = np.array([cell_text(u) for u in uniques] + [None], dtype=object)
        columns[c] = pd.Series(texts[codes], dtype="str", index=labels)
    return without_blanks(pd.DataFrame(columns, index=labels))


def without_blanks(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows and the columns that hold no text (labels kept)."""
    filled = frame.notna().to_numpy()
    rows, cols = filled.any(axis=1), filled.any(axis=0)
    if rows.all() and cols.all():
        return frame
    return frame.iloc[np.flatnonzero(rows), np.flatnonzero(cols)]


def categorical_texts(column: np.ndarray, *, text_only: bool = False) -> pd.Categorical:
    """One column of cell values as a ``Categorical`` of their text (as :func:`evaluation.ingest.readers._text_frame`
    would convert them: in a column of strings only, ``""`` is NA; otherwise
    :func:`cell_text`), factorised once. ``text_only``: the values are already text or
    None (CSV), kept as they are."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    if not text_only and codes.min(initial=0) >= 0 and lib.is_string_array(uniques, skipna=False):
        # strings only (the usual case): distinct already; "" is NA
        empty = np.flatnonzero(uniques == "")
        if len(empty):
            codes = np.where(codes == empty[0], -1, codes - (codes > empty[0]))
            uniques = np.delete(uniques, empty[0])
        return pd.Categorical.from_codes(
            codes, dtype=pd.CategoricalDtype(pd.Index(uniques, dtype="str"))
        )
    if text_only:
        texts = uniques
    else:  # numbers (e.g. 序号, often all distinct) at once, other cells one by one
        number = np.fromiter((type(u) is float for u in uniques), dtype=bool, count=len(uniques))
        texts = np.empty(len(uniques), dtype=object)
        texts[number] = float_texts(uniques[number].astype(float))
        texts[~number] = [cell_text(u) for u in uniques[~number]]
    # distinct cells may give the same text (1.0 and "1"), or none (blank strings)
    t_codes, categories = pd.factorize(texts, use_na_sentinel=True)
    final = np.append(t_codes, -1)[codes] if len(codes) else codes
    return pd.Categorical.from_codes(
        final,
        dtype=pd.CategoricalDtype(pd.Index(np.asarray(categories, dtype=object), dtype="str")),
    )


def float_texts(values: np.ndarray) -> np.ndarray:
    """:func:`cell_text` of many floats at once."""
    out = np.full(len(values), None, dtype=object)
    finite = np.isfinite(values)
    integral = finite & (np.floor(values) == values) & (np.abs(values) < 1e15)
    out[integral] = values[integral].astype(np.int64).astype(str).astype(object)
    other = ~integral & ~np.isnan(values)
    out[other] = [repr(v) for v in values[other].tolist()]
    return out


def cell_text(value: object) -> str | None:
    """A cell value as its text (``None`` when blank): integral floats without ``.0``,
    datetimes as ``YYYY-MM-DD HH:MM:SS``, booleans ``TRUE``/``FALSE``."""
    if isinstance(value, str):
        return value if value.strip() else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)
