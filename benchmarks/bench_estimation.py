"""Estimation benchmark: a city round of 2,000 estates × 300 respondents × 12 items.

Times every rate and index with its interval (items, dimensions, estate index, plus the
overall rate which is one of the items) through :func:`evaluation.scoring.score_arrays`
and the interval functions, against a *bare numpy bincount pass* over the same data that
computes only the same point estimates (Σw·y / Σw per domain, respondent means, no
variance) — measured in the same run, medians of repeated runs. Then the full
``score_round`` on DataFrames with string ids, and svy (default 1,000 estates, the
overall item, ~40 s: svy's ``prop(by=)`` grows faster than linearly in the number of
domains) and samplics (50 estates) on a subset. Ratios are printed for the same subset —
svy against our estimator on integer codes (``domain_moments`` + beta intervals, as the
round path runs it with codes from categorical columns) and against the DataFrame
``survey_proportion``, which also hashes the string ids in the call; samplics against the
DataFrame call — and per domain against our full city run.

svy and samplics run in a separate environment, never in ``.venv``: svy needs polars and
pyarrow, and pyarrow changes pandas 3's default string storage for the whole package. The
subset is written to a temporary ``.npz`` and timed by ``benchmarks/survey_baselines.py``
under the interpreter ``$WUYE_BASELINES_PYTHON``, else ``.venv-baselines/bin/python``
(Windows: ``.venv-baselines/Scripts/python.exe``), created by ``make baselines``; when it
is missing a message says so and the rest is still measured.

Goals: all rates and indices with intervals ≤ 1 s and ≤ 5× the bincount pass;
≥ 1,000× faster than svy.

Run: ``.venv/bin/python -m benchmarks.bench_estimation [--estates 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from evaluation.scoring.estimation import (
    domain_moments,
    mean_interval,
    proportion_interval,
    survey_proportion,
)
from evaluation.scoring.round_scores import score_arrays, score_round

N_ITEMS = 12
ITEM_DIM = np.array([0, 0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 8])  # 8 dimensions + 总体评价 (8)


def make_round(n_estates: int, n_resp: int = 300, buildings: int = 8, seed: int = 1):
    """Integer-coded synthetic round (codes as score_round would build them)."""
    rng = np.random.default_rng(seed)
    n_strata = n_estates * buildings
    stratum_estate = np.repeat(np.arange(n_estates), buildings)
    N_h = rng.integers(40, 120, n_strata)
    R = n_estates * n_resp
    resp_estate = np.repeat(np.arange(n_estates), n_resp)
    resp_stratum = resp_estate * buildings + rng.integers(0, buildings, R)
    n_h = np.bincount(resp_stratum, minlength=n_strata)
    N_h = np.maximum(N_h, n_h)
    weight = (N_h / np.maximum(n_h, 1))[resp_stratum]
    f_h = 1 - n_h / N_h
    p = np.repeat(rng.uniform(0.5, 0.97, n_estates), n_resp)
    A = R * N_ITEMS
    ans_resp = np.repeat(np.arange(R), N_ITEMS)
    ans_item = np.tile(np.arange(N_ITEMS), R)
    satisfied = (rng.random(A) < p[ans_resp]).astype(float)
    satisfied[rng.random(A) < 0.03] = np.nan
    points = np.where(np.isnan(satisfied), np.nan, 25.0 + 50.0 * satisfied)
    return dict(
        n_estates=n_estates,
        stratum_estate=stratum_estate,
        n_h=n_h,
        f_h=f_h,
        resp_stratum=resp_stratum,
        weight=weight,
        ans_resp=ans_resp,
        ans_item=ans_item,
        item_dim=ITEM_DIM,
        satisfied=satisfied,
        points=points,
    )


def ours(d: dict) -> None:
    """Every rate and index with its interval."""
    res = score_arrays(**d)
    for m in (res.items, res.dim_rate):
        proportion_interval(m.estimate, m.var, m.n, m.df, m.census, m.fpc)
    for m in (res.index, res.dim_index):
        mean_interval(m.estimate, m.var, m.df)


def bare(d: dict) -> None:
    """Bare numpy bincount pass: the same point estimates, no variance or intervals."""
    n_e, n_dims = d["n_estates"], int(ITEM_DIM.max()) + 1
    r_est = d["stratum_estate"][d["resp_stratum"]]
    w = d["weight"][d["ans_resp"]]
    y, pts = d["satisfied"], d["points"]
    ok = ~np.isnan(y)
    dom = r_est[d["ans_resp"]] * N_ITEMS + d["ans_item"]
    np.bincount(dom[ok], w[ok] * y[ok], n_e * N_ITEMS) / np.bincount(dom[ok], w[ok], n_e * N_ITEMS)
    R = len(d["resp_stratum"])
    okp = ~np.isnan(pts)
    ri = np.bincount(d["ans_resp"][okp], pts[okp], R) / np.bincount(d["ans_resp"][okp], minlength=R)
    np.bincount(r_est, d["weight"] * np.nan_to_num(ri), n_e) / np.bincount(r_est, d["weight"], n_e)
    rd = d["ans_resp"] * n_dims + ITEM_DIM[d["ans_item"]]
    s = np.bincount(rd[ok], y[ok], R * n_dims) / np.maximum(
        np.bincount(rd[ok], minlength=R * n_dims), 1
    )
    rw = np.repeat(d["weight"], n_dims)
    de = np.repeat(r_est, n_dims) * n_dims + np.tile(np.arange(n_dims), R)
    np.bincount(de, rw * s, n_e * n_dims) / np.bincount(de, rw, n_e * n_dims)


def median_time(fn, arg, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def frames_from(d: dict, n_estates: int):
    """DataFrames with string ids for score_round and the subset comparisons."""
    R = len(d["resp_stratum"])
    est_ids = np.array([f"E{i:05d}" for i in range(n_estates)], dtype=object)
    r_est = d["stratum_estate"][d["resp_stratum"]]
    bld = d["resp_stratum"] % 8
    resp = pd.DataFrame(
        {
            "response_id": np.char.add("r", np.arange(R).astype(str)),
            "estate_id": est_ids[r_est],
            "building": bld.astype(str),
        }
    )
    rec = pd.DataFrame(
        {
            "estate_id": est_ids[d["stratum_estate"]],
            "building": (np.arange(len(d["n_h"])) % 8).astype(str),
            "N_h": np.round(d["n_h"] / np.maximum(1 - d["f_h"], 1e-9)),
        }
    )
    rec = rec[d["n_h"] > 0]
    dims = np.array([f"D{k}" for k in range(8)] + ["总体评价"], dtype=object)
    items = np.array([f"S{k + 1:02d}" for k in range(N_ITEMS)], dtype=object)
    ans = pd.DataFrame(
        {
            "response_id": resp["response_id"].to_numpy()[d["ans_resp"]],
            "estate_id": resp["estate_id"].to_numpy()[d["ans_resp"]],
            "item_id": items[d["ans_item"]],
            "dimension": dims[ITEM_DIM[d["ans_item"]]],
            "satisfied": d["satisfied"],
            "points": d["points"],
        }
    )
    reg = pd.DataFrame(
        {
            "estate_id": est_ids,
            "tier": "二级",
            "threshold": 0.8,
            "households": rec.groupby("estate_id")["N_h"].sum().reindex(est_ids).to_numpy(),
            "firm": "F",
        }
    )
    rnd = SimpleNamespace(
        register=reg, confidence=0.95, interval_method="beta", questionnaire="default"
    )
    return rnd, SimpleNamespace(respondents=resp, answers=ans, response_rates=None), rec


def subset_frame(d: dict, n_estates: int) -> pd.DataFrame:
    """Overall-item rows of the first ``n_estates`` estates: y, stratum, weight, N_h."""
    r_est = d["stratum_estate"][d["resp_stratum"]]
    keep = (d["ans_item"] == N_ITEMS - 1) & (r_est[d["ans_resp"]] < n_estates)
    r = d["ans_resp"][keep]
    y = d["satisfied"][keep]
    s = d["resp_stratum"][r]
    N = np.round(d["n_h"] / np.maximum(1 - d["f_h"], 1e-9))[s]
    frame = pd.DataFrame(
        {
            "estate": r_est[r].astype(str),
            "stratum": s.astype(str),
            "w": d["weight"][r],
            "N": N,
            "y": y,
        }
    )
    return frame[frame["y"].notna()].reset_index(drop=True)


BASELINES_SCRIPT = Path(__file__).resolve().with_name("survey_baselines.py")


def baselines_python() -> Path:
    """Interpreter of the baselines environment: ``$WUYE_BASELINES_PYTHON``, else
    ``.venv-baselines/bin/python`` (Windows: ``.venv-baselines/Scripts/python.exe``)."""
    if os.environ.get("WUYE_BASELINES_PYTHON"):
        return Path(os.environ["WUYE_BASELINES_PYTHON"])
    venv = Path(__file__).resolve().parents[1] / ".venv-baselines"
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run_baselines(sub: pd.DataFrame, samplics_estates: int) -> dict | None:
    """svy and samplics timings from ``survey_baselines.py`` in the baselines environment
    (its JSON line), or None with a message when that environment is missing or fails."""
    python = baselines_python()
    if not python.is_file():
        print(
            f"  svy/samplics 未测：找不到基线环境的解释器 {python}。"
            f"在仓库根目录运行 `make baselines` 创建 .venv-baselines（svy、samplics 装在其中，"
            f"不进入 .venv），或用环境变量 WUYE_BASELINES_PYTHON 指定解释器。"
        )
        return None
    with tempfile.TemporaryDirectory(prefix="wuye-bench-") as tmp:
        path = Path(tmp) / "subset.npz"
        np.savez(
            path,
            **{
                c: sub[c].to_numpy(dtype=str if c in ("estate", "stratum") else float)
                for c in sub.columns
            },
        )
        try:
            done = subprocess.run(
                [
                    str(python),
                    str(BASELINES_SCRIPT),
                    str(path),
                    "--samplics",
                    str(samplics_estates),
                ],
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=3600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"  svy/samplics 未测：{type(exc).__name__}: {exc}"[:300])
            return None
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip() or done.stdout.strip())[-600:]
        print(
            f"  svy/samplics 未测：{python} {BASELINES_SCRIPT.name} 退出码 "
            f"{done.returncode}\n{tail}"
        )
        return None


def subset_codes(sub: pd.DataFrame) -> dict:
    """The subset as integer codes (estate and stratum), N_h and f_h per stratum."""
    domain, estates = pd.factorize(sub["estate"], sort=True)
    stratum, strata = pd.factorize(sub["stratum"], sort=True)
    n_h = np.bincount(stratum, minlength=len(strata))
    N_h = sub.groupby(stratum)["N"].first().to_numpy(dtype=float)
    return {
        "y": sub["y"].to_numpy(dtype=float),
        "w": sub["w"].to_numpy(dtype=float),
        "domain": domain,
        "n_domains": len(estates),
        "stratum": stratum,
        "n_h": n_h,
        "f_h": np.clip(1 - n_h / N_h, 0, 1),
    }


def subset_on_codes(c: dict) -> None:
    """The same estimates as ``survey_proportion(by="estate")`` (beta intervals) from codes."""
    m = domain_moments(
        c["y"], c["w"], c["domain"], c["n_domains"], c["stratum"], c["n_h"], c["f_h"], binary=True
    )
    proportion_interval(m.estimate, m.var, m.n, m.df, m.census, m.fpc, method="beta")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--estates", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--subset", type=int, default=1000, help="estates for svy (~40 s)")
    ap.add_argument("--samplics", type=int, default=50, help="estates for samplics")
    args = ap.parse_args()
    d = make_round(args.estates)
    A = len(d["ans_resp"])
    print(f"data: {args.estates} estates × 300 respondents × {N_ITEMS} items = {A:,} answers")
    ours(d)
    bare(d)  # warm-up
    t_bare = median_time(bare, d, args.repeat)
    t_ours = median_time(ours, d, args.repeat)
    print(f"bare numpy bincount pass (point estimates only): {t_bare * 1e3:8.1f} ms")
    print(
        f"all rates + indices with intervals (ours):        {t_ours * 1e3:8.1f} ms"
        f"   goal ≤ 1000 ms  → {'OK' if t_ours <= 1 else 'MISSED'}"
    )
    print(
        f"ratio ours / bare: {t_ours / t_bare:5.2f}×   goal ≤ 5×  → "
        f"{'OK' if t_ours / t_bare <= 5 else 'MISSED'}"
    )

    rnd, ing, rec = frames_from(d, args.estates)
    t = time.perf_counter()
    score_round(rnd, ing, rec, overall_item=f"S{N_ITEMS:02d}")
    print(
        f"score_round end to end (DataFrames, string ids, verdicts): "
        f"{time.perf_counter() - t:6.2f} s"
    )

    sub = subset_frame(d, args.subset)
    t = time.perf_counter()
    survey_proportion(sub, "y", strata="stratum", weights="w", fpc="N", by="estate")
    t_mine = time.perf_counter() - t
    t_codes = median_time(subset_on_codes, subset_codes(sub), args.repeat)
    print(
        f"subset: {args.subset} estates, overall item, {len(sub):,} rows — "
        f"ours {t_mine * 1e3:.1f} ms from the DataFrame (string ids encoded in the call), "
        f"{t_codes * 1e3:.1f} ms on integer codes (as the round path gets them)"
    )
    per_domain_ours = t_ours / (args.estates * (N_ITEMS + 9 + 1))
    n_small = min(args.subset, args.samplics)
    small = sub[sub["estate"].astype(int) < n_small]
    t = time.perf_counter()
    survey_proportion(small, "y", strata="stratum", weights="w", fpc="N", by="estate")
    t_m2 = time.perf_counter() - t
    base = run_baselines(sub, n_small)
    if base is None:
        return
    svy, smp = base["svy"], base["samplics"]
    if "error" in svy:
        print(f"  svy not measured: {svy['error']}"[:300])
    else:
        t_svy = svy["seconds"]
        print(
            f"  svy {svy['version']} prop(by=estate): "
            f"{t_svy:.2f} s — same-subset ratio {t_svy / t_codes:,.0f}× on codes "
            f"({t_svy / t_mine:,.0f}× from the DataFrame); per-domain "
            f"ratio vs our full run {t_svy / args.subset / per_domain_ours:,.0f}× "
            f"(goal ≥ 1,000×)"
        )
    if "error" in smp:
        print(f"  samplics not measured: {smp['error']}"[:300])
    else:
        t_smp = smp["seconds"]
        print(
            f"  samplics {smp['version']} TaylorEstimator on {smp['domains']} estates: "
            f"{t_smp:.2f} s — same-subset ratio {t_smp / t_m2:,.0f}×; per-domain ratio vs "
            f"our full run {t_smp / smp['domains'] / per_domain_ours:,.0f}×"
        )


if __name__ == "__main__":
    main()
