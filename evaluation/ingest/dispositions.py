"""Dispositions of the sampled households and the estates' AAPOR outcome rates.

Per sampled household (with a sample), in this order:

* ``completed`` — an accepted response links to it;
* ``refused`` / ``not_reached`` — the field records (``contacts``) say so;
* ``ineligible`` — the field records say the dwelling is vacant (``vacant``, 空置) or not the
  sampled household (``not_household``, 非本户): AAPOR's "not eligible" (4.x), out of every
  rate's denominator;
* a *main* household without a response in a building where reserves were used is
  ``substituted``: the k = (completed reserves − refused and ineligible mains)
  non-responding mains of the building with the *lowest* ``order`` are, the other open
  mains are ``not_reached``;
* a *reserve* without a response was **approached** when a reserve later in its building's
  ``order`` completed (reserves are used in that order, so every one before a completed
  one was tried): ``not_reached`` unless the records say ``refused``; a reserve after the
  building's last completed one, with no record, was never tried: ``unused``.

Outcome rates per estate (AAPOR 2023, *Standard Definitions*, 10th ed.; I = completed,
R = refused, NC/unknown = not_reached and substituted; the eligible households are every
main household and every approached reserve, less the ineligible ones — refusals of reserves hidden behind
replacements count, so the rate cannot read near 1 when reserves replaced refusals):

* ``response_rate`` — **RR1** = I / eligible;
* ``cooperation_rate`` — COOP1 = I / (I + R), among households contacted;
* ``refusal_rate`` — REF1 = R / eligible;
* ``contact_rate`` — CON1 = (I + R) / eligible (substituted and not-reached households
  count as not contacted: the records say nothing else);
* ``completion_rate`` — 样本完成率 = I / main sample size (the former "response rate": it
  reads near 1 whenever the reserves filled the main sample, whatever the refusals).

Without contact records the approached reserves behind the last completed one of a
building are not known: RR1 is then an upper bound (its denominator a lower bound).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.ingest import pseudonym

LABELS = np.array(
    ["", "completed", "refused", "not_reached", "substituted", "unused", "ineligible"],
    dtype=object,
)
COMPLETED, REFUSED, NOT_REACHED, SUBSTITUTED, UNUSED, INELIGIBLE = 1, 2, 3, 4, 5, 6
#: field-record statuses (``contacts``) of dwellings outside the survey population
NOT_ELIGIBLE = ("vacant", "not_household")
RATE_COLUMNS = [
    "estate_id",
    "n_main",
    "approached_reserve",
    "ineligible",
    "eligible",
    "completed_main",
    "completed_reserve",
    "completed",
    "refused",
    "not_reached",
    "substituted",
    "response_rate",
    "cooperation_rate",
    "refusal_rate",
    "contact_rate",
    "completion_rate",
]
DISPOSITION_COLUMNS = ["estate_id", "household_key", "role", "status", "building", "order"]


def dispositions(
    resp: pd.DataFrame,
    sample: pd.DataFrame | None,
    contacts: pd.DataFrame | None,
    key: bytes,
    register: pd.DataFrame,
    *,
    sample_keys: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dispositions per sampled household and outcome rates per estate (module doc);
    ``sample_keys``: the sample's household pseudonyms, when already computed. Without a
    sample: completed counts per 台账 estate and no rates."""
    if sample is None:
        return _without_sample(resp, register)
    s = sample[["estate_id", "building", "household_id", "role", "order"]].copy()
    s["household_key"] = (
        pseudonym.pseudonymise(s["household_id"], key, "household")
        if sample_keys is None
        else sample_keys
    )
    completed = s["household_key"].isin(resp["household_key"].dropna()).to_numpy()
    status = np.where(completed, COMPLETED, 0).astype(np.int8)
    if contacts is not None and len(contacts):
        c = contacts.drop_duplicates("household_id", keep="last").set_index("household_id")
        recorded = s["household_id"].map(c["status"]).astype(object)
        for code in (REFUSED, NOT_REACHED):
            status[(recorded.eq(LABELS[code]).to_numpy() & ~completed)] = code
        status[recorded.isin(NOT_ELIGIBLE).to_numpy() & ~completed] = INELIGIBLE
    is_main = s["role"].eq("main").to_numpy(dtype=bool, na_value=False)
    estate, estates = pd.factorize(s["estate_id"], sort=True, use_na_sentinel=True)
    group = _buildings(estate, s["building"])
    order = pd.to_numeric(s["order"], errors="coerce").to_numpy(dtype=float)
    _substitute(status, group, is_main, completed, order)
    _approached_reserves(status, group, is_main, completed, order)
    s["status"] = pd.Series(LABELS[status], index=s.index, dtype=object)
    disp = s[DISPOSITION_COLUMNS].reset_index(drop=True)
    return disp, _rates(estate, estates, s["estate_id"].dtype, status, is_main)


def _without_sample(
    resp: pd.DataFrame, register: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    done = resp.groupby("estate_id").size()
    rates = pd.DataFrame({"estate_id": register["estate_id"].astype(str)})
    for c in RATE_COLUMNS[1:]:
        rates[c] = pd.NA
    rates["completed"] = rates["estate_id"].map(done).fillna(0).astype(int)
    for c in ("response_rate", "cooperation_rate", "refusal_rate", "contact_rate"):
        rates[c] = np.nan
    rates["completion_rate"] = np.nan
    return pd.DataFrame(columns=DISPOSITION_COLUMNS), rates[RATE_COLUMNS]


def _buildings(estate: np.ndarray, building: pd.Series) -> np.ndarray:
    """Building codes (estate × building; −1 where either is missing: never substituted)."""
    code, _ = pd.factorize(building, use_na_sentinel=True)
    pair = np.where(
        (estate >= 0) & (code >= 0),
        estate.astype(np.int64) * (int(code.max(initial=0)) + 2) + code,
        -1,
    )
    group, _ = pd.factorize(pair, use_na_sentinel=False)
    return np.where(pair >= 0, group, -1)


def _substitute(
    status: np.ndarray,
    group: np.ndarray,
    is_main: np.ndarray,
    completed: np.ndarray,
    order: np.ndarray,
) -> None:
    """Open mains: the lowest-``order`` ones a completed reserve replaced are
    ``substituted``, the others ``not_reached`` (in place)."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    known = group >= 0
    used = np.bincount(group[known & completed & ~is_main], minlength=n_groups)
    replaced = known & is_main & ((status == REFUSED) | (status == INELIGIBLE))
    slots = np.clip(used - np.bincount(group[replaced], minlength=n_groups), 0, None)
    open_main = np.flatnonzero(is_main & (status == 0) & known)
    ranked = open_main[np.lexsort((order[open_main], group[open_main]))]
    g = group[ranked]
    first = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1] if len(g) else np.zeros(0, int)
    rank = np.arange(len(g)) - np.repeat(first, np.diff(np.r_[first, len(g)]))
    status[ranked[rank < slots[g]]] = SUBSTITUTED
    status[is_main & (status == 0)] = NOT_REACHED


def _approached_reserves(
    status: np.ndarray,
    group: np.ndarray,
    is_main: np.ndarray,
    completed: np.ndarray,
    order: np.ndarray,
) -> None:
    """Open reserves before their building's last completed reserve (in ``order``) were
    approached (``not_reached``); the rest ``unused`` (in place)."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    known = group >= 0
    done = known & completed & ~is_main & ~np.isnan(order)
    last = np.full(n_groups, -np.inf)
    np.maximum.at(last, group[done], order[done])
    open_reserve = ~is_main & (status == 0)
    tried = open_reserve & known & (order < last[np.maximum(group, 0)])
    status[tried] = NOT_REACHED
    status[~is_main & (status == 0)] = UNUSED


def _rates(
    estate: np.ndarray, estates: pd.Index, dtype: object, status: np.ndarray, is_main: np.ndarray
) -> pd.DataFrame:
    """The per-estate counts and AAPOR rates of the module doc."""

    def per_estate(mask: np.ndarray) -> np.ndarray:
        return np.bincount(estate[mask & (estate >= 0)], minlength=len(estates))

    rates = pd.DataFrame(
        {
            "estate_id": pd.Series(estates, dtype=dtype),
            "n_main": per_estate(is_main),
            "approached_reserve": per_estate(~is_main & (status != UNUSED)),
            "ineligible": per_estate(status == INELIGIBLE),
            "completed_main": per_estate((status == COMPLETED) & is_main),
            "completed_reserve": per_estate((status == COMPLETED) & ~is_main),
            "refused": per_estate(status == REFUSED),
            "not_reached": per_estate(status == NOT_REACHED),
            "substituted": per_estate(status == SUBSTITUTED),
        }
    )
    rates["eligible"] = rates["n_main"] + rates["approached_reserve"] - rates["ineligible"]
    rates["completed"] = rates["completed_main"] + rates["completed_reserve"]
    eligible = rates["eligible"].where(rates["eligible"] > 0)
    contacted = rates["completed"] + rates["refused"]
    rates["response_rate"] = rates["completed"] / eligible
    rates["cooperation_rate"] = rates["completed"] / contacted.where(contacted > 0)
    rates["refusal_rate"] = rates["refused"] / eligible
    rates["contact_rate"] = contacted / eligible
    rates["completion_rate"] = rates["completed"] / rates["n_main"].where(rates["n_main"] > 0)
    return rates[RATE_COLUMNS]
