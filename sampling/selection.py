"""Seeded, order-independent selection: canonical frame order, random keys, systematic picks.

Reproducibility contract: each estate's draw depends only on the round seed, the estate
id and that estate's own households. Every estate gets a 64-bit key from
``numpy.random.SeedSequence([seed, stable_hash(estate_id)])``; every household gets a
random key ``splitmix64(estate_key + position · φ)`` where ``position`` (1-based) is its
place in the estate's canonical order (building, unit, floor, room, in natural order —
``2栋`` before ``10栋``). The systematic random start uses position 0. Neither the row
order of the frame nor which other estates are present changes an estate's sample, and
the arithmetic (SHA-256, SeedSequence, 64-bit integer mixing) is identical on every
machine and numpy version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_DIGITS = re.compile(r"([0-9]+)")
ORDER_COLUMNS = ("estate_id", "building", "unit", "floor", "room")


def stable_hash(text: str) -> int:
    """A 256-bit integer from SHA-256 of the UTF-8 text (unlike ``hash()``, never salted)."""
    return int.from_bytes(hashlib.sha256(str(text).encode("utf-8")).digest(), "big")


def estate_keys(estate_ids: Iterable[str], seed: int) -> np.ndarray:
    """One ``uint64`` key per estate from ``SeedSequence([seed, stable_hash(estate_id)])``."""
    return np.array(
        [
            np.random.SeedSequence([int(seed), stable_hash(e)]).generate_state(1, np.uint64)[0]
            for e in estate_ids
        ],
        dtype=np.uint64,
    )


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (Steele, Lea & Flood 2014), elementwise on ``uint64``."""
    z = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
    return z


def household_keys(estate_key: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Random ``uint64`` key of the household at 1-based ``position`` in its estate."""
    with np.errstate(over="ignore"):
        return splitmix64(estate_key + position.astype(np.uint64) * GOLDEN)


def to_unit(z: np.ndarray) -> np.ndarray:
    """Map ``uint64`` keys to uniforms in ``[0, 1)`` using their top 53 bits."""
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)


def natural_key(text: str) -> tuple:
    """Sort key putting ``2栋`` before ``10栋`` (digit runs compare as numbers)."""
    parts = _DIGITS.split(text)
    # a digit run compares as its number: (digits without leading zeros, then the digits);
    # no int() so a pasted 1,000,000-digit "room" cannot overflow int parsing
    return (
        tuple((len(p.lstrip("0")), p.lstrip("0")) if i % 2 else p for i, p in enumerate(parts)),
        text,
    )


def natural_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer codes whose order is the natural order of the values; also the sorted uniques.

    Missing values (NaN/None) are treated as the empty string.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    labels = [str(u) for u in uniques]
    missing = codes < 0
    if missing.any():  # NaN/None sort as the empty string
        if "" not in labels:
            labels.append("")
        codes = np.where(missing, labels.index(""), codes)
    order = sorted(range(len(labels)), key=lambda i: natural_key(labels[i]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[codes], [labels[i] for i in order]


def canonical_order(
    frame: pd.DataFrame,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, list[str]]]:
    """Row order sorting the frame by estate, building, unit, floor, room (natural order).

    Returns ``(order, codes, labels)``: ``codes[col]`` are natural-order ranks per row (in
    the frame's original row order) and ``labels[col]`` the sorted distinct values.
    Ties (identical rows) keep their original order.
    """
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {}
    for col in ORDER_COLUMNS:
        codes[col], labels[col] = natural_codes(frame[col])
    bits = [max(len(labels[c]), 1).bit_length() for c in ORDER_COLUMNS]
    if sum(bits) <= 63:
        combined = np.zeros(len(frame), dtype=np.int64)
        for col, b in zip(ORDER_COLUMNS, bits, strict=True):
            combined = (combined << np.int64(b)) | codes[col]
        order = np.argsort(combined, kind="stable")
    else:
        order = np.lexsort(tuple(codes[c] for c in reversed(ORDER_COLUMNS)))
    return order, codes, labels


def systematic_mask(
    position: np.ndarray, n: np.ndarray, big_n: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Systematic selection with fractional interval ``k = N/n`` and random start.

    Household at 0-based ``position`` (in the sorted frame) is selected when a point
    ``(u + j)·k``, ``j = 0..n−1``, ``u ∈ [0, 1)``, falls in ``[position, position + 1)``,
    i.e. ``ceil((i+1)·n/N − u) − ceil(i·n/N − u) = 1`` (Madow 1949; every household has
    inclusion probability ``n/N`` and exactly ``n`` are drawn). Arrays are per household.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(big_n > 0, n / np.maximum(big_n, 1), 0.0)
    upper = np.ceil((position + 1) * step - start)
    lower = np.ceil(position * step - start)
    return (upper - lower) >= 1


def rank_within(stratum: np.ndarray, n_strata: int, *keys: np.ndarray) -> np.ndarray:
    """0-based rank of each row inside its stratum when ordered by ``keys`` (first = major).

    ``keys`` are non-negative integers; ties keep row order, so the result is deterministic.
    """
    sbits = max(n_strata, 1).bit_length()
    if len(keys) == 2 and keys[0].max(initial=0) <= 1 and sbits <= 30:
        # One sortable int64: stratum | flag | top bits of the random key.
        zbits = 62 - sbits - 1
        combined = (
            (stratum.astype(np.int64) << np.int64(zbits + 1))
            | (keys[0].astype(np.int64) << np.int64(zbits))
            | ((keys[1].astype(np.uint64) >> np.uint64(64 - zbits)).astype(np.int64))
        )
        order = np.argsort(combined, kind="stable")
    elif len(keys) == 1 and keys[0].dtype == np.uint64 and sbits <= 30:
        # One sortable int64: stratum | top bits of the key; the exact lexsort only when
        # two keys of a stratum share those bits
        zbits = 62 - sbits
        combined = (stratum.astype(np.int64) << np.int64(zbits)) | (
            (keys[0] >> np.uint64(64 - zbits)).astype(np.int64)
        )
        order = np.argsort(combined, kind="stable")
        ordered = combined[order]
        if (ordered[1:] == ordered[:-1]).any():
            order = np.lexsort((keys[0], stratum))
    else:
        order = np.lexsort(tuple(reversed((stratum, *keys))))
    sorted_stratum = stratum[order]
    starts = np.searchsorted(sorted_stratum, np.arange(n_strata))
    rank = np.empty(len(stratum), dtype=np.int64)
    rank[order] = np.arange(len(stratum)) - starts[sorted_stratum]
    return rank
