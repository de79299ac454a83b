"""Sampling parameters of a round (``[sampling]`` in ``round.toml``).

Defined here, in the sampling package, so that sampling needs nothing from ``evaluation``;
``evaluation.round`` validates the section and re-exports :class:`SamplingConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass


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
