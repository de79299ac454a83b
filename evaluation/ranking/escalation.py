"""Escalation across rounds: this round's lists joined with the earlier rounds' listings,
consecutive and total counts, 退出预警 and 推荐表彰."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.history import consecutive_listings
from evaluation.ranking.listing import RED
from evaluation.ranking.rules import Rules

if TYPE_CHECKING:
    from evaluation.round import Round


def current_lists(round: Round, est: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """This round's lists in the shape of ``history(db, kind="lists")``."""
    e = pd.DataFrame(
        {
            "level": "estate",
            "key": est["estate_id"].astype(str),
            "label": est["estate_name"].astype(str)
            if "estate_name" in est
            else est["estate_id"].astype(str),
            "firm": est["firm"].astype(str),
            "list": est["list"],
            "eligible": est["eligible"],
        }
    )
    f = pd.DataFrame(
        {
            "level": "firm",
            "key": firms["firm"].astype(str),
            "label": firms["firm"].astype(str),
            "firm": firms["firm"].astype(str),
            "list": firms["list"],
            "eligible": firms["eligible"],
        }
    )
    out = pd.concat([e, f], ignore_index=True)
    out.insert(0, "period", str(round.period))
    out.insert(0, "round_id", str(round.round_id))
    return out


def escalations(
    round: Round,
    frame: pd.DataFrame,
    est: pd.DataFrame,
    firms: pd.DataFrame,
    history: Any,
    rules: Rules,
) -> pd.DataFrame:
    """This round's listed estates and firms with their consecutive and total listings
    over the earlier rounds of its series (``history``: lists frame, ``Store`` or path),
    flagged 退出预警 / 推荐表彰 by the rules' counts."""
    now = current_lists(round, est, firms)
    frames = [now]
    if isinstance(history, (str, Path)) and not Path(history).exists():
        history = None
    if history is not None and not isinstance(history, pd.DataFrame):
        from evaluation.history import history as read_history

        history = read_history(history, kind="lists")
    if history is not None and len(history):
        prev = history[history["round_id"].astype(str) != str(round.round_id)]
        frames.insert(0, prev[[c for c in now.columns if c in prev.columns]])
    allrows = pd.concat(frames, ignore_index=True)
    counts = consecutive_listings(allrows, str(round.round_id))
    listed = now[now["list"] != ""][["level", "key", "label", "firm", "list"]]
    out = listed.merge(counts, on=["level", "key"], how="left")
    for col in ("black_consecutive", "black_total", "red_consecutive", "red_total"):
        out[col] = out[col].fillna(0).astype("int64")
    exit_warn = out["black_consecutive"] >= rules.escalation_count
    commend = out["red_consecutive"] >= rules.commendation_count
    out["flag"] = np.where(exit_warn, "退出预警", np.where(commend, "推荐表彰", ""))
    out["note"] = np.where(
        exit_warn,
        "连续 "
        + out["black_consecutive"].astype(str)
        + " 轮黑榜（≥ "
        + str(rules.escalation_count)
        + " 轮触发退出预警），累计黑榜 "
        + out["black_total"].astype(str)
        + " 次",
        np.where(
            out["list"] == RED,
            "连续 "
            + out["red_consecutive"].astype(str)
            + " 轮红榜，累计红榜 "
            + out["red_total"].astype(str)
            + " 次",
            "连续 "
            + out["black_consecutive"].astype(str)
            + " 轮黑榜，累计黑榜 "
            + out["black_total"].astype(str)
            + " 次",
        ),
    )
    out.insert(0, "round_id", str(round.round_id))
    return out.sort_values(
        ["level", "flag", "key"], ascending=[False, False, True], kind="mergesort"
    ).reset_index(drop=True)
