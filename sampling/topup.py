"""The top-up wave of a two-wave round (``[sampling] waves = 2``, ``wuye-eval topup``).

After the first wave is scored, estates still 临界 get a second sample: ``n_topup``
households (fixed in the first wave's plan, so the group-sequential error stays exact) drawn
by simple random sampling from the households not approached in the first wave, with
reserves by the same rule. Approached are the main sample and the reserves up to the last
one that answered in each building (reserves are used in order, 按顺序依次使用); unused
reserves were drawn at random and never visited. Given the first wave, the top-up is then
an SRS of the households not yet surveyed (non-response taken as random, as the weights
do), which is what the two-wave verdict of
:func:`evaluation.scoring.exact.two_wave_boundaries` assumes.

The record is written beside the first wave's, in ``sampling/topup/`` (``sample.csv``,
``strata.csv``, ``plan.csv``, ``meta.json``), with field sheets like the first wave's.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sampling.design import _prepared, draw_round
from sampling.record import RoundSample
from wuye_common.errors import Problem, WuyeError

TOPUP_DIR = "topup"


def topup_seed(seed: int) -> int:
    """The top-up's seed, derived from the round's (a stream of its own, reproducible)."""
    digest = hashlib.sha256(f"{int(seed)}:topup".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def household_ids(frame: pd.DataFrame) -> pd.Series:
    """``household_id`` of each frame row as the sample records it."""
    if "household_id" in frame.columns:
        return frame["household_id"].astype(str)
    f = _prepared(frame)
    return f["estate_id"] + "|" + f["building"] + "|" + f["unit"] + "|" + f["room"]


def draw_topup(
    register: pd.DataFrame,
    frame: pd.DataFrame,
    first: RoundSample,
    estates: list[str],
    config: Any,
    *,
    seed: int,
    confidence: float,
    approached: set[str] | None = None,
) -> RoundSample:
    """Draw the top-up of ``estates`` (their ``n_topup`` of ``first.plan``) from the
    households not ``approached`` (household ids; default: every household the first
    wave's sheets list); the sample gains ``wave = 2``."""
    plan = first.plan.assign(estate_id=first.plan["estate_id"].astype(str))
    sizes = plan.set_index("estate_id")["n_topup"].reindex([str(e) for e in estates])
    sizes = sizes.fillna(0).astype(int)
    sizes = sizes[sizes > 0]
    if sizes.empty:
        raise WuyeError(
            Problem(
                "没有需要补充调查的小区（首轮后没有「临界」小区，或其计划补充样本为 0）",
                "无需补充调查；直接出报告即可",
            )
        )
    listed = (
        set(first.sample["household_id"].astype(str)) if approached is None else set(approached)
    )
    ids = frame["estate_id"].astype(str)
    keep = ids.isin(sizes.index) & ~household_ids(frame).isin(listed).to_numpy()
    reg = register[register["estate_id"].astype(str).isin(sizes.index)]
    drawn = draw_round(
        reg,
        frame[keep.to_numpy()].reset_index(drop=True),
        replace(config, method="simple", waves=1),
        seed=topup_seed(seed),
        confidence=confidence,
        sizes=sizes,
    )
    drawn.sample["wave"] = 2
    drawn.meta["wave"] = 2
    drawn.meta["first_wave_listed"] = len(listed)
    return drawn


def approached_households(sample: pd.DataFrame, answered: pd.Series) -> set[str]:
    """The first wave's approached households: every main household, and in each building
    the reserves up to the last one that answered (``answered``: bool per sample row)."""
    s = sample.assign(_answered=np.asarray(answered, dtype=bool))
    main = s["role"].astype(str) == "main"
    reserve = s[~main]
    last = (
        reserve[reserve["_answered"]]
        .groupby(["estate_id", "building"], sort=False)["order"]
        .max()
        .rename("_last")
    )
    reserve = reserve.join(last, on=["estate_id", "building"])
    used = reserve[reserve["order"] <= reserve["_last"].fillna(0)]
    return set(s.loc[main, "household_id"].astype(str)) | set(used["household_id"].astype(str))


def run_topup(
    round: Any, first: RoundSample, estates: list[str], approached: set[str] | None = None
) -> RoundSample:
    """Load the frame of ``round``, draw the top-up of ``estates`` from the households not
    ``approached`` and write its record and field sheets into ``<output>/sampling/topup/``
    (an error when one was drawn already)."""
    from sampling.fieldsheets import write_field_sheets
    from sampling.frame import load_frame
    from sampling.record import write_sampling_record

    out = Path(round.output_dir) / "sampling" / TOPUP_DIR
    if (out / "plan.csv").exists():
        raise WuyeError(
            Problem(
                "本轮已经抽取过补充样本，重复抽取会改变已发出的入户名单",
                f"如确需重抽，先删除 {out} 再运行",
                file=str(out),
            )
        )
    known = list(getattr(round, "all_estate_ids", ())) if getattr(round, "kind", "H") == "Q" else []
    frame, warnings = load_frame(round.paths["frame"], round.register, known_estates=known)
    drawn = draw_topup(
        round.register,
        frame,
        first,
        estates,
        round.sampling,
        seed=round.seed,
        confidence=round.confidence,
        approached=approached,
    )
    drawn.meta["round_id"] = round.round_id
    drawn.meta["warnings"] = [str(w) for w in warnings]
    drawn.meta["parameters"] = {**first.meta.get("parameters", {}), **drawn.meta["parameters"]}
    out.mkdir(parents=True, exist_ok=True)
    sheets = write_field_sheets(
        drawn,
        round.register,
        out / f"抽样入户表_{round.round_id}_补充调查.xlsx",
        title=f"{getattr(round, 'label', '')} 补充调查".strip(),
    )
    drawn.written = [sheets, *write_sampling_record(drawn, out)]
    return drawn
