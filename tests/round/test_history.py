"""History read helpers over a store holding several rounds: lists, streaks, trends."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.history import change_test, consecutive_listings, history, period_key, trend_table
from evaluation.ranking.lists import rank_round
from evaluation.store import Store
from wuye_common.errors import WuyeError

Z = stats.norm.ppf(0.975)
# B's and C's rates precise enough that the top rank is certain (its rank interval)
SE = {"A": 0.02, "B": 0.005, "C": 0.005}
RULES = {
    "weights": {"compliance": 1, "index": 0, "verdict": 0, "credit": 0, "complaints": 0},
    "red": {"top_k": 1, "top_share": 0},
}
# estate → (rate, verdict) per round; ids deliberately not in period order
ROUNDS = {
    "r-b": ("2025H1", {"A": (0.50, "未达标"), "B": (0.95, "达标"), "C": (0.85, "临界")}),
    "r-a": ("2025H2", {"A": (0.55, "未达标"), "B": (0.96, "达标"), "C": (0.60, "未达标")}),
    "q-1": ("2025Q3", {"A": (0.99, "达标")}),
    "r-c": ("2026H1", {"A": (0.70, "未达标"), "B": (0.97, "达标"), "C": (0.90, "达标")}),
}
FIRMS = {"A": "甲物业", "B": "乙物业", "C": "乙物业"}


def run_round(store: Store, round_id: str, period: str, data: dict) -> None:
    ids = list(data)
    reg = pd.DataFrame(
        {
            "estate_id": ids,
            "estate_name": [f"{i}苑" for i in ids],
            "community": "社区",
            "firm": [FIRMS[i] for i in ids],
            "tier": "二级",
            "households": 200,
            "threshold": 0.8,
        }
    )
    rate = np.array([data[i][0] for i in ids])
    se = np.array([SE[i] for i in ids])
    sc = pd.DataFrame(
        {
            "estate_id": ids,
            "rate": rate,
            "rate_se": se,
            "rate_low": rate - Z * se,
            "rate_high": rate + Z * se,
            "index": 100 * rate,
            "n": 60,
            "response_rate": 0.9,
            "threshold": 0.8,
            "tier": "二级",
            "verdict": [data[i][1] for i in ids],
        }
    )
    rnd = SimpleNamespace(
        round_id=round_id, period=period, confidence=0.95, rules=RULES, register=reg
    )
    store.write_step(round_id, "round", {"register": reg}, meta={"period": period})
    store.write_step(round_id, "score", {"estates": sc})
    ranking = rank_round(rnd, sc, history=store)
    store.write_step(
        round_id,
        "rank",
        {"estates": ranking.estates, "firms": ranking.firms, "escalations": ranking.escalations},
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hist") / "wuye.sqlite"
    with Store(path) as store:
        for round_id, (period, data) in ROUNDS.items():
            run_round(store, round_id, period, data)
    return path


def test_period_order_and_series() -> None:
    assert period_key("2025H1") < period_key("2025H2") < period_key("2026H1")
    assert period_key("2025Q4")[0] == "Q"
    with pytest.raises(WuyeError, match="无法识别"):
        period_key("2025-06")


def test_lists_history_in_period_order(db: Path) -> None:
    lists = history(db, kind="lists")
    half = lists[lists["series"] == "H"]
    assert half["round_id"].drop_duplicates().tolist() == ["r-b", "r-a", "r-c"]
    a = history(db, kind="lists", estate_id="A")
    assert a["list"].tolist() == ["黑榜", "黑榜", "黑榜", "红榜"]  # H1, H2, 2026H1, then Q3
    assert a["series"].tolist() == ["H", "H", "H", "Q"]
    assert set(history(db, kind="lists", firm="乙物业")["key"]) == {"B", "C", "乙物业"}


def test_escalation_stored_over_three_rounds(db: Path) -> None:
    with Store(db) as store:
        esc = store.read("escalations")
    a = esc[(esc["level"] == "estate") & (esc["key"] == "A")].set_index("round_id")
    assert a.loc["r-b", "black_consecutive"] == 1 and a.loc["r-b", "flag"] == ""
    assert a.loc["r-a", "black_consecutive"] == 2 and a.loc["r-a", "flag"] == "退出预警"
    # the quarterly round (A red there) is another series: the half-year streak goes on
    assert a.loc["r-c", "black_consecutive"] == 3 and a.loc["r-c", "black_total"] == 3
    assert a.loc["q-1", "red_consecutive"] == 1 and a.loc["q-1", "black_total"] == 0
    c = esc[(esc["level"] == "estate") & (esc["key"] == "C")].set_index("round_id")
    assert c.loc["r-a", "black_consecutive"] == 1 and "r-c" not in c.index
    b = esc[(esc["level"] == "estate") & (esc["key"] == "B")].set_index("round_id")
    assert b.loc["r-a", "flag"] == "推荐表彰" and b.loc["r-c", "red_total"] == 3
    firm = esc[(esc["level"] == "firm") & (esc["key"] == "甲物业")].set_index("round_id")
    assert firm.loc["r-c", "flag"] == "退出预警"


def test_consecutive_listings_from_store_and_frame_agree(db: Path) -> None:
    from_db = consecutive_listings(db, "r-a").set_index(["level", "key"])
    from_df = consecutive_listings(history(db, kind="lists"), "r-a").set_index(["level", "key"])
    pd.testing.assert_frame_equal(from_db, from_df)
    assert from_db.loc[("estate", "A"), "black_consecutive"] == 2
    # rounds after r-a are ignored when looking back from r-a
    assert from_db.loc[("estate", "B"), "red_total"] == 2
    with pytest.raises(WuyeError, match="没有轮次"):
        consecutive_listings(db, "r-zzz")


def test_estates_and_firms_history(db: Path) -> None:
    estates = history(db, kind="estates", estate_id="C")
    assert estates["round_id"].tolist() == ["r-b", "r-a", "r-c"]
    assert {
        "rate",
        "verdict",
        "composite",
        "rank",
        "list",
        "reasons",
        "estate_name",
        "firm",
    } <= set(estates.columns)
    firms = history(db, kind="firms", firm="乙物业")
    assert firms["round_id"].tolist() == ["r-b", "r-a", "r-c"]
    assert firms["rate"].iloc[1] == pytest.approx((0.96 + 0.60) / 2)
    with pytest.raises(WuyeError, match="找不到历史数据库"):
        history(db.parent / "none.sqlite")
    with pytest.raises(WuyeError, match="未知的历史类型"):
        history(db, kind="people")


def test_trend_table_change_tests_against_hand_values(db: Path) -> None:
    trend = trend_table(db, level="estate", estate_id="A")
    half = trend[trend["series"] == "H"].reset_index(drop=True)
    assert half["round_id"].tolist() == ["r-b", "r-a", "r-c"]
    assert np.isnan(half.loc[0, "change"])
    se = np.sqrt(0.02**2 + 0.02**2)
    assert half.loc[2, "prev_round"] == "r-a"
    assert half.loc[2, "change"] == pytest.approx(0.15)
    assert half.loc[2, "change_se"] == pytest.approx(se)
    assert half.loc[2, "p_value"] == pytest.approx(2 * stats.norm.sf(0.15 / se))
    assert bool(half.loc[2, "significant"]) and not bool(half.loc[1, "significant"])
    # the quarterly round has no previous quarterly round
    assert np.isnan(trend.loc[trend["series"] == "Q", "change"]).all()
    firms = trend_table(db, kind="firms")
    assert set(firms["firm"]) == {"甲物业", "乙物业"}


def test_change_test_edges() -> None:
    out = change_test(
        pd.Series([1.0, 0.5, 0.5]),
        pd.Series([0.0, 0.0, 0.1]),
        pd.Series([0.8, 0.5, np.nan]),
        pd.Series([0.0, 0.0, 0.1]),
    )
    assert out.loc[0, "p_value"] == 0.0 and bool(out.loc[0, "significant"])  # exact, differs
    assert out.loc[1, "p_value"] == 1.0 and not bool(out.loc[1, "significant"])
    assert np.isnan(out.loc[2, "p_value"]) and not bool(out.loc[2, "significant"])


def test_empty_store_gives_empty_frames(tmp_path: Path) -> None:
    path = tmp_path / "wuye.sqlite"
    with Store(path) as store:
        store.write_step(
            "2025H1",
            "round",
            {"register": pd.DataFrame({"estate_id": ["A"]})},
            meta={"period": "2025H1"},
        )
    for kind in ("estates", "firms", "lists"):
        assert history(path, kind=kind).empty
    assert trend_table(path).empty and trend_table(path, level="firm").empty
    assert consecutive_listings(
        pd.DataFrame(columns=["round_id", "period", "level", "key", "list"]), "2025H1"
    ).empty
