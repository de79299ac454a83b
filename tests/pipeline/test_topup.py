"""``wuye-eval topup``: a two-wave round end to end (first wave, interim verdicts, top-up
from the households not yet approached, final group-sequential verdicts)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from evaluation import pipeline
from evaluation.cli import main
from evaluation.demo import build_district, simulate_fieldwork, write_demo_round, write_fieldwork
from evaluation.demo.round_files import write_export
from evaluation.round import load_round
from evaluation.scoring import exact
from wuye_common.errors import WuyeError

PERIOD, SEED = "2025H2", 5
# thresholds near some demo estates' rates, so that the first wave leaves some 临界
THRESHOLDS = {"一级": 0.55, "三级": 0.95, "四级": 0.93}


def _scores(rnd):
    with pipeline.RunContext(rnd) as ctx:
        return pipeline.score_step(rnd, pipeline.ingest_step(rnd, context=ctx), context=ctx)


def _wave_counts(rnd) -> pd.DataFrame:
    stored = pipeline._stored_ingest(rnd)
    ans = stored.answers
    ov = ans[(ans["dimension"].astype(str) == "总体评价") & ans["satisfied"].notna()]
    resp = stored.respondents.set_index("response_id")
    wave = resp["wave"] if "wave" in resp.columns else pd.Series(1, index=resp.index)
    ov = ov.assign(wave=ov["response_id"].map(wave).fillna(1).astype(int).to_numpy())
    return ov.groupby(["estate_id", "wave"], observed=True)["satisfied"].agg(["sum", "size"])


@pytest.fixture(scope="module")
def two_wave(tmp_path_factory):
    ws = tmp_path_factory.mktemp("topup") / "ws"
    district = build_district(SEED, estates=5)
    root = write_demo_round(
        ws / "demo",
        PERIOD,
        seed=SEED,
        estates=5,
        output_dir=ws / "out",
        database=ws / "wuye.sqlite",
        secrets=ws / ".secrets",
        district=district,
    )
    config = tomllib.loads((root / "round.toml").read_text(encoding="utf-8"))
    config["sampling"]["waves"] = 2
    config["thresholds"] = THRESHOLDS
    (root / "round.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    rnd = load_round(root)
    first = pipeline.sample_step(rnd)
    write_fieldwork(root, district, first.sample, period=PERIOD, seed=SEED)
    interim = _scores(rnd).estates.copy()
    interim_counts = _wave_counts(rnd)
    topup = pipeline.topup_step(rnd)
    export = simulate_fieldwork(district, topup.sample, period=PERIOD, seed=SEED + 1)
    write_export(export, root / "fieldwork" / f"问卷星导出_{PERIOD}_补充.xlsx")
    final = _scores(rnd).estates
    return rnd, first, interim, interim_counts, topup, final


def test_interim_verdicts_use_the_first_look_boundary(two_wave):
    rnd, first, interim, counts, *_ = two_wave
    plan = first.plan.set_index("estate_id")
    e = interim.set_index("estate_id")
    assert (e["flags"].str.contains("两轮设计·首轮判定")).all()
    for estate, row in e.iterrows():
        x1, m1 = (int(v) for v in counts.loc[(estate, 1)])
        m2_planned = int(np.floor(plan.loc[estate, "n_topup"] * rnd.sampling.response_rate + 1e-9))
        N = int(first.strata.loc[first.strata["estate_id"] == estate, "N_h"].sum())
        c1, d1 = exact.first_wave_counts(N, m1, m2_planned, row["threshold"])
        want = "未达标" if x1 <= c1 else "达标" if x1 >= d1 else "临界"
        assert row["verdict"] == want
    assert (e["verdict"] == "临界").sum() >= 2


def test_topup_draws_only_undecided_estates_from_households_not_approached(two_wave):
    rnd, first, interim, _, topup, _ = two_wave
    undecided = set(interim.loc[interim["verdict"] == "临界", "estate_id"])
    drawn = topup.sample
    assert set(drawn["estate_id"]) == undecided and (drawn["wave"] == 2).all()
    main_first = set(first.sample.loc[first.sample["role"] == "main", "household_id"])
    assert not main_first & set(drawn["household_id"])
    plan = first.plan.set_index("estate_id")["n_topup"]
    got = drawn[drawn["role"] == "main"].groupby("estate_id").size()
    assert (got <= plan.reindex(got.index)).all()
    folder = Path(rnd.output_dir) / "sampling" / "topup"
    assert (folder / f"抽样入户表_{rnd.round_id}_补充调查.xlsx").exists()
    assert (folder / "plan.csv").exists() and (folder / "sample.csv").exists()
    with pytest.raises(WuyeError, match="已经抽取过补充样本"):
        pipeline.topup_step(rnd)


def test_final_verdicts_are_the_group_sequential_ones(two_wave):
    rnd, first, interim, _, topup, final = two_wave
    counts = _wave_counts(rnd)
    plan = first.plan.set_index("estate_id")
    e = final.set_index("estate_id")
    topped = set(topup.sample["estate_id"])
    for estate in topped:
        x1, m1 = (int(v) for v in counts.loc[(estate, 1)])
        x2, m2 = (
            (int(v) for v in counts.loc[(estate, 2)]) if (estate, 2) in counts.index else (0, 0)
        )
        m2_planned = int(np.floor(plan.loc[estate, "n_topup"] * rnd.sampling.response_rate + 1e-9))
        N = int(first.strata.loc[first.strata["estate_id"] == estate, "N_h"].sum())
        b = exact.two_wave_boundaries(N, m1, m2, e.loc[estate, "threshold"], planned_m2=m2_planned)
        assert e.loc[estate, "verdict"] == exact.two_wave_verdict(x1, x2, b, surveyed=m2 > 0)
        assert "两轮判定（含补充调查）" in e.loc[estate, "flags"]
        assert b.spent_fail <= 0.025 + 1e-12 and b.spent_pass <= 0.025 + 1e-12
    decided = interim.loc[interim["verdict"] != "临界", "estate_id"]
    assert (
        e.loc[decided, "verdict"].to_numpy()
        == interim.set_index("estate_id").loc[decided, "verdict"].to_numpy()
    ).all()


def test_topup_of_a_one_wave_round_is_refused(ws, capsys):
    root = ws / "demo" / "inputs" / "2025H2"
    assert main(["topup", str(root)]) == 2
    assert "waves = 2" in capsys.readouterr().err
