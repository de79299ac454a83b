"""Counts and ranks within groups given as integer codes: one factorize or sort over the
whole round, no per-group Python and no string keys."""

from __future__ import annotations

import numpy as np
import pandas as pd


def rank_within(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each element's 0-based rank by ``order`` (distinct values) among the elements of its
    ``group`` (non-negative integer codes)."""
    at = np.lexsort((order, group))
    g = group[at]
    start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    first = np.repeat(start, np.diff(np.r_[start, len(at)]))
    rank = np.empty(len(at), dtype=np.int64)
    rank[at] = np.arange(len(at)) - first
    return rank


def group_sizes(*keys: np.ndarray) -> np.ndarray:
    """Per element, how many elements share its combination of ``keys`` (non-negative
    integer codes, equal length)."""
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        key = key.astype(np.int64, copy=False)
        combined = pd.factorize(combined * (int(key.max(initial=0)) + 1) + key)[0]
    return np.bincount(combined)[combined]
