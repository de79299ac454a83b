"""Everything a round produced, bundled for reports and notebooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evaluation.round import Round


def _empty() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class RoundResults:
    """The round's results as tidy DataFrames (see ``docs/architecture.md``).

    ``estates`` is one row per estate: the 台账 columns, the scoring columns
    (``rate, rate_low, rate_high, index, index_low, index_high, n, response_rate,
    threshold, verdict, point_pass, flags``) and the ranking columns (``composite,
    rank, list, reasons``). Frames a stage did not produce are empty.
    """

    round: Round
    estates: pd.DataFrame
    items: pd.DataFrame = field(default_factory=_empty)
    dimensions: pd.DataFrame = field(default_factory=_empty)
    district: pd.DataFrame = field(default_factory=_empty)
    firms: pd.DataFrame = field(default_factory=_empty)
    escalations: pd.DataFrame = field(default_factory=_empty)
    changes: pd.DataFrame = field(default_factory=_empty)
    firm_changes: pd.DataFrame = field(default_factory=_empty)
    drivers: pd.DataFrame = field(default_factory=_empty)
    importance: pd.DataFrame = field(default_factory=_empty)
    trends: pd.DataFrame = field(default_factory=_empty)
    indicators: pd.DataFrame = field(default_factory=_empty)
    plan: pd.DataFrame = field(default_factory=_empty)
    ingest_counts: pd.DataFrame = field(default_factory=_empty)
    quarantine_summary: pd.DataFrame = field(default_factory=_empty)
    meta: dict[str, Any] = field(default_factory=dict)
