"""Sensitivity of each estate's result to the forms the fieldwork-quality checks flagged.

The flagged forms stay in the estimates (a flag is evidence, not a verdict); here every
estate is scored a second time without them — the same design-based estimator, the flagged
forms treated as non-response of their buildings (:func:`score_round` on the kept forms) —
giving ``rate_clean, rate_clean_low, rate_clean_high, index_clean, n_clean`` and
``verdict_clean`` (and the clean counterparts of the design and test columns the ranking
reads: :data:`CLEAN_SOURCES`, with p- and q-values over the round's estates without the
flagged forms). An estate whose verdict changes carries ``质量敏感`` in its ``flags``, so
that nobody publishes a verdict the flagged forms decided; ``flagged_forms`` counts them.
(Whether the estate's *list* changes is the ranking's question: ``list_clean`` in
:func:`evaluation.ranking.lists.rank_round`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evaluation.round import Round
    from evaluation.scoring.round_scores import AnswerGrids

SENSITIVE = "质量敏感"
#: each form-dependent column of the scores the ranking reads → its value without the
#: flagged forms (the lists are drawn again from these: ``list_clean``)
CLEAN_SOURCES: dict[str, str] = {
    "rate": "rate_clean",
    "rate_se": "rate_clean_se",
    "rate_low": "rate_clean_low",
    "rate_high": "rate_clean_high",
    "index": "index_clean",
    "index_low": "index_clean_low",
    "index_high": "index_clean_high",
    "n": "n_clean",
    "df": "df_clean",
    "fpc": "fpc_clean",
    "census": "census_clean",
    "verdict": "verdict_clean",
    "p_value": "p_value_clean",
    "q_value": "q_value_clean",
    "p_value_red": "p_value_red_clean",
    "q_value_red": "q_value_red_clean",
    "nr_delta": "nr_delta_clean",
}
CLEAN_COLUMNS = ("flagged_forms", *CLEAN_SOURCES.values())


@dataclass
class _Kept:
    respondents: pd.DataFrame
    answers: pd.DataFrame
    response_rates: Any = None


def flagged_mask(respondents: pd.DataFrame) -> np.ndarray:
    """The respondents a quality rule flagged (``quality_rules`` not empty)."""
    if "quality_rules" not in respondents.columns:
        return np.zeros(len(respondents), dtype=bool)
    rules = respondents["quality_rules"].astype("string").fillna("")
    return (rules != "").to_numpy(dtype=bool)


def with_sensitivity(
    estates: pd.DataFrame,
    round: Round,
    ingest: Any,
    strata: pd.DataFrame | None,
    exclude: np.ndarray | None = None,
    *,
    plan: pd.DataFrame | None = None,
    grids: AnswerGrids | None = None,
) -> pd.DataFrame:
    """``estates`` (of :func:`score_round`) with :data:`CLEAN_COLUMNS` and ``质量敏感`` added
    to ``flags`` where the verdict without the ``exclude``d respondents (default: the
    flagged ones, :func:`flagged_mask`) differs. ``strata`` and ``plan`` are the sampling
    record and plan the estimates were made with (the same design, exact interval and
    two-wave boundaries apply to the kept forms). ``grids``: ``ingest``'s answers as
    :class:`~evaluation.scoring.round_scores.AnswerGrids` (the score step's): the kept
    forms' rows are taken from them instead of copying and encoding the kept answers."""
    from evaluation.scoring.round_scores import score_round

    respondents = ingest.respondents
    exclude = flagged_mask(respondents) if exclude is None else np.asarray(exclude, bool)
    out = estates.copy()
    counts = respondents.loc[exclude, "estate_id"].astype(str).value_counts()
    out["flagged_forms"] = out["estate_id"].astype(str).map(counts).fillna(0).astype(np.int64)
    if not exclude.any():
        clean = out
    else:
        shared = grids is not None and grids.ordered and not exclude.all()
        kept = _Kept(
            respondents=respondents[~exclude].reset_index(drop=True),
            answers=None if shared else kept_answers(ingest.answers, respondents, ~exclude),
            response_rates=getattr(ingest, "response_rates", None),
        )
        if kept.respondents.empty:
            blank = {c: np.nan for c in CLEAN_SOURCES if c in out.columns}
            clean = out.assign(**blank).assign(n=0, verdict="未评估", census=False)
        else:
            kept_grids = grids.kept(~exclude) if shared and grids is not None else None
            clean = score_round(
                round, kept, strata, plan=plan, estates_only=True, grids=kept_grids
            ).estates
    clean = clean.set_index(clean["estate_id"].astype(str))
    key = out["estate_id"].astype(str)
    for source, name in CLEAN_SOURCES.items():
        if source in clean.columns:
            out[name] = key.map(clean[source]).to_numpy()
    out["n_clean"] = pd.to_numeric(out["n_clean"], errors="coerce").fillna(0).astype(np.int64)
    out["verdict_clean"] = out["verdict_clean"].fillna("未评估").astype(str)
    changed = (out["verdict_clean"] != out["verdict"]).to_numpy()
    out["flags"] = add_flag(out["flags"], changed)
    return out


def kept_answers(
    answers: pd.DataFrame, respondents: pd.DataFrame, keep: np.ndarray
) -> pd.DataFrame:
    """The columns :func:`score_round` reads of the ``answers`` of the respondents ``keep``
    selects. Answers whose ``response_id`` is a Categorical of the respondents' ids in their
    order (the ingest's and the stored ingest's) are selected through its codes, one lookup
    per respondent, and keep that form (the kept respondents as categories); others by
    id."""
    from evaluation.scoring.round_scores import ANSWER_COLUMNS

    ids = answers["response_id"]
    columns = [c for c in answers.columns if c in ANSWER_COLUMNS]
    if isinstance(ids.dtype, pd.CategoricalDtype) and ids.cat.categories.equals(
        pd.Index(respondents["response_id"])
    ):
        codes = ids.cat.codes.to_numpy()
        rows = np.append(keep, False)[codes]  # code −1 (no id): dropped
        kept = answers.loc[rows, columns].reset_index(drop=True)
        # categories: the kept respondents in their order (scoring maps them by code)
        renumber = (np.cumsum(keep) - 1).astype(codes.dtype)
        kept["response_id"] = pd.Categorical.from_codes(
            renumber[codes[rows]], categories=ids.cat.categories[keep], validate=False
        )
        return kept
    rows = ids.isin(respondents.loc[keep, "response_id"]).to_numpy()
    return answers.loc[rows, columns].reset_index(drop=True)


def add_flag(flags: pd.Series, mask: np.ndarray, label: str = SENSITIVE) -> pd.Series:
    """``flags`` (``；``-joined) with ``label`` added where ``mask`` holds and it is not
    there yet."""
    text = flags.astype("string").fillna("").to_numpy(dtype=object)
    has = np.array([label in t.split("；") for t in text], dtype=bool).reshape(len(text))
    add = np.asarray(mask, bool) & ~has
    text = np.where(add, np.where(text == "", label, text + "；" + label), text)
    return pd.Series(text, index=flags.index, dtype=str)
