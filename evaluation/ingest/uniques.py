"""Work once per distinct value: pandas string methods are per-element Python loops
(no pyarrow here), while survey columns repeat a handful of values across 100,000 rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def on_uniques(
    values: pd.Series, func: Callable[[pd.Series], pd.Series | pd.DataFrame]
) -> pd.Series | pd.DataFrame:
    """``func(values)`` computed on the distinct values (plus one NA) and spread back.

    ``func`` must be element-wise (row ``i`` of its result depends on value ``i`` only)
    and receives a ``string``-dtype Series.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(np.append(np.asarray(uniques, dtype=object), None)).astype("string")
    result = func(distinct)
    take = np.where(codes < 0, len(distinct) - 1, codes)
    if isinstance(result, pd.DataFrame):
        out = result.iloc[take]
        out.index = values.index
        return out
    return pd.Series(result.array.take(take), index=values.index, name=values.name)
