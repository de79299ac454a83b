"""Fieldwork quality checks and comments at ingest: planted fraud is found, honest forms are
not, personal data in comments is scrubbed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.ingest.comments import clean_comments
from evaluation.ingest.quality.backcheck import clopper_pearson, draw_backcheck
from evaluation.ingest.quality.config import QualityConfig, parse_quality
from evaluation.ingest.quality.rules import _pattern_codes, near_duplicates, straightline
from evaluation.ingest.quality.surveyors import bh_qvalues, robust_z
from wuye_common.errors import WuyeError


@pytest.fixture(scope="module")
def demo_ingest(tmp_path_factory):
    """The small demo round's export (with its dishonest surveyor and forged batch)
    ingested against its sample, with the hidden key."""
    from evaluation import pipeline
    from evaluation.demo import build_district, write_demo_round
    from evaluation.demo.fieldwork import simulate_visits
    from evaluation.demo.round_files import write_export
    from evaluation.ingest import ingest_round
    from evaluation.round import load_round

    ws = tmp_path_factory.mktemp("quality")
    district = build_district(5, estates=8)
    root = write_demo_round(
        ws / "demo",
        "2025H2",
        seed=5,
        estates=8,
        output_dir=ws / "out",
        database=ws / "w.sqlite",
        secrets=ws / ".secrets",
        district=district,
    )
    rnd = load_round(root)
    drawn = pipeline.sample_step(rnd)
    visits = simulate_visits(district, drawn.sample, period="2025H2", seed=5)
    path = root / "fieldwork" / "问卷星导出_2025H2.xlsx"
    write_export(visits.export, path)
    result = ingest_round(rnd, [path], sample=drawn.sample)
    key = visits.key.assign(source_row=visits.key["row"] + 2).set_index("source_row")
    return result, key


def test_forged_batch_is_flagged_with_its_rules(demo_ingest) -> None:
    result, key = demo_ingest
    flags = result.quality_flags.set_index("source_row")
    forged = key.index[key["mess"].str.contains("forged")]
    assert len(forged) >= 6
    rules = flags.reindex(forged)["rules"]
    assert rules.notna().all()
    for code in ("burst", "one_source"):
        assert rules.str.contains(code).all(), code
    # identical all-非常满意 forms: the copies beyond chance (not the first) are near-duplicates
    assert 0 < rules.str.contains("near_duplicate").sum() < len(forged)


def test_dishonest_surveyor_stands_out(demo_ingest) -> None:
    result, key = demo_ingest
    people = result.surveyors
    assert people["fabrication_flag"].sum() == 1
    liar = people.loc[people["score"].idxmax(), "surveyor"]
    fabricated = key.index[key["mess"].str.contains("fabricated")]
    rows = result.respondents.set_index("source_row").reindex(fabricated)
    assert (rows["surveyor"].dropna() == liar).all()
    assert rows["quality_rules"].str.contains("fabrication").all()
    honest = people[people["surveyor"] != liar]
    assert (honest["score"] < people["score"].max() / 3).all()


def test_honest_forms_raise_at_most_one_percent_flags(demo_ingest) -> None:
    result, key = demo_ingest
    liar = result.surveyors.loc[result.surveyors["score"].idxmax(), "surveyor"]
    resp = result.respondents.set_index("source_row")
    honest = ~key.reindex(resp.index)["mess"].str.contains("forged|fabricated").to_numpy()
    honest &= (resp["surveyor"] != liar).fillna(True).to_numpy()
    flagged = (resp["quality_rules"] != "").to_numpy()
    assert honest.sum() > 300
    assert flagged[honest].mean() <= 0.01


def test_comments_keep_no_planted_personal_data(demo_ingest) -> None:
    result, _ = demo_ingest
    text = " ".join(result.comments["comment"].astype(str))
    assert "〔" in text
    from evaluation.demo.names import PERSON_NAMES

    assert not any(name in text for name in PERSON_NAMES)
    assert not pd.Series([text]).str.contains(r"1[3-9]\d{9}|\d+栋\d+单元\d+|\d+-\d+-\d{3,4}").any()
    assert set(result.comment_themes.columns) >= {"estate_id", "theme", "share_dissatisfied"}


def test_backcheck_list_is_a_secret_with_every_surveyor(demo_ingest) -> None:
    result, _ = demo_ingest
    listing = result.secrets["回访名单"]
    assert {"电话", "答卷编号", "回访结果"} <= set(listing.columns)
    surveyors = result.respondents["surveyor"].dropna().unique()
    named = result.secrets["调查员对照"].set_index("surveyor")["调查员"]
    assert set(named.reindex(surveyors)) <= set(listing["调查员"])
    share = len(listing) / len(result.respondents)
    assert 0.1 <= share < 0.13


@pytest.mark.parametrize(
    ("text", "gone", "tag"),
    [
        ("电梯坏了请联系 138 1234 5678", "138 1234 5678", "〔电话〕"),
        ("我家住3栋1单元502，漏水", "3栋1单元502", "〔门牌〕"),
        ("5-2-301 门口垃圾", "5-2-301", "〔门牌〕"),
        ("王师傅修水管很负责", "王师傅", "〔姓名〕"),
        ("业主张伟反映停车难", "张伟", "〔姓名〕"),
        ("保洁员孙秀英很认真", "孙秀英", "〔姓名〕"),
        ("小刘很好，老王家漏水", "小刘", "〔姓名〕"),
        ("欧阳娜娜说绿化差", "欧阳娜娜", "〔姓名〕"),
    ],
)
def test_comment_scrubbing(text: str, gone: str, tag: str) -> None:
    cleaned = clean_comments(pd.Series([text]))["comment"].iloc[0]
    assert gone not in cleaned and tag in cleaned


def test_ordinary_words_are_not_names_and_themes_are_found() -> None:
    out = clean_comments(
        pd.Series(["希望文明养犬，谢谢物业", "业主高度评价物业", "电梯经常坏", "无", "=1+1"])
    )
    assert out["comment"].iloc[0] == "希望文明养犬，谢谢物业"
    assert out["comment"].iloc[1] == "业主高度评价物业"
    assert out["theme"].tolist()[:3] == ["宠物", "其他", "电梯"]
    assert pd.isna(out["comment"].iloc[3]) and out["comment"].iloc[4] == "=1+1"
    extra = clean_comments(pd.Series(["快递柜不够用"]), {"快递": ("快递",)})
    assert extra["theme"].iloc[0] == "快递"


def test_straightline_needs_speed_and_near_duplicates_keep_the_expected() -> None:
    codes = np.array([[1] * 10, [1] * 10, [2, 1] * 5])
    sizes = np.full(10, 5)
    hit = straightline(codes, sizes, np.array([-2.0, 0.5, -2.0]), min_items=8, max_z=-1.0)
    assert hit["straightline"].mask.tolist() == [True, False, False]
    rng = np.random.default_rng(1)
    honest = rng.integers(1, 6, (200, 10))
    copies = np.tile(honest[:1], (6, 1))
    codes = np.vstack([honest, copies])
    found = near_duplicates(codes, np.zeros(206, int), 9, np.arange(206), min_items=8, alpha=0.001)
    assert found.mask[:1].sum() == 0 and found.mask[200:].sum() == 6  # 7 copies, E ≈ 0: keep 1
    assert found.mask[1:200].sum() == 0


def test_answer_patterns_label_each_distinct_row_once() -> None:
    """Packed a few columns at a time (here 70 items of 9 codes: three packs), exactly one
    label per distinct answer vector, numbered in order of first appearance."""
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 9, (3000, 70)).astype(np.int8)
    codes[1000:2000] = codes[rng.integers(0, 1000, 1000)]  # copies of earlier rows
    codes[2000:, 1:] = codes[0, 1:]  # rows that differ in the first column only
    labels = _pattern_codes(codes)
    _, first, expected = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    assert len(set(zip(labels.tolist(), expected.ravel().tolist(), strict=True))) == len(first)
    assert labels.max() + 1 == len(first)
    assert (np.unique(labels, return_index=True)[1] == np.sort(first)).all()


def test_near_duplicates_expect_a_pattern_as_often_as_elsewhere() -> None:
    # a pattern every estate has at the same rate (items correlated beyond the overall
    # answer) is no excess; the same pattern crowding one estate is
    rng = np.random.default_rng(2)
    estates, n = 8, 150
    codes = rng.integers(1, 6, (estates * n, 10))
    codes[:, 9] = 1  # one overall answer: one cell per estate
    same = rng.random(estates * n) < 0.06
    codes[same, :9] = 1  # 6 % answer every item alike, in every estate
    estate = np.repeat(np.arange(estates), n)
    order = np.arange(len(codes))
    found = near_duplicates(codes, estate, 9, order, min_items=8, alpha=0.001)
    assert found.mask.sum() == 0
    extra = np.ones((12, 10), dtype=int)  # a batch of 12 more in estate 0
    codes = np.vstack([codes, extra])
    estate = np.concatenate([estate, np.zeros(12, int)])
    found = near_duplicates(codes, estate, 9, np.arange(len(codes)), min_items=8, alpha=0.001)
    in_zero = same[:n].sum() + 12
    expected = n * same[n:].sum() / (len(same) - n) * (n + 12) / n
    assert found.mask[len(same) :].all() and found.mask[n : len(same)].sum() == 0
    assert found.mask.sum() == in_zero - round(expected)  # the excess over E, latest first


def test_fabrication_score_allows_for_each_surveyors_noise() -> None:
    # six honest surveyors: one with few forms is far from the median by chance alone
    x = pd.Series([0.040, 0.038, 0.042, 0.041, 0.039, 0.094])
    se = pd.Series([0.003, 0.003, 0.003, 0.004, 0.003, 0.03])
    assert robust_z(x).iat[5] > 10  # the plain robust z calls him an outlier
    assert robust_z(x, se).iat[5] < 2  # (x − median) / √(τ² + se²) does not
    tau2 = max(0.0, (1.4826 * (x - x.median()).abs().median()) ** 2 - (se**2).median())
    assert robust_z(x, se).iat[5] == pytest.approx((0.094 - x.median()) / np.sqrt(tau2 + 0.03**2))


def test_statistics_against_independent_values() -> None:
    low, high = clopper_pearson(np.array([0, 3, 10]), np.array([10, 10, 10]), 0.95)
    # exact Clopper–Pearson bounds (R binom.test)
    assert np.allclose(low, [0.0, 0.06673951, 0.69150289], atol=1e-7)
    assert np.allclose(high, [0.30849711, 0.65245285, 1.0], atol=1e-7)
    q = bh_qvalues(np.array([0.01, 0.04, 0.03, np.nan]))
    assert np.allclose(q[:3], [0.03, 0.04, 0.04]) and np.isnan(q[3])


def test_backcheck_draw_covers_every_surveyor() -> None:
    surveyor = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None] * 10)
    risk = np.zeros(110)
    risk[:10] = 3
    drawn = draw_backcheck(surveyor, risk, np.zeros(110), 0.1, seed=3)
    assert len(drawn) == 11 and set(surveyor[drawn["position"]].dropna()) == {"a", "b", "c"}
    assert ((drawn["inclusion"] > 0) & (drawn["inclusion"] <= 1)).all()


def test_quality_config_defaults_and_errors() -> None:
    config = parse_quality({})
    assert config.action("speeder") == "quarantine" and config.action("burst") == "flag"
    assert config.get("near_duplicate", "alpha") == 0.001
    tuned = parse_quality({"burst": {"forms": 6, "action": "off"}, "backcheck_share": 0.15})
    assert not tuned.on("burst") and tuned.get("burst", "forms") == 6
    with pytest.raises(WuyeError) as caught:
        parse_quality({"burst": {"forms": 1.5, "colour": 1}, "nope": 1, "hours": {"action": "x"}})
    columns = {p.column for p in caught.value.problems}
    assert {"quality.burst.forms", "quality.burst.colour", "quality.nope"} <= columns
    assert "quality.hours.action" in columns
    assert isinstance(QualityConfig().rules, dict)


def test_round_toml_quality_section(tmp_path: Path) -> None:
    from evaluation.round import load_round

    (tmp_path / "台账.csv").write_text(
        "小区编号,小区名称,所属社区,物业企业,服务等级,户数\nE1,甲小区,东社区,甲物业,一级,100\n",
        encoding="utf-8",
    )
    base = '[round]\ndistrict = "区"\nperiod = "2025H1"\n[inputs]\nregister = "台账.csv"\n'
    (tmp_path / "round.toml").write_text(base + '[quality.timing]\nrobust_z = "x"\n', "utf-8")
    with pytest.raises(WuyeError) as caught:
        load_round(tmp_path)
    assert caught.value.problems[0].column == "quality.timing.robust_z"
    (tmp_path / "round.toml").write_text(base + "[quality]\nbackcheck_share = 0.2\n", "utf-8")
    assert load_round(tmp_path).quality.backcheck_share == 0.2


def test_surveyor_score_on_a_seeded_simulation() -> None:
    """2 of 20 surveyors fabricate 40 % of their forms (benchmarks/bench_quality.py runs 200
    replications): AUC ≥ 0.90, ≤ 5 % of honest surveyors flagged, the 15 % 回访名单 reaches
    ≥ 80 % of the fabricators."""
    from evaluation.demo.surveyor_sim import replicate

    table = replicate(20, seed=7)
    assert table["auc"].mean() >= 0.90
    assert table["honest_flagged"].mean() <= 0.05
    assert table["reached"].mean() >= 0.80
