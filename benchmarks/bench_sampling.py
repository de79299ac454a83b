"""Sampling benchmark: 1,000,000 households over 2,000 estates sized, allocated and drawn.

Goal (issue 3): ``draw_round`` ≤ 2 s on 2 cores. Baseline measured in the same run: a
per-estate Python loop that sizes each estate and draws with pandas
``groupby("building").sample(frac=n/N)`` (main sample only, no reserves, no record) —
and samplics' ``SampleSelection`` when samplics is installed.
Run: ``python -m benchmarks sampling`` or ``python -m benchmarks.bench_sampling
--households 200000 --io`` (smaller frame; ``--io`` adds informational I/O timings).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from sampling.config import SamplingConfig
from sampling.design import draw_round
from sampling.selection import stable_hash
from sampling.size import sample_size

GOAL_SECONDS = 2.0
SEED = 20240906


def make_frame(
    households: int = 1_000_000, estates: int = 2_000, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic register and frame: estates of varied size, buildings × units × floors."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 0.6, estates)
    sizes = np.maximum(np.floor(weights / weights.sum() * households).astype(np.int64), 8)
    sizes[np.argmax(sizes)] += households - sizes.sum()
    estate = np.repeat(np.arange(estates), sizes)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    i = np.arange(sizes.sum()) - start[estate]
    per_floor = 2
    floors = rng.integers(6, 19, estates)[estate]
    units = rng.integers(1, 4, estates)[estate]
    per_building = per_floor * floors * units
    building = i // per_building + 1
    rest = i % per_building
    unit = rest // (per_floor * floors) + 1
    floor = (rest // per_floor) % floors + 1
    room = floor * 100 + rest % per_floor + 1
    ids = np.array([f"E{k:05d}" for k in range(estates)], dtype=object)
    frame = pd.DataFrame(
        {
            "estate_id": pd.array(ids[estate], dtype="str"),
            "building": pd.array(
                np.char.add(building.astype(str), "栋").astype(object), dtype="str"
            ),
            "unit": pd.array(np.char.add(unit.astype(str), "单元").astype(object), dtype="str"),
            "floor": pd.array(floor.astype(str).astype(object), dtype="str"),
            "room": pd.array(room.astype(str).astype(object), dtype="str"),
        }
    )
    tiers = rng.choice([0.9, 0.8, 0.7, 0.6, 0.5], estates)
    register = pd.DataFrame(
        {
            "estate_id": pd.array(ids, dtype="str"),
            "estate_name": [f"小区{k}" for k in range(estates)],
            "households": sizes,
            "threshold": tiers,
        }
    )
    return register, frame


def baseline_loop(register: pd.DataFrame, frame: pd.DataFrame, config: SamplingConfig) -> int:
    """Per-estate loop: size, then ``groupby('building').sample(frac=n/N)`` per estate."""
    threshold = register.set_index("estate_id")["threshold"]
    drawn = 0
    for estate, households in frame.groupby("estate_id", sort=False):
        big_n = len(households)
        n = int(
            sample_size(
                big_n,
                margin=config.margin,
                p=float(threshold[estate]),
                deff=config.deff,
                response_rate=config.response_rate,
                minimum=config.minimum,
            )
        )
        rng = np.random.default_rng(np.random.SeedSequence([SEED, stable_hash(estate)]))
        part = households.groupby("building").sample(frac=n / big_n, random_state=rng)
        drawn += len(part)
    return drawn


def samplics_loop(
    register: pd.DataFrame, frame: pd.DataFrame, config: SamplingConfig
) -> float | None:
    """Per-estate stratified SRS with samplics, when it is installed (else ``None``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "samplics is archived" FutureWarning
            from samplics.sampling import SampleSelection
            from samplics.utils.types import SelectMethod
    except Exception:
        return None
    threshold = register.set_index("estate_id")["threshold"]
    start = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # samplics warns on census strata (N_h = n_h = 1)
        _samplics_estates(frame, threshold, config, SampleSelection, SelectMethod)
    return time.perf_counter() - start


def _samplics_estates(frame, threshold, config, SampleSelection, SelectMethod) -> None:
    for estate, households in frame.groupby("estate_id", sort=False):
        big_n = len(households)
        n = int(
            sample_size(
                big_n,
                margin=config.margin,
                p=float(threshold[estate]),
                deff=config.deff,
                response_rate=config.response_rate,
                minimum=config.minimum,
            )
        )
        sizes = households.groupby("building").size()
        n_h = (sizes * n / big_n).round().clip(lower=1).astype(int).to_dict()
        selector = SampleSelection(method=SelectMethod.srs_wor, strat=True, wr=False)
        selector.select(
            samp_unit=households.index.to_numpy(),
            samp_size=n_h,
            stratum=households["building"].to_numpy(),
        )


def io_stages(register: pd.DataFrame, frame: pd.DataFrame, result) -> None:
    """Informational timings of the I/O edges (no goal): CSV frame, field sheets, record."""
    import tempfile
    from pathlib import Path

    from sampling.fieldsheets import write_field_sheets
    from sampling.frame import load_frame
    from sampling.record import write_sampling_record

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frame.csv"
        frame.to_csv(path, index=False)
        start = time.perf_counter()
        load_frame(path, register)
        print(f"load_frame (CSV, checks, household_id): {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        write_field_sheets(result, register, Path(folder) / "sheets.xlsx")
        print(
            f"write_field_sheets ({len(result.plan):,} sheets, {len(result.sample):,} rows): "
            f"{time.perf_counter() - start:.2f} s"
        )
        start = time.perf_counter()
        write_sampling_record(result, Path(folder) / "record")
        print(f"write_sampling_record: {time.perf_counter() - start:.2f} s")


def main(argv: list[str] | None = None) -> None:
    """Print timings of ``draw_round`` and of the per-estate baselines."""
    parser = argparse.ArgumentParser(prog="bench_sampling")
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--estates", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--io", action="store_true", help="also time load_frame (CSV), field sheets and the record"
    )
    args = parser.parse_args([] if argv is None else argv)
    register, frame = make_frame(args.households, args.estates)
    config = SamplingConfig()
    print(
        f"frame: {len(frame):,} households, {args.estates:,} estates, "
        f"{frame.groupby(['estate_id', 'building']).ngroups:,} buildings"
    )

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = draw_round(register, frame, config, seed=SEED, confidence=0.95)
        times.append(time.perf_counter() - start)
    best = min(times)
    main_n = int((result.sample["role"] == "main").sum())
    print(
        f"draw_round (size + allocate + draw + reserves + frame hash): best {best:.2f} s of "
        f"{args.repeat}; {main_n:,} main + {len(result.sample) - main_n:,} reserves; "
        f"goal ≤ {GOAL_SECONDS:.1f} s → {'OK' if best <= GOAL_SECONDS else 'MISSED'}"
    )

    start = time.perf_counter()
    drawn = baseline_loop(register, frame, config)
    base = time.perf_counter() - start
    print(
        f"baseline per-estate loop, pandas groupby().sample (main sample only): {base:.2f} s "
        f"({drawn:,} drawn) → draw_round is {base / best:.1f}× faster"
    )
    if args.io:
        io_stages(register, frame, result)
    other = samplics_loop(register, frame, config)
    if other is None:
        print("samplics not installed: samplics baseline skipped")
    else:
        print(
            f"baseline per-estate loop, samplics SampleSelection: {other:.2f} s → "
            f"draw_round is {other / best:.1f}× faster"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
