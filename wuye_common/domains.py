"""Numeric domains: every number read from an input is checked against one, with a
located error when it falls outside (never a silent overflow into ``int64``, an ``inf``
household count, or a NaN weight).

The domains and their documented bounds (README, "坏输入会怎样"):

========================  =================================================  ===========
what                      domain                                              where
========================  =================================================  ===========
户数 households           integer 1 … :data:`MAX_HOUSEHOLDS` (200,000)        台账
counts (投诉件数, …)       integer 0 … :data:`MAX_COUNT` (1,000,000)           台账, rules
scores 0–100              number 0 … 100 (信用积分, option points, bands)      台账, 问卷
shares                    number 0 … 1, or a percent ``35%`` (0 … 100 %)       台账, rules
money (万元)               number 0 … :data:`MAX_MONEY` (10⁸)                   台账
question numbers          integer 1 … :data:`MAX_QUESTION_NUMBER` (9999)       问卷
options per scale         at most :data:`MAX_OPTIONS` (30): codes 1 … 30       问卷
seeds                     integer 0 … 2³² − 1                                  round.toml
========================  =================================================  ===========

Text is read as a number only when it is written as one (:func:`number_values`: digits
with an optional sign, decimal point and exponent, after NFKC — full-width digits count;
``inf``, ``nan``, ``1_000`` and 60-digit runs are not numbers), so the domain check sees
finite floats only.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MAX_HOUSEHOLDS = 200_000
MAX_COUNT = 1_000_000
MAX_MONEY = 1e8
MAX_QUESTION_NUMBER = 9999
MAX_OPTIONS = 30
MAX_SEED = 2**32 - 1
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_LONGEST = 40  # characters of a number's text (longer: not a number anyone typed)


@dataclass(frozen=True)
class Domain:
    """A closed interval ``[low, high]`` of finite numbers, optionally integers only."""

    low: float
    high: float
    integer: bool = False

    def describe(self) -> str:
        """The domain in words, e.g. ``1 至 200000 的整数``."""
        kind = "整数" if self.integer else "数"
        return f"{_plain(self.low)} 至 {_plain(self.high)} 的{kind}"

    def mask(self, values: np.ndarray) -> np.ndarray:
        """True where ``values`` (floats, NaN = unreadable) lie in the domain."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(values) & (values >= self.low) & (values <= self.high)
            if self.integer:
                ok &= np.floor(values) == values
        return ok

    def contains(self, value: Any) -> bool:
        """``value`` is a number (not a bool) of the domain (any size of ``int`` is safe)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, int):
            return self.low <= value <= self.high
        if not math.isfinite(value) or not self.low <= value <= self.high:
            return False
        return not self.integer or value.is_integer()


HOUSEHOLDS = Domain(1, MAX_HOUSEHOLDS, integer=True)
COUNT = Domain(0, MAX_COUNT, integer=True)
SCORE = Domain(0, 100)
SHARE = Domain(0, 1)
MONEY = Domain(0, MAX_MONEY)
QUESTION_NUMBER = Domain(1, MAX_QUESTION_NUMBER, integer=True)
SEED = Domain(0, MAX_SEED, integer=True)


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def number_values(values: pd.Series) -> np.ndarray:
    """Text cells as floats (NaN: blank or not written as a number); once per distinct
    value. Numbers already numeric pass through (non-finite ones become NaN)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed = np.array([to_number(u) for u in uniques] + [np.nan], dtype=float)
    return parsed[np.where(codes < 0, len(uniques), codes)]


def to_number(value: object) -> float:
    """One value as a finite float, NaN when it is not a number written as one (see the
    module docstring)."""
    if isinstance(value, bool):
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            out = float(value)
        except OverflowError:
            return np.nan
        return out if math.isfinite(out) else np.nan
    if not isinstance(value, str):
        return np.nan
    text = unicodedata.normalize("NFKC", value[: 4 * _LONGEST]).strip()
    if len(text) > _LONGEST or not _NUMBER.fullmatch(text):
        return np.nan
    out = float(text)
    return out if math.isfinite(out) else np.nan


def share_values(values: pd.Series) -> np.ndarray:
    """Shares as floats: ``0.35`` is read as a share, ``35%`` (also ``３５％``) as a
    percent and divided by 100 — the text says which; NaN when unreadable."""
    text = values.astype("string").str.normalize("NFKC").str.strip()
    percent = text.str.endswith("%").fillna(False).to_numpy(dtype=bool)
    numbers = number_values(text.str.removesuffix("%"))
    return np.where(percent, numbers / 100.0, numbers)
