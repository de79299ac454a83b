"""Simulated rounds for the 红黑榜's operating characteristics: a fixed finite population of
households per estate (its true rate known exactly), a stratified sample drawn afresh each
round, optional non-response that depends on satisfaction, then the project's own
:func:`~evaluation.scoring.round_scores.score_round` and
:func:`~evaluation.ranking.lists.rank_round`.

Used by ``tests/ranking/test_operating.py`` and ``benchmarks/bench_lists.py`` (the
all-at-threshold district of issue #18, the mixed city, the bad-record cases).

* :func:`build_district` — register, sampling record and the satisfied households per
  building (a multivariate hypergeometric split of ``round(rate · N)`` over the buildings);
  ``design="simple"`` (the planner's default since #15) draws a simple random sample of
  the whole estate instead — one stratum per estate, recorded as ``simple_srs``, so that
  scoring gives it the exact interval and exact p-values; ``"stratified"`` allocates the
  sample proportionally over the buildings (``stratified_srs``, beta interval);
* :func:`draw_responses` — one round's respondents and answers: per stratum an SRS of the
  main sample and ``ceil(reserve_ratio · n_h)`` reserves in order; with a response
  ``propensity`` (satisfied, dissatisfied) every main household is approached, reserves in
  order until the building's non-responding mains are replaced; AAPOR RR1 per estate;
* :func:`run_round` — score and rank one simulated round.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from wuye_common.vocabulary import DEFAULT_THRESHOLDS, OVERALL_DIMENSION

ALL_BUILDINGS = "全部楼栋"
"""The building label of a simple random sample of the whole estate (as scoring's)."""
EXACT = "exact"

ITEMS = pd.DataFrame({"item_id": ["Q1"], "is_overall": [True]})
"""The one (overall) item of a simulated questionnaire."""


@dataclass
class SimDistrict:
    """A simulated district: 台账, sampling record and the hidden population."""

    register: pd.DataFrame
    strata: pd.DataFrame
    satisfied: np.ndarray  # per stratum (row of ``strata``): satisfied households K_h
    truth: pd.Series  # per estate: the exact true rate Σ K_h / Σ N_h

    @property
    def stratum_estate(self) -> np.ndarray:
        return pd.Index(self.register["estate_id"]).get_indexer(self.strata["estate_id"])


def _split(total: np.ndarray, parts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each ``total`` split into ``parts`` positive pieces (about equal, ±30%)."""
    owner = np.repeat(np.arange(len(total)), parts)
    shares = rng.uniform(0.7, 1.3, len(owner))
    shares /= np.bincount(owner, shares)[owner]
    size = np.maximum(np.floor(shares * total[owner]), 1).astype(np.int64)
    # the rounding remainder goes to each estate's first building
    first = np.r_[0, np.cumsum(parts)[:-1]]
    size[first] += total - np.bincount(owner, size, len(total)).astype(np.int64)
    return size


def _allocate(n: np.ndarray, N_h: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Proportional allocation of each estate's n over its buildings, at least one each,
    largest remainder, never above N_h."""
    share = N_h / np.bincount(owner, N_h)[owner]
    quota = share * n[owner]
    base = np.clip(np.floor(quota), 1, N_h).astype(np.int64)
    short = n - np.bincount(owner, base, len(n)).astype(np.int64)
    order = np.lexsort((-(quota - np.floor(quota)), owner))
    rank = (
        np.arange(len(order))
        - np.r_[0, np.cumsum(np.bincount(owner, minlength=len(n)))][owner[order]]
    )
    extra = np.zeros(len(N_h), dtype=np.int64)
    extra[order] = (rank < short[owner[order]]).astype(np.int64)
    return np.minimum(base + extra, N_h)


def build_district(
    *,
    tiers: list[str] | np.ndarray,
    households: np.ndarray,
    buildings: np.ndarray,
    n: np.ndarray,
    rates: np.ndarray,
    firms: list[str] | np.ndarray,
    seed: int,
    design: str = "stratified",
) -> SimDistrict:
    """A district whose estate e has ``households[e]`` households in ``buildings[e]``
    buildings (one stratum of all of them for ``design="simple"``), a sample of ``n[e]``
    and exactly ``round(rates[e]·N)`` satisfied households; equal credit scores and
    complaints per 100 households everywhere."""
    rng = np.random.default_rng([seed, 7])
    k = len(households)
    ids = np.array([f"S{i:05d}" for i in range(k)], dtype=object)
    tiers = np.asarray(tiers, dtype=object)
    N = np.asarray(households, dtype=np.int64)
    register = pd.DataFrame(
        {
            "estate_id": ids,
            "estate_name": [f"模拟小区{i}" for i in range(k)],
            "community": "模拟社区",
            "firm": np.asarray(firms, dtype=object),
            "tier": tiers,
            "households": N,
            "threshold": [DEFAULT_THRESHOLDS[t] for t in tiers],
            "credit_score": 80.0,
            "complaints": np.round(N * 0.02),
        }
    )
    simple = design == "simple"
    parts = np.ones(k, dtype=np.int64) if simple else np.asarray(buildings, dtype=np.int64)
    owner = np.repeat(np.arange(k), parts)
    N_h = _split(N, parts, rng)
    n_h = _allocate(np.minimum(np.asarray(n, dtype=np.int64), N), N_h, owner)
    K = np.round(np.asarray(rates, dtype=float) * N).astype(np.int64)
    K_h = np.concatenate([rng.multivariate_hypergeometric(N_h[owner == e], K[e]) for e in range(k)])
    strata = pd.DataFrame(
        {
            "estate_id": ids[owner],
            "building": [
                f"{b + 1}栋" for b in np.arange(len(owner)) - np.r_[0, np.cumsum(parts)][owner]
            ],
            "N_h": N_h,
            "n_h": n_h,
            "design": "simple_srs" if simple else "stratified_srs",
        }
    )
    if simple:
        strata["building"] = ALL_BUILDINGS
    truth = pd.Series(K / N, index=ids)
    return SimDistrict(register=register, strata=strata, satisfied=K_h, truth=truth)


def draw_responses(
    district: SimDistrict,
    rng: np.random.Generator,
    *,
    propensity: tuple[float, float] | None = None,
    reserve_ratio: float = 0.5,
) -> SimpleNamespace:
    """One round's ``respondents``, ``answers`` and ``response_rates`` (module doc)."""
    st = district.strata
    N_h = st["N_h"].to_numpy()
    n_h = st["n_h"].to_numpy()
    r_h = np.minimum(np.ceil(reserve_ratio * n_h).astype(np.int64), N_h - n_h)
    m_h = n_h + r_h
    K_h = district.satisfied
    x = rng.hypergeometric(K_h, N_h - K_h, np.maximum(m_h, 0))
    owner = np.repeat(np.arange(len(st)), m_h)
    pos = np.arange(len(owner)) - np.r_[0, np.cumsum(m_h)][owner]
    sat = (pos < x[owner]).astype(float)
    # a random order within each building: the first n_h drawn are the main sample
    order = np.lexsort((rng.random(len(owner)), owner))
    sat = sat[order]
    main = pos < n_h[owner]
    if propensity is None:
        answers = main
        approached = main
    else:
        p = np.where(sat == 1, propensity[0], propensity[1])
        answers, approached = _fieldwork(rng.random(len(owner)) < p, main, owner, n_h)
    est = district.stratum_estate
    e_of = est[owner]
    k = len(district.register)
    rates = pd.DataFrame(
        {
            "estate_id": district.register["estate_id"],
            "response_rate": np.bincount(e_of, answers, k) / np.bincount(e_of, approached, k),
        }
    )
    ids = np.char.add("r", np.arange(int(answers.sum())).astype(str))
    resp = pd.DataFrame(
        {
            "response_id": ids,
            "estate_id": st["estate_id"].to_numpy()[owner[answers]],
            "building": st["building"].to_numpy()[owner[answers]],
        }
    )
    y = sat[answers]
    ans = pd.DataFrame(
        {
            "response_id": ids,
            "estate_id": resp["estate_id"],
            "item_id": "Q1",
            "dimension": OVERALL_DIMENSION,
            "satisfied": y,
            "points": np.where(y == 1, 80.0, 30.0),
        }
    )
    return SimpleNamespace(respondents=resp, answers=ans, response_rates=rates)


def _fieldwork(
    responds: np.ndarray, main: np.ndarray, owner: np.ndarray, n_h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every main household approached; a building's reserves in order until as many
    answered as its mains did not. Returns (answered, approached)."""
    deficit = np.bincount(owner[main & ~responds], minlength=len(n_h))
    got = (responds & ~main).astype(np.int64)
    before = pd.Series(got).groupby(owner).cumsum().to_numpy() - got
    approached = main | (~main & (before < deficit[owner]))
    return approached & responds, approached


def sim_round(
    register: pd.DataFrame,
    rules: Any = None,
    *,
    seed: int = 0,
    design: str | None = None,
    interval_method: str = "beta",
):
    """A stand-in round for :func:`run_round` (confidence 95%, beta intervals unless
    ``interval_method`` says ``exact``: the default, exact for SRS estates)."""
    return SimpleNamespace(
        round_id="SIM",
        period="2025H1",
        register=register,
        confidence=0.95,
        interval_method=interval_method,
        rules=rules or {},
        seed=seed,
        sampling=SimpleNamespace(design=design),
        questionnaire="default",
    )


def run_round(
    district: SimDistrict,
    rng: np.random.Generator,
    *,
    rules: Any = None,
    propensity: tuple[float, float] | None = None,
    strata: pd.DataFrame | str | None = "record",
    seed: int = 0,
):
    """Score and rank one simulated round: ``(scores, ranking)``. ``strata="record"`` uses
    the district's sampling record; ``None`` scores without one."""
    from evaluation.ranking.lists import rank_round
    from evaluation.scoring.round_scores import score_round

    responses = draw_responses(district, rng, propensity=propensity)
    simple = bool((district.strata.get("design") == "simple_srs").any())
    rnd = sim_round(
        district.register, rules, seed=seed, interval_method=EXACT if simple else "beta"
    )
    record = district.strata if isinstance(strata, str) else strata
    scores = score_round(rnd, responses, record, items=ITEMS, overall_item="Q1")
    return scores, rank_round(rnd, scores.estates)
