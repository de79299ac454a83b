"""The demo district and its simulated fieldwork: deterministic, realistic, messy on purpose."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from evaluation.demo import DemoDistrict, build_district, simulate_fieldwork, simulate_visits
from evaluation.demo.district import (
    BAND_OFFSETS,
    BASE_PERIOD,
    OVERALL,
    period_shift,
    period_step,
    register_for,
    truth_for,
)
from evaluation.demo.fieldwork import DONT_KNOW, EMPTY, MESS_RATES, META_COLUMNS, SKIPPED
from evaluation.demo.names import FORMULA_COMMENT, UNKNOWN_ESTATES
from evaluation.demo.round_files import write_demo_round, write_fieldwork
from evaluation.round import DEFAULT_THRESHOLDS, TIERS, SamplingConfig, load_round
from wuye_common.errors import WuyeError

PERIOD = "2025H2"
NEXT = "2026H1"
SATISFIED = ("非常满意", "满意")


def fake_sample(
    district: DemoDistrict, seed: int = 1, main: int = 6, reserves: int = 3
) -> pd.DataFrame:
    """A stand-in for sampling.draw: ``main`` random households per building + reserves."""
    rng = np.random.default_rng(seed)
    frame = district.frame.assign(key=rng.random(len(district.frame)))
    frame = frame.sort_values(["estate_id", "building", "key"], kind="stable")
    rank = frame.groupby(["estate_id", "building"]).cumcount().to_numpy()
    keep = rank < main + reserves
    sample = frame[keep].drop(columns=["key", "occupied"]).copy()
    rank = rank[keep]
    sample["role"] = np.where(rank < main, "main", "reserve")
    sample["order"] = np.where(rank < main, rank + 1, rank - main + 1)
    sample["seq"] = sample.groupby("estate_id").cumcount() + 1
    return sample.reset_index(drop=True)


@pytest.fixture(scope="module")
def district() -> DemoDistrict:
    return build_district(2024)


@pytest.fixture(scope="module")
def sample(district: DemoDistrict) -> pd.DataFrame:
    return fake_sample(district)


@pytest.fixture(scope="module")
def fieldwork(district: DemoDistrict, sample: pd.DataFrame):
    return simulate_visits(district, sample, period=PERIOD, seed=2024)


def test_same_seed_same_district_and_export(
    district: DemoDistrict, sample: pd.DataFrame, tmp_path: Path
) -> None:
    again = build_district(2024)
    for name in ("register", "frame", "truth", "firms"):
        pd.testing.assert_frame_equal(getattr(district, name), getattr(again, name))
    first = simulate_fieldwork(district, sample, period=PERIOD, seed=2024)
    second = simulate_fieldwork(again, sample, period=PERIOD, seed=2024)
    pd.testing.assert_frame_equal(first, second)
    assert first.attrs["mess"] == second.attrs["mess"]
    paths = []
    for folder in ("a", "b"):
        root = write_demo_round(tmp_path / folder, PERIOD, district=district)
        paths.append((root, write_fieldwork(root, district, sample, period=PERIOD, seed=2024)))
    (root_a, export_a), (root_b, export_b) = paths
    assert export_a.read_bytes() == export_b.read_bytes()
    for name in ("台账.xlsx", "住户清册.csv", "round.toml"):
        assert (root_a / name).read_bytes() == (root_b / name).read_bytes()
    other = build_district(2025)
    assert not other.register["households"].equals(district.register["households"])


def test_register_layout(district: DemoDistrict) -> None:
    reg = district.register
    assert len(reg) == 40
    assert reg["estate_id"].is_unique and reg["estate_id"].str.fullmatch(r"GD\d{3}").all()
    assert reg["estate_name"].is_unique
    assert set(reg["tier"]) == set(TIERS)
    assert 0.15 <= (reg["tier"] == "还建社区").mean() <= 0.25
    assert reg["households"].between(80, 3000).all()
    assert reg["households"].min() < 150 and reg["households"].max() > 2500
    assert 5 <= reg["community"].nunique() <= 8
    assert 10 <= reg["firm"].nunique() <= 14
    assert reg["firm"].str.endswith("有限公司").all()
    per_firm = reg.groupby("firm")[["credit_score", "firm_revenue"]].nunique()
    assert (per_firm == 1).all().all()  # firm attributes repeated on each of its estates
    firms = district.firms
    assert (firms["credit_score"] < 60).any() and firms["credit_score"].between(0, 100).all()
    assert 2 <= (firms["firm_revenue"] >= 1000).sum() <= 6
    assert (reg["complaints"] >= 0).all() and reg["complaints"].sum() > 0
    assert reg["red_property"].dtype == bool and reg["committee"].any()
    share = reg["committee_party_share"]
    assert share.notna().eq(reg["committee"]).all() and share.dropna().between(0, 1).all()


def test_frame_matches_register(district: DemoDistrict) -> None:
    frame, reg = district.frame, district.register
    sizes = frame.groupby("estate_id").size()
    assert sizes.reindex(reg["estate_id"]).tolist() == reg["households"].tolist()
    assert frame["household_id"].is_unique
    assert frame["building"].str.fullmatch(r"[1-9]\d*").all()
    assert frame["unit"].between(1, 4).all() and frame["floor"].between(1, 33).all()
    rebuilt = (
        frame["estate_id"]
        + "|"
        + frame["building"]
        + "|"
        + frame["unit"].astype(str)
        + "|"
        + frame["room"]
    )
    assert rebuilt.equals(frame["household_id"])
    assert frame["room"].astype(int).floordiv(100).equals(frame["floor"])
    assert 0.03 < 1 - frame["occupied"].mean() < 0.07


def test_truth_straddles_the_thresholds(district: DemoDistrict) -> None:
    truth = district.truth
    assert list(truth.columns[-len(district.dimensions) :]) == list(district.dimensions)
    assert district.dimensions[-1] == OVERALL and len(district.dimensions) == 9
    level, thr = truth[OVERALL], truth["tier"].map(DEFAULT_THRESHOLDS)
    assert truth["threshold"].equals(thr)
    gap = logit(level) - logit(thr)
    bands = truth["band"]
    assert bands.value_counts().min() >= 3
    assert (gap[bands == "pass"] >= BAND_OFFSETS["pass"][0] - 1e-9).all()
    assert (gap[bands == "fail"] <= BAND_OFFSETS["fail"][1] + 1e-9).all()
    assert (gap[bands == "near"].abs() <= 0.2 + 1e-9).all()
    poor = truth["firm_role"] == "poor"
    excellent = truth["firm_role"] == "excellent"
    assert 1 <= truth.loc[poor, "firm"].nunique() <= 2 and poor.sum() >= 3
    assert truth.loc[excellent, "firm"].nunique() == 1
    assert (bands[poor] == "fail").all() and (bands[excellent] == "pass").all()
    assert (
        district.firms.set_index("firm").loc[truth.loc[poor, "firm"], "credit_score"] < 60
    ).all()
    dims = truth[list(district.dimensions)]
    assert ((dims > 0) & (dims < 1)).all().all()


def test_period_shift_moves_some_estates_but_not_the_poor_firm(district: DemoDistrict) -> None:
    assert period_step(BASE_PERIOD) == 0 and period_step(NEXT) == 1
    assert period_step("2026Q2") == 1.5 and period_step("2025H1") == -1
    assert not period_shift(district.truth, district.seed, BASE_PERIOD).any()
    pd.testing.assert_frame_equal(truth_for(district, BASE_PERIOD), district.truth)
    before, after = truth_for(district, PERIOD), truth_for(district, NEXT)
    change = after[OVERALL] - before[OVERALL]
    assert (change > 0.03).sum() >= 3 and (change.abs() > 1e-6).mean() > 0.8
    poor = before["firm_role"] == "poor"
    assert (change[poor] <= 1e-12).all()
    assert (after.loc[poor, OVERALL] < after.loc[poor, "threshold"]).all()
    assert not register_for(district, NEXT)["complaints"].equals(
        register_for(district, PERIOD)["complaints"]
    )


def test_export_columns_and_values(district: DemoDistrict, fieldwork) -> None:
    export = fieldwork.export
    cols = list(export.columns)
    assert tuple(cols[:6]) == META_COLUMNS
    numbers = [int(c.split("、")[0]) for c in cols[6:]]
    assert numbers == list(range(1, 20))
    assert cols[6:9] == ["1、您居住的小区名称", "2、您居住的楼栋号", "3、您的房号"]
    assert cols[21] == "16、您对本小区物业服务的总体评价"
    assert cols[22:] == [
        "17、您的联系电话（选填，仅用于回访核实）",
        "18、您对本小区物业服务的意见和建议",
        "19、调查员（入户调查时由调查员填写）",
    ]
    rows = export.dropna(how="all")
    assert rows["序号"].tolist() == list(range(1, len(rows) + 1))
    assert rows["提交答卷时间"].str.fullmatch(r"2025/12/\d{1,2} \d\d:\d\d:\d\d").all()
    assert rows["所用时间"].str.fullmatch(r"\d+秒").all()
    assert set(rows["来源"]) == {"手机提交", "微信", "链接"}
    assert rows["来自IP"].str.fullmatch(r"[\d.]+\(湖北-..\)").all()
    options = set(SATISFIED) | {"基本满意", "不满意", "非常不满意", DONT_KNOW, SKIPPED}
    items = rows[cols[9:22]]
    assert set(np.unique(items.to_numpy().astype(str))) == options
    assert SKIPPED not in set(rows[cols[21]])
    phones = rows[cols[22]]
    given = phones[phones != EMPTY]
    assert given.str.fullmatch(r"1[358]\d{9}").all() and len(given) > 0
    assert (rows[cols[23]] == FORMULA_COMMENT).sum() == 1


def test_answers_follow_the_truth(district: DemoDistrict, fieldwork) -> None:
    export, key = fieldwork.export, fieldwork.key
    clean = key["role"].isin(["main", "reserve"]) & ~key["mess"].str.contains("speeder|fabricated")
    overall = export.loc[clean, "16、您对本小区物业服务的总体评价"]
    answered = ~overall.isin([DONT_KNOW, SKIPPED])
    rate = (
        overall[answered]
        .isin(SATISFIED)
        .groupby(key.loc[clean & answered.reindex(key.index, fill_value=False), "estate_id"])
        .mean()
    )
    truth = district.truth.set_index("estate_id")[OVERALL].reindex(rate.index)
    assert np.corrcoef(rate, truth)[0, 1] > 0.9
    # pooled over estates the share satisfied matches the truth closely
    n = key.loc[clean & answered.reindex(key.index, fill_value=False), "estate_id"]
    expected = district.truth.set_index("estate_id")[OVERALL].reindex(n).mean()
    assert abs(overall[answered].isin(SATISFIED).mean() - expected) < 0.03
    # parking (biased down) is rated worse than the overall item on average
    parking = export.loc[clean, "13、小区停车秩序与车位管理"]
    assert parking.isin(SATISFIED).mean() < overall.isin(SATISFIED).mean()


def test_visits_and_substitutes(sample: pd.DataFrame, fieldwork) -> None:
    disp = fieldwork.dispositions
    assert len(disp) == len(sample) and disp["household_id"].equals(sample["household_id"])
    main = disp["role"] == "main"
    assert set(disp.loc[main, "status"]) == {"completed", "refused", "not_reached"}
    assert 0.6 < (disp.loc[main, "status"] == "completed").mean() < 0.9
    disp = disp.assign(building=sample["building"])
    by = disp.groupby(["estate_id", "building"])
    missed = by.apply(lambda g: ((g["role"] == "main") & (g["status"] != "completed")).sum())
    filled = by.apply(lambda g: ((g["role"] == "reserve") & (g["status"] == "completed")).sum())
    replaced = by["replaced"].sum()
    assert (filled <= missed).all() and filled.equals(replaced.astype(filled.dtype))
    # reserves are used in order: no contacted reserve after an unused one
    res = disp[~main].sort_values(["estate_id", "building", "order"])
    used = (res["status"] != "unused").astype(int)
    assert (
        res.assign(u=used)
        .groupby(["estate_id", "building"])["u"]
        .apply(lambda u: u.is_monotonic_decreasing)
    ).all()
    # every completed visit is in the export, once (plus duplicates)
    key = fieldwork.key
    done = set(disp.loc[disp["status"] == "completed", "household_id"])
    sampled = key[key["role"].isin(["main", "reserve"])]
    assert set(sampled["household_id"]) == done
    assert (
        not key.loc[key["role"] == "unsampled", "household_id"].isin(sample["household_id"]).any()
    )


def test_mess_is_present_at_documented_rates(district: DemoDistrict, fieldwork) -> None:
    export, key, mess = fieldwork.export, fieldwork.key, fieldwork.mess
    assert export.attrs["mess"] == mess
    responses = mess["responses"]
    for kind in (
        "name_fullwidth",
        "name_spaces",
        "name_suffix_dropped",
        "name_typo",
        "name_xiaoqu",
        "speeders",
    ):
        assert 0.4 * MESS_RATES[kind] < mess[kind] / responses < 2 * MESS_RATES[kind], kind
    assert mess["duplicates"] >= 1 and mess["blank_rows"] >= 1
    assert mess["unsampled"] >= 2 and 1 <= mess["unknown_estate"] <= 2
    names = set(district.register["estate_name"])
    estate = export["1、您居住的小区名称"]
    for kind in (
        "name_fullwidth",
        "name_spaces",
        "name_suffix_dropped",
        "name_typo",
        "name_xiaoqu",
    ):
        hit = key["mess"].str.contains(kind)
        if kind != "name_fullwidth":  # names without ASCII stay as they are
            assert not estate[hit].isin(names).any(), kind
    full = key["mess"].str.contains("name_fullwidth")
    assert export.loc[full, "3、您的房号"].str.contains(r"[０-９]").all()
    assert estate[key["role"] == "unknown"].isin(UNKNOWN_ESTATES).all()
    blank = key["role"] == "blank"
    assert export[blank].isna().all().all() and blank.sum() == mess["blank_rows"]
    speed = key["mess"].str.contains("speeder")
    seconds = export["所用时间"].str.removesuffix("秒").astype(float)
    assert (seconds[speed] < 60).all() and (seconds[~speed & ~blank] >= 60).all()
    dup = key["mess"].str.contains("duplicate")
    assert dup.sum() == mess["duplicates"]
    twice = key.loc[dup, "household_id"]
    items = export.columns[9:22]
    for hid in twice:
        same = export.loc[key["household_id"] == hid, items]
        assert len(same) == 2 and (same.iloc[0] == same.iloc[1]).all()
    buildings = export["2、您居住的楼栋号"].dropna()
    assert buildings.str.fullmatch(r"\d+").any() and buildings.str.endswith("号楼").any()
    assert buildings.str.fullmatch(r"[０-９]+栋").any() and buildings.str.endswith("栋").any()
    rooms = export["3、您的房号"].dropna()
    assert rooms.str.contains("单元").any() and rooms.str.fullmatch(r"\d-\d+").any()


def test_written_round_loads(district: DemoDistrict, sample: pd.DataFrame, tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    root = write_demo_round(
        workspace,
        PERIOD,
        district=district,
        output_dir=tmp_path / PERIOD,
        database=workspace / "wuye.sqlite",
        secrets=workspace / ".secrets",
    )
    assert root == workspace / "inputs" / PERIOD
    config = tomllib.loads((root / "round.toml").read_text(encoding="utf-8"))
    assert set(config["sampling"]) <= set(SamplingConfig.__dataclass_fields__)
    rnd = load_round(root)
    assert rnd.district == "葛店经开区" and rnd.period == PERIOD and rnd.confidence == 0.95
    assert rnd.output_dir == (tmp_path / PERIOD).resolve()
    assert rnd.database == (workspace / "wuye.sqlite").resolve()
    assert rnd.secret_path.parent == (workspace / ".secrets").resolve()
    reg = rnd.register
    assert reg["estate_id"].tolist() == district.register["estate_id"].tolist()
    for col in (
        "households",
        "complaints",
        "credit_score",
        "firm_revenue",
        "red_property",
        "committee",
        "committee_party_share",
        "professional",
    ):
        expected = register_for(district, PERIOD)[col]
        assert np.allclose(reg[col].astype(float), expected.astype(float), equal_nan=True), col
    frame = pd.read_csv(rnd.paths["frame"], dtype=str, encoding="utf-8-sig")
    assert list(frame.columns) == ["小区编号", "楼栋", "单元", "楼层", "房号", "是否入住"]
    assert len(frame) == reg["households"].sum()
    assert set(frame["是否入住"]) == {"是", "否"}
    export = write_fieldwork(root, district, sample, period=PERIOD, seed=2024)
    assert export == root / "fieldwork" / f"问卷星导出_{PERIOD}.xlsx"
    assert sorted(p.name for p in root.glob(rnd.paths["responses"][0].split("/")[-2] + "/*")) == [
        export.name
    ]
    back = pd.read_excel(export, dtype=str, engine="calamine")
    assert back.shape == simulate_fieldwork(district, sample, period=PERIOD, seed=2024).shape
    assert (back.iloc[:, -2] == FORMULA_COMMENT).sum() == 1  # text, not a formula
    quarter = write_demo_round(workspace, "2026Q1", district=district)
    assert set(load_round(quarter).register["tier"]) == {"还建社区"}


def test_two_rounds_differ(district: DemoDistrict, sample: pd.DataFrame) -> None:
    first = simulate_fieldwork(district, sample, period=PERIOD, seed=2024)
    second = simulate_fieldwork(district, sample, period=NEXT, seed=2024)
    assert not first.equals(second)
    assert second["提交答卷时间"].dropna().str.startswith("2026/6/").all()


def test_bigger_district_is_consistent() -> None:
    big = build_district(7, estates=300)
    reg = big.register
    assert len(reg) == 300 and reg["estate_id"].str.fullmatch(r"GD\d{3}").all()
    assert reg["estate_name"].is_unique and set(reg["tier"]) == set(TIERS)
    assert len(big.frame) == reg["households"].sum()
    assert big.frame["household_id"].is_unique
    assert reg["community"].nunique() >= 40 and reg["firm"].nunique() == 90
    assert big.truth["band"].value_counts().min() > 20
    fw = simulate_visits(big, fake_sample(big, main=2, reserves=1), period=NEXT, seed=3)
    assert fw.mess["unknown_estate"] >= 1 and fw.mess["responses"] > 1000
    assert re.fullmatch(r"GD\d{4}", build_district(7, estates=1000).register["estate_id"].iloc[-1])


def test_bad_arguments_are_clear_errors(district: DemoDistrict, sample: pd.DataFrame) -> None:
    with pytest.raises(WuyeError, match="太少"):
        build_district(1, estates=3)
    with pytest.raises(WuyeError, match="样本缺少列"):
        simulate_fieldwork(district, sample.drop(columns=["role"]), period=PERIOD, seed=1)
    with pytest.raises(WuyeError, match="评估期"):
        simulate_fieldwork(district, sample, period="2025-H1", seed=1)
    stranger = sample.assign(estate_id="XX999")
    with pytest.raises(WuyeError, match="没有的小区"):
        simulate_fieldwork(district, stranger, period=PERIOD, seed=1)


def test_visits_do_not_depend_on_sample_row_order(
    district: DemoDistrict, sample: pd.DataFrame
) -> None:
    shuffled = sample.sample(frac=1.0, random_state=5).reset_index(drop=True)
    shuffled = shuffled.assign(order=shuffled["order"].astype(str))  # as read from a CSV
    first = simulate_visits(district, sample, period=PERIOD, seed=2024)
    second = simulate_visits(district, shuffled, period=PERIOD, seed=2024)
    pd.testing.assert_frame_equal(first.export, second.export)
    assert second.dispositions["household_id"].tolist() == shuffled["household_id"].tolist()
    back = second.dispositions.set_index("household_id").loc[sample["household_id"]]
    assert back["status"].tolist() == first.dispositions["status"].tolist()


def test_quarterly_round_and_other_questionnaire(
    district: DemoDistrict, sample: pd.DataFrame, tmp_path: Path
) -> None:
    resettled = district.register.loc[district.register["tier"] == "还建社区", "estate_id"]
    quarter = sample[sample["estate_id"].isin(resettled)]
    export = simulate_fieldwork(district, quarter, period="2026Q1", seed=9)
    assert export["提交答卷时间"].dropna().str.startswith("2026/3/").all()
    default = (
        Path(__file__).resolve().parents[2] / "evaluation" / "questionnaire" / "default.toml"
    ).read_text(encoding="utf-8")
    custom = tmp_path / "q.toml"
    custom.write_text(
        default.replace('dimension = "停车管理"', 'dimension = "停车管理"\nscale = "three"'),
        encoding="utf-8",
    )
    other = simulate_fieldwork(
        district, quarter, period="2026Q1", seed=9, questionnaire_path=custom
    )
    parking = set(other["13、小区停车秩序与车位管理"].dropna())
    assert parking <= {"满意", "一般", "不满意", DONT_KNOW, SKIPPED} and "一般" in parking
