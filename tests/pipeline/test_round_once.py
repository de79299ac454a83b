"""One run of a round loads it once: the questionnaire is read by ``load_round`` only, the
sampling record once, the store opened once; every SQLite connection a step opens is
closed when it ends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evaluation import pipeline
from evaluation.round import load_round
from tests.hostile import round_folder


@pytest.fixture
def tracked(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Record every SQLite connection opened, sampling record read and questionnaire
    built from its TOML."""
    import evaluation.questionnaire.model as questionnaire_model
    import sampling.record as record_module

    seen: dict[str, list] = {"connections": [], "records": [], "questionnaires": []}
    connect = sqlite3.connect

    def tracking_connect(*args, **kwargs):
        con = connect(*args, **kwargs)
        seen["connections"].append(con)
        return con

    def wrap(module, name: str, key: str) -> None:
        original = getattr(module, name)

        def counted(*args, **kwargs):
            seen[key].append(args[:1])
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    monkeypatch.setattr(sqlite3, "connect", tracking_connect)
    wrap(record_module, "read_sampling_record", "records")
    wrap(questionnaire_model, "questionnaire_from_dict", "questionnaires")
    return seen


def _open(connections: list[sqlite3.Connection]) -> int:
    """How many of ``connections`` are still open."""
    count = 0
    for con in connections:
        try:
            con.execute("SELECT 1")
        except sqlite3.ProgrammingError:  # closed
            continue
        count += 1
    return count


def test_run_round_loads_everything_once_and_closes_the_store(ws: Path, tracked) -> None:
    rnd = load_round(round_folder(ws))
    assert len(tracked["questionnaires"]) == 1  # by load_round
    pipeline.run_round(rnd, cards=False)
    assert len(tracked["questionnaires"]) == 1  # no stage loads it again
    assert len(tracked["records"]) == 1
    assert len(tracked["connections"]) == 1
    assert _open(tracked["connections"]) == 0
    assert (rnd.output_dir / "data" / "estates.csv").exists()


def test_each_step_alone_closes_its_store(ws: Path, tracked) -> None:
    rnd = load_round(round_folder(ws))
    pipeline.ingest_step(rnd)
    pipeline.score_step(rnd)  # from the stored ingest
    pipeline.rank_step(rnd)
    pipeline.build_results(rnd)
    pipeline._stored_ingest(rnd)
    assert len(tracked["connections"]) == 5
    assert _open(tracked["connections"]) == 0
    assert len(tracked["questionnaires"]) == 1


def test_a_failing_step_closes_its_store(ws: Path, tracked) -> None:
    from wuye_common.errors import WuyeError

    rnd = load_round(round_folder(ws))
    with pytest.raises(WuyeError, match="还没有导入"):
        pipeline.score_step(rnd)
    with pytest.raises(WuyeError, match="还没有计算"):
        pipeline.rank_step(rnd)
    assert tracked["connections"] and _open(tracked["connections"]) == 0
