"""Everything a round produced, bundled for reports and notebooks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.round import Round, load_round
from wuye_common.files import atomic_path, atomic_write_bytes
from wuye_common.scrub import scrub_text


def _empty() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class RoundResults:
    """The round's results as tidy DataFrames (see ``docs/architecture.md``).

    ``estates`` is one row per estate: the 台账 columns, the scoring columns
    (``rate, rate_low, rate_high, index, index_low, index_high, n, response_rate,
    threshold, verdict, point_pass, flags``) and the ranking columns (``composite,
    rank, list, reasons``; ``rate_clean, verdict_clean, list_clean`` without the flagged forms,
    ``质量敏感`` in ``flags`` when the verdict or list changes without them). ``quality_flags``
    (one row per flagged form), ``quality_surveyors``, ``comments`` (scrubbed) and
    ``comment_themes`` come from the ingest. Frames a stage did not produce are empty.
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
    firm_drivers: pd.DataFrame = field(default_factory=_empty)
    importance: pd.DataFrame = field(default_factory=_empty)
    trends: pd.DataFrame = field(default_factory=_empty)
    indicators: pd.DataFrame = field(default_factory=_empty)
    plan: pd.DataFrame = field(default_factory=_empty)
    ingest_counts: pd.DataFrame = field(default_factory=_empty)
    quarantine_summary: pd.DataFrame = field(default_factory=_empty)
    quality_flags: pd.DataFrame = field(default_factory=_empty)
    quality_surveyors: pd.DataFrame = field(default_factory=_empty)
    comments: pd.DataFrame = field(default_factory=_empty)
    comment_themes: pd.DataFrame = field(default_factory=_empty)
    meta: dict[str, Any] = field(default_factory=dict)


FRAMES: tuple[str, ...] = (
    "estates",
    "items",
    "dimensions",
    "district",
    "firms",
    "escalations",
    "changes",
    "firm_changes",
    "drivers",
    "firm_drivers",
    "importance",
    "trends",
    "indicators",
    "plan",
    "ingest_counts",
    "quarantine_summary",
    "quality_flags",
    "quality_surveyors",
    "comments",
    "comment_themes",
)


def save_results(results: RoundResults, directory: Path) -> list[Path]:
    """Write every frame as ``<name>.csv`` (UTF-8 with BOM, opens in Excel) plus ``meta.json``.

    Returns the written paths. Files are written to a temporary name and renamed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FRAMES:
        target = directory / f"{name}.csv"
        # the text built in memory and encoded once (a file opened as utf-8-sig text is
        # encoded row by row); the same bytes
        text = getattr(results, name).to_csv(index=False, lineterminator=os.linesep)
        atomic_write_bytes(target, text.encode("utf-8-sig"))
        written.append(target)
    meta = {"round_root": scrub_text(str(results.round.root)), **results.meta}
    target = directory / "meta.json"
    with atomic_path(target) as tmp:
        tmp.write_text(
            json.dumps(meta, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
    written.append(target)
    return written


def load_results(round_path: str | Path, directory: str | Path | None = None) -> RoundResults:
    """Load a round's saved results (for notebooks): ``load_results("rounds/2025H1")``."""
    rnd = load_round(round_path)
    directory = Path(directory) if directory else rnd.output_dir / "data"
    frames = {}
    for name in FRAMES:
        path = directory / f"{name}.csv"
        frames[name] = _read_frame(path) if path.exists() else pd.DataFrame()
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    meta.pop("round_root", None)
    return RoundResults(round=rnd, meta=meta, **frames)


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype={"estate_id": str, "item_id": str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    for col in frame.columns:
        if frame[col].dtype == object and frame[col].isin(["True", "False"]).all():
            frame[col] = frame[col] == "True"
    return frame
