"""Sampling parameters of a round (``[sampling]`` in ``round.toml``).

Defined here, in the sampling package, so that sampling needs nothing from ``evaluation``;
``evaluation.round`` validates the section and re-exports :class:`SamplingConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: values of ``[sampling] design``: the external design that drew a round's respondents
#: when this toolkit did not (no sampling record) — a simple random or a systematic sample
#: of each estate's households. Without it such respondents are a non-probability sample.
EXTERNAL_DESIGNS: dict[str, str] = {
    "srs": "简单随机抽样（外部抽样，按台账户数作有限总体校正）",
    "systematic": "等距抽样（外部抽样，按简单随机抽样估计方差）",
}


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters (``[sampling]``); see :func:`sampling.sample_size`."""

    margin: float = 0.08
    planning_p: str | float = "threshold"
    deff: float = 1.0
    response_rate: float = 0.85
    minimum: int = 30
    maximum: int | None = None
    method: str = "srs"
    reserve_ratio: float = 0.5
    design: str | None = None
