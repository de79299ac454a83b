"""What scoring encodes once and shares, against plain pandas: the respondent × item grids of
the estimates and the quality sensitivity's re-score (AnswerGrids, answer_grids,
dimension_sums) and the respondents' stratum codes (weights_and_strata)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation.scoring import round_scores
from evaluation.scoring.round_scores import AnswerGrids, answer_grids, dimension_sums
from evaluation.scoring.sensitivity import kept_answers
from evaluation.scoring.weights import respondent_weights, weights_and_strata
from tests.scoring.test_round_scores import synth


def _pivot(answers: pd.DataFrame, respondents: pd.DataFrame, column: str) -> np.ndarray:
    """Respondent × item table of ``column`` by pandas (NaN: no answer or no row)."""
    table = answers.pivot(index="response_id", columns="item_id", values=column)
    return table.reindex(index=respondents["response_id"], columns=sorted(table.columns))


def test_grids_are_the_answers_pivoted_in_either_layout():
    _, ing, _ = synth(n_estates=3, resp_per=9, n_items=4, seed=3)
    resp, ans = ing.respondents, ing.answers
    for answers, ordered in ((ans, True), (ans.sample(frac=0.8, random_state=1), False)):
        grids = AnswerGrids.of(SimpleNamespace(respondents=resp, answers=answers))
        assert grids.ordered is ordered
        for column, grid in (("satisfied", grids.satisfied), ("points", grids.points)):
            np.testing.assert_array_equal(grid, _pivot(answers, resp, column).to_numpy())
        assert list(grids.item_uniq) == sorted(answers["item_id"].unique())


def test_an_item_twice_is_an_error():
    with pytest.raises(Exception, match="不止一次"):
        answer_grids(2, 2, np.array([0, 0, 1]), np.array([1, 1, 0]), np.ones(3), np.ones(3))


@pytest.mark.parametrize("block", [7, 1 << 15])
def test_dimension_sums_are_the_pandas_sums_over_each_dimensions_items(monkeypatch, block):
    monkeypatch.setattr(round_scores, "SUM_BLOCK", block)
    rng = np.random.default_rng(0)
    grid = rng.random((50, 7)) * rng.choice([1.0, 1e-3, 1e5, 100 / 3], (50, 7))
    grid[rng.random(grid.shape) < 0.2] = np.nan
    item_dim = np.array([2, 0, 2, 1, 0, 2, 3])
    total, count = dimension_sums(grid, item_dim, 4)
    long = pd.DataFrame(grid).melt(ignore_index=False, var_name="item").reset_index()
    long["dim"] = item_dim[long["item"]]
    by = long.groupby(["index", "dim"])["value"]
    np.testing.assert_allclose(total, by.sum().unstack().to_numpy(), rtol=1e-15)
    np.testing.assert_array_equal(count, by.count().unstack().to_numpy())
    D = np.zeros((7, 4))
    D[np.arange(7), item_dim] = 1.0  # the matrix product it replaces: the same bits
    np.testing.assert_array_equal(total, np.where(np.isnan(grid), 0.0, grid) @ D)
    take = np.array([3, 0, 49, 7, 7, 20])
    np.testing.assert_array_equal(dimension_sums(grid, item_dim, 4, take)[0], total[take])


def test_kept_grids_are_the_grids_of_the_kept_answers():
    _, ing, _ = synth(n_estates=3, resp_per=9, n_items=4, seed=4)
    resp = ing.respondents
    keep = np.random.default_rng(2).random(len(resp)) < 0.6
    grids = AnswerGrids.of(ing).kept(keep)
    kept = SimpleNamespace(
        respondents=resp[keep].reset_index(drop=True),
        answers=kept_answers(ing.answers, resp, keep),
    )
    direct = AnswerGrids.of(kept)
    np.testing.assert_array_equal(grids.satisfied[grids.take], direct.satisfied)
    np.testing.assert_array_equal(grids.points[grids.take], direct.points)
    pd.testing.assert_series_equal(grids.dim_of_item, direct.dim_of_item)
    overall = grids.item_answers("S04")
    assert list(overall["response_id"]) == list(kept.respondents["response_id"])
    assert (overall["item_id"] == "S04").all()


@pytest.mark.parametrize("with_record", [True, False])
def test_stratum_codes_are_the_factorized_stratum_labels(with_record):
    rnd, ing, rec = synth(n_estates=5, resp_per=7, buildings=4, seed=5)
    resp = ing.respondents.sample(frac=1.0, random_state=3).reset_index(drop=True)
    record = rec.iloc[:-3] if with_record else None  # an estate partly out of the record
    wts, codes = weights_and_strata(resp, record, rnd.register)
    np.testing.assert_array_equal(codes, pd.factorize(wts["stratum"])[0])
    pd.testing.assert_frame_equal(wts, respondent_weights(resp, record, rnd.register))


def test_driver_matrix_of_the_grid_is_the_one_summed_over_answer_rows():
    """respondent_matrix sums ingest's grid column by column (drivers._grid_sums); shuffled
    answer rows take the bincount path (drivers._row_sums): the same matrix, bit for bit."""
    from evaluation.scoring.drivers import _grid_runs, respondent_matrix

    _, ing, _ = synth(n_estates=4, resp_per=15, n_items=6, seed=6)
    answers = ing.answers.copy()
    answers["satisfied"] = answers["satisfied"] * np.where(np.arange(len(answers)) % 3, 1, 0.3)
    for col in ("response_id", "item_id", "dimension"):
        answers[col] = answers[col].astype("category")
    shuffled = answers.sample(frac=1.0, random_state=7).reset_index(drop=True)
    grid, rows = respondent_matrix(answers), respondent_matrix(shuffled)
    assert grid.dimensions == rows.dimensions
    pd.testing.assert_frame_equal(grid.frame, rows.frame, check_exact=True)
    resp = answers["response_id"].cat.codes.to_numpy()
    starts = np.arange(0, len(answers), 6)
    codes = [answers[c].cat.codes.to_numpy() for c in ("item_id", "dimension")]
    assert _grid_runs(resp, starts, *codes, 6, len(ing.respondents)) is not None
