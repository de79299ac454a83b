"""svy and samplics timings on a subset, run in the separate baselines environment.

Not a benchmark module of its own (``python -m benchmarks`` runs only ``bench_*.py``):
``bench_estimation`` writes the subset and runs this script with the interpreter of
``.venv-baselines`` (``make baselines``), so that svy's polars/pyarrow never enter the
main environment — pyarrow would change pandas 3's default string storage for the whole
package. It therefore imports only numpy, pandas, polars, svy and samplics, never
wuye-eval.

Input: a ``.npz`` (or ``.csv``) with the columns ``estate``, ``stratum`` (labels), ``w``
(weight), ``N`` (stratum population) and ``y`` (0/1, no missing values), one row per
respondent of the overall item. Timed, as in the in-process version before it:

- svy ``Sample(...).estimation.prop("y", by="estate", ci_method="beta")`` on every row
  (Design: stratum, weight, population size);
- samplics ``TaylorEstimator(PopParam.mean).estimate`` on the estates whose label, read
  as an integer, is below ``--samplics`` (fpc = 1 - n_h / N_h per stratum).

Output: one JSON line on stdout, e.g.
``{"versions": {...}, "rows": 285000, "svy": {"seconds": 41.2, "domains": 1000},
"samplics": {"error": "ModuleNotFoundError: ..."}}``.

Run: ``.venv-baselines/bin/python benchmarks/survey_baselines.py subset.npz --samplics 50``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("estate", "stratum", "w", "N", "y")


def read_subset(path: Path) -> pd.DataFrame:
    """The subset rows from a ``.npz`` or ``.csv`` file (labels kept as strings)."""
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, usecols=list(COLUMNS), dtype={"estate": str, "stratum": str})
    with np.load(path) as data:
        return pd.DataFrame({c: data[c] for c in COLUMNS}).astype({"estate": str, "stratum": str})


def _error(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def time_svy(sub: pd.DataFrame) -> dict:
    """svy ``prop(by=estate)`` with beta intervals on the whole subset."""
    import polars as pl
    import svy
    from svy import Sample
    from svy.core.design import Design

    sample = Sample(
        pl.DataFrame({c: sub[c].to_numpy() for c in sub.columns}),
        Design(stratum="stratum", wgt="w", pop_size="N"),
    )
    t = time.perf_counter()
    sample.estimation.prop("y", by="estate", ci_method="beta")
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "domains": int(sub["estate"].nunique()),
        "version": getattr(svy, "__version__", "?"),
        "polars": getattr(pl, "__version__", "?"),
    }


def time_samplics(sub: pd.DataFrame, estates: int) -> dict:
    """samplics ``TaylorEstimator`` (mean of y, by estate) on the estates below ``estates``."""
    with warnings.catch_warnings():  # "samplics is archived" FutureWarning on import
        warnings.simplefilter("ignore")
        import samplics
        from samplics.estimation import TaylorEstimator
        from samplics.utils.types import PopParam

    small = sub[sub["estate"].astype(int) < estates]
    strata = small["stratum"].astype(int).to_numpy()
    fpc = 1 - small.groupby("stratum")["y"].transform("size").to_numpy() / small["N"].to_numpy()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TaylorEstimator(PopParam.mean).estimate(
            small["y"].to_numpy(),
            small["w"].to_numpy(),
            stratum=strata,
            domain=small["estate"].to_numpy(),
            fpc=fpc,
        )
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "domains": int(small["estate"].nunique()),
        "version": getattr(samplics, "__version__", "?"),
    }


def main(argv: list[str] | None = None) -> int:
    """Time both libraries (each failure reported as its error text) and print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("subset", type=Path, help=".npz or .csv with estate, stratum, w, N, y")
    ap.add_argument(
        "--samplics",
        type=int,
        default=50,
        help="samplics runs on the estates whose label is below this number",
    )
    ap.add_argument("--skip-svy", action="store_true")
    args = ap.parse_args(argv)
    sub = read_subset(args.subset)
    out: dict = {
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "rows": len(sub),
    }
    if args.skip_svy:
        out["svy"] = {"error": "skipped (--skip-svy)"}
    else:
        try:
            out["svy"] = time_svy(sub)
        except Exception as exc:  # benchmark only: report and continue
            out["svy"] = _error(exc)
    try:
        out["samplics"] = time_samplics(sub, args.samplics)
    except Exception as exc:  # benchmark only: report and continue
        out["samplics"] = _error(exc)
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
