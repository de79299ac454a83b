"""Round-level draw: reproducibility, order independence, reserves, tiny estates, systematic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sampling.config import SamplingConfig
from sampling.design import draw_round
from sampling.record import frame_sha256
from sampling.selection import estate_keys, natural_key, stable_hash, systematic_mask
from wuye_common.errors import WuyeError


def make_round(
    spec: dict[str, list[int]], thresholds: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Register + frame; ``spec[estate] = households per building``."""
    rows = []
    for estate, buildings in spec.items():
        for b, size in enumerate(buildings, start=1):
            for i in range(size):
                unit, k = divmod(i, 12)
                rows.append(
                    (
                        estate,
                        f"{b}栋",
                        f"{unit + 1}单元",
                        str(k // 2 + 1),
                        f"{k // 2 + 1}0{k % 2 + 1}",
                    )
                )
    frame = pd.DataFrame(rows, columns=["estate_id", "building", "unit", "floor", "room"])
    frame["household_id"] = (
        frame["estate_id"] + "|" + frame["building"] + "|" + frame["unit"] + "|" + frame["room"]
    )
    ids = list(spec)
    register = pd.DataFrame(
        {
            "estate_id": ids,
            "estate_name": [f"{e}花园" for e in ids],
            "households": [sum(v) for v in spec.values()],
            "threshold": [(thresholds or {}).get(e, 0.8) for e in ids],
        }
    )
    return register, frame


SPEC = {"A01": [40, 35, 60], "B02": [120, 80], "C03": [15] * 6, "D04": [300], "E05": [9, 4]}
# the stratified design sized by margin: what these tests pin down (power sizing and the
# simple random sample of the estate are tested in test_power.py)
CONFIG = SamplingConfig(
    margin=0.1, minimum=10, response_rate=0.85, reserve_ratio=0.5, sizing="margin", method="srs"
)


def draw(register, frame, config=CONFIG, seed=11):
    return draw_round(register, frame, config, seed=seed, confidence=0.95)


def per_estate(sample: pd.DataFrame, estate: str) -> pd.DataFrame:
    return sample[sample["estate_id"] == estate].reset_index(drop=True)


def test_same_seed_same_sample_and_seed_matters():
    register, frame = make_round(SPEC)
    a, b = draw(register, frame), draw(register, frame)
    pd.testing.assert_frame_equal(a.sample, b.sample)
    pd.testing.assert_frame_equal(a.strata, b.strata)
    assert a.meta == b.meta
    c = draw(register, frame, seed=12)
    assert not a.sample["household_id"].equals(c.sample["household_id"])


def test_order_of_rows_and_estates_and_subsets_do_not_matter():
    register, frame = make_round(SPEC)
    base = draw(register, frame)
    shuffled = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)
    other = draw(register.iloc[::-1].reset_index(drop=True), shuffled)
    subset_ids = ["C03", "A01"]
    sub = draw(
        register[register["estate_id"].isin(subset_ids)], frame[frame["estate_id"].isin(subset_ids)]
    )
    for estate in SPEC:
        pd.testing.assert_frame_equal(
            per_estate(base.sample, estate), per_estate(other.sample, estate)
        )
    for estate in subset_ids:
        pd.testing.assert_frame_equal(
            per_estate(base.sample, estate), per_estate(sub.sample, estate)
        )


def test_structure_counts_and_reserves():
    register, frame = make_round(SPEC)
    result = draw(register, frame)
    sample, strata, plan = result.sample, result.strata, result.plan
    assert list(sample.columns[:9]) == [
        "estate_id",
        "building",
        "unit",
        "floor",
        "room",
        "household_id",
        "role",
        "order",
        "seq",
    ]
    assert sample["household_id"].is_unique  # reserves never overlap the main sample
    assert set(sample["household_id"]) <= set(frame["household_id"])
    counts = sample.groupby(["estate_id", "building", "role"]).size().unstack(fill_value=0)
    merged = strata.set_index(["estate_id", "building"]).join(counts)
    assert (merged["n_h"] == merged["main"]).all()
    assert (merged["reserve_h"] == merged.get("reserve", 0)).all()
    assert (merged["N_h"] == frame.groupby(["estate_id", "building"]).size()).all()
    # reserves: ceil(0.5 n_h), at least one, never more than what is left
    expected = np.minimum(
        np.maximum(np.ceil(0.5 * merged["n_h"]), 1), merged["N_h"] - merged["n_h"]
    )
    assert (merged["reserve_h"] == expected).all()
    # order: main 1..n_h and reserves 1..r_h within building; seq 1..k within estate
    for (_, _, _), group in sample.groupby(["estate_id", "building", "role"]):
        assert group["order"].tolist() == list(range(1, len(group) + 1))
    for _, group in sample.groupby("estate_id"):
        assert group["seq"].tolist() == list(range(1, len(group) + 1))
    totals = strata.groupby("estate_id")["n_h"].sum()
    assert (plan.set_index("estate_id")["n"] == totals).all()
    assert plan["estate_id"].tolist() == list(SPEC)  # register order
    strat = strata[strata["design"] == "stratified_srs"]
    np.testing.assert_allclose(strat["pi_h"], strat["n_h"] / strat["N_h"])
    assert (strat["n_h"] >= 1).all()


def test_sizes_follow_the_threshold():
    register, frame = make_round({"A": [400], "B": [400]}, {"A": 0.9, "B": 0.5})
    plan = draw(register, frame, dataclasses.replace(CONFIG, minimum=0)).plan.set_index("estate_id")
    assert plan.loc["A", "n"] < plan.loc["B", "n"]
    fixed = draw(register, frame, dataclasses.replace(CONFIG, minimum=0, planning_p=0.5)).plan
    assert fixed["n"].nunique() == 1 and fixed["n"].iloc[0] == plan.loc["B", "n"]
    assert (plan["margin_at_threshold"] <= CONFIG.margin + 1e-12).all()


def test_neyman_allocation_in_draw():
    register, frame = make_round({"N": [100, 100, 100]})
    config = dataclasses.replace(CONFIG, margin=0.1, minimum=0)
    plain = draw(register, frame, config)
    variances = pd.Series(
        [0.01, 0.25], index=pd.MultiIndex.from_tuples([("N", "1栋"), ("N", "2栋")])
    )
    neyman = draw_round(register, frame, config, seed=11, confidence=0.95, variances=variances)
    n_h = neyman.strata["n_h"].tolist()
    assert sum(n_h) == plain.plan["n"].iloc[0]
    # S = 0.1, 0.5 and (missing → estate mean 0.13) 0.36: n_h ∝ 0.1 : 0.5 : 0.36
    assert n_h[0] < n_h[2] < n_h[1]
    assert neyman.meta["parameters"]["allocation"] == "neyman"
    with pytest.raises(WuyeError, match="variances"):
        draw_round(
            register,
            frame,
            config,
            seed=1,
            confidence=0.95,
            variances=pd.Series([1.0], index=["N"]),
        )


def test_tiny_estates_and_census():
    register, frame = make_round({"T1": [1], "T2": [1, 1], "T3": [3, 1]})
    result = draw(register, frame)
    plan = result.plan.set_index("estate_id")
    assert plan["n"].tolist() == plan["N"].tolist() == [1, 2, 4]  # census
    assert (result.strata["reserve_h"] == 0).all()
    assert (result.sample["role"] == "main").all()
    # expected completes 0.85·N < N: the expected half-width is not 0 ...
    assert (plan.loc[["T2", "T3"], "margin_at_threshold"] > 0).all()
    # ... but it is when everyone is expected to answer
    full = draw(register, frame, dataclasses.replace(CONFIG, response_rate=1.0)).plan
    assert (full["margin_at_threshold"] == 0).all()


def test_fewer_than_buildings_uses_systematic_over_sorted_frame():
    register, frame = make_round({"S": [3] * 40})  # 40 buildings of 3 households
    config = dataclasses.replace(CONFIG, margin=0.25, minimum=0, response_rate=1.0)
    result = draw(register, frame, config)
    plan = result.plan.iloc[0]
    assert plan["n"] < 40 and plan["design"] == "systematic"
    strata = result.strata
    assert strata["n_h"].sum() == plan["n"]
    assert strata["n_h"].max() == 1  # interval N/n > 3: at most one per building
    np.testing.assert_allclose(strata["pi_h"], plan["n"] / plan["N"])
    main = result.sample[result.sample["role"] == "main"]
    assert len(main) == plan["n"]
    # reserves only where the building has a main household
    reserve_buildings = set(result.sample.loc[result.sample["role"] == "reserve", "building"])
    assert reserve_buildings == set(main["building"])


def test_method_systematic():
    register, frame = make_round(SPEC)
    result = draw(register, frame, dataclasses.replace(CONFIG, method="systematic"))
    assert set(result.strata["design"]) == {"systematic"}
    sums = result.strata.groupby("estate_id")["n_h"].sum()
    assert (result.plan.set_index("estate_id")["n"] == sums).all()
    assert result.sample["household_id"].is_unique


@pytest.mark.parametrize("big_n", [1, 2, 7, 10, 97, 500])
def test_systematic_mask_exact_count(big_n):
    for n in {0, 1, big_n // 3, big_n // 2, big_n - 1, big_n}:
        for u in (0.0, 0.25, 0.5, 0.999999):
            pos = np.arange(big_n)
            got = systematic_mask(pos, np.full(big_n, n), np.full(big_n, big_n), np.full(big_n, u))
            assert got.sum() == n


def test_inclusion_frequencies_are_uniform():
    # 300 copies of one estate in one draw: each copy has its own independent key.
    draws = 300
    register, frame = make_round({f"U{i:03d}": [30, 10] for i in range(draws)})
    config = dataclasses.replace(CONFIG, margin=0.3, minimum=8, response_rate=1.0)
    result = draw(register, frame, config)
    main = result.sample[result.sample["role"] == "main"]
    place = frame["household_id"].str.split("|", n=1).str[1]
    hits = (
        main["household_id"]
        .str.split("|", n=1)
        .str[1]
        .value_counts()
        .reindex(place.unique(), fill_value=0)
    )
    strata = result.strata.groupby("building")["pi_h"].first()
    pi = hits.index.str.split("|").str[0].map(strata).to_numpy(dtype=float)
    assert hits.sum() == result.plan["n"].sum()
    # binomial sd ≤ sqrt(300·0.25) ≈ 8.7; allow 4.5 sd
    assert np.all(np.abs(hits.to_numpy() - draws * pi) < 4.5 * np.sqrt(draws * pi * (1 - pi)) + 1)


def test_systematic_inclusion_frequencies_are_n_over_big_n():
    draws = 400
    register, frame = make_round({f"S{i:03d}": [7, 5, 11] for i in range(draws)})
    config = dataclasses.replace(
        CONFIG, margin=0.3, minimum=5, response_rate=1.0, method="systematic"
    )
    result = draw(register, frame, config)
    main = result.sample[result.sample["role"] == "main"]
    n, big_n = result.plan["n"].iloc[0], result.plan["N"].iloc[0]
    assert (result.plan["n"] == n).all() and n < big_n
    hits = (
        main["household_id"]
        .str.split("|", n=1)
        .str[1]
        .value_counts()
        .reindex(frame["household_id"].str.split("|", n=1).str[1].unique(), fill_value=0)
    )
    pi = n / big_n
    assert np.all(np.abs(hits.to_numpy() - draws * pi) < 4.5 * np.sqrt(draws * pi * (1 - pi)) + 1)


def test_vacant_households_excluded_and_missing_estates_planned():
    register, frame = make_round({"V": [50], "W": [20]})
    frame["occupied"] = True
    frame.loc[frame.index[:10], "occupied"] = False
    register = pd.concat(
        [
            register,
            pd.DataFrame(
                {"estate_id": ["Z"], "estate_name": ["空"], "households": [5], "threshold": [0.8]}
            ),
        ],
        ignore_index=True,
    )
    result = draw(register, frame)
    vacant = set(frame.loc[~frame["occupied"], "household_id"])
    assert not vacant & set(result.sample["household_id"])
    plan = result.plan.set_index("estate_id")
    assert plan.loc["V", "N"] == 40
    assert plan.loc["Z", "N"] == 0 and plan.loc["Z", "n"] == 0
    assert result.meta["frame_rows"] == 70 and result.meta["frame_occupied"] == 60
    assert plan.loc["Z", "design"] == "none"


def test_all_vacant_estate_and_empty_frame():
    register, frame = make_round({"V": [3], "W": [2]})
    frame["occupied"] = frame["estate_id"] == "W"
    result = draw(register, frame)
    plan = result.plan.set_index("estate_id")
    assert plan.loc["V", ["N", "n"]].tolist() == [0, 0] and plan.loc["V", "design"] == "none"
    assert set(result.sample["estate_id"]) == {"W"}
    empty = draw(register, frame.iloc[:0])
    assert empty.sample.empty and empty.strata.empty and (empty.plan["N"] == 0).all()


def test_frame_hash_ignores_row_order_and_sees_changes():
    register, frame = make_round(SPEC)
    digest = frame_sha256(frame)
    assert frame_sha256(frame.sample(frac=1.0, random_state=1)) == digest
    changed = frame.copy()
    changed.loc[0, "room"] = "9999"
    assert frame_sha256(changed) != digest
    assert draw(register, frame).meta["frame_sha256"] == digest


def test_stable_keys_and_natural_order():
    assert stable_hash("A01") == stable_hash("A01") != stable_hash("A02")
    keys = estate_keys(["A01", "B02"], 7)
    assert keys.dtype == np.uint64 and keys[0] != keys[1]
    assert estate_keys(["B02"], 7)[0] == keys[1]
    assert sorted(["10栋", "2栋", "1栋", "A座"], key=natural_key) == ["1栋", "2栋", "10栋", "A座"]


def test_bad_inputs():
    register, frame = make_round({"A": [10]})
    with pytest.raises(WuyeError, match="seed"):
        draw_round(register, frame, CONFIG, seed=-1, confidence=0.95)
    with pytest.raises(WuyeError, match="method"):
        draw(register, frame, dataclasses.replace(CONFIG, method="pps"))
    with pytest.raises(WuyeError, match="confidence"):
        draw_round(register, frame, CONFIG, seed=1, confidence=1.5)
    with pytest.raises(WuyeError, match="margin"):
        draw(register, frame, dataclasses.replace(CONFIG, margin=0))
    stray = pd.concat([frame, frame.assign(estate_id="X")], ignore_index=True)
    with pytest.raises(WuyeError, match="X"):
        draw(register, stray)
    with pytest.raises(WuyeError, match="缺少列"):
        draw(register, frame.drop(columns="building"))


def test_rank_within_one_random_key_is_the_exact_lexsort_rank():
    """The packed-key sort of one uint64 key gives lexsort's ranks, ties in the packed
    bits (then lexsort decides) included."""
    from sampling.selection import rank_within

    rng = np.random.default_rng(3)
    for trial in range(60):
        n, k = int(rng.integers(1, 300)), int(rng.integers(1, 20))
        stratum = rng.permutation(np.sort(rng.integers(0, k, n)))
        if trial % 3 == 0:  # equal top bits, different low bits
            z = (rng.integers(0, 4, n).astype(np.uint64) << np.uint64(60)) + rng.integers(
                0, 3, n
            ).astype(np.uint64)
        else:
            z = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2)
        order = np.lexsort((z, stratum))
        expected = np.empty(n, dtype=np.int64)
        ordered = stratum[order]
        expected[order] = np.arange(n) - np.searchsorted(ordered, ordered)
        assert (rank_within(stratum, k, z) == expected).all()
