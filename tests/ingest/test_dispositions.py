"""Dispositions (integer codes and bincounts) equal the plain pandas statement of the rules
on random samples: completed / refused / not_reached / substituted / unused (reserves before
a completed one were approached), and the AAPOR rates per estate; RR1 by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.ingest.dispositions import RATE_COLUMNS
from evaluation.ingest.dispositions import dispositions as _dispositions
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
        status[recorded.isin(["vacant", "not_household"]) & ~completed] = "ineligible"
    is_main = s["role"].eq("main")
    keys = [s["estate_id"], s["building"]]
    used = (completed & ~is_main).groupby(keys).sum()
    refused = (status.isin(["refused", "ineligible"]) & is_main).groupby(keys).sum()
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
    # reserves before their building's last completed reserve (in order) were approached
    last = s["order"].where(completed & ~is_main).groupby(keys).transform("max")
    tried = ~is_main & status.eq("") & (s["order"] < last)
    status[tried] = "not_reached"
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
            "approached_reserve": (~is_main & s["status"].ne("unused")).groupby(est).sum(),
            "ineligible": s["status"].eq("ineligible").groupby(est).sum(),
        }
    ).reset_index()
    rates["eligible"] = rates["n_main"] + rates["approached_reserve"] - rates["ineligible"]
    rates["completed"] = rates["completed_main"] + rates["completed_reserve"]
    eligible = rates["eligible"].where(rates["eligible"] > 0)
    contacted = rates["completed"] + rates["refused"]
    rates["response_rate"] = rates["completed"] / eligible
    rates["cooperation_rate"] = rates["completed"] / contacted.where(contacted > 0)
    rates["refusal_rate"] = rates["refused"] / eligible
    rates["contact_rate"] = contacted / eligible
    rates["completion_rate"] = rates["completed"] / rates["n_main"].where(rates["n_main"] > 0)
    return disp, rates[RATE_COLUMNS]


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
            "status": rng.choice(
                ["refused", "not_reached", "vacant", "not_household", "其他"], int(picked.sum())
            ),
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


def test_rr1_counts_the_reserves_that_replaced_refusals() -> None:
    """One building, 10 mains and 10 reserves; true cooperation 0.45: mains 1–4 answer, the
    rest refuse (recorded for mains 5–6 only); reserves 1–9 are tried in order, 3, 6 and 9
    answer. Completed 7 of 10 mains' places (样本完成率 0.7), but 19 households were
    approached: RR1 = 7/19; the 2 recorded refusals: REF1 = 2/19, COOP1 = 7/9, CON1 = 9/19."""
    ids = [f"E1|1栋|1|{i}" for i in range(20)]
    sample = pd.DataFrame(
        {
            "estate_id": "E1",
            "building": "1栋",
            "household_id": ids,
            "role": ["main"] * 10 + ["reserve"] * 10,
            "order": list(range(1, 11)) * 2,
        }
    )
    keys = pseudonymise(sample["household_id"], KEY, "household")
    done = [0, 1, 2, 3, 12, 15, 18]  # mains 1–4, reserves 3, 6, 9
    resp = pd.DataFrame({"household_key": keys[done].to_numpy(), "estate_id": "E1"})
    contacts = pd.DataFrame({"household_id": ids[4:6], "status": "refused"})
    disp, rates = _dispositions(resp, sample, contacts, KEY, pd.DataFrame({"estate_id": []}))
    status = disp["status"].tolist()
    assert status[4:6] == ["refused"] * 2
    # 3 reserves used − 2 refused mains: one open main was substituted, the rest not reached
    assert status[6:10] == ["substituted"] + ["not_reached"] * 3
    assert status[10:19].count("not_reached") == 6 and status[19] == "unused"
    r = rates.iloc[0]
    assert r["eligible"] == 19 and r["approached_reserve"] == 9
    assert r["response_rate"] == pytest.approx(7 / 19)
    assert r["completion_rate"] == pytest.approx(0.7)
    assert r["refusal_rate"] == pytest.approx(2 / 19)
    assert r["cooperation_rate"] == pytest.approx(7 / 9)
    assert r["contact_rate"] == pytest.approx(9 / 19)


def test_vacant_and_other_dwellings_leave_the_denominators() -> None:
    """AAPOR 4.x: of 6 mains, main 1 answers, main 2 is recorded 空置 (vacant), main 3 非本户,
    main 4 refuses; reserves 1–3 are tried in order and reserve 3 answers, replacing one of
    the two ineligible mains' places. Eligible: 6 mains + 3 reserves − 2 ineligible = 7;
    RR1 = 2/7, REF1 = 1/7; no open main was substituted (1 reserve used − 1 refused − 2
    ineligible mains leaves no slot)."""
    ids = [f"E1|1栋|1|{i}" for i in range(10)]
    sample = pd.DataFrame(
        {
            "estate_id": "E1",
            "building": "1栋",
            "household_id": ids,
            "role": ["main"] * 6 + ["reserve"] * 4,
            "order": [1, 2, 3, 4, 5, 6, 1, 2, 3, 4],
        }
    )
    keys = pseudonymise(sample["household_id"], KEY, "household")
    resp = pd.DataFrame({"household_key": keys[[0, 8]].to_numpy(), "estate_id": "E1"})
    contacts = pd.DataFrame(
        {"household_id": ids[1:4], "status": ["vacant", "not_household", "refused"]}
    )
    disp, rates = _dispositions(resp, sample, contacts, KEY, pd.DataFrame({"estate_id": []}))
    assert disp["status"].tolist() == [
        "completed",
        "ineligible",
        "ineligible",
        "refused",
        "not_reached",
        "not_reached",
        "not_reached",
        "not_reached",
        "completed",
        "unused",
    ]
    r = rates.iloc[0]
    assert (r["ineligible"], r["approached_reserve"], r["eligible"]) == (2, 3, 7)
    assert r["response_rate"] == pytest.approx(2 / 7)
    assert r["refusal_rate"] == pytest.approx(1 / 7)
    assert r["cooperation_rate"] == pytest.approx(2 / 3)
    assert r["completion_rate"] == pytest.approx(2 / 6)
