"""Sample sizes per estate (Cochran's formula with finite-population correction).

Pure, vectorised functions: every argument may be a scalar or an array and arrays
broadcast against each other (one element per estate).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from wuye_common.errors import Problem, WuyeError

# Guards ``ceil`` against binary noise such as 217.00000000000003.
_CEIL_TOLERANCE = 1e-9


def z_value(confidence: float) -> float:
    """Two-sided normal quantile ``z_{1-α/2}`` for ``confidence = 1 - α``."""
    _check_open_unit(confidence, "confidence", "置信水平应在 0 与 1 之间（不含两端），通常写 0.95")
    return float(norm.ppf(0.5 + float(confidence) / 2.0))


def sample_size(
    population: ArrayLike,
    *,
    margin: ArrayLike,
    confidence: float = 0.95,
    p: ArrayLike = 0.5,
    deff: ArrayLike = 1.0,
    response_rate: ArrayLike = 1.0,
    minimum: ArrayLike = 0,
    maximum: ArrayLike | None = None,
) -> np.ndarray:
    """Number of households to approach so the estate's proportion has half-width ``margin``.

    Cochran (1977, *Sampling Techniques*, 3rd ed., §4.4, eqs. 4.2 and 4.3)::

        n0 = z² · p(1 − p) · deff / e²            (infinite population)
        n  = n0 / (1 + (n0 − 1) / N)              (finite-population correction)

    ``n`` is rounded up, then inflated for non-response as ``ceil(n / response_rate)``
    (households to approach so that ``n`` are expected to answer), clipped to
    ``[minimum, maximum]`` and finally never above ``N``: when the answer reaches ``N``
    the estate is surveyed in full (census). ``N = 0`` gives 0.

    ``p`` is the planning proportion: the estate's tier threshold (where the verdict is
    decided) or 0.5 (the most conservative value). ``deff`` is the anticipated design
    effect. Returns an ``int64`` array of the broadcast shape (0-d for scalar inputs).
    Invalid arguments raise :class:`~wuye_common.errors.WuyeError` naming the argument.
    """
    big_n = _population(population)
    e = np.asarray(margin, dtype=float)
    _check(
        np.all(np.isfinite(e)) and np.all(e > 0),
        "margin",
        "允许误差（置信区间半宽）应大于 0，例如 0.08 表示 ±8 个百分点",
    )
    _check(np.all(e < 1), "margin", "允许误差应小于 1（写成小数，如 0.08）")
    z = z_value(confidence)
    pp = np.asarray(p, dtype=float)
    _check_open_unit(pp, "p", "预估比例应在 0 与 1 之间（不含两端），例如 0.5 或达标线 0.8")
    d = np.asarray(deff, dtype=float)
    _check(np.all(np.isfinite(d)) and np.all(d > 0), "deff", "设计效应应大于 0，简单随机抽样为 1")
    rr = np.asarray(response_rate, dtype=float)
    _check(
        np.all(np.isfinite(rr)) and np.all((rr > 0) & (rr <= 1)),
        "response_rate",
        "预计应答率应在 0 与 1 之间，例如 0.85",
    )
    low = np.asarray(minimum)
    _check(
        np.all(np.isfinite(low)) and np.all(low >= 0) and np.all(low == np.floor(low)),
        "minimum",
        "最少样本量应为非负整数",
    )
    high = None
    if maximum is not None:
        high = np.asarray(maximum, dtype=float)
        _check(
            np.all(high == np.floor(high)) and np.all(high >= low),
            "maximum",
            "最多样本量应为整数，且不小于最少样本量",
        )

    n0 = z * z * pp * (1.0 - pp) * d / (e * e)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_fpc = n0 / (1.0 + (n0 - 1.0) / np.maximum(big_n, 1))
    n = np.ceil(n_fpc - _CEIL_TOLERANCE)
    n = np.ceil(n / rr - _CEIL_TOLERANCE)
    n = np.maximum(n, low)
    if high is not None:
        n = np.minimum(n, high)
    n = np.minimum(n, big_n)
    return np.asarray(n, dtype=np.int64)


def expected_margin(
    n: ArrayLike,
    population: ArrayLike,
    *,
    p: ArrayLike,
    confidence: float = 0.95,
    deff: ArrayLike = 1.0,
    response_rate: ArrayLike = 1.0,
) -> np.ndarray:
    """Expected half-width of the normal interval for a proportion near ``p``.

    With ``m = n · response_rate`` expected completed interviews out of ``N`` (Cochran
    1977, eq. 3.13, SRS without replacement)::

        e = z · sqrt( deff · p(1 − p) / m · (N − m) / (N − 1) )

    0 for a complete census (``m ≥ N``, including ``N = 1``); NaN when ``n = 0``.
    """
    big_n = _population(population).astype(float)
    m = np.asarray(n, dtype=float) * np.asarray(response_rate, dtype=float)
    m = np.minimum(m, big_n)
    z = z_value(confidence)
    pp = np.asarray(p, dtype=float)
    d = np.asarray(deff, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fpc = np.where(big_n > 1, (big_n - m) / (big_n - 1.0), 0.0)
        out = z * np.sqrt(d * pp * (1.0 - pp) / m * np.maximum(fpc, 0.0))
    return np.where(m > 0, out, np.nan)


def _population(population: ArrayLike) -> np.ndarray:
    big_n = np.asarray(population)
    ok = big_n.size == 0 or (
        np.issubdtype(big_n.dtype, np.number)
        and np.all(np.isfinite(big_n))
        and np.all(big_n >= 0)
        and np.all(big_n == np.floor(big_n))
    )
    _check(bool(ok), "population", "总户数应为非负整数")
    return big_n.astype(np.int64)


def _check_open_unit(value: ArrayLike, name: str, message: str) -> None:
    v = np.asarray(value, dtype=float)
    _check(bool(np.all(np.isfinite(v)) and np.all((v > 0) & (v < 1))), name, message)


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise WuyeError(Problem(f"参数 {name} 无效：{message}", f"修改 {name} 的取值", column=name))
