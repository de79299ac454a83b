"""Sampling parameters of a round (``[sampling]`` in ``round.toml``).

Defined here, in the sampling package, so that sampling needs nothing from ``evaluation``;
``evaluation.round`` validates the section and re-exports :class:`SamplingConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

SIZINGS = ("power", "margin")
"""``sizing``: by the power to detect a shortfall (:mod:`sampling.power`, the default) or by
the interval's half-width at the threshold (:func:`sampling.sample_size`, Cochran)."""
METHODS = ("simple", "srs", "systematic")
"""``method``: ``simple`` — a simple random sample of the estate's households (the default:
the exact interval applies); ``srs`` — stratified by building with proportional allocation;
``systematic`` — systematic over the sorted frame. See :mod:`sampling.design`."""

#: values of ``[sampling] design``: the external design that drew a round's respondents
#: when this toolkit did not (no sampling record) — a simple random or a systematic sample
#: of each estate's households. Without it such respondents are a non-probability sample.
EXTERNAL_DESIGNS: dict[str, str] = {
    "srs": "简单随机抽样（外部抽样，按台账户数作有限总体校正）",
    "systematic": "等距抽样（外部抽样，按简单随机抽样估计方差）",
}


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters (``[sampling]``); see :mod:`sampling.power` (``sizing = "power"``:
    ``delta``, ``power``, ``budget``) and :func:`sampling.sample_size` (``"margin"``).

    ``waves = 2`` plans a first wave of ``first_share`` of the one-wave plan's households
    and a top-up of ``topup_share`` of them (``wuye-eval topup``) for the estates still
    临界 after it (:mod:`sampling.topup`; ``method = "simple"`` only)."""

    margin: float = 0.08
    planning_p: str | float = "threshold"
    deff: float = 1.0
    response_rate: float = 0.85
    minimum: int = 30
    maximum: int | None = None
    method: str = "simple"
    reserve_ratio: float = 0.5
    sizing: str = "power"
    delta: float = 0.05
    power: float = 0.8
    budget: int | None = None
    waves: int = 1
    first_share: float = 0.6
    topup_share: float = 0.8
    design: str | None = None
