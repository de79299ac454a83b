"""Fraud planted into the real 问卷星 exports of ../shared/fixtures (a market survey, in
both the option-text and the option-code layout): exactly the planted rows are flagged or
quarantined, with the rule codes of what was planted, and the real rows stay as they were.

Planted: a forged batch (six forms with one answer pattern that no real form has, from one
IP within six minutes: ``burst``, ``one_source`` and, beyond the first, ``near_duplicate``);
two forms submitted at night from their own IPs (``odd_hours``); two forms answered in three
seconds (quarantined as ``speeder``). The real forms carry no time, duration or IP (the
fixtures are scrubbed), so no rule of timing or source can touch them; the flags they raise on their own (a few
natural near-duplicates of a six-question survey) are the same with and without the planted
forms."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaluation.ingest import ingest_round
from evaluation.ingest.draft import draft_questionnaire
from evaluation.ingest.quality.config import quality_from_table
from evaluation.questionnaire import load_questionnaire
from tests.ingest.test_ingest_round import make_round

BATCH, NIGHT, FAST = 6, 2, 2
# the survey has six single-choice questions: near-duplicates are checked from five items
QUALITY = {"near_duplicate": {"min_items": 5}}


def _item_columns(frame: pd.DataFrame, numbers: list[int]) -> list[str]:
    return [c for c in frame.columns if str(c).split("、")[0].strip() in {str(n) for n in numbers}]


def _new_pattern(frame: pd.DataFrame, items: list[str]) -> pd.Series:
    """An answer pattern no real form has, as close to the common answers as possible: the
    rarest answer on the first k items and the commonest on the rest, for the smallest k.
    (Rare answers on every item would shift the round's answer distribution enough to move
    one real form across the near-duplicate line: six forms of 806 are not nothing.)"""
    counts = {c: frame[c].value_counts() for c in items}
    for k in range(1, len(items) + 1):
        pattern = pd.Series(
            {c: counts[c].index[-1 if i < k else 0] for i, c in enumerate(items)}, dtype=object
        )
        if not (frame[items] == pattern).all(axis=1).any():
            return pattern
    raise AssertionError("every pattern of rare and common answers is taken")


def _plant(frame: pd.DataFrame, items: list[str]) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """The export with the planted forms appended; the planted rows' sheet rows by kind."""
    pattern = _new_pattern(frame, items)
    rows, kinds, no = [], {"batch": [], "night": [], "fast": []}, int(frame["序号"].max())
    template = frame.iloc[0].copy()

    def add(kind: str, minute: int, hour: int, seconds: int, ip: str, answers: pd.Series) -> None:
        nonlocal no
        no += 1
        row = template.copy()
        row[items] = answers
        row["序号"] = no
        row["提交答卷时间"] = f"2025-06-01 {hour:02d}:{minute:02d}:00"
        row["所用时间"] = f"{seconds}秒"
        row["来自IP"] = ip
        rows.append(row)
        kinds[kind].append(len(frame) + len(rows) + 1)  # header is sheet row 1

    for i in range(BATCH):
        add("batch", i, 10, 95, "117.1.2.3(湖北-武汉)", pattern)
    for i in range(NIGHT):
        add(
            "night", 10 + 20 * i, 3, 150 + i, f"10.0.0.{i + 1}(湖北-武汉)", frame.iloc[3 + i][items]
        )
    for i in range(FAST):
        add("fast", 30 + i, 15, 3, f"10.0.1.{i + 1}(湖北-武汉)", frame.iloc[7 + i][items])
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True), kinds


@pytest.mark.parametrize("name", ["wjx_0.xls", "wjx_2.xls"])
def test_planted_fraud_in_a_real_wjx_export(
    shared_fixtures: Path, tmp_path: Path, name: str
) -> None:
    source = shared_fixtures / "wjx" / name
    frame = pd.read_excel(source, engine="calamine", dtype=object)
    q_path = tmp_path / "q.toml"
    q_path.write_text(draft_questionnaire([source]), encoding="utf-8")
    questionnaire = load_questionnaire(q_path)
    items = _item_columns(frame, questionnaire.items["number"].tolist())
    assert len(items) == len(questionnaire.items) >= 5
    planted, kinds = _plant(frame, items)
    problems: list = []
    rnd = make_round(tmp_path)
    rnd.quality = quality_from_table(QUALITY, problems)
    assert not problems

    def ingest(table: pd.DataFrame, file: str):
        path = tmp_path / file
        table.to_excel(path, index=False)
        return ingest_round(rnd, {path: "锦绣花园"}, questionnaire=questionnaire)

    clean, result = ingest(frame, "clean.xlsx"), ingest(planted, "planted.xlsx")
    rules = result.respondents.set_index("source_row")["quality_rules"]
    # the real forms keep the flags they have without the planted ones (a few natural
    # near-duplicates of this six-question survey), no more, no fewer
    before = clean.respondents.set_index("source_row")["quality_rules"]
    pd.testing.assert_series_equal(rules.loc[before.index], before)
    flagged = set(rules.index[rules != ""]) - set(before.index)
    assert flagged == set(kinds["batch"]) | set(kinds["night"])
    batch = rules.loc[kinds["batch"]]
    for code in ("burst", "one_source"):
        assert batch.str.contains(code).all(), code
    dup = batch.str.contains("near_duplicate")
    assert not dup.iloc[0] and dup.iloc[1:].all()  # the copies beyond the first
    assert (rules.loc[kinds["night"]] == "odd_hours").all()

    quarantined = result.quarantine.set_index("source_row")["reason_code"]
    assert set(quarantined.index) == set(kinds["fast"])
    assert (quarantined == "speeder").all()
    # the real forms: accepted as before, unflagged
    counts = result.counts[result.counts["level"] == "total"].iloc[0]
    assert counts["read"] == len(frame) + BATCH + NIGHT + FAST
    assert counts["accepted"] == len(frame) + BATCH + NIGHT
