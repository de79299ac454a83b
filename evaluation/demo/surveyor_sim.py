"""A seeded simulation of surveyors, some of whom fabricate part of their forms, to measure
the surveyor-level checks (:mod:`evaluation.ingest.quality`): the fabrication score's AUC,
the share of honest surveyors flagged, and how many fabricators the risk-weighted 回访名单
reaches. Used by ``benchmarks/bench_quality.py`` and, with fewer replications, by the tests.

Each replication: ``estates`` estates (true satisfaction uniform on 0.4–0.95), each visited by
two or three of ``surveyors`` surveyors, ``forms`` forms per estate. Honest answers follow the
demo's copula (a respondent factor, loading 0.6; 2 % 不清楚), durations log-normal around
four minutes, visits through the day. A fabricator replaces ``share`` of his forms by his
own: every item 非常满意 or 满意 (70/30), no 不清楚, 70–130 seconds, typed in evening sessions
two to four minutes apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr
from scipy.stats import mannwhitneyu

from evaluation.ingest.quality.backcheck import draw_backcheck
from evaluation.ingest.quality.checks import Forms, run_checks
from evaluation.ingest.quality.config import QualityConfig

ITEMS = 13


@dataclass
class Outcome:
    """One replication's figures."""

    auc: float
    honest_flagged: float
    """Share of honest surveyors with ``fabrication_flag``."""
    reached: float
    """Share of fabricators with at least one fabricated form on the 回访名单."""


def simulate(
    seed: int,
    *,
    surveyors: int = 20,
    fabricators: int = 2,
    estates: int = 40,
    forms: int = 30,
    share: float = 0.4,
    backcheck_share: float = 0.15,
) -> Outcome:
    """One replication (module doc)."""
    rng = np.random.default_rng(seed)
    n = estates * forms
    estate = np.repeat(np.arange(estates), forms)
    crew = np.argsort(rng.random((estates, surveyors)), axis=1)[:, :3]
    k = rng.integers(2, 4, estates)
    who = crew[estate, (rng.random(n) * k[estate]).astype(int)]
    p = rng.uniform(0.4, 0.95, estates)[estate]
    u = ndtr(0.6 * rng.standard_normal((n, 1)) + 0.8 * rng.standard_normal((n, ITEMS)))
    top = np.clip(0.35 + 0.5 * (p - 0.5), 0.15, 0.7)[:, None] * p[:, None]
    codes = np.where(
        u < top,
        1,
        np.where(
            u < p[:, None],
            2,
            3
            + (u > p[:, None] + (1 - p[:, None]) * 0.57)
            + (u > p[:, None] + (1 - p[:, None]) * 0.86),
        ),
    )
    codes[rng.random((n, ITEMS)) < 0.02] = 0
    duration = np.clip(rng.lognormal(np.log(240), 0.45, n), 62, 1800)
    day = rng.integers(0, 20, n)
    seconds = day * 86400.0 + rng.uniform(8 * 3600, 21 * 3600, n)
    liars = rng.choice(surveyors, fabricators, replace=False)
    fake = np.isin(who, liars) & (rng.random(n) < share)
    codes[fake] = np.where(rng.random((int(fake.sum()), ITEMS)) < 0.7, 1, 2)
    duration[fake] = rng.uniform(70, 130, int(fake.sum()))
    order = np.flatnonzero(fake)
    session = np.arange(len(order)) // 6
    start = rng.integers(0, 20, int(session.max(initial=0)) + 1) * 86400.0 + 19 * 3600
    seconds[order] = (
        start[session]
        + pd.Series(rng.uniform(120, 240, len(order))).groupby(session).cumsum().to_numpy()
    )
    names = pd.Series([f"S{s:02d}" for s in who])
    form_table = Forms(
        estate_id=pd.Series([f"E{e:03d}" for e in estate]),
        response_id=pd.Series([f"r{i}" for i in range(n)]),
        source_file=pd.Series(["sim.xlsx"] * n),
        source_row=pd.Series(np.arange(2, n + 2)),
        codes=codes.astype(np.int64),
        scale_sizes=np.full(ITEMS, 5),
        overall=ITEMS - 1,
        submitted=pd.Series(pd.to_datetime(seconds, unit="s")),
        duration=duration,
        ip_key=pd.Series([None] * n, dtype="string"),
        device_key=pd.Series([None] * n, dtype="string"),
        phone_key=pd.Series([None] * n, dtype="string"),
        surveyor=names,
        satisfied=np.where(codes[:, -1] == 0, np.nan, (codes[:, -1] <= 2).astype(float)),
    )
    config = QualityConfig()
    quality = run_checks(form_table, config)
    table = quality.surveyors.set_index("surveyor")
    is_liar = table.index.isin([f"S{s:02d}" for s in liars])
    score = table["score"].to_numpy(dtype=float)
    auc = mannwhitneyu(score[is_liar], score[~is_liar]).statistic / (
        is_liar.sum() * (~is_liar).sum()
    )
    drawn = draw_backcheck(names, quality.risk, quality.surveyor_risk, backcheck_share, seed)
    on_list = np.zeros(n, dtype=bool)
    on_list[drawn["position"].to_numpy()] = True
    reached = np.mean([(on_list & fake & (who == s)).any() for s in liars])
    return Outcome(
        auc=float(auc),
        honest_flagged=float(table["fabrication_flag"].to_numpy(bool)[~is_liar].mean()),
        reached=float(reached),
    )


def replicate(replications: int, seed: int = 2024, **kwargs: float) -> pd.DataFrame:
    """``replications`` seeded replications as a table (one row each)."""
    rows = [vars(simulate(seed + r, **kwargs)) for r in range(replications)]
    return pd.DataFrame(rows)
