"""Stored ingest: answers kept as one ``q:<item_id>`` column per item in ``respondents``;
the score step run from the store gives exactly the scores of the in-memory ingest, and a
database written by an earlier version (long ``answers`` rows) still scores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import pipeline
from evaluation.ingest.ingest import (
    ANSWER_PREFIX,
    answer_columns,
    answers_frame,
    answers_from_columns,
)
from evaluation.questionnaire import load_questionnaire
from evaluation.round import load_round
from evaluation.scoring.round_scores import score_round
from evaluation.store import Store

PERIOD = "2025H2"
SEED = 11


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory):
    """A sampled 5-estate demo round, ingested (in memory and stored)."""
    from evaluation.demo import build_district, write_demo_round, write_fieldwork

    ws = tmp_path_factory.mktemp("ingest_store")
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
    rnd = load_round(root)
    drawn = pipeline.sample_step(rnd)
    write_fieldwork(root, district, drawn.sample, period=PERIOD, seed=SEED)
    result = pipeline.ingest_step(rnd)
    return rnd, result, drawn.strata


def _assert_same_scores(rnd, a, b, strata) -> None:
    one, two = score_round(rnd, a, strata), score_round(rnd, b, strata)
    for name in ("estates", "items", "dimensions", "district"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))


def test_answers_are_stored_one_row_per_respondent(ingested) -> None:
    rnd, result, _ = ingested
    con = sqlite3.connect(rnd.database)
    try:
        assert con.execute("SELECT count(*) FROM answers").fetchone()[0] == 0
        n = con.execute("SELECT count(*) FROM respondents").fetchone()[0]
    finally:
        con.close()
    assert n == len(result.respondents) > 0
    stored = Store(rnd.database).read("respondents", round_id=rnd.round_id)
    items = load_questionnaire(rnd.questionnaire).items["item_id"].tolist()
    assert sorted(c for c in stored.columns if c.startswith(ANSWER_PREFIX)) == sorted(
        f"{ANSWER_PREFIX}{i}" for i in items
    )
    first = f"{ANSWER_PREFIX}{items[0]}"
    assert str(stored[first].dtype) == "Int64"
    want = result.answers[result.answers["item_id"] == items[0]]["code"]
    assert stored[first].tolist() == want.tolist()


def test_score_from_the_store_equals_score_in_memory(ingested) -> None:
    rnd, result, strata = ingested
    stored = pipeline._stored_ingest(rnd)
    pd.testing.assert_frame_equal(stored.answers, result.answers)
    assert list(stored.respondents.columns) == ["round_id", *result.respondents.columns]
    _assert_same_scores(rnd, result, stored, strata)
    # the CLI's separate score step stores the same estimates as the in-memory run
    from evaluation.scoring.sensitivity import with_sensitivity

    from_store = pipeline.score_step(rnd)
    in_memory = with_sensitivity(score_round(rnd, result, strata).estates, rnd, result, strata)
    pd.testing.assert_frame_equal(from_store.estates, in_memory)


def test_a_database_of_the_previous_version_still_scores(ingested, tmp_path: Path) -> None:
    """Long ``answers`` rows and no ``q:`` columns: the long table is read as before."""
    rnd, result, strata = ingested
    old = tmp_path / "old.sqlite"
    Store(old).write_step(
        rnd.round_id,
        "ingest",
        {
            "respondents": result.respondents,
            "answers": result.answers.astype(
                {c: "str" for c in ("response_id", "estate_id", "item_id", "dimension")}
            ),
            "response_rates": result.response_rates,
        },
    )
    rnd_old = load_round(rnd.root)
    rnd_old.database = old
    stored = pipeline._stored_ingest(rnd_old)
    assert not any(str(c).startswith(ANSWER_PREFIX) for c in stored.respondents.columns)
    assert len(stored.answers) == len(result.answers)
    _assert_same_scores(rnd, result, stored, strata)


def test_answer_columns_round_trip_in_any_row_order(ingested) -> None:
    rnd, result, _ = ingested
    q = load_questionnaire(rnd.questionnaire)
    shuffled = result.answers.sample(frac=1.0, random_state=3)
    plain = shuffled.astype({"response_id": "str", "item_id": "str"})
    for answers in (shuffled, plain):
        wide = answer_columns(result.respondents, answers)
        assert len(wide) == len(result.respondents)
        back = answers_from_columns(pd.concat([result.respondents, wide], axis=1), q)
        pd.testing.assert_frame_equal(back, result.answers)


def test_answers_frame_is_compact_and_looks_up_options() -> None:
    q = load_questionnaire("default")
    k = len(q.items)
    codes = np.zeros((3, k), dtype=np.int64)
    codes[0] = 1
    codes[1, 0] = 2
    codes[2, 0] = 99  # a code the scale does not have: kept, but neither satisfied nor points
    frame = answers_frame(pd.Series(["r1", "r2", "r3"]), pd.Series(["E2", "E1", "E2"]), codes, q)
    assert len(frame) == 3 * k
    for c in ("response_id", "estate_id", "item_id", "dimension"):
        assert isinstance(frame[c].dtype, pd.CategoricalDtype)
    assert list(frame["estate_id"].cat.categories) == ["E1", "E2"]
    assert frame["response_id"].tolist() == ["r1"] * k + ["r2"] * k + ["r3"] * k
    assert frame["item_id"].tolist()[:k] == q.items["item_id"].tolist()
    opts = q.scale_options(q.items["scale"].iloc[0]).set_index("code")
    first = frame.iloc[0]
    assert first["code"] == 1 and first["satisfied"] == float(opts.loc[1, "satisfied"])
    assert first["points"] == float(opts.loc[1, "points"])
    assert frame["code"].isna().sum() == 2 * k - 2
    odd = frame.iloc[2 * k]
    assert odd["code"] == 99 and np.isnan(odd["satisfied"]) and np.isnan(odd["points"])


def test_other_rounds_items_do_not_break_the_rebuild(ingested, tmp_path: Path) -> None:
    """The ``respondents`` table's columns are the union over rounds: a later round with an
    item this round's questionnaire lacks leaves that column empty here, not an error."""
    import shutil

    rnd, result, strata = ingested
    db = tmp_path / "two_rounds.sqlite"
    shutil.copy(rnd.database, db)
    Store(db).write_step(
        "2026H1",
        "ingest",
        {
            "respondents": pd.DataFrame(
                {"response_id": ["x1"], "estate_id": ["GD001"], f"{ANSWER_PREFIX}NEW_ITEM": [3]}
            )
        },
        meta={"items": ["NEW_ITEM"]},
    )
    rnd_two = load_round(rnd.root)
    rnd_two.database = db
    stored = pipeline._stored_ingest(rnd_two)
    assert "NEW_ITEM" not in set(stored.answers["item_id"].astype(str))
    _assert_same_scores(rnd, result, stored, strata)


def test_a_questionnaire_edited_after_ingest_is_refused(ingested, tmp_path: Path) -> None:
    """Stored codes are scored with the questionnaire they were ingested with: an edited
    scoring (points of an option) stops the rebuild with a located error; an identical
    copy elsewhere is accepted (the fingerprint is of the content, not the path)."""
    from importlib.resources import files

    from wuye_common.errors import WuyeError

    rnd, result, strata = ingested
    text = (files("evaluation.questionnaire") / "default.toml").read_text(encoding="utf-8")
    same = tmp_path / "same.toml"
    same.write_text(text, encoding="utf-8")
    edited = tmp_path / "edited.toml"
    assert "points = [100, 75, 50, 25, 0]" in text
    edited.write_text(
        text.replace("points = [100, 75, 50, 25, 0]", "points = [100, 80, 50, 25, 0]"),
        encoding="utf-8",
    )
    rnd_same = load_round(rnd.root)
    rnd_same.questionnaire = load_questionnaire(same)
    _assert_same_scores(rnd, result, pipeline._stored_ingest(rnd_same), strata)
    rnd_edit = load_round(rnd.root)
    rnd_edit.questionnaire = load_questionnaire(edited)
    with pytest.raises(WuyeError) as err:
        pipeline._stored_ingest(rnd_edit)
    assert "问卷定义被修改" in str(err.value) and "edited.toml" in str(err.value)


def test_the_score_step_reads_only_the_columns_scoring_uses(ingested) -> None:
    """``_stored_ingest(columns=RESPONDENT_COLUMNS)`` (the score step's read) scores exactly
    as the full read; the flagged forms' answers are dropped through the categorical codes
    and by id alike."""
    from evaluation.scoring.round_scores import RESPONDENT_COLUMNS
    from evaluation.scoring.sensitivity import kept_answers

    rnd, _, strata = ingested
    full = pipeline._stored_ingest(rnd)
    some = pipeline._stored_ingest(rnd, columns=RESPONDENT_COLUMNS)
    assert set(some.respondents.columns) <= {"round_id", *RESPONDENT_COLUMNS}
    assert len(some.respondents.columns) < len(full.respondents.columns)
    pd.testing.assert_frame_equal(some.answers, full.answers)
    _assert_same_scores(rnd, full, some, strata)
    keep = np.arange(len(full.respondents)) % 3 != 0
    by_code = kept_answers(full.answers, full.respondents, keep)
    by_id = kept_answers(full.answers.astype({"response_id": str}), full.respondents, keep).astype(
        {"response_id": by_code["response_id"].dtype}
    )
    pd.testing.assert_frame_equal(by_code, by_id)
    kept_ids = set(full.respondents.loc[keep, "response_id"])
    assert set(by_code["response_id"].astype(str)) == kept_ids
    assert len(by_code) == len(full.answers) * keep.sum() // len(keep)


def test_the_scoring_view_scores_exactly_as_the_whole_ingest_result(ingested) -> None:
    """``run_round`` scores from :func:`pipeline.scoring_view` (the whole ingest result is
    let go): the same estimates, sensitivity and drivers; the dispositions kept only where
    the response rates are missing (scoring falls back on them)."""
    from dataclasses import replace

    from evaluation.scoring.drivers import round_drivers
    from evaluation.scoring.round_scores import RESPONDENT_COLUMNS
    from evaluation.scoring.sensitivity import with_sensitivity

    rnd, result, strata = ingested
    view = pipeline.scoring_view(result)
    assert set(view.respondents.columns) <= set(RESPONDENT_COLUMNS)
    assert view.answers is result.answers and view.dispositions is None
    _assert_same_scores(rnd, result, view, strata)
    for a, b in [(result, view), (replace(result, response_rates=pd.DataFrame()), None)]:
        b = pipeline.scoring_view(a) if b is None else b
        pd.testing.assert_frame_equal(
            with_sensitivity(score_round(rnd, a, strata).estates, rnd, a, strata),
            with_sensitivity(score_round(rnd, b, strata).estates, rnd, b, strata),
            check_exact=True,
        )
    assert pipeline.scoring_view(replace(result, response_rates=pd.DataFrame())).dispositions is (
        result.dispositions
    )
    items, register = rnd.questionnaire.items, rnd.register
    one, two = (
        round_drivers(result.answers, items, register),
        round_drivers(view.answers, items, register),
    )
    for name in one:
        pd.testing.assert_frame_equal(one[name], two[name], check_exact=True)


def test_the_ingest_step_keeps_the_back_check_list_on_disk_only(ingested) -> None:
    rnd, result, _ = ingested
    # the 回访名单 (phone numbers) and the surveyor names are written to the secrets folder
    # and not handed back in memory, where a notebook could show them
    assert result.secrets == {}
    written = {p.name for p in rnd.secret_path.parent.iterdir()}
    assert any("回访名单" in n for n in written) and any("调查员对照" in n for n in written)
