"""The SQLite store: migrations, typed round trips, one transaction per step, kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaluation.store as store_module
from evaluation.store import Store
from wuye_common.errors import WuyeError

ROOT = Path(__file__).resolve().parents[2]


def register(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "estate_id": [f"E{i}" for i in range(n)],
            "estate_name": [f"小区{i}" for i in range(n)],
            "firm": ["甲"] * n,
            "households": np.arange(1, n + 1) * 100,
            "red_property": [True, False, True][:n] + [False] * max(0, n - 3),
        }
    )


def scores(n: int = 3, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "estate_id": [f"E{i}" for i in range(n)],
            "rate": np.linspace(0.6, 0.9, n) + shift,
            "rate_se": 0.03,
            "n": np.full(n, 40),
            "verdict": ["未达标", "临界", "达标"][:n] + ["达标"] * max(0, n - 3),
        }
    )


@pytest.fixture
def db(tmp_path: Path) -> Store:
    store = Store(tmp_path / "wuye.sqlite")
    store.write_step(
        "2025H1",
        "round",
        {"register": register()},
        meta={"period": "2025H1", "district": "葛店经开区"},
    )
    yield store
    store.close()


def test_migrations_apply_once_and_refuse_newer_databases(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.sqlite"
    latest = max(v for v, _, _ in store_module.MIGRATIONS)
    with Store(path) as store:
        assert store.schema_version == latest == 3
    calls = []

    def notes(con) -> None:
        calls.append(1)
        con.execute("CREATE TABLE notes (round_id TEXT, text TEXT)")

    monkeypatch.setattr(
        store_module, "MIGRATIONS", [*store_module.MIGRATIONS, (latest + 1, "notes", notes)]
    )
    with Store(path) as store:
        assert store.schema_version == latest + 1
    with Store(path) as store:
        assert store.schema_version == latest + 1
    assert calls == [1]
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:latest])
    with pytest.raises(WuyeError, match=f"结构版本 {latest + 1} 比本程序支持的 {latest} 新"):
        Store(path)


def _indexes(store: Store) -> dict[str, str]:
    return {
        r[0]: r[1]
        for r in store.con.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }


def test_version_1_database_is_upgraded_with_the_driver_tables(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.sqlite"
    v1_steps = {
        **store_module.STEPS,
        "score": tuple(t for t in store_module.STEPS["score"] if t not in store_module.V2_TABLES),
    }
    with monkeypatch.context() as m:  # the store as it was before schema version 2
        m.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
        m.setattr(store_module, "STEPS", v1_steps)
        with Store(path) as store:
            assert store.schema_version == 1
            store.write_step("2025H1", "round", {"register": register()}, meta={"period": "2025H1"})
            store.write_step("2025H1", "score", {"estates": scores(3)})
            tables = {
                r[0]
                for r in store.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            assert not tables & set(store_module.V2_TABLES)
            v1_snapshot = store.snapshot()
    with Store(path) as store:
        assert store.schema_version == 3
        # earlier rounds are kept as they were; the new tables are there, empty, indexed
        upgraded = store.snapshot()
        assert {k: v for k, v in upgraded.items() if k != "schema_version"} == {
            **{k: v for k, v in v1_snapshot.items() if k != "schema_version"},
            **{t: [] for t in store_module.V2_TABLES},
            **{t: [] for t in store_module.V3_TABLES},
        }
        indexes = _indexes(store)
        for table in store_module.V2_TABLES:
            assert indexes[f"ix_{table}"] == table
            assert store.read(table, "2025H1").empty  # a round scored before: no drivers
        assert store.read("estates", "2025H1")["estate_id"].tolist() == ["E0", "E1", "E2"]
        drivers = pd.DataFrame(
            {
                "dimension": ["环境卫生", "停车管理"],
                "coef": [0.8, np.nan],
                "n": np.array([400, 400]),
                "note": ["", "模型未收敛"],
                "rank": [1.0, np.nan],
            }
        )
        store.write_step(
            "2025H2",
            "score",
            {
                "estates": scores(3),
                "drivers": drivers,
                "firm_drivers": drivers.assign(firm="甲"),
                "importance": drivers[["dimension", "n"]],
            },
        )
        back = store.read("score_drivers", "2025H2")
        pd.testing.assert_frame_equal(back.drop(columns="round_id"), drivers)
        assert store.read("firm_drivers", "2025H2")["firm"].tolist() == ["甲", "甲"]
        assert len(store.read("importance", "2025H2")) == 2
        assert store.read("drivers", "2025H1").empty


def test_fresh_and_upgraded_databases_have_the_same_schema(tmp_path: Path, monkeypatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
        Store(tmp_path / "old.sqlite").close()
    schemas = []
    for name in ("old.sqlite", "new.sqlite"):
        with Store(tmp_path / name) as store:
            schemas.append(
                sorted(
                    store.con.execute(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master "
                        "WHERE name != 'schema_version'"
                    )
                )
            )
    assert schemas[0] == schemas[1]
    assert {t for _, t, _, _ in schemas[1]} >= set(store_module.DATA_TABLES)


def test_not_a_database_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    opened = []
    connect = sqlite3.connect

    def tracking(*args, **kwargs):
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", tracking)
    path = tmp_path / "w.sqlite"
    path.write_text("这不是数据库" * 100, encoding="utf-8")
    with pytest.raises(WuyeError, match="无法打开历史数据库"):
        Store(path)
    with Store(tmp_path / "new.sqlite") as store:
        store.con.execute("INSERT INTO schema_version VALUES (99, 'future', '')")
    with pytest.raises(WuyeError, match="比本程序支持的"):
        Store(tmp_path / "new.sqlite")
    assert len(opened) == 3
    for con in opened:  # closed, also when opening failed
        with pytest.raises(sqlite3.ProgrammingError):
            con.execute("SELECT 1")


def test_round_trip_keeps_dtypes(db: Store) -> None:
    frame = pd.DataFrame(
        {
            "estate_id": ["A", "B", "C"],
            "flag": [True, False, True],
            "maybe": pd.array([True, None, False], dtype="boolean"),
            "count": np.array([1, 2, 3], dtype="int64"),
            "code": pd.array([1, None, 3], dtype="Int64"),
            "rate": [0.5, np.nan, 1.0],
            "text": ["满意", None, "一般"],
            "when": pd.to_datetime(["2025-05-01 10:00", "2025-05-02 11:30", None]),
        }
    )
    db.write_step("2025H1", "score", {"estates": frame})
    back = db.read("estates", round_id="2025H1")
    assert back.columns.tolist() == ["round_id", *frame.columns]
    pd.testing.assert_frame_equal(back.drop(columns="round_id"), frame, check_dtype=False)
    assert back["flag"].dtype == bool and back["count"].dtype == "int64"
    assert str(back["maybe"].dtype) == "boolean" and str(back["code"].dtype) == "Int64"
    assert back["rate"].dtype == float and pd.api.types.is_datetime64_any_dtype(back["when"])
    assert back["text"].isna().tolist() == [False, True, False]
    # step-prefixed names read the same table
    pd.testing.assert_frame_equal(db.read("score_estates"), back)


def test_read_in_chunks_keeps_values_dtypes_and_order(db: Store, monkeypatch) -> None:
    """Parts fetched chunk by chunk (texts factorized per chunk, numbers as float64) join to
    the values written: NULLs, texts first seen in a later chunk, integers beyond 2**53
    and a text in a number column (the general path) included; ``columns`` reads a
    subset in stored order."""
    monkeypatch.setattr(store_module, "CHUNK_ROWS", 3)
    n = 10
    frame = pd.DataFrame(
        {
            "estate_id": [f"E{i % 4}" if i % 3 else None for i in range(n)],
            "building": [None] * 4 + [f"{i}栋" for i in range(n - 4)],
            "big": np.array([2**62 + i for i in range(n)], dtype="int64"),
            "code": pd.array([None if i % 4 == 0 else i % 5 + 1 for i in range(n)], "Int64"),
            "count": np.arange(n, dtype="int64"),
            "rate": [i / 7 if i % 2 else np.nan for i in range(n)],
        }
    )
    db.write_step("2025H1", "score", {"estates": frame})
    db.write_step("2025H2", "score", {"estates": frame.head(4).assign(code=pd.NA)})
    back = db.read("estates", round_id="2025H1")
    pd.testing.assert_frame_equal(back.drop(columns="round_id"), frame, check_dtype=False)
    assert str(back["code"].dtype) == "Int64" and back["big"].dtype == "int64"
    assert back["big"].tolist() == frame["big"].tolist()
    both = db.read("estates")
    assert both["round_id"].tolist() == ["2025H1"] * n + ["2025H2"] * 4
    assert both["code"].isna().sum() == frame["code"].isna().sum() + 4
    part = db.read("estates", round_id="2025H1", columns=["rate", "estate_id", "nope"])
    assert part.columns.tolist() == ["round_id", "estate_id", "rate"]
    pd.testing.assert_frame_equal(part, back[["round_id", "estate_id", "rate"]])
    assert db.columns("estates") == frame.columns.tolist()
    db.con.execute(
        "UPDATE estates SET rate = 'n/a' WHERE rowid = (SELECT min(rowid) + 1 FROM estates)"
    )
    rates = db.read("estates", round_id="2025H1")["rate"]
    assert rates.dtype == float and np.isnan(rates[1]) and rates[3] == 3 / 7


def test_case_only_different_columns_are_kept_apart(db: Store) -> None:
    plan = pd.DataFrame({"estate_id": ["A"], "N": [500], "n": [60]})
    db.write_step("2025H1", "sample", {"plan": plan})
    back = db.read("plan")
    assert back["N"].tolist() == [500] and back["n"].tolist() == [60]


def test_rerun_replaces_exactly_and_leaves_other_rounds(db: Store) -> None:
    db.write_step("2025H2", "round", {"register": register()}, meta={"period": "2025H2"})
    db.write_step("2025H1", "score", {"estates": scores(3), "items": scores(3)})
    db.write_step("2025H2", "score", {"estates": scores(3, 0.05)})
    db.write_step("2025H1", "score", {"estates": scores(2).assign(extra="新列")})
    first = db.read("estates", "2025H1")
    assert first["estate_id"].tolist() == ["E0", "E1"] and first["extra"].eq("新列").all()
    assert db.read("items", "2025H1").empty  # not given in the re-run → emptied
    second = db.read("estates", "2025H2")
    assert len(second) == 3 and second["rate"].iloc[0] == pytest.approx(0.65)
    assert second["extra"].isna().all()
    steps = db.steps("2025H1").set_index("step")
    assert steps.loc["score", "row_counts"] == '{"estates": 2}'


def test_rank_before_score_is_refused_and_nothing_written(db: Store) -> None:
    before = db.snapshot()
    with pytest.raises(WuyeError, match="尚未完成评分"):
        db.write_step("2025H1", "rank", {"estates": pd.DataFrame({"estate_id": ["E0"]})})
    assert db.snapshot() == before


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"answers": pd.DataFrame({"response_id": ["r"], "phone": ["13800000000"]})}, "个人信息"),
        ({"respondents": pd.DataFrame({"response_id": ["r"], "Room": ["1-101"]})}, "个人信息"),
        ({"photos": pd.DataFrame()}, "不保存这些表"),
    ],
)
def test_bad_tables_are_refused(db: Store, tables: dict, message: str) -> None:
    before = db.snapshot()
    with pytest.raises(WuyeError, match=message):
        db.write_step("2025H1", "ingest", tables)
    assert db.snapshot() == before
    with pytest.raises(WuyeError, match="未知的步骤"):
        db.write_step("2025H1", "report", {})
    with pytest.raises(WuyeError, match="没有表"):
        db.read("secrets")


def test_quarantine_is_stored_as_counts_only(db: Store) -> None:
    quarantine = pd.DataFrame(
        {
            "source_file": ["a.xlsx"] * 3,
            "sheet": "Sheet1",
            "source_row": [2, 3, 4],
            "reason_code": ["dup", "dup", "fast"],
            "reason": ["重复提交", "重复提交", "答题过快"],
            "estate_raw": "x",
            "detail": ["手机 138…", "…", "…"],
        }
    )
    db.write_step("2025H1", "ingest", {"quarantine": quarantine})
    stored = db.read("quarantine_summary")
    assert stored.drop(columns="round_id").to_dict("records") == [
        {"source_file": "a.xlsx", "reason_code": "dup", "reason": "重复提交", "count": 2},
        {"source_file": "a.xlsx", "reason_code": "fast", "reason": "答题过快", "count": 1},
    ]


def test_round_metadata_from_meta_frame_or_period_like_id(tmp_path: Path) -> None:
    with Store(tmp_path / "w.sqlite") as store:
        store.write_step(
            "葛店-1",
            "round",
            {
                "rounds": pd.DataFrame(
                    [{"round_id": "葛店-1", "period": "2025Q3", "district": "葛店经开区"}]
                )
            },
        )
        store.write_step("2026H1", "score", {"estates": scores()})
        rounds = store.rounds().set_index("round_id")
    assert rounds.loc["葛店-1", "kind"] == "Q" and rounds.loc["葛店-1", "part"] == 3
    assert rounds.loc["2026H1", "period"] == "2026H1" and rounds.loc["2026H1", "year"] == 2026


def test_failure_after_partial_inserts_leaves_previous_state(db: Store, monkeypatch) -> None:
    db.write_step("2025H1", "score", {"estates": scores(3), "items": scores(3)})
    before = db.snapshot()

    def boom(table: str) -> None:
        if table == "items":
            raise RuntimeError("simulated crash after two tables")

    monkeypatch.setattr(store_module, "_after_table", boom)
    with pytest.raises(RuntimeError):
        db.write_step(
            "2025H1",
            "score",
            {"estates": scores(2).assign(new_col=1.0), "items": scores(1), "district": scores(1)},
        )
    assert db.snapshot() == before
    monkeypatch.setattr(store_module, "_after_table", None)
    db.write_step("2025H1", "score", {"estates": scores(2)})  # store still usable
    assert len(db.read("estates")) == 2


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    import evaluation.store as sm

    path, marker = sys.argv[1], Path(sys.argv[2])

    def pause(table):
        if table == "estates":
            marker.write_text("mid-transaction")
            time.sleep(60)

    sm._after_table = pause
    n = 5000
    frame = pd.DataFrame({"estate_id": [f"X{i}" for i in range(n)], "rate": np.ones(n),
                          "verdict": "达标", "n": np.arange(n)})
    sm.Store(path).write_step("2025H1", "score", {"estates": frame, "items": frame})
""")


def test_step_killed_mid_write_leaves_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "wuye.sqlite"
    with Store(path) as store:
        store.write_step("2025H1", "round", {"register": register()}, meta={"period": "2025H1"})
        store.write_step("2025H1", "score", {"estates": scores(3)})
        before = store.snapshot()
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(marker)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "writer ended before reaching the pause"
            assert time.monotonic() < deadline, "writer never reached the pause"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as store:  # the hot journal is rolled back on open
        assert store.snapshot() == before
        assert store.read("estates")["estate_id"].tolist() == ["E0", "E1", "E2"]


def test_datetimes_are_stored_as_strftime_texts() -> None:
    """The fast ISO form equals ``strftime("%Y-%m-%dT%H:%M:%S.%f")`` (whole microseconds,
    NaT as NULL); nanoseconds and time zones take ``strftime`` itself."""
    from evaluation.store import _to_sql_values

    naive = pd.Series(pd.to_datetime(["2025-05-01 10:00:00.123456", None, "1969-12-31 23:59:00.5"]))
    for s in (naive, naive + pd.Timedelta(1, "ns"), naive.dt.tz_localize("Asia/Shanghai")):
        want = s.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object)
        kind, got = _to_sql_values(s)
        assert kind == "datetime"
        assert got.tolist() == [want[0], None, want[2]]
