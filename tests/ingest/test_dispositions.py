"""Dispositions (integer codes and bincounts) equal the plain pandas statement of the rules
on random samples: completed / refused / not_reached / substituted / unused, and the
response rates per estate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.ingest.ingest import _dispositions
from evaluation.ingest.pseudonym import pseudonymise

KEY = b"d" * 32


def _reference(
    resp: pd.DataFrame, sample: pd.DataFrame, contacts: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rules of the ingest module docstring, written with groupby (the former code)."""
    s = sample[["estate_id", "building", "household_id", "role", "order"]].copy()
    s["household_key"] = pseudonymise(s["household_id"], KEY, "household")
    completed = s["household_key"].isin(resp["household_key"].dropna())
    status = pd.Series(np.where(completed, "completed", ""), index=s.index, dtype=object)
    if contacts is not None and len(contacts):
        c = contacts.drop_duplicates("household_id", keep="last").set_index("household_id")
        recorded = s["household_id"].map(c["status"]).astype(object)
        valid = recorded.isin(["refused", "not_reached"]) & ~completed
        status[valid] = recorded[valid]
    is_main = s["role"].eq("main")
    keys = [s["estate_id"], s["building"]]
    used = (completed & ~is_main).groupby(keys).sum()
    refused = (status.eq("refused") & is_main).groupby(keys).sum()
    slots = (used - refused).clip(lower=0)
    open_main = is_main & status.eq("")
    cand = s[open_main].sort_values(["estate_id", "building", "order"])
    rank = cand.groupby(["estate_id", "building"]).cumcount()
    allowed = (
        pd.Series(list(zip(cand["estate_id"], cand["building"], strict=True)), index=cand.index)
        .map(slots)
        .fillna(0)
    )
    subst = rank < allowed
    status[subst[subst].index] = "substituted"
    status[open_main & status.eq("")] = "not_reached"
    status[~is_main & status.eq("")] = "unused"
    s["status"] = status
    disp = s[["estate_id", "household_key", "role", "status", "building", "order"]].reset_index(
        drop=True
    )
    est = s["estate_id"]
    rates = pd.DataFrame(
        {
            "n_main": is_main.groupby(est).sum(),
            "completed_main": (s["status"].eq("completed") & is_main).groupby(est).sum(),
            "completed_reserve": (s["status"].eq("completed") & ~is_main).groupby(est).sum(),
            "refused": s["status"].eq("refused").groupby(est).sum(),
            "not_reached": s["status"].eq("not_reached").groupby(est).sum(),
            "substituted": s["status"].eq("substituted").groupby(est).sum(),
        }
    ).reset_index()
    rates["completed"] = rates["completed_main"] + rates["completed_reserve"]
    rates["response_rate"] = rates["completed"] / rates["n_main"].where(rates["n_main"] > 0)
    return disp, rates[
        [
            "estate_id",
            "n_main",
            "completed_main",
            "completed_reserve",
            "completed",
            "refused",
            "not_reached",
            "substituted",
            "response_rate",
        ]
    ]


@pytest.mark.parametrize("seed", range(12))
def test_dispositions_equal_the_groupby_statement(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    estates = rng.choice(["E3", "E1", "E2"], n)
    buildings = rng.choice(["1栋", "2栋", "10栋"], n)
    sample = pd.DataFrame(
        {
            "estate_id": estates,
            "building": buildings,
            "household_id": [
                f"{e}|{b}|1|{i}" for i, (e, b) in enumerate(zip(estates, buildings, strict=True))
            ],
            "role": rng.choice(["main", "main", "reserve"], n),
            "order": rng.permutation(n) + 1,
        }
    )
    if seed % 4 == 0:  # only reserves in one estate: no main sample, NaN rate
        sample.loc[sample["estate_id"] == "E3", "role"] = "reserve"
    keys = pseudonymise(sample["household_id"], KEY, "household")
    done = rng.random(n) < 0.5
    resp = pd.DataFrame(
        {
            "household_key": keys[done].reset_index(drop=True),
            "estate_id": sample["estate_id"][done].reset_index(drop=True),
        }
    )
    picked = rng.random(n) < 0.3
    contacts = pd.DataFrame(
        {
            "household_id": sample["household_id"][picked],
            "status": rng.choice(["refused", "not_reached", "其他"], int(picked.sum())),
        }
    )
    for c in (None, contacts):
        want_d, want_r = _reference(resp, sample, c)
        got_d, got_r = _dispositions(resp, sample, c, KEY, pd.DataFrame({"estate_id": []}))
        pd.testing.assert_frame_equal(got_d, want_d)
        pd.testing.assert_frame_equal(got_r, want_r)
        again_d, _ = _dispositions(
            resp, sample, c, KEY, pd.DataFrame({"estate_id": []}), sample_keys=keys
        )
        pd.testing.assert_frame_equal(again_d, want_d)
