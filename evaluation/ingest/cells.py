"""Cell values as text, shared by both spreadsheet readers (:mod:`evaluation.ingest.readers`
via calamine and the streaming :mod:`evaluation.ingest.xlsx`), so that both give the same
frame: integral numbers without ``.0``, dates as ``YYYY-MM-DD HH:MM:SS``, blank text as NA,
and each column a ``Categorical`` converted once per distinct value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from pandas._libs import lib


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
