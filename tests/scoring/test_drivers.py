"""Key drivers (logistic regression) and the importance–performance table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.scoring.drivers import (
    DRIVER_COLUMNS,
    IMPORTANCE_COLUMNS,
    importance_performance,
    key_drivers,
    respondent_matrix,
    round_drivers,
)


def _answers(n=1500, seed=3):
    """Overall dissatisfaction driven strongly by D0, weakly by D1, not by D2."""
    rng = np.random.default_rng(seed)
    dis = rng.random((n, 3)) < np.array([0.3, 0.2, 0.25])
    logit = -2.5 + 3.0 * dis[:, 0] + 0.7 * dis[:, 1] + 0.0 * dis[:, 2]
    overall_dis = rng.random(n) < 1 / (1 + np.exp(-logit))
    sat = np.column_stack([~dis, ~overall_dis]).astype(float)
    sat[rng.random((n, 4)) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "response_id": np.repeat([f"r{i}" for i in range(n)], 4),
            "estate_id": "E1",
            "firm": np.repeat(np.where(np.arange(n) % 2, "甲", "乙"), 4),
            "item_id": np.tile(["S1", "S2", "S3", "S9"], n),
            "dimension": np.tile(["D0", "D1", "D2", "总体评价"], n),
            "satisfied": sat.ravel(),
            "points": 50.0,
        }
    )


def test_key_drivers_ranks_the_true_driver_first():
    out = key_drivers(_answers()).set_index("dimension")
    assert out.loc["D0", "rank"] == 1
    assert out.loc["D0", "coef"] > out.loc["D1", "coef"] > 0
    assert out.loc["D0", "p_value"] < 1e-6
    assert out.importance.sum() == 1.0 or np.isclose(out.importance.sum(), 1.0)
    assert (out.imputed > 0).any()


def test_key_drivers_by_firm_and_small_groups():
    out = key_drivers(_answers(), by="firm")
    assert set(out.firm) == {"甲", "乙"}
    small = key_drivers(_answers(n=20))
    assert small.coef.isna().all() and (small.note == "样本太少，未拟合").all()


def test_importance_performance_quadrants():
    items = pd.DataFrame(
        {
            "item_id": ["S1", "S2", "S3", "S9"],
            "dimension": ["D0", "D1", "D2", "总体评价"],
            "is_overall": [False, False, False, True],
        }
    )
    out = importance_performance(_answers(), items).set_index("dimension")
    assert set(out.quadrant) <= {"优势区", "改进区", "维持区", "机会区"}
    # D0 is the most important and the worst performing → 改进区
    assert out.loc["D0", "quadrant"] == "改进区"
    assert out.loc["D0", "performance"] < out.loc["D1", "performance"]


def test_by_firm_from_register():
    a = _answers().drop(columns=["firm"])
    a["estate_id"] = np.where(np.arange(len(a)) // 4 % 2, "E1", "E2")
    reg = pd.DataFrame({"estate_id": ["E1", "E2"], "firm": ["甲", "乙"]})
    out = importance_performance(a, by="firm", register=reg)
    assert set(out.firm) == {"甲", "乙"}
    from wuye_common.errors import WuyeError

    with pytest.raises(WuyeError, match="by"):
        key_drivers(a, by="firm")


# --------------------------------------------------------------------------- the matrix, at scale
ITEMS = pd.DataFrame(
    {
        "item_id": ["A1", "A2", "A3", "B1", "B2", "C1", "Q9"],
        "dimension": ["甲项", "甲项", "甲项", "乙项", "乙项", "丙项", "总体评价"],
        "is_overall": [False] * 6 + [True],
    }
)
REGISTER = pd.DataFrame(
    {
        "estate_id": [f"E{i}" for i in range(6)],
        "firm": ["物业甲", "物业乙", "物业丙", "物业甲", "物业乙", "物业丙"],
    }
)


def _survey(n: int = 2400, seed: int = 5) -> pd.DataFrame:
    """Ingest-shaped answers: 3/2/1 items per dimension (shares in thirds and halves), the
    overall item last, 3% missing, respondents' rows consecutive as ingest writes them."""
    rng = np.random.default_rng(seed)
    propensity = rng.normal(size=(n, 3))
    sat = np.column_stack(
        [
            rng.random((n, 3)) < 1 / (1 + np.exp(-(1.0 + propensity[:, [0]]))),
            rng.random((n, 2)) < 1 / (1 + np.exp(-(1.5 + propensity[:, [1]]))),
            rng.random((n, 1)) < 1 / (1 + np.exp(-(0.8 + propensity[:, [2]]))),
        ]
    )
    logit = 1.2 + 1.5 * propensity[:, 0] + 0.6 * propensity[:, 1]
    sat = np.column_stack([sat, rng.random(n) < 1 / (1 + np.exp(-logit))]).astype(float)
    sat[rng.random(sat.shape) < 0.03] = np.nan
    ids = np.array([f"{x:012x}" for x in rng.integers(0, 2**48, n)], dtype=object)
    return pd.DataFrame(
        {
            "response_id": np.repeat(ids, 7),
            "estate_id": np.repeat(rng.choice(REGISTER.estate_id, n), 7),
            "item_id": np.tile(ITEMS.item_id.to_numpy(), n),
            "dimension": np.tile(ITEMS.dimension.to_numpy(), n),
            "satisfied": sat.ravel(),
        }
    ).astype({c: "str" for c in ("response_id", "estate_id", "item_id", "dimension")})


def _reference_matrix(answers: pd.DataFrame) -> pd.DataFrame:
    """From the definitions, with plain pandas: share satisfied per respondent × dimension
    over answered items; overall = the overall item; firm from the 台账 by estate."""
    a = answers.astype({c: str for c in ("response_id", "estate_id", "item_id", "dimension")})
    overall_ids = set(ITEMS.loc[ITEMS.is_overall, "item_id"])
    on = a["item_id"].isin(overall_ids)
    overall = a[on].groupby("response_id")["satisfied"].mean()
    share = (
        a[~on]
        .dropna(subset=["satisfied"])
        .groupby(["response_id", "dimension"])["satisfied"]
        .mean()
        .unstack()
    )
    m = share.join(overall.rename("overall"), how="inner")
    estate = a.groupby("response_id")["estate_id"].first()
    return m.assign(firm=estate.reindex(m.index).map(REGISTER.set_index("estate_id")["firm"]))


def _reference_fit(m: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    import statsmodels.api as sm

    m = m[m["overall"].notna()]
    x = 1 - m[dims]
    x = x.fillna(x.mean())
    fit = sm.Logit((m["overall"] < 0.5).astype(float), sm.add_constant(x)).fit(disp=0)
    return pd.DataFrame(
        {
            "coef": fit.params[dims],
            "se": fit.bse[dims],
            "p_value": fit.pvalues[dims],
            "n": len(m),
            "imputed": m[dims].isna().sum(),
        }
    )


def _variants(answers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    ids = ["response_id", "estate_id", "item_id", "dimension"]
    return {
        "str": answers,
        "object": answers.astype({c: object for c in ids}),
        "category": answers.astype({c: "category" for c in ids}),
        "shuffled": answers.sample(frac=1.0, random_state=2).reset_index(drop=True),
    }


def test_respondent_matrix_by_hand() -> None:
    a = pd.DataFrame(
        {
            "response_id": ["r2", "r2", "r2", "r2", "r1", "r1", "r1", "r3", "r4", "r4", None],
            "estate_id": ["E1"] * 11,
            "item_id": ["A1", "A2", "B1", "Q9", "A1", "A2", "Q9", "Q9", "A1", "B1", "A1"],
            "dimension": [
                "甲项",
                "甲项",
                "乙项",
                "总体评价",
                "甲项",
                "甲项",
                "总体评价",
                "总体评价",
                "甲项",
                "乙项",
                "甲项",
            ],
            "satisfied": [1.0, 0.0, np.nan, 1.0, 1.0, 1.0, np.nan, 1.0, 0.0, 1.0, 1.0],
        }
    )
    m = respondent_matrix(a, ITEMS)
    # r3 answered no dimension item, r4 has no overall row, the row without an id is dropped
    assert m.dimensions == ["乙项", "甲项"]  # sorted; 丙项 and 总体评价 are not dimensions
    assert m.frame.index.tolist() == ["r1", "r2"]
    np.testing.assert_array_equal(
        m.frame[["甲项", "乙项", "_overall"]].to_numpy(),
        [[1.0, np.nan, np.nan], [0.5, np.nan, 1.0]],
    )
    assert m.frame["estate_id"].tolist() == ["E1", "E1"]


@pytest.mark.parametrize("variant", ["str", "object", "category", "shuffled"])
def test_drivers_and_importance_follow_the_definitions(variant: str) -> None:
    answers = _variants(_survey())[variant]
    ref = _reference_matrix(_survey())
    dims = sorted(ITEMS.loc[~ITEMS.is_overall, "dimension"].unique())
    tables = round_drivers(answers, ITEMS, REGISTER)
    assert set(tables) == {"drivers", "firm_drivers", "importance"}

    district = tables["drivers"].set_index("dimension")
    want = _reference_fit(ref, dims)
    assert district.index.tolist() == dims
    for col in ("coef", "se", "p_value"):
        np.testing.assert_allclose(district[col], want[col], rtol=1e-9)
    assert (district["n"] == want["n"]).all() and (district["imputed"] == want["imputed"]).all()
    assert district.loc["甲项", "rank"] == 1 and district["coef"].idxmax() == "甲项"

    firms = tables["firm_drivers"]
    assert firms["firm"].drop_duplicates().tolist() == sorted(REGISTER["firm"].unique())
    for firm, got in firms.groupby("firm"):
        want = _reference_fit(ref[ref["firm"] == firm], dims)
        np.testing.assert_allclose(got.set_index("dimension")["coef"], want["coef"], rtol=1e-9)
        assert (got["n"] == want["n"].iloc[0]).all() and (got["note"] == "").all()

    ipa = tables["importance"].set_index("dimension")
    for d in dims:
        both = ref[[d, "overall"]].dropna()
        assert ipa.loc[d, "performance"] == pytest.approx(ref[d].mean(), rel=1e-12)
        assert ipa.loc[d, "importance"] == pytest.approx(
            np.corrcoef(both[d], both["overall"])[0, 1], rel=1e-9
        )
        assert ipa.loc[d, "n"] == ref[d].notna().sum()


def test_public_functions_equal_the_round_tables_for_every_id_dtype() -> None:
    base = _survey(n=900, seed=8)
    first = round_drivers(base, ITEMS, REGISTER)
    for name, answers in _variants(base).items():
        tables = round_drivers(answers, ITEMS, REGISTER)
        for key in first:
            pd.testing.assert_frame_equal(tables[key], first[key], obj=f"{name} {key}")
    matrix = respondent_matrix(base, ITEMS)
    pd.testing.assert_frame_equal(key_drivers(base, ITEMS), first["drivers"])
    pd.testing.assert_frame_equal(
        key_drivers(base, ITEMS, by="firm", register=REGISTER), first["firm_drivers"]
    )
    pd.testing.assert_frame_equal(
        key_drivers(matrix, by="firm", register=REGISTER), first["firm_drivers"]
    )
    pd.testing.assert_frame_equal(importance_performance(matrix), first["importance"])
    assert list(first["firm_drivers"].columns) == ["firm", *DRIVER_COLUMNS]
    assert list(first["importance"].columns) == list(IMPORTANCE_COLUMNS)
    assert first["firm_drivers"]["firm"].dtype == first["drivers"]["dimension"].dtype
    assert first["drivers"]["n"].dtype == "int64" and first["drivers"]["rank"].dtype == float


# --------------------------------------------------------------------------- in the pipeline
@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory):
    """A 5-estate demo round, ingested, scored and ranked through the pipeline."""
    from evaluation import pipeline
    from evaluation.demo import build_district, write_demo_round, write_fieldwork
    from evaluation.round import load_round

    ws = tmp_path_factory.mktemp("drivers_round")
    district = build_district(13, estates=5)
    root = write_demo_round(
        ws / "demo",
        "2025H2",
        seed=13,
        estates=5,
        output_dir=ws / "out",
        database=ws / "wuye.sqlite",
        secrets=ws / ".secrets",
        district=district,
    )
    rnd = load_round(root)
    drawn = pipeline.sample_step(rnd)
    write_fieldwork(root, district, drawn.sample, period="2025H2", seed=13)
    ingest = pipeline.ingest_step(rnd)
    scores = pipeline.score_step(rnd, ingest)
    pipeline.rank_step(rnd, scores)
    return rnd, ingest


def test_score_step_stores_the_tables_and_the_report_reads_them_not_the_answers(
    scored, monkeypatch
) -> None:
    from evaluation import pipeline
    from evaluation.questionnaire import load_questionnaire
    from evaluation.store import Store

    rnd, ingest = scored
    items = load_questionnaire(rnd.questionnaire).items
    want = {
        "drivers": key_drivers(ingest.answers, items),
        "firm_drivers": key_drivers(ingest.answers, items, by="firm", register=rnd.register),
        "importance": importance_performance(ingest.answers, items),
    }
    with Store(rnd.database) as store:
        for name, frame in want.items():
            stored = store.read(name, rnd.round_id)
            assert len(stored) == len(frame) > 0
            pd.testing.assert_frame_equal(stored.drop(columns="round_id"), frame)

    original = Store.read

    def read(self, table, round_id=None):
        assert table != "answers", "the report must not read the answers"
        return original(self, table, round_id)

    monkeypatch.setattr(Store, "read", read)
    results = pipeline.build_results(rnd)
    for name, frame in want.items():  # same columns and dtypes as computed in memory
        pd.testing.assert_frame_equal(getattr(results, name), frame)


def test_a_round_scored_before_the_driver_tables_gets_them_from_its_answers(
    scored, tmp_path
) -> None:
    """No driver rows (scored by an earlier version): computed from the stored answers,
    equal to what the score step stores; no answers either: the reports go without them."""
    import shutil
    import sqlite3

    from evaluation import pipeline
    from evaluation.report import tables
    from evaluation.report.excel import write_workbook
    from evaluation.report.pdf import district_payload
    from evaluation.results import load_results, save_results
    from evaluation.store import Store

    rnd, _ = scored
    with Store(rnd.database) as store:
        want = {
            name: store.read(name, rnd.round_id).drop(columns="round_id")
            for name in ("drivers", "firm_drivers", "importance")
        }
    old = tmp_path / "old.sqlite"
    shutil.copy(rnd.database, old)

    def build(deleting: tuple[str, ...]):
        con = sqlite3.connect(old)
        with con:  # as a round scored by an earlier version: no driver rows
            for name in deleting:
                con.execute(f'DELETE FROM "{name}"')
        con.close()
        rnd.database, database = old, rnd.database
        try:
            return pipeline.build_results(rnd)
        finally:
            rnd.database = database

    results = build(("drivers", "firm_drivers", "importance"))
    for name, frame in want.items():
        pd.testing.assert_frame_equal(getattr(results, name), frame)
    results = build(("respondents", "answers"))
    assert results.drivers.empty and results.firm_drivers.empty and results.importance.empty
    assert tables.drivers_table(results).empty and tables.importance_table(results).empty
    payload = district_payload(results)
    assert payload["drivers"] is None and payload["importance"] is None
    write_workbook(results, tmp_path / "结果.xlsx")
    save_results(results, tmp_path / "data")
    assert load_results(rnd.root, tmp_path / "data").drivers.empty


def _statsmodels_logit(y: np.ndarray, x: np.ndarray) -> tuple:
    """statsmodels' fit as the drivers made it before :func:`logit_newton`."""
    import warnings

    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.tools import add_constant

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = Logit(y, add_constant(x, has_constant="add"), check_rank=False).fit(
            disp=0, maxiter=200
        )
    return res.params, res.bse, res.pvalues, res.mle_retvals["converged"]


def _logit_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    cases = {}
    for name, n, k in (("small", 60, 3), ("firm", 1600, 8), ("district", 40_000, 8)):
        # dissatisfaction shares of dimensions with 1–3 items (0, 1/3, 1/2, 2/3, 1), some
        # imputed means, as the drivers' design holds them
        x = rng.integers(0, 4, (n, k)) / rng.integers(1, 4, (1, k)).clip(min=1)
        x = np.clip(x, 0, 1)
        x[rng.random((n, k)) < 0.03] = 0.37
        eta = -2.0 + x @ rng.normal(1.0, 0.8, k)
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
        cases[name] = (y, np.asfortranarray(x))
    x = rng.random((200, 2))
    cases["separated"] = ((x[:, 0] > 0.5).astype(float), x)  # perfect separation on x₀
    return cases


@pytest.mark.parametrize("case", ["small", "firm", "district", "separated"])
def test_logit_newton_equals_statsmodels_to_the_last_bit(case: str) -> None:
    """The drivers' lean Newton–Raphson gives statsmodels' Logit estimates, standard errors,
    p-values and convergence flag bit for bit (the same operations, without its objects)."""
    from evaluation.scoring.drivers import logit_newton

    y, x = _logit_cases()[case]
    with np.errstate(all="ignore"):
        ours = logit_newton(y, x)
    ref = _statsmodels_logit(y, x)
    for a, b in zip(ours[:3], ref[:3], strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    assert ours[3] == ref[3]


def test_logit_newton_stops_like_statsmodels_at_the_iteration_limit() -> None:
    from evaluation.scoring.drivers import logit_newton

    y, x = _logit_cases()["firm"]
    assert logit_newton(y, x, maxiter=2)[3] is False
    assert logit_newton(y, x)[3] is True
